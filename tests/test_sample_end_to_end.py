"""The whole asset graph on the committed sample, materialised by Dagster into a
temporary warehouse. Expected figures come from the generator's MANIFEST.json (what it
wrote and planted), never from the pipeline under test."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

SAMPLE = Path(__file__).parent.parent / "data" / "sample"
MANIFEST = json.loads((SAMPLE / "MANIFEST.json").read_text(encoding="utf-8"))

#: The generator's name for each planted defect -> the row rule(s) that must catch it.
PLANTED_RULES = {
    "duration_implausible": {"duration_1_to_480"},
    "duration_zero": {"duration_1_to_480"},
    "unknown_lw_id": {"link_worker_known"},
    "unknown_wlz_id": {"child_known"},
    "upn_check_letter": {"upn_check_letter"},
    "negative_possible_sessions": {"possible_sessions_valid"},
    "dob_implausible_for_year_group": {"date_of_birth_fits_year_group"},
    "unparseable_date": {"date_parses", "assessed_on_parses", "incident_date_parses"},
    "unknown_attendance_code": {"dfe_code_valid_on_date"},
    "answer_not_in_coding": {"answer_in_coding"},
    "no_child_identifier": {"child_identified"},
}


@pytest.fixture(scope="module")
def run(sample_run):
    """The session's sample run (tests/conftest.py) and a read-only connection to it."""
    con = duckdb.connect(str(sample_run.warehouse), read_only=True)
    yield sample_run.result, con
    con.close()


@pytest.mark.slow
def test_the_whole_graph_materialises_and_no_blocking_check_fails(run):
    result, _ = run
    assert result.success
    blocking_failures = [
        (e.asset_key.to_user_string(), e.check_name)
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert blocking_failures == []


@pytest.mark.slow
def test_every_file_has_the_status_the_generator_documents(run):
    _, con = run
    status = dict(con.execute("SELECT path, status FROM meta.file_registry").fetchall())
    expected = {f["path"]: f["expected_status"] for f in MANIFEST["files"]}
    assert status == expected


@pytest.mark.slow
def test_staged_row_counts_follow_from_the_manifest(run):
    _, con = run
    totals = MANIFEST["totals"]
    planted = MANIFEST["planted_rows"]

    def count(sql: str) -> int:
        return con.execute(sql).fetchone()[0]

    for urn, years in totals["pupils_valid"].items():
        for year, n in years.items():
            got = count(
                f"SELECT count(*) FROM staging.pupils WHERE anchor_urn = '{urn}' "
                f"AND academic_year = '{year}'"
            )
            assert got == n, (urn, year)
    assert count("SELECT count(*) FROM staging.interactions") == totals["interactions_unique_valid"]
    # a response with one answer outside its coding keeps its other answers: only a
    # response that names no child is held back whole
    no_child = sum(r["rule"] == "no_child_identifier" for r in planted)
    assert count("SELECT count(*) FROM staging.survey_responses") == (
        totals["survey_responses_unique"] - no_child
    )
    bad_marks = sum(r["file"].startswith("mis/140102/Attendance Marks") for r in planted)
    assert count("SELECT count(*) FROM staging.attendance_marks") == (
        totals["rows_by_kind_ingested_files"]["mis_attendance_marks"] - bad_marks
    )
    assert count("SELECT count(*) FROM staging.enrolments") == totals["register_rows"]
    assert count("SELECT count(*) FROM staging.allocations") == totals["allocations"]
    assert count("SELECT count(*) FROM staging.anchors") == totals["anchors"]


@pytest.mark.slow
def test_every_planted_bad_row_is_quarantined_with_the_predicted_rule(run):
    _, con = run
    quarantined = con.execute(
        """SELECT f.path, q.row_number, q.rule FROM meta.quarantine q
           JOIN meta.file_registry f USING (file_hash) WHERE q.severity = 'error'"""
    ).fetchall()
    by_row: dict[tuple[str, int], set[str]] = {}
    for path, row, rule in quarantined:
        by_row.setdefault((path, row), set()).add(rule)
    for planted in MANIFEST["planted_rows"]:
        got = by_row.get((planted["file"], planted["line"]), set())
        assert got & PLANTED_RULES[planted["rule"]], planted
    # and nothing else was quarantined: the sample's other rows are valid
    planted_rows = {(p["file"], p["line"]) for p in MANIFEST["planted_rows"]}
    assert set(by_row) == planted_rows


@pytest.mark.slow
def test_corrections_in_a_resent_extract_reach_staging(run):
    _, con = run
    for c in MANIFEST["corrections"]:
        if "upn" not in c:
            continue
        row = con.execute(
            "SELECT fsm, sen, surname, postcode FROM staging.pupils "
            "WHERE upn = ? AND academic_year = '2017/18'",
            [c["upn"]],
        ).fetchone()
        fsm, sen, surname, postcode = row
        column = c["column"]
        if column == "Eligible for FSM":
            assert fsm is (c["corrected_value"] == "TRUE")
        elif column == "SEN status":
            assert sen == {"None": "N", "SEN support": "K", "EHC plan": "E"}[c["corrected_value"]]
        elif column == "Last name":
            assert surname == c["corrected_value"]
        elif column == "Postcode":
            assert postcode == c["corrected_value"]


#: Each hand edit planted in a returned template -> the finding codes it must produce.
PLANTED_FINDINGS = {
    "blank_rows_cols": {"blank_row", "blank_column"},
    "note_in_mark": {"mark_invalid"},
    "note_right_of_grid": {"note_ignored"},
    "merged_header": {"merged_cells"},
    "text_dates": {"date_as_text"},
    "lowercase_marks": set(),  # read silently, as Excel's own dropdown accepts "p"
    "misspelt_name": {"name_mismatch"},
    "unallocated_id": {"id_not_allocated"},
    "added_child": {"id_not_allocated"},
    "added_session": {"session_added"},
    "missing_sheet": set(),  # an optional sheet
    "renamed_sheet": {"sheet_renamed"},
    "date_outside_term": {"session_outside_term"},
}


@pytest.mark.slow
def test_every_hand_edit_in_a_returned_template_gets_its_finding(run):
    _, con = run
    for planted in MANIFEST["planted_cells"]:
        codes = {
            r[0]
            for r in con.execute(
                """SELECT ff.code FROM meta.file_findings ff
                   JOIN meta.file_registry f USING (file_hash) WHERE f.path = ?""",
                [planted["file"]],
            ).fetchall()
        }
        assert PLANTED_FINDINGS[planted["defect"]] <= codes, planted
        # the rest of the file still got in
        staged = con.execute(
            """SELECT count(*) FROM staging.partner_marks m
               JOIN meta.file_registry f ON f.file_hash = m._file_hash WHERE f.path = ?""",
            [planted["file"]],
        ).fetchone()[0]
        assert staged > 0, planted
    lower = next(p for p in MANIFEST["planted_cells"] if p["defect"] == "lowercase_marks")
    marks = con.execute(
        """SELECT m.mark FROM staging.partner_marks m
           JOIN meta.file_registry f ON f.file_hash = m._file_hash
           WHERE f.path = ? AND list_contains(?, m.cell)""",
        [lower["file"], lower["cells"]],
    ).fetchall()
    assert marks and {m for (m,) in marks} <= {"P", "L", "A", "E", "X"}
    note = next(p for p in MANIFEST["planted_cells"] if p["defect"] == "note_in_mark")
    (cell,) = note["cells"]
    assert (
        con.execute(
            """SELECT count(*) FROM staging.partner_marks m
           JOIN meta.file_registry f ON f.file_hash = m._file_hash
           WHERE f.path = ? AND m.cell = ?""",
            [note["file"], cell],
        ).fetchone()[0]
        == 0
    )
