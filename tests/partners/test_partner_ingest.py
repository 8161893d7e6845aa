"""Partner templates through the warehouse: generate from the register, fill, return,
ingest; re-sends supersede; findings are stored per file."""

from __future__ import annotations

import datetime as dt
import shutil

from wlz_pipeline.ingest import ingest_all
from wlz_pipeline.models import build_all
from wlz_pipeline.partner_templates import template_specs, write_templates
from wlz_pipeline.sources.partner_template import fill_template, hand_edit


def _build(con, landing, archive):
    ingest_all(con, landing, archive)
    build_all(con, ("staging",))


def _template(con, landing, tmp_path):
    """The spring 2017/18 template of P01-reading-club, written from the warehouse."""
    _build(con, landing, archive=tmp_path / "archive0")
    (spec,) = template_specs(con, partner="P01", term="2017/18-spring")
    (path,) = write_templates([spec], tmp_path / "out")
    return spec, path


def test_template_is_prefilled_from_allocations_and_calendar(con, landing, tmp_path):
    spec, path = _template(con, landing, tmp_path)
    assert (spec.programme, spec.academic_year, spec.term) == (
        "P01-reading-club",
        "2017/18",
        "spring",
    )
    assert [c.wlz_id for c in spec.children] == ["WLZ000000001"]
    assert spec.children[0].display_name == "Chloé Okafor"  # from the school register
    # weekly on a Tuesday (config default), inside the two spring half-terms only:
    # 4 Jan-9 Feb 2018 -> 9, 16, 23, 30 Jan, 6 Feb; 19 Feb-29 Mar -> 20, 27 Feb, 6, 13, 20, 27 Mar
    assert [s.date for s in spec.sessions] == [
        dt.date(2018, 1, 9),
        dt.date(2018, 1, 16),
        dt.date(2018, 1, 23),
        dt.date(2018, 1, 30),
        dt.date(2018, 2, 6),
        dt.date(2018, 2, 20),
        dt.date(2018, 2, 27),
        dt.date(2018, 3, 6),
        dt.date(2018, 3, 13),
        dt.date(2018, 3, 20),
        dt.date(2018, 3, 27),
    ]
    assert path.suffix == ".xlsx" and path.parent.name == "P01"


def test_round_trip_marks_equal_what_was_filled(con, landing, archive, tmp_path):
    spec, path = _template(con, landing, tmp_path)
    marks = {("WLZ000000001", s.date): m for s, m in zip(spec.sessions, "PLAEXPPAAPP", strict=True)}
    fill_template(path, marks=marks, engagement={("WLZ000000001", spec.sessions[0].date): 4})
    (landing / "partners/P01").mkdir(parents=True)
    shutil.copy(path, landing / "partners/P01" / path.name)
    _build(con, landing, archive)
    got = con.execute(
        "SELECT session_date, mark, planned_minutes, attended, missed FROM staging.partner_marks "
        "WHERE wlz_id = 'WLZ000000001' ORDER BY session_date"
    ).fetchall()
    assert [(d, m) for d, m, *_ in got] == [
        (s.date, marks[("WLZ000000001", s.date)]) for s in spec.sessions
    ]
    assert all(pm == 60 for _, _, pm, _, _ in got)
    # "PLAEXPPAAPP": P x5 + L x1 = 6 attended; A x3 + E x1 = 4 missed; X neither
    assert sum(a for *_, a, _ in got) == 6 and sum(m for *_, m in got) == 4
    assert (
        con.execute(
            "SELECT engagement FROM staging.partner_marks WHERE session_date = ?",
            [spec.sessions[0].date],
        ).fetchone()[0]
        == 4
    )
    status = con.execute(
        "SELECT status FROM meta.file_registry WHERE source = 'partners'"
    ).fetchall()
    assert status == [("ingested",)]


def test_raw_rows_point_back_to_the_cell_they_were_read_from(con, landing, archive, tmp_path):
    """Each raw mark keeps the template's identity and the sheet, cell and row it came
    from (as text, as received), so a finding or a query can send someone to the cell."""
    import openpyxl

    spec, path = _template(con, landing, tmp_path)
    first = spec.sessions[0].date
    fill_template(path, marks={("WLZ000000001", first): "L"})
    (landing / "partners/P01").mkdir(parents=True)
    shutil.copy(path, landing / "partners/P01" / path.name)
    _build(con, landing, archive)
    # where the mark is, found in the workbook itself: the child's row, the session's column
    ws = openpyxl.load_workbook(path)["Attendance"]
    child_row = next(c.row for c in ws["A"] if c.value == "WLZ000000001")
    date_col = next(
        c.column_letter
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, dt.datetime | dt.date)
        and (c.value.date() if isinstance(c.value, dt.datetime) else c.value) == first
    )
    assert ws[f"{date_col}{child_row}"].value == "L"
    got = con.execute(
        """SELECT partner_id, programme, academic_year, term, sheet, cell, _row_number,
                  wlz_id, session_date, planned_minutes, mark
           FROM raw.partner_marks WHERE wlz_id = 'WLZ000000001' AND session_date = ?""",
        [first.isoformat()],
    ).fetchall()
    assert got == [
        (
            "P01",
            "P01-reading-club",
            "2017/18",
            "spring",
            "Attendance",
            f"{date_col}{child_row}",
            child_row,
            "WLZ000000001",
            "2018-01-09",
            "60",
            "L",
        )
    ]


def test_resent_template_supersedes_and_findings_are_stored(con, landing, archive, tmp_path):
    spec, path = _template(con, landing, tmp_path)
    first = spec.sessions[0].date
    fill_template(path, marks={("WLZ000000001", first): "A"})
    folder = landing / "partners/P01"
    folder.mkdir(parents=True)
    shutil.copy(path, folder / "reading_spring_v1.xlsx")
    _build(con, landing, archive)
    # the partner corrects the absence to present, adds a note in a mark cell, and re-sends
    fill_template(path, marks={("WLZ000000001", first): "P"})
    hand_edit(path, "note_in_mark", session=1)
    shutil.copy(path, folder / "reading_spring_v2.xlsx")
    _build(con, landing, archive)
    status = dict(
        con.execute(
            "SELECT path, status FROM meta.file_registry WHERE source = 'partners'"
        ).fetchall()
    )
    assert status == {
        "partners/P01/reading_spring_v1.xlsx": "superseded",
        "partners/P01/reading_spring_v2.xlsx": "ingested",
    }
    assert (
        con.execute(
            "SELECT mark FROM staging.partner_marks WHERE session_date = ?", [first]
        ).fetchone()[0]
        == "P"
    )
    findings = con.execute(
        """SELECT ff.severity, ff.code, ff.location FROM meta.file_findings ff
           JOIN meta.file_registry f USING (file_hash)
           WHERE f.path = 'partners/P01/reading_spring_v2.xlsx'"""
    ).fetchall()
    assert ("error", "mark_invalid") in {(s, c) for s, c, _ in findings}
    assert all(loc.startswith("Attendance!") for s, c, loc in findings if c == "mark_invalid")


def test_template_in_the_wrong_partner_folder_is_quarantined(con, landing, archive, tmp_path):
    spec, path = _template(con, landing, tmp_path)
    (landing / "partners/P02").mkdir(parents=True)
    shutil.copy(path, landing / "partners/P02/reading.xlsx")
    (landing / "partners/P01").mkdir(parents=True)
    (landing / "partners/P01/not_a_template.xlsx").write_bytes(b"just,some,csv\n1,2,3\n")
    _build(con, landing, archive)
    status = {
        p: (s, r)
        for p, s, r in con.execute(
            "SELECT path, status, reason FROM meta.file_registry WHERE source = 'partners'"
        ).fetchall()
    }
    assert status["partners/P02/reading.xlsx"][0] == "quarantined"
    assert "names partner P01" in status["partners/P02/reading.xlsx"][1]
    assert status["partners/P01/not_a_template.xlsx"][0] == "quarantined"
