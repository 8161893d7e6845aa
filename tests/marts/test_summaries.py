"""The WLZ summary table (rules.md §12) and risk change classes on hand-made inputs:
denominators are the children with a known value, per population."""

from __future__ import annotations

import pytest

from tests.marts.conftest import new_warehouse
from wlz_pipeline.marts.settings import build_rules
from wlz_pipeline.models import SQL_DIR, Model, run_model

FACTORS = [
    # upn, factor, at_risk
    ("W1", "attendance_below_96", True),
    ("W2", "attendance_below_96", False),
    ("W3", "attendance_below_96", None),
    ("C1", "attendance_below_96", True),
    ("X1", "attendance_below_96", False),
    ("X2", "attendance_below_96", False),
    ("W1", "attainment_reading", True),
    ("W1", "attainment_maths", None),
    ("W2", "attainment_reading", False),
    ("W2", "attainment_maths", None),
    ("X1", "attainment_reading", False),
    ("X1", "attainment_maths", False),
    ("W1", "sdq_total", None),
]


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    c = new_warehouse(tmp_path_factory.mktemp("summary") / "wlz.duckdb")
    build_rules(c)
    c.execute(
        "create table marts.risk_factors (upn varchar, academic_year varchar, "
        "wave varchar, factor varchar, at_risk boolean)"
    )
    c.executemany("insert into marts.risk_factors values (?, '2017/18', 'autumn', ?, ?)", FACTORS)
    c.execute(
        "create table marts.programme_groups (academic_year varchar, population varchar, "
        "upn varchar)"
    )
    c.executemany(
        "insert into marts.programme_groups values ('2017/18', ?, ?)",
        [("wlz", "W1"), ("wlz", "W2"), ("wlz", "W3"), ("comparison", "C1")],
    )
    c.execute(
        "create table marts.wave_dates as select '2017/18' as academic_year, "
        "unnest(['autumn', 'summer']) as wave"
    )
    run_model(c, Model("marts", "summary_constructs", SQL_DIR / "marts" / "summary_constructs.sql"))
    yield c
    c.close()


def _row(con, construct, wave="autumn"):
    cur = con.execute(
        "select * from marts.summary_constructs where construct = ? and wave = ?", [construct, wave]
    )
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def test_attendance_denominators(con):
    r = _row(con, "school_attendance")
    # WLZ: W1 true, W2 false, W3 unknown -> 1 of 2 known
    assert (r["wlz_n"], r["wlz_at_risk"], r["wlz_unknown"], r["wlz_pct"]) == (2, 1, 1, 0.5)
    assert (r["comparison_n"], r["comparison_pct"]) == (1, 1.0)
    # everyone screened: W1, C1 true; W2, X1, X2 false; W3 unknown -> 2 of 5
    assert (r["population_n"], r["population_at_risk"], r["population_pct"]) == (5, 2, 0.4)


def test_attainment_is_one_construct_any_subject(con):
    r = _row(con, "school_attainment")
    # W1: reading true (maths unknown) -> at risk; W2: reading false, maths unknown ->
    # unknown; X1: both false -> not at risk
    assert (r["wlz_n"], r["wlz_at_risk"], r["wlz_unknown"]) == (1, 1, 1)
    assert (r["population_n"], r["population_pct"]) == (2, 0.5)


def test_no_known_value_gives_no_percentage(con):
    r = _row(con, "sdq_total")
    assert (r["wlz_n"], r["wlz_pct"], r["wlz_unknown"]) == (0, None, 1)
    summer = _row(con, "school_attendance", "summer")
    assert (summer["population_n"], summer["population_pct"]) == (0, None)


def test_every_summary_construct_of_config_is_reported(con):
    constructs = [
        r[0]
        for r in con.execute(
            "select construct from marts.summary_constructs where wave = 'autumn' "
            "order by construct_order"
        ).fetchall()
    ]
    assert constructs[:2] == ["school_attendance", "school_attainment"]
    assert {
        "sdq_total",
        "sdq_peer",
        "wemwbs_low",
        "bullying_victimisation",
        "school_engagement",
    } <= set(constructs)
    assert "behaviour_5_plus" not in constructs  # not a §12 construct (config)
