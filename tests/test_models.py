"""The SQL model runner's row rules: a rule of the row's own columns is evaluated once
per distinct value (wlz_pipeline/models.py ``_failing_rows``) and must find exactly the
rows that testing every row finds; the UPN check-letter macro it mostly serves must
agree with the Python check of domain_facts §3."""

from __future__ import annotations

import re
from datetime import date

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wlz_pipeline import warehouse
from wlz_pipeline.models import _costly, _failing_rows, rule_columns
from wlz_pipeline.scoring.upn import upn_check_letter

SHAPE = re.compile(r"[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]")


@pytest.fixture(scope="module")
def mem() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    warehouse.create_macros(con)
    return con


def _python_valid(u: str) -> bool:
    return bool(SHAPE.fullmatch(u)) and upn_check_letter(u[1:]) == u[0]


# the hand-worked vectors of tests/scoring/test_scoring_upn.py, and the same with the
# check letter one along (A -> B etc.), which must fail
VALID = ["H801200001001", "G80120000101A", "B801200005001", "A950000178301"]


@pytest.mark.parametrize("upn", VALID)
def test_upn_macro_accepts_the_worked_vectors_and_rejects_a_wrong_letter(mem, upn):
    assert mem.execute("SELECT wlz_upn_valid(?)", [upn]).fetchone()[0] is True
    wrong = chr(ord(upn[0]) + 1) + upn[1:]
    assert mem.execute("SELECT wlz_upn_valid(?)", [wrong]).fetchone()[0] is False


upn_like = st.one_of(
    # a right-shaped body with every possible first letter: about 1 in 20 is valid
    st.builds(
        lambda first, digits, last: first + digits + last,
        st.sampled_from("ABCDEFGHJKLMNPQRTUVWXYZIOS"),
        st.text("0123456789", min_size=11, max_size=11),
        st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUVWXYZIOS"),
    ),
    st.text("A0123456789Z ", max_size=15),
)


@settings(max_examples=300, deadline=None)
@given(upn_like)
def test_upn_macro_agrees_with_the_python_check(mem, u):
    assert mem.execute("SELECT wlz_upn_valid(?)", [u]).fetchone()[0] is _python_valid(u)


def test_rule_columns_only_for_conditions_on_the_row_itself():
    assert rule_columns("upn is null or wlz_upn_valid(upn)") == ["upn"]
    assert rule_columns("date is null or code_category is not null") == ["code_category", "date"]
    assert rule_columns("t.d is null or t.d >= date '2017-09-01'") == ["d"]
    # a subquery or another table: evaluated row by row
    assert rule_columns("t.term in (select term from staging.calendar)") is None
    assert rule_columns("x = (select max(x) from staging.x)") is None
    assert rule_columns("c.code is not null") is None
    assert rule_columns("true") is None
    # only conditions that call a macro or a regular expression are worth the DISTINCT
    assert _costly("upn is null or wlz_upn_valid(upn)")
    assert _costly("wlz_id is null or regexp_full_match(wlz_id, 'WLZ[0-9]{9}')")
    assert not _costly("upn is not null and (d is null or c in ('A', 'B'))")


# conditions that go the distinct-values way: they call a macro or a regular expression
RULES = [
    "upn is null or wlz_upn_valid(upn)",
    "wlz_upn_valid(upn)",  # NULL for a NULL UPN: a failure (coalesce)
    "d is null or c is null or wlz_upn_valid(upn || c)",
    "regexp_full_match(coalesce(c, '') || upn, '[AB]?H.*')",
    "regexp_matches(upn, '^[A-H]') or d >= date '2018-01-01'",
]

rows = st.lists(
    st.tuples(
        st.one_of(st.none(), st.sampled_from([*VALID, "H801200001002", "", "Z"])),
        st.one_of(st.none(), st.dates(min_value=date(2017, 9, 1), max_value=date(2019, 8, 31))),
        st.one_of(st.none(), st.sampled_from(["A", "B", ""])),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(rows, st.sampled_from(RULES))
def test_rules_find_the_same_rows_per_distinct_value_as_row_by_row(mem, data, condition):
    mem.execute(
        "CREATE OR REPLACE TEMP TABLE cand (_file_hash VARCHAR, _row_number BIGINT, "
        "upn VARCHAR, d DATE, c VARCHAR)"
    )
    for i, (u, d, c) in enumerate(data):
        mem.execute("INSERT INTO cand VALUES (?, ?, ?, ?, ?)", ["f" + str(i % 3), i, u, d, c])
    cols = ["_file_hash", "_row_number", "upn", "d", "c"]
    assert rule_columns(condition) is not None and _costly(condition)  # the path under test
    fast = mem.execute(
        f"SELECT _file_hash, _row_number FROM {_failing_rows(mem, 'cand', condition, cols)}"
    ).fetchall()
    plain = mem.execute(
        f"SELECT _file_hash, _row_number FROM cand AS t WHERE NOT coalesce(({condition}), FALSE)"
    ).fetchall()
    assert sorted(fast) == sorted(plain)
    assert len(fast) == len(set(fast))  # each failing row once, not once per match
