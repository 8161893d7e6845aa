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


# -- a whole build of a table with row rules (models._build_in_place) ----------------------
RULES = """
rules:
  - name: x_is_a_number
    column: x
    condition: x is not null
    message: x is not a number
  - name: x_is_small
    column: x
    condition: x is null or x < 100
    severity: warn
    message: x is large
"""

#: Two files, rows out of order; "7" and "oops" are file b's rows 2 and 3.
RAW_ROWS = [
    ("b", 3, "oops"),
    ("a", 2, "250"),
    ("b", 1, " 4"),
    ("a", 1, "1"),
    ("b", 2, "7"),
]


@pytest.fixture
def rules_model(con, tmp_path, monkeypatch):
    """``staging.rules_t``: x typed from raw text, with its rules in a rules folder of its
    own; the raw rows in ``raw.rules_t_in``."""
    from wlz_pipeline import models

    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "rules_t.yaml").write_text(RULES)
    monkeypatch.setattr(models, "RULES_DIR", rules_dir)
    sql = tmp_path / "rules_t.sql"
    sql.write_text(
        "SELECT _file_hash, _row_number, try_cast(trim(x) AS INTEGER) AS x, x AS x__raw "
        "FROM raw.rules_t_in"
    )
    con.execute(
        "CREATE OR REPLACE TABLE raw.rules_t_in "
        "(_file_hash VARCHAR, _row_number INTEGER, x VARCHAR)"
    )
    con.executemany("INSERT INTO raw.rules_t_in VALUES (?, ?, ?)", RAW_ROWS)
    return models.Model("staging", "rules_t", sql)


def _quarantine(con) -> list[tuple]:
    return con.execute(
        "SELECT file_hash, row_number, column_name, value, rule, severity FROM meta.quarantine "
        "WHERE table_name = 'staging.rules_t' ORDER BY ALL"
    ).fetchall()


def test_a_table_with_row_rules_keeps_its_good_rows_in_file_order_without_raw_text(
    con, rules_model
):
    from wlz_pipeline import versions
    from wlz_pipeline.models import build_model

    counts, how = build_model(con, rules_model)
    assert how == "full"
    # file a's rows 1 and 2, file b's rows 1 and 2; b's row 3 ("oops") is quarantined, and
    # 250 is kept with a warning
    assert con.execute("SELECT * FROM staging.rules_t").fetchall() == [
        ("a", 1, 1),
        ("a", 2, 250),
        ("b", 1, 4),
        ("b", 2, 7),
    ]
    assert _quarantine(con) == [
        ("a", 2, "x", "250", "x_is_small", "warn"),
        ("b", 3, "x", "oops", "x_is_a_number", "error"),
    ]
    assert (counts["rows"], counts["quarantined"], counts["warnings"]) == (4, 1, 1)
    # the version is recorded for the table as it ends, the quarantined row deleted
    assert versions.content_of(con, "staging.rules_t") == versions.content_version(
        con, "staging.rules_t"
    )
    assert build_model(con, rules_model)[1] == "unchanged"


def test_a_rules_build_that_fails_before_its_rows_are_final_leaves_the_last_good_table(
    con, rules_model, tmp_path
):
    from wlz_pipeline import models, versions

    models.build_model(con, rules_model)
    table = con.execute("SELECT * FROM staging.rules_t ORDER BY ALL").fetchall()
    version = versions.content_of(con, "staging.rules_t")
    quarantine = _quarantine(con)
    # new raw rows arrive, and a rule cannot be evaluated (no such function)
    con.execute("INSERT INTO raw.rules_t_in VALUES ('c', 1, 'x')")
    (models.RULES_DIR / "rules_t.yaml").write_text(
        RULES + "  - name: broken\n    condition: wlz_no_such_macro(x)\n    message: m\n"
    )
    with pytest.raises(duckdb.Error):
        models.build_model(con, rules_model, force=True)
    assert con.execute("SELECT * FROM staging.rules_t ORDER BY ALL").fetchall() == table
    assert versions.content_of(con, "staging.rules_t") == version
    assert _quarantine(con) == quarantine


def test_a_rules_build_that_fails_after_its_first_transaction_is_built_again_next_run(
    con, rules_model, monkeypatch
):
    from wlz_pipeline import models, versions

    models.build_model(con, rules_model)
    con.execute("INSERT INTO raw.rules_t_in VALUES ('c', 1, 'bad')")

    def fail(*args, **kwargs):
        raise RuntimeError("the disk is full")

    with monkeypatch.context() as m:
        m.setattr(versions, "record", fail)
        with pytest.raises(RuntimeError):
            models.build_model(con, rules_model, force=True)
    # between the two transactions: no version, so nothing takes the table as current,
    # and the next build (not forced) builds it whole
    assert versions.content_of(con, "staging.rules_t") is None
    assert versions.inputs(con, ["staging.rules_t"]) is None
    counts, how = models.build_model(con, rules_model)
    assert how == "full"
    assert con.execute("SELECT _file_hash, _row_number FROM staging.rules_t").fetchall() == [
        ("a", 1),
        ("a", 2),
        ("b", 1),
        ("b", 2),
    ]
    assert counts["quarantined"] == 2  # b's row 3 and c's row 1
