"""expectations/attendance_marks.json asserts what its earlier, costlier form asserted.

Two expectations were rewritten to be cheap on 22 million marks: the one-mark-per-session
check (formerly GX's ``expect_compound_columns_to_be_unique``) and the UPN check letter
(formerly ``wlz_upn_valid`` row by row). On marks with repeats of every kind and with
bad UPNs, each must pass or fail as the earlier form does, count the same failing rows
and point at the same rows.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import great_expectations as gx
import pytest

from wlz_pipeline.quality.gx_duckdb import load_suite, suite_files, validate_table
from wlz_pipeline.warehouse import create_macros

EARLIER = {
    "unique": {
        "type": "expect_compound_columns_to_be_unique",
        "kwargs": {"column_list": ["anchor_urn", "upn", "date", "session"]},
        "severity": "critical",
    },
    "upn": {
        "type": "unexpected_rows_expectation",
        "kwargs": {
            "unexpected_rows_query": "select _file_hash, _row_number from {batch} "
            "where not wlz_upn_valid(upn)"
        },
        "severity": "critical",
    },
}

GOOD = ["H801200001001", "G80120000101A", "B801200005001", "A950000178301"]
BAD = ["H801200001002", "I801200001001", "H80120000100"]


def _current(kind: str) -> dict:
    raw = json.loads(suite_files()["attendance_marks"].read_text(encoding="utf-8"))
    query_has = {"unique": "dayofmonth", "upn": "wlz_upn_valid"}[kind]
    (found,) = [
        e
        for e in raw["expectations"]
        if query_has in e.get("kwargs", {}).get("unexpected_rows_query", "")
    ]
    return found


def _warehouse(tmp_path, rows: list[tuple]) -> str:
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    create_macros(con)
    con.execute("CREATE SCHEMA staging")
    con.execute(
        "CREATE TABLE staging.attendance_marks (anchor_urn VARCHAR, upn VARCHAR, date DATE, "
        "session VARCHAR, code_category VARCHAR, _file_hash VARCHAR, _row_number BIGINT)"
    )
    con.executemany("INSERT INTO staging.attendance_marks VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()
    return str(path)


def _outcome(wh: str, expectation: dict):
    suite = gx.ExpectationSuite(name="attendance_marks_one", expectations=[expectation])
    assert len(suite.expectations) == 1
    (outcome,) = validate_table(wh, "staging.attendance_marks", suite).outcomes
    assert outcome.error is None
    return outcome


def _marks() -> list[tuple]:
    """Unique marks over five months, then repeats: in one month and across months of a
    new year, three times, with a missing key part (never a repeat: GX compares present
    values only), and bad UPNs."""
    rows = []
    first = date(2017, 9, 4)
    for i, upn in enumerate(GOOD):
        for d in range(150):
            for s in ("AM", "PM"):
                rows.append(("140101", upn, first + timedelta(days=d), s, "present"))
        rows.append(("140102", upn, first, "AM", "present"))  # another anchor: no repeat
        if i == 0:
            rows.append(("140101", upn, first + timedelta(days=3), "PM", "present"))
            rows += [("140101", upn, date(2018, 1, 1), "AM", "present")] * 2
        if i == 1:
            rows.append(("140101", upn, date(2017, 12, 31), "AM", "present"))
    rows += [("140101", None, first, "AM", "present")] * 2
    rows += [(None, GOOD[2], first, "AM", "present")] * 2
    rows += [("140101", GOOD[2], None, "AM", "present")] * 2
    rows += [("140101", u, first, "AM", "present") for u in BAD]
    return [(*r, "f1", n) for n, r in enumerate(rows, start=2)]


@pytest.mark.parametrize("kind", ["unique", "upn"])
def test_rewritten_expectation_fails_exactly_as_before(tmp_path, kind):
    wh = _warehouse(tmp_path, _marks())
    before, after = _outcome(wh, EARLIER[kind]), _outcome(wh, _current(kind))
    assert not before.success and not after.success
    assert after.failing_rows == before.failing_rows == {"unique": 7, "upn": 3}[kind]
    assert after.severity == before.severity == "ERROR"
    con = duckdb.connect(wh, read_only=True)
    try:
        located = con.execute(
            {
                "unique": """select _file_hash, _row_number from staging.attendance_marks
                    where (anchor_urn, upn, date, session) in (
                        select anchor_urn, upn, date, session from staging.attendance_marks
                        group by all having count(*) > 1)""",
                "upn": """select _file_hash, _row_number from staging.attendance_marks
                    where not wlz_upn_valid(upn)""",
            }[kind]
        ).fetchall()
    finally:
        con.close()
    assert sorted(after.examples) == sorted(located)
    if kind == "upn":
        assert sorted(before.examples) == sorted(located)


@pytest.mark.parametrize("kind", ["unique", "upn"])
def test_rewritten_expectation_passes_as_before(tmp_path, kind):
    rows = [r for r in _marks() if r[1] not in BAD]
    seen, unique = set(), []
    for r in rows:  # first mark of each session only
        if r[:4] not in seen:
            seen.add(r[:4])
            unique.append(r)
    wh = _warehouse(tmp_path, unique)
    before, after = _outcome(wh, EARLIER[kind]), _outcome(wh, _current(kind))
    assert before.success and after.success
    assert after.failing_rows == before.failing_rows == 0


def test_the_suite_file_still_loads_whole():
    suite = load_suite(suite_files()["attendance_marks"])
    assert len(suite.expectations) == 7
