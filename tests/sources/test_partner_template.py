"""Partner attendance templates: real .xlsx files written by openpyxl and read back by
python-calamine, in pytest's tmp_path. Expected values are written out by hand from the
fixture below (never computed with the code under test)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from wlz_pipeline.sources.partner_template import (
    HAND_EDIT_DEFECTS,
    Finding,
    Measure,
    Session,
    TemplateSpec,
    fill_template,
    format_findings,
    hand_edit,
    neutralise_cell,
    plan_sessions,
    programme_settings,
    read_about,
    read_template,
    unneutralise_cell,
    validate_file,
    write_template,
)

D = dt.date
ID1, ID2, ID3 = "WLZ100000001", "WLZ100000002", "WLZ100000003"
NAMES = {ID1: "Amira Khan", ID2: "Ben Okafor", ID3: "Chloé Martin"}
# Four Tuesday sessions of the 2017/18 autumn term, the first on 3 October 2017.
S1, S2, S3, S4 = D(2017, 10, 3), D(2017, 10, 10), D(2017, 10, 17), D(2017, 10, 31)
TERM = (D(2017, 9, 4), D(2017, 12, 20))
ALLOCATED = {ID1, ID2, ID3}
FILLED = {
    (ID1, S1): "P", (ID1, S2): "L", (ID1, S3): "A", (ID1, S4): "P",
    (ID2, S1): "E", (ID2, S2): "P", (ID2, S3): "P", (ID2, S4): "X",
    (ID3, S1): "P", (ID3, S2): "A", (ID3, S3): "L", (ID3, S4): "X",
}  # fmt: skip
ENGAGEMENT = {(ID1, S1): 4, (ID1, S2): 5, (ID2, S2): 3, (ID3, S3): 2}
MEASURE = Measure(name="SDQ total difficulties", scale_min=0, scale_max=40, higher_is_better=False)


def _spec(children=None) -> TemplateSpec:
    return TemplateSpec(
        partner_id="P03",
        partner_name="Place2Be",
        programme="counselling",
        academic_year="2017/18",
        term="autumn",
        session_leader="Jo Bloggs",
        outcome_area="emotional wellbeing",
        measure=MEASURE,
        sessions=[Session(S1, 50), Session(S2, 50), Session(S3, 50), Session(S4, 50)],
        children=children or [(i, NAMES[i]) for i in (ID1, ID2, ID3)],
    )


@pytest.fixture
def blank(tmp_path: Path) -> Path:
    return write_template(_spec(), tmp_path / "blank.xlsx")


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = write_template(_spec(), tmp_path / "filled.xlsx")
    fill_template(
        path,
        FILLED,
        engagement=ENGAGEMENT,
        outcomes={
            ID1: {
                "pre_score": 18,
                "pre_date": D(2017, 10, 3),
                "post_score": 12,
                "post_date": D(2017, 12, 12),
            },
            ID2: {"pre_score": 25, "pre_date": D(2017, 10, 10)},
        },  # fmt: skip
        feedback={ID1: (5, 4, 5), ID3: {"enjoyment": 3, "usefulness": 2, "would_recommend": 4}},
    )
    return path


def _read(path: Path, **kw):
    kw.setdefault("allocated", ALLOCATED)
    kw.setdefault("known_children", NAMES)
    kw.setdefault("term_dates", TERM)
    return read_template(path, **kw)


def _marks(result) -> dict[tuple[str, dt.date], str | None]:
    return {(m.wlz_id, m.session_date): m.mark for m in result.marks}


def _recorded(result) -> dict[tuple[str, dt.date], str]:
    return {k: v for k, v in _marks(result).items() if v is not None}


def _codes(result) -> list[tuple[str, str | None, str | None, str]]:
    return [(f.code, f.sheet, f.cell, f.severity) for f in result.findings]


def _copy(src: Path, name: str) -> Path:
    dst = src.with_name(name)
    shutil.copy(src, dst)
    return dst


# --------------------------------------------------------------------------------------
# Planning and settings
# --------------------------------------------------------------------------------------


def test_plan_sessions_weekly_on_term_days_only() -> None:
    half_terms = [(D(2017, 9, 4), D(2017, 10, 20)), (D(2017, 10, 30), D(2017, 12, 20))]
    sessions = plan_sessions(half_terms, weekday=1, minutes=60)  # Tuesdays
    assert [s.date for s in sessions] == [
        D(2017, 9, 5), D(2017, 9, 12), D(2017, 9, 19), D(2017, 9, 26), D(2017, 10, 3),
        D(2017, 10, 10), D(2017, 10, 17),
        # half-term week (23-27 October) has no session
        D(2017, 10, 31), D(2017, 11, 7), D(2017, 11, 14), D(2017, 11, 21), D(2017, 11, 28),
        D(2017, 12, 5), D(2017, 12, 12), D(2017, 12, 19),
    ]  # fmt: skip
    assert {s.planned_minutes for s in sessions} == {60}


def test_plan_sessions_half_term_starting_on_the_weekday_and_rejects_bad_input() -> None:
    assert [s.date for s in plan_sessions([(D(2018, 1, 4), D(2018, 1, 18))], 3, 45)] == [
        D(2018, 1, 4),
        D(2018, 1, 11),
        D(2018, 1, 18),
    ]
    with pytest.raises(ValueError):
        plan_sessions([(D(2018, 1, 4), D(2018, 1, 18))], 7, 45)
    with pytest.raises(ValueError):
        plan_sessions([(D(2018, 1, 4), D(2018, 1, 18))], 1, 0)


def test_programme_settings_override_and_defaults() -> None:
    c = programme_settings("  Counselling ")
    assert (c.weekday, c.minutes, c.configured) == (3, 50, True)
    assert c.measure.name == "SDQ total difficulties" and c.measure.higher_is_better is False
    d = programme_settings("a programme nobody configured")
    assert (d.weekday, d.minutes, d.configured) == (1, 60, False)
    assert (d.measure.scale_min, d.measure.scale_max) == (0, 10)


def test_spec_rejects_bad_children() -> None:
    with pytest.raises(ValueError):
        _spec(children=[("WLZ12345", "Too Short")])
    with pytest.raises(ValueError):
        _spec(children=[(ID1, "A"), (ID1, "B")])


# --------------------------------------------------------------------------------------
# The written workbook
# --------------------------------------------------------------------------------------


def test_written_workbook_has_sheets_validation_freeze_and_protection(blank: Path) -> None:
    assert blank.name == "blank.xlsx"
    wb = load_workbook(blank)
    assert wb.sheetnames == [
        "Instructions", "About", "Attendance", "Engagement", "Outcomes", "Feedback",
        "_wlz_template",
    ]  # fmt: skip
    assert wb["_wlz_template"].sheet_state == "veryHidden"
    assert wb.security.lockStructure

    ws = wb["Attendance"]
    assert [ws.cell(1, c).value for c in (1, 2)] == ["WLZ ID", "Child name"]
    assert [ws.cell(1, c).value for c in range(3, 7)] == [
        dt.datetime(2017, 10, 3), dt.datetime(2017, 10, 10), dt.datetime(2017, 10, 17),
        dt.datetime(2017, 10, 31),
    ]  # fmt: skip
    assert ws["C1"].is_date
    assert ws["B2"].value == "Planned minutes"
    assert [ws.cell(2, c).value for c in range(3, 7)] == [50, 50, 50, 50]
    assert [ws.cell(r, 1).value for r in (3, 4, 5)] == [ID1, ID2, ID3]
    assert ws["B5"].value == "Chloé Martin"
    assert ws.freeze_panes == "C3"
    assert ws.protection.sheet
    assert ws["A1"].protection.locked and ws["C1"].protection.locked
    assert ws["A3"].protection.locked and ws["C2"].protection.locked
    assert not ws["C3"].protection.locked and not ws["F5"].protection.locked
    (dv,) = ws.data_validations.dataValidation
    assert dv.type == "list" and dv.formula1 == '"P,L,A,E,X"'
    assert "C3" in dv.sqref and "F5" in dv.sqref and "B3" not in dv.sqref
    assert dv.showErrorMessage
    assert ws.column_dimensions["B"].width >= 20

    eng = wb["Engagement"]
    (edv,) = eng.data_validations.dataValidation
    assert (edv.type, edv.operator, edv.formula1, edv.formula2) == ("whole", "between", "1", "5")
    assert "D4" in edv.sqref and eng.freeze_panes == "C3" and eng.protection.sheet

    out = wb["Outcomes"]
    assert [out.cell(1, c).value for c in range(1, 11)] == [
        "WLZ ID", "Child name", "Measure", "Pre score", "Pre date", "Post score", "Post date",
        "Scale min", "Scale max", "Higher is better",
    ]  # fmt: skip
    assert [out.cell(2, c).value for c in range(1, 11)] == [
        ID1, "Amira Khan", "SDQ total difficulties", None, None, None, None, 0, 40, "no",
    ]  # fmt: skip
    kinds = {d.type: d for d in out.data_validations.dataValidation}
    assert (kinds["decimal"].formula1, kinds["decimal"].formula2) == ("0", "40")
    assert "D2" in kinds["decimal"].sqref and "F4" in kinds["decimal"].sqref
    assert "E3" in kinds["date"].sqref
    assert not out["D2"].protection.locked and out["C2"].protection.locked

    fb = wb["Feedback"]
    assert [fb.cell(1, c).value for c in range(1, 6)] == [
        "WLZ ID", "Child name", "Enjoyment (1-5)", "Usefulness (1-5)", "Would recommend (1-5)",
    ]  # fmt: skip
    (fdv,) = fb.data_validations.dataValidation
    assert (fdv.type, fdv.formula1, fdv.formula2) == ("whole", "1", "5") and "E4" in fdv.sqref

    about = {wb["About"].cell(r, 1).value: wb["About"].cell(r, 2).value for r in range(1, 13)}
    assert about["Partner ID"] == "P03" and about["Programme"] == "counselling"
    assert about["Academic year"] == "2017/18" and about["Term"] == "autumn"
    assert about["Session leader"] == "Jo Bloggs"
    assert about["Outcome area"] == "emotional wellbeing"
    assert about["Pre/post measure"] == "SDQ total difficulties"

    text = "\n".join(str(c.value) for c in wb["Instructions"]["A"] if c.value)
    for phrase in ("P = present", "L = late (counts as present)", "A = absent", "X = the session"):
        assert phrase in text
    assert "Please do not" in text


def test_same_spec_gives_byte_identical_files(tmp_path: Path) -> None:
    a = write_template(_spec(), tmp_path / "a.xlsx")
    b = write_template(_spec(), tmp_path / "b.xlsx")
    assert a.read_bytes() == b.read_bytes()


def test_write_into_a_folder_names_the_file(tmp_path: Path) -> None:
    path = write_template(_spec(), tmp_path / "out")
    assert path == tmp_path / "out" / "P03_counselling_2017-18_autumn.xlsx"
    assert path.is_file()


def test_fill_keeps_validation_protection_and_freeze(filled: Path) -> None:
    wb = load_workbook(filled)
    ws = wb["Attendance"]
    assert ws["C3"].value == "P" and ws["F4"].value == "X"
    assert ws.freeze_panes == "C3" and ws.protection.sheet
    assert len(ws.data_validations.dataValidation) == 1
    assert wb["_wlz_template"].sheet_state == "veryHidden"


# --------------------------------------------------------------------------------------
# Round trip
# --------------------------------------------------------------------------------------


def test_round_trip_marks_engagement_outcomes_feedback(filled: Path) -> None:
    r = _read(filled)
    assert r.quarantine_reason is None
    assert r.findings == []
    assert _marks(r) == FILLED
    assert len(r.marks) == 12
    assert {m.planned_minutes for m in r.marks} == {50}
    by_key = {(m.wlz_id, m.session_date): m for m in r.marks}
    assert by_key[(ID1, S1)].cell == "Attendance!C3"
    assert by_key[(ID3, S4)].cell == "Attendance!F5"
    assert by_key[(ID1, S1)].child_name == "Amira Khan"
    assert {k: m.engagement for k, m in by_key.items() if m.engagement is not None} == ENGAGEMENT
    assert by_key[(ID2, S2)].engagement_cell == "Engagement!D4"
    assert r.about["partner_id"] == "P03" and r.about["programme"] == "counselling"
    assert r.about["academic_year"] == "2017/18" and r.about["term"] == "autumn"
    assert r.about["measure"] == "SDQ total difficulties"
    outcomes = {o.wlz_id: o for o in r.outcomes}
    assert set(outcomes) == {ID1, ID2, ID3}
    o1 = outcomes[ID1]
    assert (o1.pre_score, o1.pre_date, o1.post_score, o1.post_date) == (
        18,
        D(2017, 10, 3),
        12,
        D(2017, 12, 12),
    )
    assert (o1.scale_min, o1.scale_max, o1.higher_is_better) == (0, 40, False)
    assert o1.cell == "Outcomes!A2"
    assert (outcomes[ID2].pre_score, outcomes[ID2].post_score) == (25, None)
    assert outcomes[ID3].pre_score is None
    fb = {f.wlz_id: (f.enjoyment, f.usefulness, f.would_recommend) for f in r.feedback}
    assert fb == {ID1: (5, 4, 5), ID2: (None, None, None), ID3: (3, 2, 4)}


def test_blank_template_reads_every_cell_as_not_recorded(blank: Path) -> None:
    r = _read(blank)
    assert r.findings == []
    assert len(r.marks) == 12 and all(m.mark is None for m in r.marks)


def test_read_about_alone(filled: Path) -> None:
    r = read_about(filled)
    assert r.quarantine_reason is None and r.marks == []
    assert (r.about["partner_id"], r.about["term"]) == ("P03", "autumn")


# --------------------------------------------------------------------------------------
# Formula injection
# --------------------------------------------------------------------------------------

EVIL = '=HYPERLINK("http://x","y")'


def test_formula_injection_name_stays_text(tmp_path: Path) -> None:
    children = [(ID1, EVIL), (ID2, "+44 20 7946 0000"), (ID3, "@SUM(1+1)")]
    path = write_template(_spec(children), tmp_path / "evil.xlsx")
    wb = load_workbook(path)
    for sheet, cell in (("Attendance", "B3"), ("Engagement", "B3"), ("Outcomes", "B2")):
        c = wb[sheet][cell]
        assert c.value == EVIL
        assert c.data_type == "s"
        assert c.quotePrefix
    assert wb["Attendance"]["B4"].data_type == "s" and wb["Attendance"]["B5"].data_type == "s"
    with zipfile.ZipFile(path) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets
        for name in sheets:
            xml = z.read(name).decode("utf-8")
            assert "<f>" not in xml and "<f " not in xml, name
    fill_template(path, {(ID1, S1): "P"})
    r = _read(path, known_children={ID1: EVIL, ID2: "+44 20 7946 0000", ID3: "@SUM(1+1)"})
    assert r.findings == []
    names = {m.wlz_id: m.child_name for m in r.marks}
    assert names == {ID1: EVIL, ID2: "+44 20 7946 0000", ID3: "@SUM(1+1)"}


def test_neutralise_cell_for_csv() -> None:
    assert neutralise_cell(EVIL) == "'" + EVIL
    assert neutralise_cell("-1+2") == "'-1+2"
    assert neutralise_cell("+44") == "'+44"
    assert neutralise_cell("@cmd") == "'@cmd"
    assert neutralise_cell("Amira Khan") == "Amira Khan"
    assert neutralise_cell(-5) == -5 and neutralise_cell(None) is None
    assert unneutralise_cell("'" + EVIL) == EVIL
    assert unneutralise_cell("'quoted") == "'quoted"


# --------------------------------------------------------------------------------------
# Files that are not templates: quarantined whole
# --------------------------------------------------------------------------------------


def _assert_quarantined(r, *words: str) -> None:
    assert r.quarantine_reason
    assert r.marks == [] and r.outcomes == [] and r.feedback == []
    assert [f.code for f in r.findings] == ["file_not_readable"]
    for w in words:
        assert w in r.quarantine_reason


def test_csv_renamed_xlsx_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "attendance.xlsx"
    path.write_text("WLZ ID,03/10/2017\nWLZ100000001,P\n", encoding="utf-8")
    r = _read(path)
    _assert_quarantined(r, "not an Excel workbook", "Save As")
    assert validate_file(path)[0].severity == "error"


def test_random_workbook_without_template_sheets_is_quarantined(tmp_path: Path) -> None:
    wb = Workbook()
    wb.active.title = "Budget"
    wb.active["A1"] = "Item"
    wb.create_sheet("Notes")["A1"] = "hello"
    path = tmp_path / "random.xlsx"
    wb.save(path)
    _assert_quarantined(_read(path), "no About sheet", "'Budget'", "'Notes'")


def test_zip_that_is_not_a_workbook_and_damaged_workbook_are_quarantined(
    tmp_path: Path, filled: Path
) -> None:
    path = tmp_path / "doc.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("word/document.xml", "<w/>")
    _assert_quarantined(_read(path), "not an Excel workbook")
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(filled) as zin, zipfile.ZipFile(damaged, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/workbook.xml":
                data = b"<workbook><sheets><sheet name="
            zout.writestr(info.filename, data)
    r = _read(damaged)
    assert r.quarantine_reason and r.marks == []


def test_empty_and_oversized_files_are_quarantined(tmp_path: Path) -> None:
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    _assert_quarantined(_read(empty), "empty")
    big = tmp_path / "big.xlsx"
    big.write_bytes(b"\0" * 5_000_001)  # config limit: max_file_bytes 5000000
    _assert_quarantined(_read(big), "5.0 MB")


def test_zip_bomb_is_quarantined(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * 60_000_000)
    _assert_quarantined(_read(bomb), "unpacks")


def test_sheet_beyond_row_limit_is_quarantined(filled: Path) -> None:
    wb = load_workbook(filled)
    wb["Attendance"]["A2500"] = "stray"  # config limit: max_rows 2000
    wb.save(filled)
    _assert_quarantined(_read(filled), "2500 rows", "Attendance")


def test_about_without_programme_is_quarantined(filled: Path) -> None:
    wb = load_workbook(filled)
    wb["About"]["B3"] = None  # Programme
    wb.save(filled)
    _assert_quarantined(_read(filled), "Programme")


# --------------------------------------------------------------------------------------
# Hand edits: each gives a finding, and everything else is still read
# --------------------------------------------------------------------------------------


def test_every_defect_is_documented() -> None:
    assert set(HAND_EDIT_DEFECTS) == {
        "blank_rows_cols", "note_in_mark", "note_right_of_grid", "merged_header",
        "text_dates", "lowercase_marks", "misspelt_name", "unallocated_id", "added_child",
        "added_session", "missing_sheet", "renamed_sheet", "date_outside_term",
    }  # fmt: skip
    with pytest.raises(ValueError):
        hand_edit("unused.xlsx", "spilt_coffee")


def test_extra_blank_rows_and_columns(filled: Path) -> None:
    edit = hand_edit(filled, "blank_rows_cols")  # after the first child, after session 1
    assert edit.cells == ["4", "D"]
    r = _read(filled)
    assert _codes(r) == [
        ("blank_column", "Attendance", "D1", "warning"),
        ("blank_row", "Attendance", "A4", "warning"),
    ]
    assert _marks(r) == FILLED
    by_key = {(m.wlz_id, m.session_date): m.cell for m in r.marks}
    assert by_key[(ID2, S2)] == "Attendance!E5"  # moved one row down and one column right
    # ratings still match up by WLZ ID and date (the Engagement sheet was not edited)
    assert {(m.wlz_id, m.session_date) for m in r.marks if m.engagement} == set(ENGAGEMENT)


def test_note_typed_into_a_mark_cell(filled: Path) -> None:
    hand_edit(filled, "note_in_mark", child=1, session=2, text="was ill")
    r = _read(filled)
    (f,) = r.findings
    assert (f.code, f.sheet, f.cell, f.severity, f.value) == (
        "mark_invalid",
        "Attendance",
        "E4",
        "error",
        "was ill",
    )
    assert f.message() == (
        "Attendance sheet, row 4, column E: 'was ill' is not an attendance mark, so this "
        "session was not counted for this child. Use P, L, A, E or X (see the Instructions "
        "sheet). Notes cannot be read from the file: tell your WLZ contact instead."
    )
    expected = dict(FILLED)
    del expected[(ID2, S3)]
    assert _marks(r) == expected


def test_note_to_the_right_of_the_grid(filled: Path) -> None:
    hand_edit(filled, "note_right_of_grid", child=2, text="left early, mum collected")
    r = _read(filled)
    assert _codes(r) == [("note_ignored", "Attendance", "H5", "warning")]
    assert r.findings[0].value == "left early, mum collected"
    assert _marks(r) == FILLED


def test_merged_header_cells_and_title_row(filled: Path) -> None:
    hand_edit(filled, "merged_header", title="Counselling autumn 2017")
    r = _read(filled)
    assert _codes(r) == [
        ("above_header", "Attendance", "A1", "warning"),
        ("merged_cells", "Attendance", "A2", "warning"),
    ]
    assert "A2:A3" in r.findings[1].problem
    assert _marks(r) == FILLED
    assert {m.planned_minutes for m in r.marks} == {50}
    assert {(m.wlz_id, m.session_date): m.cell for m in r.marks}[(ID1, S1)] == "Attendance!C4"


def test_session_date_merged_across_two_columns(filled: Path) -> None:
    wb = load_workbook(filled)
    wb["Attendance"].merge_cells("C1:D1")  # D1 (10 October) loses its date
    wb.save(filled)
    r = _read(filled)
    codes = _codes(r)
    assert ("merged_cells", "Attendance", "C1", "warning") in codes
    assert ("session_no_date", "Attendance", "D1", "error") in codes
    assert "C1:D1" in next(f.problem for f in r.findings if f.code == "session_no_date")
    assert _marks(r) == {k: v for k, v in FILLED.items() if k[1] != S2}


def test_dates_typed_as_text_in_the_header(filled: Path) -> None:
    hand_edit(filled, "text_dates")  # first three sessions, three styles
    r = _read(filled)
    assert [(f.code, f.cell, f.value, f.severity) for f in r.findings] == [
        ("date_as_text", "C1", "3/10/17", "warning"),
        ("date_as_text", "D1", "10-Oct-2017", "warning"),
        ("date_as_text", "E1", "17/10/2017", "warning"),
    ]
    assert "3 October 2017" in r.findings[0].problem
    assert _marks(r) == FILLED


@pytest.mark.parametrize("style", ["d/m/yy", "dd-Mon-yyyy", "dd/mm/yyyy"])
def test_each_text_date_style_reads_as_3_october(filled: Path, style: str) -> None:
    hand_edit(filled, "text_dates", sessions=[0], styles=[style])
    r = _read(filled)
    (f,) = r.findings
    assert f.value == {"d/m/yy": "3/10/17", "dd-Mon-yyyy": "03-Oct-2017"}.get(style, "03/10/2017")
    assert {m.session_date for m in r.marks} == {S1, S2, S3, S4}
    assert _marks(r) == FILLED


def test_lower_case_marks_and_trailing_spaces_are_normalised_silently(filled: Path) -> None:
    edit = hand_edit(filled, "lowercase_marks", child=0)
    assert edit.cells == ["C3", "D3", "E3", "F3"]
    assert load_workbook(filled)["Attendance"]["C3"].value == "p "
    r = _read(filled)
    assert r.findings == []
    assert _marks(r) == FILLED


def test_misspelt_name_with_correct_wlz_id(filled: Path) -> None:
    hand_edit(filled, "misspelt_name", child=0, new_name="Amria Kahn")
    r = _read(filled)
    (f,) = r.findings
    assert (f.code, f.sheet, f.cell, f.severity, f.value) == (
        "name_mismatch",
        "Attendance",
        "B3",
        "warning",
        "Amria Kahn",
    )
    assert _marks(r) == FILLED
    assert {m.child_name for m in r.marks if m.wlz_id == ID1} == {"Amria Kahn"}
    # accents and letter case alone are not a mismatch ("Chloé Martin" vs "CHLOE MARTIN")
    assert _read(filled, known_children={**NAMES, ID3: "CHLOE MARTIN"}).findings == [f]


def test_no_name_held_yet_is_not_a_name_mismatch(filled: Path) -> None:
    """An enrolled child with no register extract held yet (known_children gives "" for
    them: a partner scan before any MIS extract) has no name to compare with."""
    hand_edit(filled, "misspelt_name", child=0, new_name="Amria Kahn")
    assert _read(filled, known_children={**NAMES, ID1: ""}).findings == []
    # the other children's names are still compared
    (f,) = _read(filled, known_children={**NAMES, ID1: "", ID2: "Someone Else"}).findings
    assert (f.code, f.value) == ("name_mismatch", NAMES[ID2])  # the name on the sheet


def test_wlz_id_not_allocated_is_an_error_and_not_ingested(filled: Path) -> None:
    hand_edit(filled, "unallocated_id", child=0, wlz_id="WLZ999999999")
    r = _read(filled, known_children=None)
    f = r.findings[0]
    assert (f.code, f.sheet, f.cell, f.severity, f.value) == (
        "id_not_allocated",
        "Attendance",
        "A3",
        "error",
        "WLZ999999999",
    )
    # the Engagement sheet still rates the original child, now absent from Attendance
    assert _codes(r)[1:] == [
        ("rating_no_session", "Engagement", "C3", "warning"),
        ("rating_no_session", "Engagement", "D3", "warning"),
    ]
    assert _marks(r) == {k: v for k, v in FILLED.items() if k[0] != ID1}
    assert all(m.wlz_id != "WLZ999999999" for m in r.marks)
    # the rule depends on the allocation list: once allocated, the row is read
    r2 = _read(filled, known_children=None, allocated=ALLOCATED | {"WLZ999999999"})
    assert [f.code for f in r2.findings] == [
        "child_added",  # it was not on the template sent
        "rating_no_session",
        "rating_no_session",
    ]
    assert _recorded(r2)[("WLZ999999999", S1)] == "P"


def test_child_added_by_hand(filled: Path) -> None:
    hand_edit(filled, "added_child", wlz_id="WLZ200000009", name="Dev Patel",
              marks=["P", "A", "P", "L"])  # fmt: skip
    # not allocated: error, not read
    r = _read(filled)
    assert _codes(r) == [("id_not_allocated", "Attendance", "A6", "error")]
    assert _marks(r) == FILLED
    # allocated (joined late): read, with a warning that it was added by hand
    late = "WLZ200000009"
    r2 = _read(filled, allocated=ALLOCATED | {late}, known_children={**NAMES, late: "Dev Patel"})
    assert _codes(r2) == [("child_added", "Attendance", "A6", "warning")]
    assert _recorded(r2) == {
        **FILLED,
        ("WLZ200000009", S1): "P", ("WLZ200000009", S2): "A",
        ("WLZ200000009", S3): "P", ("WLZ200000009", S4): "L",
    }  # fmt: skip


def test_child_added_with_a_malformed_wlz_id(filled: Path) -> None:
    hand_edit(filled, "added_child", wlz_id="WLZ12345", name="Eve Stone")
    r = _read(filled)
    (f,) = r.findings
    assert (f.code, f.cell, f.severity, f.value) == ("id_invalid", "A6", "error", "WLZ12345")
    assert "WLZ followed by 9 digits" in f.problem
    assert _marks(r) == FILLED


def test_session_column_added_by_hand(filled: Path) -> None:
    hand_edit(filled, "added_session", date=D(2017, 11, 7), marks=["P", "A", "L"])
    r = _read(filled)
    assert _codes(r) == [
        ("session_added", "Attendance", "G1", "warning"),
        ("minutes_blank", "Attendance", "G2", "warning"),
    ]
    extra = {(ID1, D(2017, 11, 7)): "P", (ID2, D(2017, 11, 7)): "A", (ID3, D(2017, 11, 7)): "L"}
    assert _marks(r) == {**FILLED, **extra}
    assert {m.planned_minutes for m in r.marks if m.session_date == D(2017, 11, 7)} == {None}
    assert {m.planned_minutes for m in r.marks if m.session_date != D(2017, 11, 7)} == {50}


def test_session_added_with_planned_minutes_only_warns_once(filled: Path) -> None:
    hand_edit(filled, "added_session", date=D(2017, 11, 7), planned_minutes=45)
    r = _read(filled)
    assert _codes(r) == [("session_added", "Attendance", "G1", "warning")]
    assert {m.planned_minutes for m in r.marks if m.session_date == D(2017, 11, 7)} == {45}


@pytest.mark.parametrize("sheet", ["Engagement", "Feedback"])
def test_missing_optional_sheet_gives_no_finding(filled: Path, sheet: str) -> None:
    hand_edit(filled, "missing_sheet", sheet=sheet)
    r = _read(filled)
    assert r.findings == []
    assert _marks(r) == FILLED
    if sheet == "Engagement":
        assert all(m.engagement is None for m in r.marks)
        assert len(r.feedback) == 3
    else:
        assert r.feedback == []
        assert sum(1 for m in r.marks if m.engagement) == 4


def test_missing_outcomes_sheet_is_an_error_but_marks_are_read(filled: Path) -> None:
    hand_edit(filled, "missing_sheet", sheet="Outcomes")
    r = _read(filled)
    assert _codes(r) == [("sheet_missing", None, None, "error")]
    assert r.outcomes == [] and _marks(r) == FILLED


def test_renamed_sheet_by_alias(filled: Path) -> None:
    hand_edit(filled, "renamed_sheet", sheet="Attendance", new_name="Register")
    r = _read(filled)
    assert _codes(r) == [("sheet_renamed", "Register", None, "warning")]
    assert _marks(r) == FILLED
    assert r.sheets["attendance"] == "Register"
    assert {m.sheet for m in r.marks} == {"Register"}
    assert r.marks[0].cell == "Register!C3"


def test_renamed_sheet_found_by_position(filled: Path) -> None:
    hand_edit(filled, "renamed_sheet", sheet="Attendance", new_name="Sheet3")
    r = _read(filled)
    assert _codes(r) == [("sheet_renamed", "Sheet3", None, "warning")]
    assert _marks(r) == FILLED


def test_letter_case_of_a_sheet_name_does_not_matter(filled: Path) -> None:
    hand_edit(filled, "renamed_sheet", sheet="Feedback", new_name="feedback")
    r = _read(filled)
    assert r.findings == [] and len(r.feedback) == 3


def test_session_date_outside_the_term(filled: Path) -> None:
    hand_edit(filled, "date_outside_term", session=-1, date=D(2018, 1, 9))
    r = _read(filled)
    assert _codes(r) == [
        ("session_outside_term", "Attendance", "F1", "error"),
        ("session_missing", "Attendance", None, "warning"),
    ]
    assert "4 September 2017 to 20 December 2017" in r.findings[0].problem
    assert _marks(r) == {k: v for k, v in FILLED.items() if k[1] != S4}
    # without term dates the column is read (as an extra session)
    r2 = _read(filled, term_dates=None)
    assert ("session_added", "Attendance", "F1", "warning") in _codes(r2)
    assert _recorded(r2)[(ID1, D(2018, 1, 9))] == "P"


def test_every_defect_applied_to_one_file_still_reads_the_rest(filled: Path) -> None:
    """The sample generator combines edits on one file."""
    hand_edit(filled, "merged_header")
    hand_edit(filled, "text_dates")
    hand_edit(filled, "lowercase_marks", child=2)
    hand_edit(filled, "note_in_mark", child=1, session=0)
    hand_edit(filled, "note_right_of_grid", child=0)
    hand_edit(filled, "added_session", date=D(2017, 11, 7))
    hand_edit(filled, "added_child", wlz_id="WLZ12345")
    hand_edit(filled, "blank_rows_cols", after_child=0, after_session=0)
    hand_edit(filled, "renamed_sheet", sheet="Attendance", new_name="Register")
    hand_edit(filled, "missing_sheet", sheet="Feedback")
    r = _read(filled)
    assert r.quarantine_reason is None
    codes = {f.code for f in r.findings}
    assert {"above_header", "merged_cells", "date_as_text", "mark_invalid", "note_ignored",
            "session_added", "minutes_blank", "id_invalid", "blank_row", "blank_column",
            "sheet_renamed"} <= codes  # fmt: skip
    expected = {k: v for k, v in FILLED.items() if k != (ID2, S1)}
    expected |= {(ID1, D(2017, 11, 7)): "P", (ID2, D(2017, 11, 7)): "P", (ID3, D(2017, 11, 7)): "P"}
    assert _recorded(r) == expected


# --------------------------------------------------------------------------------------
# Other cells: engagement, outcomes, feedback, planned minutes
# --------------------------------------------------------------------------------------


def test_bad_engagement_ratings(filled: Path) -> None:
    wb = load_workbook(filled)
    eng = wb["Engagement"]
    eng["C5"] = 7  # ID3 on S1: out of range
    eng["E3"] = 4  # ID1 on S3: marked A, did not attend
    wb.save(filled)
    r = _read(filled)
    assert _codes(r) == [
        ("rating_invalid", "Engagement", "C5", "error"),
        ("rating_not_attended", "Engagement", "E3", "warning"),
    ]
    assert _marks(r) == FILLED
    got = {(m.wlz_id, m.session_date): m.engagement for m in r.marks if m.engagement}
    assert got == ENGAGEMENT


def test_bad_outcome_scores_and_dates(filled: Path) -> None:
    wb = load_workbook(filled)
    out = wb["Outcomes"]
    out["D4"] = 55  # ID3 pre score above the 0-40 scale
    out["F3"] = "twelve"  # ID2 post score
    out["G3"] = "01/09/2017"  # ID2 post date as text, before the pre date
    wb.save(filled)
    r = _read(filled)
    assert _codes(r) == [
        ("score_invalid", "Outcomes", "F3", "error"),
        ("date_as_text", "Outcomes", "G3", "warning"),
        ("post_before_pre", "Outcomes", "G3", "error"),
        ("score_invalid", "Outcomes", "D4", "error"),
    ]
    o = {x.wlz_id: x for x in r.outcomes}
    assert (o[ID2].pre_score, o[ID2].post_score, o[ID2].post_date) == (25, None, None)
    assert o[ID3].pre_score is None
    assert (o[ID1].pre_score, o[ID1].post_score) == (18, 12)


def test_bad_feedback_answer(filled: Path) -> None:
    wb = load_workbook(filled)
    wb["Feedback"]["D2"] = "very"
    wb.save(filled)
    r = _read(filled)
    assert _codes(r) == [("feedback_invalid", "Feedback", "D2", "error")]
    fb = {f.wlz_id: (f.enjoyment, f.usefulness, f.would_recommend) for f in r.feedback}
    assert fb[ID1] == (5, None, 5)


def test_planned_minutes_typed_wrongly(filled: Path) -> None:
    wb = load_workbook(filled)
    ws = wb["Attendance"]
    ws["C2"] = "an hour"
    ws["D2"] = "45 mins"  # read as 45, silently
    wb.save(filled)
    r = _read(filled)
    assert _codes(r) == [("minutes_invalid", "Attendance", "C2", "error")]
    minutes = {m.session_date: m.planned_minutes for m in r.marks}
    assert minutes == {S1: None, S2: 45, S3: 50, S4: 50}
    assert _marks(r) == FILLED


# --------------------------------------------------------------------------------------
# Validation report
# --------------------------------------------------------------------------------------


def test_validate_file_and_format_findings(filled: Path) -> None:
    assert validate_file(filled, allocated=ALLOCATED, term_dates=TERM) == []
    assert format_findings([]) == "No problems found: everything in the file was read."
    hand_edit(filled, "note_in_mark", child=0, session=0, text="yes")
    hand_edit(filled, "misspelt_name", child=2, new_name="Chloe Marten")
    findings = validate_file(filled, allocated=ALLOCATED, known_children=NAMES, term_dates=TERM)
    assert [f.severity for f in findings] == ["warning", "error"]
    text = format_findings(findings)
    assert text.startswith("1 problem to fix and 1 thing to check:")
    assert "  1. Attendance sheet, row 3, column C" in text
    assert "What is wrong: 'yes' is not an attendance mark" in text
    assert "What to do: Use P, L, A, E or X" in text
    assert "  2. Attendance sheet, row 5, column B" in text
    # errors are listed before warnings
    assert text.index("To fix") < text.index("To check")
    assert "Chloe Marten" in text
    redacted = format_findings(findings, show_values=False)
    assert "Chloe Marten" not in redacted and "'yes'" not in redacted


def test_findings_can_be_logged_without_personal_values() -> None:
    f = Finding("Attendance", "B5", "Chloe Marten", "does not match", "Check it.", "warning", "x")
    assert f.value_is_personal and f.ref == "Attendance!B5" and (f.row, f.column) == (5, "B")
    assert "Chloe Marten" in f.message()
    assert "Chloe Marten" not in f.message(show_value=False)
    record = f.as_record(redact=True)
    assert record["value"] is None and "Chloe Marten" not in str(record)
    assert f.as_record(redact=False)["value"] == "Chloe Marten"


def test_problem_texts_never_contain_names_or_ids(filled: Path) -> None:
    for defect, kw in [
        ("misspelt_name", {"child": 0, "new_name": "Amria Kahn"}),
        ("unallocated_id", {"child": 1, "wlz_id": "WLZ999999999"}),
        ("note_in_mark", {"child": 2, "text": "Ben was ill"}),
    ]:
        hand_edit(filled, defect, **kw)
    r = _read(filled)
    assert {"name_mismatch", "id_not_allocated", "mark_invalid"} <= {f.code for f in r.findings}
    for f in r.findings:
        logged = f.message(show_value=False)
        for secret in ("Amria", "Kahn", "WLZ9", "WLZ1", "Ben was ill", "Chlo"):
            assert secret not in logged
        assert not re.search(r"WLZ\d", f.problem + f.expected)


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


def test_a_bad_config_edit_fails_with_the_file_named(tmp_path: Path, monkeypatch) -> None:
    from wlz_pipeline.config import DEFAULT_CONFIG_DIR, ConfigError
    from wlz_pipeline.sources.partner_template import template_settings

    for name in ("partner_template.yaml", "partner_programmes.yaml"):
        shutil.copy(DEFAULT_CONFIG_DIR / name, tmp_path / name)
    monkeypatch.setenv("WLZ_CONFIG_DIR", str(tmp_path))
    assert template_settings().marks_phrase() == "P, L, A, E or X"
    text = (tmp_path / "partner_template.yaml").read_text(encoding="utf-8")
    (tmp_path / "partner_template.yaml").write_text(
        text.replace("  P: {label:", "  p: {label:"), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="partner_template.yaml"):
        template_settings()
    text = (tmp_path / "partner_programmes.yaml").read_text(encoding="utf-8")
    (tmp_path / "partner_programmes.yaml").write_text(
        text.replace("weekday: thursday", "weekday: thursdya", 1), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="partner_programmes.yaml"):
        programme_settings("counselling")
