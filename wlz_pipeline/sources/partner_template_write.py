"""Writing partner templates: plan the sessions, write the workbook, fill it in, and
apply the hand edits partners make (for the synthetic sample and tests).

See :mod:`wlz_pipeline.sources.partner_template` for the layout and the decisions.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from wlz_pipeline.sources.partner_template_common import (
    META_SHEET,
    HandEdit,
    Session,
    TemplateSettings,
    TemplateSpec,
    date_to_excel_serial,
    is_blank,
    is_formula_like,
    normalise_label,
    parse_text_date,
    template_settings,
)

# The generated layout (1-based rows/columns, as openpyxl counts). The reader does not
# rely on these: it finds headings by their labels, so hand-moved grids still read.
GRID_HEADER_ROW = 1
GRID_MINUTES_ROW = 2
GRID_FIRST_CHILD_ROW = 3
GRID_ID_COL = 1
GRID_NAME_COL = 2
GRID_FIRST_SESSION_COL = 3
OUTCOME_COLUMNS = (
    "wlz_id",
    "child_name",
    "measure",
    "pre_score",
    "pre_date",
    "post_score",
    "post_date",
    "scale_min",
    "scale_max",
    "higher_is_better",
)
DATE_FORMAT = "dd/mm/yyyy"
#: Fixed timestamp written into the file, so the same spec gives byte-identical files.
FIXED_TIMESTAMP = dt.datetime(2000, 1, 1, 0, 0, 0)

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_MINUTES_FILL = PatternFill("solid", fgColor="F2F2F2")
_INPUT_FILL = PatternFill("solid", fgColor="FFFFFF")
_UNLOCKED = Protection(locked=False)
_WRAP = Alignment(wrap_text=True, vertical="top")


# --------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------


def plan_sessions(
    half_terms: Sequence[tuple[dt.date, dt.date]], weekday: int, minutes: int
) -> list[Session]:
    """Weekly sessions on ``weekday`` (0 = Monday) inside each half-term, inclusive.

    Half-terms are the term-time periods of ``reference/calendar.csv``, so half-term and
    holiday weeks get no session. Dates are returned in order, each once.
    """
    if not 0 <= weekday <= 6:
        raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")
    if not 1 <= minutes <= 480:
        raise ValueError("minutes must be 1-480")
    days: set[dt.date] = set()
    for start, end in half_terms:
        if end < start:
            raise ValueError(f"half-term {start}..{end} ends before it starts")
        day = start + dt.timedelta(days=(weekday - start.weekday()) % 7)
        while day <= end:
            days.add(day)
            day += dt.timedelta(days=7)
    return [Session(d, minutes) for d in sorted(days)]


def template_filename(spec: TemplateSpec) -> str:
    """``P01_academic_tutoring_2017-18_autumn.xlsx`` (only safe characters)."""
    slug = re.sub(r"[^a-z0-9]+", "_", spec.programme.lower()).strip("_") or "programme"
    partner = re.sub(r"[^A-Za-z0-9]+", "", spec.partner_id) or "partner"
    year = spec.academic_year.replace("/", "-")
    return f"{partner}_{slug}_{year}_{spec.term}.xlsx"


# --------------------------------------------------------------------------------------
# Cell writing (formula neutralisation) and deterministic saving
# --------------------------------------------------------------------------------------


def put(cell: Cell, value: Any) -> Cell:
    """Write ``value``; text is always a text cell, never a formula.

    openpyxl turns text starting with ``=`` into a formula (and ``#N/A`` into an error
    value); setting ``data_type = "s"`` stores it as plain text. Formula-like text also
    gets Excel's quote-prefix style, so Excel keeps it as text if the cell is edited.
    """
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
        if is_formula_like(value):
            cell.quotePrefix = True
    return cell


def save_workbook(wb: Workbook, path: Path) -> Path:
    """Save ``wb`` to ``path`` atomically and reproducibly.

    openpyxl stamps the save time into ``docProps/core.xml`` and into every zip entry;
    both are replaced by :data:`FIXED_TIMESTAMP` so that the same content gives
    byte-identical files (the sample generator is deterministic).
    """
    wb.properties.creator = "WLZ outcomes pipeline"
    wb.properties.lastModifiedBy = None
    wb.properties.created = FIXED_TIMESTAMP
    buf = io.BytesIO()
    wb.save(buf)
    stamp = FIXED_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".xlsx", dir=path.parent)
    os.close(fd)
    try:
        with (
            zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin,
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout,
        ):
            for info in zin.infolist():
                data = zin.read(info.filename)
                if info.filename == "docProps/core.xml":
                    data = re.sub(
                        rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)",
                        rb"\g<1>" + stamp + rb"\g<2>",
                        data,
                    )
                zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
                zi.compress_type = zipfile.ZIP_DEFLATED
                zi.external_attr = 0o644 << 16
                zout.writestr(zi, data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------------------
# The template
# --------------------------------------------------------------------------------------


def _style_header(cell: Cell) -> None:
    cell.font = _HEADER_FONT
    cell.fill = _HEADER_FILL
    cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _protect(ws: Worksheet) -> None:
    """Lock the sheet (no password: the aim is preventing accidents, not secrecy).
    Unlocked cells stay editable; resizing rows and columns stays allowed."""
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    ws.protection.selectLockedCells = False
    ws.protection.selectUnlockedCells = False


def _instructions(ws: Worksheet, spec: TemplateSpec, cfg: TemplateSettings) -> None:
    m = spec.measure
    marks = cfg.marks
    e = cfg.engagement
    fb = cfg.feedback
    better = "higher" if m.higher_is_better else "lower"
    lines: list[tuple[str, bool]] = [
        ("How to fill in this attendance template", True),
        (
            f"This workbook is for {spec.partner_name}: {spec.programme}, "
            f"{spec.term} term {spec.academic_year}.",
            False,
        ),
        ("", False),
        ("Attendance sheet", True),
        (
            "One row per child and one column per session (the session date is at the top, "
            "the planned length in minutes underneath). For each session type one letter "
            "in the child's row:",
            False,
        ),
    ]
    lines += [(f"    {code} = {s.label}", False) for code, s in marks.items()]
    lines += [
        (
            "If a session did not run, type X for every child that week. Leave a cell empty "
            "only while you do not know yet: empty means 'not recorded'.",
            False,
        ),
        ("", False),
        ("Engagement sheet", True),
        (
            f"For each session a child attended (P or L), rate how engaged they were from "
            f"{e.min} ({e.low_label}) to {e.max} ({e.high_label}). Leave it empty when the "
            "child was not there. Each child is on the same row number as on the Attendance "
            "sheet.",
            False,
        ),
        ("", False),
        ("Outcomes sheet", True),
        (
            f"Type each child's score on the {m.name} at the start (pre score) and at the end "
            f"(post score), with the date of each. Scores go from {m.scale_min:g} to "
            f"{m.scale_max:g}; a {better} score is better. Type dates as day/month/year.",
            False,
        ),
        ("", False),
        ("Feedback sheet", True),
        (
            f"At the end of the term, ask each child and type their answer ({fb.min}-{fb.max}):",
            False,
        ),
    ]
    lines += [(f"    {item.label}: {item.question}", False) for item in fb.items.values()]
    lines += [
        ("", False),
        ("Please do not", True),
        ("    change the WLZ IDs, the session dates or the planned minutes;", False),
        ("    rename, delete or reorder the sheets, or merge cells;", False),
        (
            "    type notes into the mark cells (tell your WLZ contact instead: notes in "
            "the file cannot be read).",
            False,
        ),
        ("", False),
        ("If something changes", True),
        (
            "A child who is not on the list joins: ask your WLZ contact for their WLZ ID and "
            "type it with their name in an empty row under the list. We will add them to the "
            "programme; until then their marks are not counted.",
            False,
        ),
        (
            "An extra session ran: unprotect the sheet (Review > Unprotect Sheet, there is "
            "no password), add a column after the last session with the date at the top and "
            "the planned minutes underneath.",
            False,
        ),
        ("", False),
        ("Sending it back", True),
        (
            "Save the file as an Excel workbook (.xlsx) and send it to your WLZ contact by the "
            "agreed secure route. We will send you a list of anything we could not read, "
            "with the sheet, row and column to look at.",
            False,
        ),
        (
            "This file holds children's personal information: keep it on your "
            "organisation's secure storage and do not email it unprotected.",
            False,
        ),
    ]
    ws.column_dimensions["A"].width = 110
    for i, (text, bold) in enumerate(lines, start=1):
        c = put(ws.cell(row=i, column=1), text if text else None)
        c.alignment = _WRAP
        if bold:
            c.font = Font(bold=True, size=14 if i == 1 else 11)
    _protect(ws)


def _about(ws: Worksheet, spec: TemplateSpec, cfg: TemplateSettings) -> None:
    m = spec.measure
    rows = [
        ("partner_id", spec.partner_id),
        ("partner_name", spec.partner_name),
        ("programme", spec.programme),
        ("academic_year", spec.academic_year),
        ("term", spec.term),
        ("session_leader", spec.session_leader),
        ("outcome_area", spec.outcome_area),
        ("measure", m.name),
        ("scale_min", m.scale_min),
        ("scale_max", m.scale_max),
        ("higher_is_better", "yes" if m.higher_is_better else "no"),
        ("template_version", cfg.template_version),
    ]
    ws.column_dimensions["A"].width = 26
    ws.column_dimensions["B"].width = 48
    for i, (key, value) in enumerate(rows, start=1):
        label = put(ws.cell(row=i, column=1), cfg.about_label(key))
        label.font = _HEADER_FONT
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        put(ws.cell(row=i, column=2), value)
    _protect(ws)


def _grid(
    ws: Worksheet,
    spec: TemplateSpec,
    cfg: TemplateSettings,
    validation: DataValidation,
) -> None:
    """Attendance and Engagement share one layout (same row per child on both)."""
    put(ws.cell(GRID_HEADER_ROW, GRID_ID_COL), cfg.label("wlz_id"))
    put(ws.cell(GRID_HEADER_ROW, GRID_NAME_COL), cfg.label("child_name"))
    put(ws.cell(GRID_MINUTES_ROW, GRID_NAME_COL), cfg.label("planned_minutes"))
    for c in (ws.cell(GRID_HEADER_ROW, GRID_ID_COL), ws.cell(GRID_HEADER_ROW, GRID_NAME_COL)):
        _style_header(c)
    minutes_label = ws.cell(GRID_MINUTES_ROW, GRID_NAME_COL)
    minutes_label.font = Font(italic=True)
    minutes_label.fill = _MINUTES_FILL
    minutes_label.alignment = Alignment(horizontal="right")
    ws.column_dimensions[get_column_letter(GRID_ID_COL)].width = 16
    ws.column_dimensions[get_column_letter(GRID_NAME_COL)].width = 28
    for j, session in enumerate(spec.sessions):
        col = GRID_FIRST_SESSION_COL + j
        head = put(ws.cell(GRID_HEADER_ROW, col), session.date)
        head.number_format = DATE_FORMAT
        _style_header(head)
        mins = put(ws.cell(GRID_MINUTES_ROW, col), session.planned_minutes)
        mins.fill = _MINUTES_FILL
        mins.alignment = Alignment(horizontal="center")
        ws.column_dimensions[get_column_letter(col)].width = 12
    last_child_row = GRID_FIRST_CHILD_ROW + len(spec.children) - 1
    for i, child in enumerate(spec.children):
        row = GRID_FIRST_CHILD_ROW + i
        put(ws.cell(row, GRID_ID_COL), child.wlz_id)
        put(ws.cell(row, GRID_NAME_COL), child.display_name)
    last_row = last_child_row + cfg.spare_rows
    last_col = GRID_FIRST_SESSION_COL + max(len(spec.sessions), 1) - 1
    for row in range(GRID_FIRST_CHILD_ROW, last_row + 1):
        if row > last_child_row:  # spare rows: a child who joins late
            for col in (GRID_ID_COL, GRID_NAME_COL):
                ws.cell(row, col).protection = _UNLOCKED
        for col in range(GRID_FIRST_SESSION_COL, last_col + 1):
            cell = ws.cell(row, col)
            cell.protection = _UNLOCKED
            cell.alignment = Alignment(horizontal="center")
    if spec.sessions and last_row >= GRID_FIRST_CHILD_ROW:
        first = f"{get_column_letter(GRID_FIRST_SESSION_COL)}{GRID_FIRST_CHILD_ROW}"
        validation.add(f"{first}:{get_column_letter(last_col)}{last_row}")
    ws.add_data_validation(validation)
    ws.freeze_panes = ws.cell(GRID_FIRST_CHILD_ROW, GRID_FIRST_SESSION_COL).coordinate
    _protect(ws)


def _marks_validation(cfg: TemplateSettings) -> DataValidation:
    codes = ",".join(cfg.marks)
    explain = "; ".join(f"{c} = {s.label}" for c, s in cfg.marks.items())
    return DataValidation(
        type="list",
        formula1=f'"{codes}"',
        allow_blank=True,
        showErrorMessage=True,
        showInputMessage=True,
        errorStyle="stop",
        errorTitle="Not an attendance mark",
        error=f"Type one of {cfg.marks_phrase()}. {explain}"[:255],
        promptTitle="Attendance mark",
        prompt=f"{cfg.marks_phrase()} (empty = not recorded yet)"[:255],
    )


def _whole_validation(lo: int, hi: int, title: str, what: str) -> DataValidation:
    return DataValidation(
        type="whole",
        operator="between",
        formula1=str(lo),
        formula2=str(hi),
        allow_blank=True,
        showErrorMessage=True,
        showInputMessage=True,
        errorStyle="stop",
        errorTitle=title,
        error=f"{what}: type a whole number from {lo} to {hi}.",
        promptTitle=title,
        prompt=f"A whole number from {lo} to {hi}.",
    )


def _outcomes(ws: Worksheet, spec: TemplateSpec, cfg: TemplateSettings) -> None:
    m = spec.measure
    widths = {"wlz_id": 16, "child_name": 28, "measure": 34}
    for j, key in enumerate(OUTCOME_COLUMNS, start=1):
        _style_header(put(ws.cell(1, j), cfg.label(key)))
        ws.column_dimensions[get_column_letter(j)].width = widths.get(key, 13)
    col = {key: j for j, key in enumerate(OUTCOME_COLUMNS, start=1)}
    last_child = 1 + len(spec.children)
    for i, child in enumerate(spec.children, start=2):
        put(ws.cell(i, col["wlz_id"]), child.wlz_id)
        put(ws.cell(i, col["child_name"]), child.display_name)
        put(ws.cell(i, col["measure"]), m.name)
        put(ws.cell(i, col["scale_min"]), _num(m.scale_min))
        put(ws.cell(i, col["scale_max"]), _num(m.scale_max))
        put(ws.cell(i, col["higher_is_better"]), "yes" if m.higher_is_better else "no")
    last_row = last_child + cfg.spare_rows
    for i in range(2, last_row + 1):
        editable = ["pre_score", "pre_date", "post_score", "post_date"]
        if i > last_child:
            editable += ["wlz_id", "child_name"]
        for key in editable:
            cell = ws.cell(i, col[key])
            cell.protection = _UNLOCKED
            if key.endswith("_date"):
                cell.number_format = DATE_FORMAT
    score = DataValidation(
        type="decimal",
        operator="between",
        formula1=f"{m.scale_min:g}",
        formula2=f"{m.scale_max:g}",
        allow_blank=True,
        showErrorMessage=True,
        showInputMessage=True,
        errorStyle="stop",
        errorTitle="Score out of range",
        error=f"The {m.name} goes from {m.scale_min:g} to {m.scale_max:g}."[:255],
        promptTitle="Score",
        prompt=f"From {m.scale_min:g} to {m.scale_max:g}.",
    )
    dates = DataValidation(
        type="date",
        operator="between",
        formula1=str(date_to_excel_serial(dt.date(2000, 1, 1))),
        formula2=str(date_to_excel_serial(dt.date(2099, 12, 31))),
        allow_blank=True,
        showErrorMessage=True,
        showInputMessage=True,
        errorStyle="stop",
        errorTitle="Not a date",
        error="Type the date as day/month/year, e.g. 03/10/2017.",
        promptTitle="Date",
        prompt="Day/month/year, e.g. 03/10/2017.",
    )
    if last_row >= 2:
        for key in ("pre_score", "post_score"):
            letter = get_column_letter(col[key])
            score.add(f"{letter}2:{letter}{last_row}")
        for key in ("pre_date", "post_date"):
            letter = get_column_letter(col[key])
            dates.add(f"{letter}2:{letter}{last_row}")
    ws.add_data_validation(score)
    ws.add_data_validation(dates)
    ws.freeze_panes = "C2"
    _protect(ws)


def _feedback(ws: Worksheet, spec: TemplateSpec, cfg: TemplateSettings) -> None:
    fb = cfg.feedback
    heads = [cfg.label("wlz_id"), cfg.label("child_name")] + [i.label for i in fb.items.values()]
    for j, text in enumerate(heads, start=1):
        _style_header(put(ws.cell(1, j), text))
        ws.column_dimensions[get_column_letter(j)].width = 16 if j == 1 else (28 if j == 2 else 20)
    for i, child in enumerate(spec.children, start=2):
        put(ws.cell(i, 1), child.wlz_id)
        put(ws.cell(i, 2), child.display_name)
    last_child = 1 + len(spec.children)
    last_row = last_child + cfg.spare_rows
    for i in range(2, last_row + 1):
        cols = range(1, len(heads) + 1) if i > last_child else range(3, len(heads) + 1)
        for j in cols:
            ws.cell(i, j).protection = _UNLOCKED
    dv = _whole_validation(fb.min, fb.max, "Feedback score", "Feedback")
    if last_row >= 2:
        dv.add(f"C2:{get_column_letter(len(heads))}{last_row}")
    ws.add_data_validation(dv)
    ws.freeze_panes = "C2"
    _protect(ws)


def _meta(ws: Worksheet, spec: TemplateSpec, cfg: TemplateSettings) -> None:
    """A very hidden sheet recording what was generated: the reader uses it to tell a
    session column or a child added by hand from the ones we sent. Invisible in Excel's
    user interface (it holds nothing that is not on the visible sheets)."""
    rows: list[list[Any]] = [
        ["template_version", cfg.template_version],
        ["partner_id", spec.partner_id],
        ["programme", spec.programme],
        ["academic_year", spec.academic_year],
        ["term", spec.term],
    ]
    rows += [["session", s.date, s.planned_minutes] for s in spec.sessions]
    rows += [["child", c.wlz_id] for c in spec.children]
    for i, row in enumerate(rows, start=1):
        for j, value in enumerate(row, start=1):
            c = put(ws.cell(i, j), value)
            if isinstance(value, dt.date):
                c.number_format = DATE_FORMAT
    ws.sheet_state = "veryHidden"
    _protect(ws)


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def write_template(spec: TemplateSpec, path: str | os.PathLike[str]) -> Path:
    """Write the template for ``spec`` as a real ``.xlsx``; return its path.

    ``path`` is the file to write, or a folder (then :func:`template_filename` names the
    file inside it). The same ``spec`` always gives a byte-identical file.
    """
    cfg = template_settings()
    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        target = target / template_filename(spec)
    names = {k: s.name for k, s in cfg.sheets.items()}
    wb = Workbook()
    ws = wb.active
    ws.title = names["instructions"]
    _instructions(ws, spec, cfg)
    _about(wb.create_sheet(names["about"]), spec, cfg)
    _grid(wb.create_sheet(names["attendance"]), spec, cfg, _marks_validation(cfg))
    e = cfg.engagement
    _grid(
        wb.create_sheet(names["engagement"]),
        spec,
        cfg,
        _whole_validation(e.min, e.max, "Engagement rating", "Engagement"),
    )
    _outcomes(wb.create_sheet(names["outcomes"]), spec, cfg)
    _feedback(wb.create_sheet(names["feedback"]), spec, cfg)
    _meta(wb.create_sheet(META_SHEET), spec, cfg)
    wb.active = 2  # open on the Attendance sheet
    for sheet in wb.worksheets:
        sheet.sheet_view.tabSelected = sheet.title == names["attendance"]
    # Lock the workbook's structure: sheets cannot be renamed, moved or deleted by
    # accident (Review > Protect Workbook toggles it; no password).
    wb.security = WorkbookProtection(lockStructure=True)
    return save_workbook(wb, target)


# --------------------------------------------------------------------------------------
# Locating things in a (possibly hand-edited) workbook with openpyxl
# --------------------------------------------------------------------------------------


@dataclass
class _GridPos:
    header_row: int
    id_col: int
    name_col: int | None
    minutes_row: int | None
    sessions: dict[dt.date, int]  # date -> column
    last_col: int
    child_rows: dict[str, int]  # WLZ ID (as typed, stripped) -> row
    last_child_row: int


def _sheet(wb: Workbook, key: str, cfg: TemplateSettings) -> Worksheet:
    want = cfg.sheets[key]
    names = {normalise_label(n) for n in [want.name, *want.aliases]}
    for ws in wb.worksheets:
        if normalise_label(ws.title) in names:
            return ws
    raise KeyError(f"the workbook has no {want.name} sheet")


def _locate_grid(ws: Worksheet, cfg: TemplateSettings, academic_year: str | None) -> _GridPos:
    id_labels = {normalise_label(x) for x in cfg.headers["wlz_id"]}
    name_labels = {normalise_label(x) for x in cfg.headers["child_name"]}
    min_labels = {normalise_label(x) for x in cfg.headers["planned_minutes"]}
    header_row = id_col = None
    for r in range(1, cfg.limits.header_search_rows + 1):
        for c in range(1, ws.max_column + 1):
            if normalise_label(ws.cell(r, c).value) in id_labels:
                header_row, id_col = r, c
                break
        if header_row:
            break
    if header_row is None or id_col is None:
        raise ValueError(f"no '{cfg.label('wlz_id')}' heading on sheet {ws.title}")
    name_col = None
    sessions: dict[dt.date, int] = {}
    last_col = id_col
    for c in range(1, ws.max_column + 1):
        v = ws.cell(header_row, c).value
        if is_blank(v):
            continue
        if normalise_label(v) in name_labels:
            name_col = c
        day = _as_date(v, cfg, academic_year)
        if day is not None:
            sessions.setdefault(day, c)
            last_col = max(last_col, c)
    below = header_row + 1
    minutes_row = None
    for c in (id_col, name_col):
        if c and normalise_label(ws.cell(below, c).value) in min_labels:
            minutes_row = below
    child_rows: dict[str, int] = {}
    last_child_row = minutes_row or header_row
    for r in range((minutes_row or header_row) + 1, ws.max_row + 1):
        v = ws.cell(r, id_col).value
        if isinstance(v, str) and v.strip():
            child_rows.setdefault(v.strip(), r)
            last_child_row = r
    return _GridPos(
        header_row, id_col, name_col, minutes_row, sessions, last_col, child_rows, last_child_row
    )


def _as_date(v: Any, cfg: TemplateSettings, academic_year: str | None) -> dt.date | None:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        return parse_text_date(v, cfg.text_date_formats, academic_year)
    return None


def _academic_year(wb: Workbook, cfg: TemplateSettings) -> str | None:
    try:
        ws = _sheet(wb, "about", cfg)
    except KeyError:
        return None
    labels = {normalise_label(x) for x in cfg.about["academic_year"]}
    for r in range(1, min(ws.max_row, 50) + 1):
        if normalise_label(ws.cell(r, 1).value) in labels:
            v = ws.cell(r, 2).value
            return str(v) if v is not None else None
    return None


def _header_cols(
    ws: Worksheet, cfg: TemplateSettings, keys: Sequence[str]
) -> tuple[int, dict[str, int]]:
    """(header row, key -> column) for a table sheet (Outcomes, Feedback)."""
    labels = {k: {normalise_label(x) for x in cfg.headers[k]} for k in keys if k in cfg.headers}
    for k, item in cfg.feedback.items.items():
        if k in keys:
            labels[k] = {normalise_label(x) for x in [item.label, *item.aliases]}
    for r in range(1, cfg.limits.header_search_rows + 1):
        found = {}
        for c in range(1, ws.max_column + 1):
            lab = normalise_label(ws.cell(r, c).value)
            for k, options in labels.items():
                if lab in options and k not in found:
                    found[k] = c
        if "wlz_id" in found:
            return r, found
    raise ValueError(f"no '{cfg.label('wlz_id')}' heading on sheet {ws.title}")


def _row_of(ws: Worksheet, header_row: int, id_col: int, wlz_id: str) -> int:
    for r in range(header_row + 1, ws.max_row + 1):
        v = ws.cell(r, id_col).value
        if isinstance(v, str) and v.strip().upper() == wlz_id:
            return r
    raise KeyError(f"sheet {ws.title}: no row for that child")


# --------------------------------------------------------------------------------------
# Filling in (what a partner does; used by the generator and tests)
# --------------------------------------------------------------------------------------


def fill_template(
    path: str | os.PathLike[str],
    marks: Mapping[tuple[str, dt.date], str],
    engagement: Mapping[tuple[str, dt.date], Any] | None = None,
    outcomes: Mapping[str, Mapping[str, Any]] | None = None,
    feedback: Mapping[str, Mapping[str, Any] | Sequence[Any]] | None = None,
) -> None:
    """Type values into a generated template, as a partner would, and save it.

    - ``marks``: ``{(wlz_id, session_date): "P"}`` into the Attendance sheet (written as
      given, so ``"p "`` stays lower case with a space: the reader's job to normalise);
    - ``engagement``: ``{(wlz_id, session_date): 4}`` into the Engagement sheet;
    - ``outcomes``: ``{wlz_id: {"pre_score": 12, "pre_date": date, "post_score": ...,
      "post_date": ...}}`` (any subset of the four keys);
    - ``feedback``: ``{wlz_id: {"enjoyment": 5, "usefulness": 4, "would_recommend": 5}}``
      or ``{wlz_id: (5, 4, 5)}``.

    Raises ``KeyError`` when a child or a session date is not in the template.
    """
    cfg = template_settings()
    path = Path(path)
    wb = load_workbook(path)
    year = _academic_year(wb, cfg)
    ws = _sheet(wb, "attendance", cfg)
    _fill_grid(ws, cfg, year, marks)
    if engagement:
        _fill_grid(_sheet(wb, "engagement", cfg), cfg, year, engagement)
    if outcomes:
        ws = _sheet(wb, "outcomes", cfg)
        keys = ["wlz_id", "pre_score", "pre_date", "post_score", "post_date"]
        header_row, cols = _header_cols(ws, cfg, keys)
        for wlz_id, values in outcomes.items():
            r = _row_of(ws, header_row, cols["wlz_id"], wlz_id)
            for key, value in values.items():
                if key not in cols or key == "wlz_id":
                    raise KeyError(f"outcomes: unknown field {key!r}")
                c = put(ws.cell(r, cols[key]), value)
                if isinstance(value, dt.date):
                    c.number_format = DATE_FORMAT
    if feedback:
        ws = _sheet(wb, "feedback", cfg)
        items = list(cfg.feedback.items)
        header_row, cols = _header_cols(ws, cfg, ["wlz_id", *items])
        for wlz_id, values in feedback.items():
            r = _row_of(ws, header_row, cols["wlz_id"], wlz_id)
            pairs = (
                values.items() if isinstance(values, Mapping) else zip(items, values, strict=True)
            )
            for key, value in pairs:
                put(ws.cell(r, cols[key]), value)
    save_workbook(wb, path)


def _fill_grid(
    ws: Worksheet,
    cfg: TemplateSettings,
    year: str | None,
    values: Mapping[tuple[str, dt.date], Any],
) -> None:
    pos = _locate_grid(ws, cfg, year)
    for (wlz_id, day), value in values.items():
        if day not in pos.sessions:
            raise KeyError(f"sheet {ws.title}: no session on {day.isoformat()}")
        r = _row_of(ws, pos.header_row, pos.id_col, wlz_id)
        put(ws.cell(r, pos.sessions[day]), value)


# --------------------------------------------------------------------------------------
# Hand edits (the defects of issue 3, point 3), applied to a filled-in file
# --------------------------------------------------------------------------------------

#: Each defect a partner's hand edits introduce, and what :func:`hand_edit` does for it.
HAND_EDIT_DEFECTS: dict[str, str] = {
    "blank_rows_cols": "an empty row inserted between two children and an empty column "
    "between two sessions (Attendance)",
    "note_in_mark": "a note ('was ill') typed into a mark cell instead of a mark",
    "note_right_of_grid": "a note typed in a column to the right of the last session",
    "merged_header": "a title row inserted above the headings and merged across them; "
    "the 'WLZ ID' heading merged down over the cell below it",
    "text_dates": "session dates in the heading retyped as text (3/10/17, 03-Oct-2017, 03/10/2017)",
    "lowercase_marks": "marks typed in lower case with trailing spaces ('p ', 'a  ')",
    "misspelt_name": "a child's name misspelt (the WLZ ID is right)",
    "unallocated_id": "a child's WLZ ID changed to one not allocated to the programme",
    "added_child": "a child added by hand in an empty row under the list",
    "added_session": "a session column added by hand after the last one, planned minutes "
    "left empty",
    "missing_sheet": "an optional sheet (Engagement or Feedback) deleted",
    "renamed_sheet": "a sheet renamed (e.g. Attendance -> Register, or Sheet3)",
    "date_outside_term": "a session date changed to a date outside the term",
}


def hand_edit(path: str | os.PathLike[str], defect: str, **kw: Any) -> HandEdit:
    """Apply one hand-edit ``defect`` (see :data:`HAND_EDIT_DEFECTS`) to a filled file.

    Structural edits first unprotect what they change, as a partner must. Edits can be
    combined on one file (each finds the grid by its headings). Keyword arguments
    (all optional unless said):

    - ``blank_rows_cols``: ``after_child`` (0-based, default 0), ``after_session`` (0);
    - ``note_in_mark``: ``child`` (0), ``session`` (0), ``text`` ("was ill");
    - ``note_right_of_grid``: ``child`` (0), ``text``, ``gap`` (1 empty column between);
    - ``merged_header``: ``title``;
    - ``text_dates``: ``sessions`` (default first three), ``styles`` (default
      ``["d/m/yy", "dd-Mon-yyyy", "dd/mm/yyyy"]``, cycled);
    - ``lowercase_marks``: ``child`` (0), ``count`` (all marks in that row);
    - ``misspelt_name``: ``child`` (0), ``new_name``;
    - ``unallocated_id``: ``child`` (0), ``wlz_id`` (required);
    - ``added_child``: ``wlz_id`` (required), ``name``, ``marks`` (list, one per session,
      default all "P");
    - ``added_session``: ``date`` (required), ``marks`` (default "P" for every child),
      ``planned_minutes`` (default None = left empty);
    - ``missing_sheet``: ``sheet`` ("Engagement");
    - ``renamed_sheet``: ``sheet`` ("Attendance"), ``new_name`` ("Register");
    - ``date_outside_term``: ``session`` (-1, the last), ``date`` (required).
    """
    if defect not in HAND_EDIT_DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; known: {', '.join(HAND_EDIT_DEFECTS)}")
    cfg = template_settings()
    path = Path(path)
    wb = load_workbook(path)
    year = _academic_year(wb, cfg)
    result = _EDITS[defect](wb, cfg, year, kw)
    result.defect = defect
    if not result.description:
        result.description = HAND_EDIT_DEFECTS[defect]
    save_workbook(wb, path)
    return result


def _attendance(
    wb: Workbook, cfg: TemplateSettings, year: str | None
) -> tuple[Worksheet, _GridPos]:
    ws = _sheet(wb, "attendance", cfg)
    return ws, _locate_grid(ws, cfg, year)


def _child_row(pos: _GridPos, index: int) -> int:
    rows = sorted(pos.child_rows.values())
    return rows[index]


def _session_col(pos: _GridPos, index: int) -> tuple[dt.date, int]:
    items = sorted(pos.sessions.items(), key=lambda kv: kv[1])
    return items[index]


def _edit_blank_rows_cols(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    ws, pos = _attendance(wb, cfg, year)
    ws.protection.sheet = False
    row = _child_row(pos, kw.get("after_child", 0)) + 1
    _, col = _session_col(pos, kw.get("after_session", 0))
    col += 1
    ws.insert_rows(row)
    ws.insert_cols(col)
    return HandEdit("", ws.title, [f"{row}", get_column_letter(col)])


def _edit_note_in_mark(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    ws, pos = _attendance(wb, cfg, year)
    r = _child_row(pos, kw.get("child", 0))
    _, c = _session_col(pos, kw.get("session", 0))
    put(ws.cell(r, c), kw.get("text", "was ill"))
    return HandEdit("", ws.title, [ws.cell(r, c).coordinate])


def _edit_note_right(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    ws, pos = _attendance(wb, cfg, year)
    ws.protection.sheet = False
    r = _child_row(pos, kw.get("child", 0))
    c = pos.last_col + 1 + kw.get("gap", 1)
    put(ws.cell(r, c), kw.get("text", "left early, mum collected"))
    return HandEdit("", ws.title, [ws.cell(r, c).coordinate])


def _edit_merged_header(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    ws, pos = _attendance(wb, cfg, year)
    ws.protection.sheet = False
    ws.insert_rows(1)
    ws.freeze_panes = None
    title = kw.get("title", "Attendance register")
    put(ws.cell(1, 1), title)
    last = get_column_letter(pos.last_col)
    ws.merge_cells(f"A1:{last}1")
    hr = pos.header_row + 1
    id_letter = get_column_letter(pos.id_col)
    cells = [f"A1:{last}1"]
    # the WLZ ID heading merged down over the empty cell below it (the minutes row)
    if pos.minutes_row is not None and is_blank(ws.cell(hr + 1, pos.id_col).value):
        ws.merge_cells(f"{id_letter}{hr}:{id_letter}{hr + 1}")
        cells.append(f"{id_letter}{hr}:{id_letter}{hr + 1}")
    return HandEdit("", ws.title, cells)


def _format_text_date(day: dt.date, style: str) -> str:
    if style == "d/m/yy":
        return f"{day.day}/{day.month}/{day:%y}"
    if style == "dd-Mon-yyyy":
        return day.strftime("%d-%b-%Y")
    if style == "dd/mm/yyyy":
        return day.strftime("%d/%m/%Y")
    raise ValueError(f"unknown date style {style!r}")


def _edit_text_dates(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    ws, pos = _attendance(wb, cfg, year)
    styles = kw.get("styles", ["d/m/yy", "dd-Mon-yyyy", "dd/mm/yyyy"])
    indices = kw.get("sessions", list(range(min(3, len(pos.sessions)))))
    cells = []
    for n, i in enumerate(indices):
        day, c = _session_col(pos, i)
        cell = put(ws.cell(pos.header_row, c), _format_text_date(day, styles[n % len(styles)]))
        cell.number_format = "@"
        cells.append(cell.coordinate)
    return HandEdit("", ws.title, cells)


def _edit_lowercase(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    ws, pos = _attendance(wb, cfg, year)
    r = _child_row(pos, kw.get("child", 0))
    cells = []
    count = kw.get("count")
    for n, (_, c) in enumerate(sorted(pos.sessions.items(), key=lambda kv: kv[1])):
        v = ws.cell(r, c).value
        if isinstance(v, str) and v.strip():
            put(ws.cell(r, c), v.strip().lower() + (" " if n % 2 == 0 else "  "))
            cells.append(ws.cell(r, c).coordinate)
            if count is not None and len(cells) >= count:
                break
    return HandEdit("", ws.title, cells)


def _misspell(name: str) -> str:
    # swap two adjacent letters inside the first word (deterministic, stays readable)
    first, _, rest = name.partition(" ")
    if len(first) >= 4:
        i = len(first) // 2
        first = first[: i - 1] + first[i] + first[i - 1] + first[i + 1 :]
    else:
        first = first + first[-1:]
    return f"{first} {rest}".strip()


def _edit_misspelt(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    ws, pos = _attendance(wb, cfg, year)
    if pos.name_col is None:
        raise ValueError("no name column")
    r = _child_row(pos, kw.get("child", 0))
    cell = ws.cell(r, pos.name_col)
    put(cell, kw.get("new_name") or _misspell(str(cell.value or "")))
    return HandEdit("", ws.title, [cell.coordinate])


def _edit_unallocated(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    ws, pos = _attendance(wb, cfg, year)
    r = _child_row(pos, kw.get("child", 0))
    cell = put(ws.cell(r, pos.id_col), kw["wlz_id"])
    return HandEdit("", ws.title, [cell.coordinate])


def _edit_added_child(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    ws, pos = _attendance(wb, cfg, year)
    r = pos.last_child_row + 1
    put(ws.cell(r, pos.id_col), kw["wlz_id"])
    if pos.name_col:
        put(ws.cell(r, pos.name_col), kw.get("name", "New Child"))
    cols = [c for _, c in sorted(pos.sessions.items(), key=lambda kv: kv[1])]
    marks = kw.get("marks") or ["P"] * len(cols)
    for c, mark in zip(cols, marks, strict=False):
        put(ws.cell(r, c), mark)
    return HandEdit("", ws.title, [ws.cell(r, pos.id_col).coordinate])


def _edit_added_session(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    ws, pos = _attendance(wb, cfg, year)
    ws.protection.sheet = False
    c = pos.last_col + 1
    head = put(ws.cell(pos.header_row, c), kw["date"])
    head.number_format = DATE_FORMAT
    if pos.minutes_row is not None and kw.get("planned_minutes") is not None:
        put(ws.cell(pos.minutes_row, c), kw["planned_minutes"])
    marks = kw.get("marks")
    rows = sorted(pos.child_rows.values())
    for n, r in enumerate(rows):
        mark = marks[n] if isinstance(marks, Sequence) and not isinstance(marks, str) else marks
        put(ws.cell(r, c), "P" if mark is None else mark)
    return HandEdit("", ws.title, [head.coordinate])


def _edit_missing_sheet(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    name = kw.get("sheet", cfg.sheets["engagement"].name)
    wb.security = WorkbookProtection(lockStructure=False)
    del wb[name]
    return HandEdit("", name, [])


def _edit_renamed_sheet(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    name = kw.get("sheet", cfg.sheets["attendance"].name)
    new = kw.get("new_name", "Register")
    wb.security = WorkbookProtection(lockStructure=False)
    ws = wb[name]
    ws.title = "_renaming_"  # openpyxl refuses a name equal to the old one but for case
    ws.title = new
    return HandEdit("", new, [], f"sheet {name} renamed to {new}")


def _edit_outside_term(
    wb: Workbook, cfg: TemplateSettings, year: str | None, kw: dict[str, Any]
) -> HandEdit:
    ws, pos = _attendance(wb, cfg, year)
    _, c = _session_col(pos, kw.get("session", -1))
    cell = put(ws.cell(pos.header_row, c), kw["date"])
    cell.number_format = DATE_FORMAT
    return HandEdit("", ws.title, [cell.coordinate])


_EDITS = {
    "blank_rows_cols": _edit_blank_rows_cols,
    "note_in_mark": _edit_note_in_mark,
    "note_right_of_grid": _edit_note_right,
    "merged_header": _edit_merged_header,
    "text_dates": _edit_text_dates,
    "lowercase_marks": _edit_lowercase,
    "misspelt_name": _edit_misspelt,
    "unallocated_id": _edit_unallocated,
    "added_child": _edit_added_child,
    "added_session": _edit_added_session,
    "missing_sheet": _edit_missing_sheet,
    "renamed_sheet": _edit_renamed_sheet,
    "date_outside_term": _edit_outside_term,
}
