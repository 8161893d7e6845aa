"""Rendering details without a pipeline run: the report environment reads ``row.column``
on plain dicts exactly as Jinja does (the same value, dict attributes first, missing keys
undefined), and the charts' tooltips spell dates and escape text."""

from __future__ import annotations

from datetime import date

import jinja2
import pytest

from wlz_pipeline.reports import render, svg

TEMPLATE = (
    "{{ r.a }}|{{ r.items is defined }}|{{ r.get is defined }}|{{ r.missing is defined }}|"
    "{{ r.n if r.n is not none else '-' }}|{{ r['items'] }}|{{ o.a }}|{{ s.upper is defined }}"
)


class _Obj:
    a = "attr"


@pytest.mark.parametrize(
    "row",
    [
        {"a": "<b>", "n": 0, "items": "a column named items"},
        {"a": None, "n": None, "items": None, "get": "shadowed?"},
        {},
    ],
)
def test_dict_rows_read_the_same_as_with_jinjas_own_lookup(row):
    ours = render._environment(5)
    plain = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    values = {"r": row, "o": _Obj(), "s": "text"}

    def outcome(env: jinja2.Environment) -> str:
        try:
            return env.from_string(TEMPLATE).render(**values)
        except jinja2.UndefinedError as exc:
            return f"UndefinedError: {exc}"

    assert outcome(ours) == outcome(plain)
    # a dict attribute wins over a key of the same name, as in Jinja
    assert ours.from_string("{{ r.items }}").render(r={"items": "x"}).startswith("&lt;built-in")


def test_a_missing_key_is_still_an_error_on_a_page():
    env = render._environment(5)
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ r.missing }}").render(r={"a": 1})


def test_session_tooltips_spell_the_date_and_escape_the_text():
    html = svg.session_strip(
        [
            (date(2017, 9, 5), "attended", 4),
            (date(2017, 9, 12), "missed", None),
            (date(2017, 9, 19), "a<b & c", None),
            (date(2017, 9, 26), "attended", None),
            (date(2017, 9, 5), "attended", 4),
        ],
        title="t",
        desc="d",
    )
    assert html.count("<title>05 Sep 2017: attended, engagement 4</title>") == 2
    assert "<title>12 Sep 2017: missed</title>" in html
    assert "<title>19 Sep 2017: a&lt;b &amp; c</title>" in html
    assert "<title>26 Sep 2017: attended</title>" in html
    assert ">05 Sep 2017</text>" in html  # first and last session under the axis
    assert "a<b" not in html


def test_weekly_tooltips_spell_the_week():
    html = svg.weekly_columns(
        [(date(2017, 9, 4), 30.0, True), (date(2017, 9, 11), 0.0, False)], title="t", desc="d"
    )
    assert "<title>week of 04 Sep 2017: 30 min</title>" in html
    assert "11 Sep 2017" not in html  # no column, so no tooltip, for a week without contact
