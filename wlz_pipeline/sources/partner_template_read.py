"""Reading returned partner templates defensively, with findings a partner can act on.

See :mod:`wlz_pipeline.sources.partner_template` for the rules and the decisions.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
import zipfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from python_calamine import CalamineWorkbook, SheetVisibleEnum

from wlz_pipeline.sources.partner_template_common import (
    META_SHEET,
    SHEET_KEYS,
    Finding,
    TemplateSettings,
    col_letter,
    coord,
    display_value,
    excel_serial_to_date,
    is_wlz_id,
    normalise_label,
    parse_text_date,
    template_settings,
)

# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkRow:
    """One child x session of the Attendance sheet (with its engagement rating)."""

    wlz_id: str
    child_name: str | None
    session_date: dt.date
    planned_minutes: int | None
    mark: str | None  # P L A E X, or None = blank (not recorded)
    engagement: int | None
    sheet: str  # the sheet's name in the file (it may have been renamed)
    cell: str  # "Attendance!D5"
    engagement_cell: str | None = None  # "Engagement!D5" when a rating was read


@dataclass(frozen=True)
class OutcomeRow:
    wlz_id: str
    measure: str | None
    pre_score: float | None
    pre_date: dt.date | None
    post_score: float | None
    post_date: dt.date | None
    scale_min: float | None
    scale_max: float | None
    higher_is_better: bool | None
    sheet: str
    cell: str  # the row's WLZ ID cell, "Outcomes!A5"
    row: int


@dataclass(frozen=True)
class FeedbackRow:
    wlz_id: str
    enjoyment: int | None
    usefulness: int | None
    would_recommend: int | None
    sheet: str
    cell: str  # "Feedback!A5"
    row: int


@dataclass
class TemplateRead:
    """What was read from one returned template.

    ``quarantine_reason`` is set (and there are no rows) when the file cannot be used at
    all; it is also the first finding, so :func:`format_findings` shows it.
    """

    path: str
    about: dict[str, Any] = field(default_factory=dict)
    marks: list[MarkRow] = field(default_factory=list)
    outcomes: list[OutcomeRow] = field(default_factory=list)
    feedback: list[FeedbackRow] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    quarantine_reason: str | None = None
    sheets: dict[str, str] = field(default_factory=dict)  # sheet key -> name in the file

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


class _Quarantine(Exception):
    def __init__(self, problem: str, expected: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.expected = expected


# --------------------------------------------------------------------------------------
# Sheets as plain grids
# --------------------------------------------------------------------------------------


@dataclass
class _Sheet:
    name: str
    rows: list[list[Any]]  # row 0 = spreadsheet row 1, column 0 = A
    merged: list[tuple[tuple[int, int], tuple[int, int]]]

    @property
    def nrows(self) -> int:
        return len(self.rows)

    @property
    def ncols(self) -> int:
        return max((len(r) for r in self.rows), default=0)

    def get(self, r: int, c: int) -> Any:
        if r < 0 or r >= len(self.rows) or c < 0:
            return None
        row = self.rows[r]
        if c >= len(row):
            return None
        v = row[c]
        if isinstance(v, str) and not v.strip():
            return None
        return v

    def merged_with(self, r: int, c: int) -> tuple[tuple[int, int], tuple[int, int]] | None:
        for rng in self.merged:
            (r0, c0), (r1, c1) = rng
            if r0 <= r <= r1 and c0 <= c <= c1:
                return rng
        return None


def _range_text(rng: tuple[tuple[int, int], tuple[int, int]]) -> str:
    (r0, c0), (r1, c1) = rng
    return f"{coord(r0, c0)}:{coord(r1, c1)}"


def _fmt_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


# --------------------------------------------------------------------------------------
# Reading context
# --------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    cfg: TemplateSettings
    allocated: Collection[str] | None
    known: Mapping[str, str] | None
    term_dates: tuple[dt.date, dt.date] | None
    findings: list[Finding] = field(default_factory=list)
    academic_year: str | None = None
    meta_sessions: dict[dt.date, int | None] | None = None
    meta_children: set[str] | None = None

    def add(
        self,
        sheet: str | None,
        cell: str | None,
        value: Any,
        problem: str,
        expected: str,
        severity: Literal["error", "warning"],
        code: str,
    ) -> None:
        self.findings.append(Finding(sheet, cell, value, problem, expected, severity, code))

    @property
    def attended(self) -> set[str]:
        return {c for c, s in self.cfg.marks.items() if s.counts_as == "attended"}


# --------------------------------------------------------------------------------------
# Opening the file (limits) and finding the sheets
# --------------------------------------------------------------------------------------

_RETEMPLATE = (
    "Please send back the attendance template your WLZ contact sent you (ask them for a "
    "fresh copy if you no longer have it)."
)


def _check_file(path: Path, cfg: TemplateSettings) -> None:
    lim = cfg.limits
    if not path.is_file():
        raise _Quarantine("the file could not be found", "Send the file again.")
    size = path.stat().st_size
    if size == 0:
        raise _Quarantine("the file is empty", "Save the workbook in Excel and send it again.")
    if size > lim.max_file_bytes:
        raise _Quarantine(
            f"the file is {size / 1e6:.1f} MB; a template is far smaller and files over "
            f"{lim.max_file_bytes / 1e6:.0f} MB are not read",
            "Check it is the right file, remove pictures and extra sheets, and send it again.",
        )
    if not zipfile.is_zipfile(path):
        raise _Quarantine(
            "this is not an Excel workbook (.xlsx): it may be a CSV or text file, an old "
            ".xls file or a password-protected workbook",
            "Open it in Excel, remove any password, choose File > Save As > 'Excel Workbook "
            "(.xlsx)' and send it again.",
        )
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _Quarantine(
            "the workbook is damaged and could not be opened",
            "Open it in Excel, save it again as .xlsx and send it again. " + _RETEMPLATE,
        ) from exc
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        raise _Quarantine(
            "this file is not an Excel workbook (.xlsx) (it may be another kind of document)",
            _RETEMPLATE,
        )
    total = sum(i.file_size for i in infos)
    if total > lim.max_uncompressed_bytes:
        raise _Quarantine(
            f"the workbook unpacks to {total / 1e6:.0f} MB, far more than a template; it was "
            "not read",
            "Check it is the right file; remove pictures and extra sheets. " + _RETEMPLATE,
        )
    for i in infos:
        if i.file_size > 1_000_000 and i.file_size > lim.max_compression_ratio * max(
            i.compress_size, 1
        ):
            raise _Quarantine(
                "the workbook holds a part that unpacks to far more than its size (a sign of "
                "a damaged or unsafe file); it was not read",
                _RETEMPLATE,
            )


def _load_sheet(wb: CalamineWorkbook, name: str, cfg: TemplateSettings) -> _Sheet:
    lim = cfg.limits
    sheet = wb.get_sheet_by_name(name)
    end = sheet.end
    if end is None:
        return _Sheet(name, [], [])
    nrows, ncols = end[0] + 1, end[1] + 1
    if nrows > lim.max_rows or ncols > lim.max_cols or nrows * ncols > lim.max_cells:
        raise _Quarantine(
            f"the {name} sheet uses {nrows} rows and {ncols} columns; a template uses at most "
            f"{lim.max_rows} rows and {lim.max_cols} columns, so the file was not read",
            "Delete the rows and columns you do not need (below and to the right of the "
            "table) and send it again.",
        )
    rows = sheet.to_python(skip_empty_area=False)
    merged = list(sheet.merged_cell_ranges or [])
    return _Sheet(name, rows, merged)


def _find_label(sheet: _Sheet, labels: set[str], max_rows: int) -> tuple[int, int] | None:
    for r in range(min(sheet.nrows, max_rows)):
        for c, v in enumerate(sheet.rows[r]):
            if isinstance(v, str) and normalise_label(v) in labels:
                return r, c
    return None


def _labels(cfg: TemplateSettings, key: str) -> set[str]:
    return {normalise_label(x) for x in cfg.headers[key]}


def _looks_like(key: str, sheet: _Sheet, cfg: TemplateSettings) -> bool:
    """Content check for the position fallback of a renamed sheet."""
    n = cfg.limits.header_search_rows
    if key == "about":
        labels = {normalise_label(x) for x in cfg.about["partner_id"]}
        return any(normalise_label(sheet.get(r, 0)) in labels for r in range(min(sheet.nrows, 50)))
    if key in ("attendance", "engagement"):
        hit = _find_label(sheet, _labels(cfg, "wlz_id"), n)
        if hit is None:
            return False
        r, _ = hit
        return any(
            isinstance(v, (dt.date, dt.datetime)) or _text_date(v, cfg, None) is not None
            for v in sheet.rows[r]
        )
    if key == "outcomes":
        return _find_label(sheet, _labels(cfg, "pre_score"), n) is not None
    if key == "feedback":
        item = cfg.feedback.items["enjoyment"]
        labels = {normalise_label(x) for x in [item.label, *item.aliases]}
        return _find_label(sheet, labels, n) is not None
    return False


def _resolve_sheets(
    wb: CalamineWorkbook, ctx: _Ctx, loader: Any
) -> tuple[dict[str, str], list[str]]:
    """Match the workbook's sheets to the template's; returns (key -> name, visible)."""
    cfg = ctx.cfg
    visible = [
        m.name
        for m in wb.sheets_metadata
        if m.name != META_SHEET and m.visible == SheetVisibleEnum.Visible
    ]
    others = [n for n in wb.sheet_names if n not in visible and n != META_SHEET]
    names = visible + others
    found: dict[str, str] = {}
    for key in SHEET_KEYS:
        want = normalise_label(cfg.sheets[key].name)
        for n in names:
            if normalise_label(n) == want and n not in found.values():
                found[key] = n
                break
    for key in SHEET_KEYS:
        if key in found:
            continue
        aliases = {normalise_label(a) for a in cfg.sheets[key].aliases}
        for n in names:
            if normalise_label(n) in aliases and n not in found.values():
                found[key] = n
                ctx.add(
                    n,
                    None,
                    None,
                    f"the sheet '{n}' was read as the {cfg.sheets[key].name} sheet "
                    "(it has been renamed)",
                    f"Please rename it back to '{cfg.sheets[key].name}'.",
                    "warning",
                    "sheet_renamed",
                )
                break
    known_names = {normalise_label(s.name) for s in cfg.sheets.values()}
    for s in cfg.sheets.values():
        known_names |= {normalise_label(a) for a in s.aliases}
    for pos, key in enumerate(SHEET_KEYS):
        if key in found or key == "instructions" or pos >= len(visible):
            continue
        n = visible[pos]
        if n in found.values() or normalise_label(n) in known_names:
            continue
        if _looks_like(key, loader(n), cfg):
            found[key] = n
            ctx.add(
                n,
                None,
                None,
                f"the sheet '{n}' was read as the {cfg.sheets[key].name} sheet, from its "
                "place in the workbook and its headings (it has been renamed)",
                f"Please rename it back to '{cfg.sheets[key].name}'.",
                "warning",
                "sheet_renamed",
            )
    for n in visible:
        if n not in found.values():
            ctx.add(
                n,
                None,
                None,
                f"the sheet '{n}' is not part of the template and was not read",
                "Nothing to do if this sheet is for your own use; anything we need must be "
                "on the template's sheets.",
                "warning",
                "sheet_unknown",
            )
    return found, visible


# --------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------


def _text_date(v: Any, cfg: TemplateSettings, academic_year: str | None) -> dt.date | None:
    if isinstance(v, str):
        return parse_text_date(v, cfg.text_date_formats, academic_year)
    return None


def _cell_date(v: Any, ctx: _Ctx) -> tuple[dt.date | None, str | None]:
    """(date, how) where how is None for a real date cell, "text" or "number"."""
    if isinstance(v, dt.datetime):
        return v.date(), None
    if isinstance(v, dt.date):
        return v, None
    if isinstance(v, str):
        d = _text_date(v, ctx.cfg, ctx.academic_year)
        return d, ("text" if d else None)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        d = excel_serial_to_date(v)
        return d, ("number" if d else None)
    return None, None


def _as_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip().replace(",", ".")
        if re.fullmatch(r"[+-]?\d+(\.\d+)?", s):
            return float(s)
    return None


def _as_whole(v: Any, lo: int, hi: int) -> int | None:
    x = _as_number(v)
    if x is None or not x.is_integer() or not lo <= x <= hi:
        return None
    return int(x)


def _as_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    s = normalise_label(v)
    if s in ("yes", "y", "true", "higher", "1"):
        return True
    if s in ("no", "n", "false", "lower", "0"):
        return False
    return None


def _minutes(v: Any) -> int | None:
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(\d+)\s*(m|min|mins|minutes)?\.?\s*", v, re.IGNORECASE)
        v = m.group(1) if m else v
    return _as_whole(v, 1, 480)


def _name_key(name: Any) -> str:
    text = unicodedata.normalize("NFKD", str(name or ""))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def _norm_id(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip().upper()


class NormalisedIds(dict):
    """WLZ ID -> name with the IDs already normalised (``normalised_ids``): a scan of
    hundreds of templates normalises the enrolled children once, not once a template."""


def normalised_ids(ids: Mapping[str, str]) -> NormalisedIds:
    """``ids`` keyed by normalised ID (as they are compared with the template's)."""
    if isinstance(ids, NormalisedIds):
        return ids
    return NormalisedIds((_norm_id(k), v) for k, v in ids.items())


# --------------------------------------------------------------------------------------
# Children (shared by every sheet with one row per child)
# --------------------------------------------------------------------------------------


def _check_child(
    ctx: _Ctx,
    sheet: _Sheet,
    r: int,
    id_col: int,
    has_data: bool,
    seen: dict[str, int],
    what: str,
) -> str | None:
    """The row's WLZ ID when its data may be read, else None (with a finding).

    ``has_data``: the row has something typed in its data cells; a problem that loses
    data is an error, one that loses nothing is a warning.
    """
    raw = sheet.get(r, id_col)
    cell = coord(r, id_col)
    lost = "error" if has_data else "warning"
    if raw is None:
        if has_data:
            ctx.add(
                sheet.name,
                cell,
                None,
                f"this row has {what} but no WLZ ID, so it was not read",
                "Type the child's WLZ ID in this cell (ask your WLZ contact if you do not "
                "have it).",
                "error",
                "id_missing",
            )
        return None
    wlz_id = _norm_id(raw)
    if not is_wlz_id(wlz_id):
        if has_data:
            ctx.add(
                sheet.name,
                cell,
                raw,
                f"is not a WLZ ID (WLZ followed by 9 digits), so this row's {what} were not read",
                "Correct the WLZ ID (e.g. WLZ109248573); ask your WLZ contact if unsure.",
                "error",
                "id_invalid",
            )
        else:
            ctx.add(
                sheet.name,
                cell,
                raw,
                "is not a WLZ ID and the row has nothing else in it, so it was not read",
                "Nothing to do if this is a note for yourself; notes for us go to your WLZ "
                "contact.",
                "warning",
                "text_ignored",
            )
        return None
    if wlz_id in seen:
        ctx.add(
            sheet.name,
            cell,
            raw,
            f"is listed twice; only its first row (row {seen[wlz_id] + 1}) was read",
            "Keep one row per child: move anything in this row to the first one and delete "
            "this row.",
            lost,
            "id_duplicate",
        )
        return None
    seen[wlz_id] = r
    if ctx.allocated is not None and wlz_id not in ctx.allocated:
        ctx.add(
            sheet.name,
            cell,
            raw,
            "is not a child allocated to this programme this term, so this row was not read",
            "Check the WLZ ID. If this child really takes part, ask your WLZ contact to add "
            "them to the programme; their marks will then be read from this file, you do "
            "not need to send it again.",
            lost,
            "id_not_allocated",
        )
        return None
    if ctx.known is not None and wlz_id not in ctx.known:
        ctx.add(
            sheet.name,
            cell,
            raw,
            "is not a WLZ ID we know, so this row was not read",
            "Check the WLZ ID with your WLZ contact.",
            lost,
            "id_unknown",
        )
        return None
    return wlz_id


def _blank_rows(ctx: _Ctx, sheet: _Sheet, blanks: list[int], first: int, last: int) -> None:
    """One warning per run of empty rows between ``first`` and ``last`` (0-based)."""
    inner = [r for r in blanks if first < r < last]
    runs: list[list[int]] = []
    for r in inner:
        if runs and runs[-1][-1] == r - 1:
            runs[-1].append(r)
        else:
            runs.append([r])
    for run in runs:
        what = (
            f"row {run[0] + 1} is empty"
            if len(run) == 1
            else (f"rows {run[0] + 1} to {run[-1] + 1} are empty")
        )
        ctx.add(
            sheet.name,
            coord(run[0], 0),
            None,
            what,
            "Nothing was lost; you can delete empty rows inside the table.",
            "warning",
            "blank_row",
        )


def _merged_warnings(ctx: _Ctx, sheet: _Sheet, from_row: int) -> None:
    for rng in sheet.merged:
        (r0, c0), (r1, c1) = rng
        if r1 < from_row:
            continue
        ctx.add(
            sheet.name,
            coord(r0, c0),
            None,
            f"cells {_range_text(rng)} are merged; only the first cell ({coord(r0, c0)}) of "
            "merged cells is read",
            "Please unmerge them (Home > Merge & Center) and check each cell has what it should.",
            "warning",
            "merged_cells",
        )


# --------------------------------------------------------------------------------------
# The Attendance / Engagement grid
# --------------------------------------------------------------------------------------


@dataclass
class _Column:
    col: int
    date: dt.date
    minutes: int | None
    ok: bool  # False: the column is not read (duplicate, outside the term)


@dataclass
class _Grid:
    sheet: _Sheet
    header_row: int
    id_col: int
    name_col: int | None
    columns: list[_Column]
    children: dict[str, int]  # WLZ ID -> row (0-based), rows that may be read


def _read_grid(sheet: _Sheet, ctx: _Ctx, kind: Literal["attendance", "engagement"]) -> _Grid:
    """Read an Attendance or Engagement sheet: headings, session columns, child rows."""
    is_att = kind == "attendance"
    lay = _grid_layout(sheet, ctx, is_att)
    columns = _grid_columns(sheet, ctx, lay, is_att)
    children = _grid_rows(sheet, ctx, lay, columns, is_att)
    return _Grid(sheet, lay.header_row, lay.id_col, lay.name_col, columns, children)


@dataclass
class _Layout:
    header_row: int
    id_col: int
    name_col: int | None
    minutes_row: int | None
    first_data: int  # the first row that may hold a child

    @property
    def fixed(self) -> set[int]:
        return {self.id_col} | ({self.name_col} if self.name_col is not None else set())


def _grid_layout(sheet: _Sheet, ctx: _Ctx, is_att: bool) -> _Layout:
    """Find the headings by their labels (a title row or inserted columns move them)."""
    cfg = ctx.cfg
    hit = _find_label(sheet, _labels(cfg, "wlz_id"), cfg.limits.header_search_rows)
    if hit is None:
        raise _Quarantine(
            f"the {sheet.name} sheet has no '{cfg.label('wlz_id')}' heading, so we cannot "
            "tell which row is which child",
            f"Put the heading '{cfg.label('wlz_id')}' back above the children's WLZ IDs, or "
            "send back the template as we sent it.",
        )
    hr, id_col = hit
    # anything above the headings (a title): not read
    for r in range(hr):
        for c in range(len(sheet.rows[r])):
            v = sheet.get(r, c)
            if v is not None:
                ctx.add(
                    sheet.name,
                    coord(r, c),
                    v,
                    "is above the table's headings and was not read",
                    "Nothing to do if this is a title; anything we need must be in the table.",
                    "warning",
                    "above_header",
                )
    _merged_warnings(ctx, sheet, hr)
    name_labels = _labels(cfg, "child_name")
    name_col = next(
        (c for c in range(len(sheet.rows[hr])) if normalise_label(sheet.get(hr, c)) in name_labels),
        None,
    )
    if name_col is None and is_att:
        ctx.add(
            sheet.name,
            coord(hr, id_col + 1),
            None,
            f"there is no '{cfg.label('child_name')}' heading, so names were not checked",
            f"Put the heading '{cfg.label('child_name')}' back above the children's names.",
            "warning",
            "name_heading_missing",
        )
    fixed = {id_col} | ({name_col} if name_col is not None else set())
    # the planned-minutes row sits under the headings (label in the ID or name column)
    min_labels = _labels(cfg, "planned_minutes")
    minutes_row = None
    labelled = any(normalise_label(sheet.get(hr + 1, c)) in min_labels for c in fixed)
    unlabelled = sheet.get(hr + 1, id_col) is None and any(
        isinstance(sheet.get(hr + 1, c), (int, float)) for c in range(sheet.ncols) if c not in fixed
    )
    if labelled or unlabelled:
        minutes_row = hr + 1
    if minutes_row is None and is_att:
        ctx.add(
            sheet.name,
            coord(hr + 1, id_col),
            None,
            f"there is no '{cfg.label('planned_minutes')}' row under the session dates, so "
            "session hours cannot be counted",
            "Put back the row of planned minutes under the dates (one number per session).",
            "warning",
            "minutes_row_missing",
        )
    first_data = (minutes_row if minutes_row is not None else hr) + 1
    return _Layout(hr, id_col, name_col, minutes_row, first_data)


def _what(is_att: bool) -> str:
    return "attendance marks" if is_att else "engagement ratings"


def _grid_columns(sheet: _Sheet, ctx: _Ctx, lay: _Layout, is_att: bool) -> list[_Column]:
    """Every column with a date in its heading is a session; the others are checked for
    marks without a date (an error) or notes (ignored, a warning)."""
    hr, what = lay.header_row, _what(is_att)
    columns: list[_Column] = []
    by_date: dict[dt.date, int] = {}
    undated: list[tuple[int, Any, list[tuple[int, Any]]]] = []
    for c in range(sheet.ncols):
        if c in lay.fixed:
            continue
        head = sheet.get(hr, c)
        body = [(r, sheet.get(r, c)) for r in range(lay.first_data, sheet.nrows)]
        body = [(r, v) for r, v in body if v is not None]
        day, how = _cell_date(head, ctx)
        if day is None:
            undated.append((c, head, body))
            continue
        hcell = coord(hr, c)
        if how == "text":
            ctx.add(
                sheet.name,
                hcell,
                head,
                f"is a date typed as text: it was read as {_fmt_date(day)} (day/month/year)",
                "Check the date is right. Typing it as a date (e.g. 03/10/2017) avoids mistakes.",
                "warning",
                "date_as_text",
            )
        elif how == "number":
            ctx.add(
                sheet.name,
                hcell,
                head,
                f"is a number, not a date: it was read as {_fmt_date(day)}",
                "Check the date is right and format the cell as a date.",
                "warning",
                "date_as_number",
            )
        ok = True
        if day in by_date:
            ok = False
            ctx.add(
                sheet.name,
                hcell,
                day,
                f"is the same session date as column {col_letter(by_date[day])}, so this "
                f"column's {what} were not read",
                "Each session needs its own column: correct the date, or move these entries "
                "into the other column.",
                "error" if body else "warning",
                "session_duplicate",
            )
        elif ctx.term_dates is not None and not (ctx.term_dates[0] <= day <= ctx.term_dates[1]):
            ok = False
            lo, hi = ctx.term_dates
            ctx.add(
                sheet.name,
                hcell,
                day,
                f"is not in this term ({_fmt_date(lo)} to {_fmt_date(hi)}), so this column's "
                f"{what} were not read",
                "Check the date: only sessions of this term belong in this file.",
                "error" if body else "warning",
                "session_outside_term",
            )
        else:
            by_date[day] = c
        minutes = None
        if ok and is_att:
            if ctx.meta_sessions is not None and day not in ctx.meta_sessions:
                ctx.add(
                    sheet.name,
                    hcell,
                    day,
                    "is a session that was not on the template we sent; it was read as an "
                    "extra session",
                    "Nothing to do if this session really took place; check its date and "
                    "planned minutes.",
                    "warning",
                    "session_added",
                )
            if lay.minutes_row is not None:
                minutes = _planned_minutes(sheet, ctx, lay.minutes_row, c)
        columns.append(_Column(c, day, minutes, ok))
    if is_att and ctx.meta_sessions is not None:
        present = {col.date for col in columns}
        for day in sorted(set(ctx.meta_sessions) - present):
            ctx.add(
                sheet.name,
                None,
                None,
                f"the session of {_fmt_date(day)} that was on the template we sent is not on "
                "the sheet",
                "If it did not run, put its column back and type X for every child; if its "
                "date was changed, check the new date is right.",
                "warning",
                "session_missing",
            )
    dated = [col.col for col in columns]
    inner = range(min(dated) + 1, max(dated)) if dated else range(0)
    for c, head, body in undated:
        _undated_column(sheet, ctx, lay, is_att, c, head, body, c in inner)
    return columns


def _planned_minutes(sheet: _Sheet, ctx: _Ctx, row: int, c: int) -> int | None:
    mv = sheet.get(row, c)
    mcell = coord(row, c)
    if mv is None:
        ctx.add(
            sheet.name,
            mcell,
            None,
            "the planned minutes of this session are empty, so its hours cannot be counted",
            "Type the planned length of the session in minutes (e.g. 60).",
            "warning",
            "minutes_blank",
        )
        return None
    minutes = _minutes(mv)
    if minutes is None:
        ctx.add(
            sheet.name,
            mcell,
            mv,
            "is not a number of minutes from 1 to 480, so this session's hours cannot be counted",
            "Type the planned length of the session in minutes (e.g. 60).",
            "error",
            "minutes_invalid",
        )
    return minutes


def _undated_column(
    sheet: _Sheet,
    ctx: _Ctx,
    lay: _Layout,
    is_att: bool,
    c: int,
    head: Any,
    body: list[tuple[int, Any]],
    between_sessions: bool,
) -> None:
    """A column without a session date: marks in it are an error, notes a warning."""
    cfg, what = ctx.cfg, _what(is_att)
    hcell = coord(lay.header_row, c)

    def valid_entry(v: Any) -> bool:
        if is_att:
            return isinstance(v, str) and v.strip().upper() in cfg.marks
        return _as_whole(v, cfg.engagement.min, cfg.engagement.max) is not None

    if any(valid_entry(v) for _, v in body):
        rng = sheet.merged_with(lay.header_row, c)
        merged_note = (
            f" (its heading is merged with other cells, {_range_text(rng)})" if rng else ""
        )
        if head is None:
            problem = (
                f"this column has {what} but no session date at the top{merged_note}, so it "
                "was not read"
            )
        else:
            problem = (
                f"is not a session date, but the column under it has {what}, so it was not read"
            )
        ctx.add(
            sheet.name,
            hcell,
            head,
            problem,
            "Type the session date at the top of the column (e.g. 03/10/2017).",
            "error",
            "session_no_date",
        )
    elif head is None and not body:
        if between_sessions:
            ctx.add(
                sheet.name,
                hcell,
                None,
                f"column {col_letter(c)} is empty (between two sessions)",
                "Nothing was lost; you can delete the empty column.",
                "warning",
                "blank_column",
            )
    elif not body:
        ctx.add(
            sheet.name,
            hcell,
            head,
            "is not a session date and the column under it is empty; it was not read",
            "Nothing to do if this is a note for yourself.",
            "warning",
            "note_ignored",
        )
    else:
        for r, v in body:
            ctx.add(
                sheet.name,
                coord(r, c),
                v,
                "is outside the table (not under a session date) and was not read",
                "Nothing to do if this is a note for yourself; anything we need must be a "
                "mark in the table, and notes go to your WLZ contact.",
                "warning",
                "note_ignored",
            )


def _grid_rows(
    sheet: _Sheet, ctx: _Ctx, lay: _Layout, columns: list[_Column], is_att: bool
) -> dict[str, int]:
    """The rows whose data may be read: WLZ ID -> row (0-based)."""
    id_col, name_col = lay.id_col, lay.name_col
    seen: dict[str, int] = {}
    children: dict[str, int] = {}
    blanks: list[int] = []
    id_rows: list[int] = []
    session_cols = [col.col for col in columns]
    for r in range(lay.first_data, sheet.nrows):
        has_data = any(sheet.get(r, c) is not None for c in session_cols)
        raw_id = sheet.get(r, id_col)
        name = sheet.get(r, name_col) if name_col is not None else None
        if raw_id is None and name is None and not has_data:
            blanks.append(r)
            continue
        if raw_id is not None:
            id_rows.append(r)
        if raw_id is None and not has_data:
            ctx.add(
                sheet.name,
                coord(r, id_col),
                None,
                "this row has a name but no WLZ ID and nothing else, so it was not read",
                "Type the child's WLZ ID in this cell (ask your WLZ contact), or delete the row.",
                "warning",
                "id_missing",
            )
            continue
        wlz_id = _check_child(ctx, sheet, r, id_col, has_data, seen, _what(is_att))
        if wlz_id is None:
            continue
        children[wlz_id] = r
        if not is_att:
            continue
        if ctx.meta_children is not None and wlz_id not in ctx.meta_children:
            ctx.add(
                sheet.name,
                coord(r, id_col),
                raw_id,
                "is a child added by hand (not on the template we sent); their marks were read",
                "Nothing to do if this child really takes part.",
                "warning",
                "child_added",
            )
        # "" = an enrolled child with no name on any register extract held yet (a scan
        # before the MIS extracts): nothing to compare the template's name with
        held = ctx.known.get(wlz_id) if ctx.known is not None else None
        if held and name is not None and _name_key(held) != _name_key(name):
            ctx.add(
                sheet.name,
                coord(r, name_col if name_col is not None else id_col),
                name,
                "does not match the name we hold for this WLZ ID; the row was read using the "
                "WLZ ID",
                f"Check that the WLZ ID in column {col_letter(id_col)} is this child's, and "
                "correct the name if it is misspelt.",
                "warning",
                "name_mismatch",
            )
    if id_rows:
        _blank_rows(ctx, sheet, blanks, min(id_rows), max(id_rows))
    return children


def _read_marks(att: _Grid, eng: _Grid | None, ctx: _Ctx) -> list[MarkRow]:
    cfg = ctx.cfg
    sheet = att.sheet
    ratings: dict[tuple[str, dt.date], tuple[int, str]] = {}
    if eng is not None:
        esheet = eng.sheet
        att_dates = {col.date for col in att.columns if col.ok}
        for wlz_id, r in eng.children.items():
            for col in eng.columns:
                if not col.ok:
                    continue
                v = esheet.get(r, col.col)
                if v is None:
                    continue
                cell = coord(r, col.col)
                rating = _as_whole(v, cfg.engagement.min, cfg.engagement.max)
                if rating is None:
                    ctx.add(
                        esheet.name,
                        cell,
                        v,
                        f"is not an engagement rating from {cfg.engagement.min} to "
                        f"{cfg.engagement.max}, so it was not read",
                        f"Type a whole number from {cfg.engagement.min} to {cfg.engagement.max},"
                        " or leave the cell empty if the child was not there.",
                        "error",
                        "rating_invalid",
                    )
                    continue
                if wlz_id not in att.children or col.date not in att_dates:
                    ctx.add(
                        esheet.name,
                        cell,
                        v,
                        "is a rating for a child or session that is not on the Attendance "
                        "sheet, so it was not read",
                        "Check the child's row and the session date match the Attendance sheet.",
                        "warning",
                        "rating_no_session",
                    )
                    continue
                ratings[(wlz_id, col.date)] = (rating, f"{esheet.name}!{cell}")
    rows: list[MarkRow] = []
    for wlz_id, r in att.children.items():
        name = sheet.get(r, att.name_col) if att.name_col is not None else None
        name = None if name is None else str(name).strip()
        for col in att.columns:
            if not col.ok:
                continue
            v = sheet.get(r, col.col)
            cell = coord(r, col.col)
            mark = None
            if v is not None:
                mark = v.strip().upper() if isinstance(v, str) else None
                if mark not in cfg.marks:
                    ctx.add(
                        sheet.name,
                        cell,
                        v,
                        "is not an attendance mark, so this session was not counted for this child",
                        f"Use {cfg.marks_phrase()} (see the Instructions sheet). Notes "
                        "cannot be read from the file: tell your WLZ contact instead.",
                        "error",
                        "mark_invalid",
                    )
                    continue
            rating = ratings.pop((wlz_id, col.date), None)
            engagement = ecell = None
            if rating is not None:
                if mark in ctx.attended:
                    engagement, ecell = rating
                else:
                    ectx = rating[1].split("!", 1)
                    ctx.add(
                        ectx[0],
                        ectx[1],
                        rating[0],
                        "is an engagement rating for a session the child did not attend "
                        f"(attendance mark: {mark or 'empty'}), so it was not read",
                        "Rate only sessions marked P or L: check the attendance mark or remove "
                        "the rating.",
                        "warning",
                        "rating_not_attended",
                    )
            rows.append(
                MarkRow(
                    wlz_id=wlz_id,
                    child_name=name,
                    session_date=col.date,
                    planned_minutes=col.minutes,
                    mark=mark,
                    engagement=engagement,
                    sheet=sheet.name,
                    cell=f"{sheet.name}!{cell}",
                    engagement_cell=ecell,
                )
            )
    rows.sort(key=lambda m: (att.children[m.wlz_id], m.session_date))
    return rows


# --------------------------------------------------------------------------------------
# Tables: Outcomes and Feedback
# --------------------------------------------------------------------------------------


def _table_header(
    sheet: _Sheet, ctx: _Ctx, labels: dict[str, set[str]]
) -> tuple[int, dict[str, int]] | None:
    hit = _find_label(sheet, labels["wlz_id"], ctx.cfg.limits.header_search_rows)
    if hit is None:
        ctx.add(
            sheet.name,
            None,
            None,
            f"the '{ctx.cfg.label('wlz_id')}' heading was not found on the {sheet.name} sheet, "
            "so nothing on it was read",
            f"Put the heading '{ctx.cfg.label('wlz_id')}' back above the children's WLZ IDs.",
            "error",
            "header_missing",
        )
        return None
    hr, _ = hit
    cols: dict[str, int] = {}
    for c in range(len(sheet.rows[hr])):
        lab = normalise_label(sheet.get(hr, c))
        for key, options in labels.items():
            if key not in cols and lab in options:
                cols[key] = c
                break
    _merged_warnings(ctx, sheet, hr)
    return hr, cols


def _read_outcomes(sheet: _Sheet, ctx: _Ctx, about: dict[str, Any]) -> list[OutcomeRow]:
    cfg = ctx.cfg
    keys = (
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
    head = _table_header(sheet, ctx, {k: _labels(cfg, k) for k in keys})
    if head is None:
        return []
    hr, cols = head
    missing = [k for k in ("pre_score", "post_score") if k not in cols]
    for k in missing:
        ctx.add(
            sheet.name,
            coord(hr, 0),
            None,
            f"the '{cfg.label(k)}' column was not found, so no {cfg.label(k).lower()}s were read",
            f"Put the heading '{cfg.label(k)}' back at the top of its column.",
            "error",
            "column_missing",
        )
    data_cols = [cols[k] for k in ("pre_score", "pre_date", "post_score", "post_date") if k in cols]
    seen: dict[str, int] = {}
    rows: list[OutcomeRow] = []
    blanks: list[int] = []
    id_rows: list[int] = []

    def get(r: int, key: str) -> Any:
        return sheet.get(r, cols[key]) if key in cols else None

    for r in range(hr + 1, sheet.nrows):
        has_data = any(sheet.get(r, c) is not None for c in data_cols)
        if sheet.get(r, cols["wlz_id"]) is None and not has_data:
            if all(sheet.get(r, c) is None for c in range(len(sheet.rows[r]))):
                blanks.append(r)
            continue
        if sheet.get(r, cols["wlz_id"]) is not None:
            id_rows.append(r)
        wlz_id = _check_child(ctx, sheet, r, cols["wlz_id"], has_data, seen, "scores")
        if wlz_id is None:
            continue
        lo = _as_number(get(r, "scale_min"))
        hi = _as_number(get(r, "scale_max"))
        lo = lo if lo is not None else about.get("scale_min")
        hi = hi if hi is not None else about.get("scale_max")
        hib = _as_bool(get(r, "higher_is_better"))
        hib = hib if hib is not None else about.get("higher_is_better")
        measure = get(r, "measure")
        measure = str(measure).strip() if measure is not None else about.get("measure")
        values: dict[str, Any] = {}
        for which in ("pre", "post"):
            sk, dk = f"{which}_score", f"{which}_date"
            sv, dv = get(r, sk), get(r, dk)
            score = None
            if sv is not None:
                score = _as_number(sv)
                if score is None or (lo is not None and hi is not None and not lo <= score <= hi):
                    rng = f" ({display_value(lo)} to {display_value(hi)})" if lo is not None else ""
                    ctx.add(
                        sheet.name,
                        coord(r, cols[sk]),
                        sv,
                        f"is not a score on the measure's scale{rng}, so it was not read",
                        "Type the child's score as a number on the measure's scale.",
                        "error",
                        "score_invalid",
                    )
                    score = None
            day = None
            if dv is not None:
                day, how = _cell_date(dv, ctx)
                dcell = coord(r, cols[dk])
                if day is None:
                    ctx.add(
                        sheet.name,
                        dcell,
                        dv,
                        "is not a date, so it was not read",
                        "Type the date as day/month/year, e.g. 03/10/2017.",
                        "error",
                        "date_invalid",
                    )
                elif how is not None:
                    ctx.add(
                        sheet.name,
                        dcell,
                        dv,
                        f"is a date typed as {how}: it was read as {_fmt_date(day)} "
                        "(day/month/year)",
                        "Check the date is right.",
                        "warning",
                        "date_as_text" if how == "text" else "date_as_number",
                    )
            if score is not None and day is None and dv is None and dk in cols:
                ctx.add(
                    sheet.name,
                    coord(r, cols[dk]),
                    None,
                    f"there is a {which} score but no date for it",
                    f"Type the date the {which} score was taken (day/month/year).",
                    "warning",
                    "score_no_date",
                )
            values[sk], values[dk] = score, day
        if values["pre_date"] and values["post_date"] and values["post_date"] < values["pre_date"]:
            ctx.add(
                sheet.name,
                coord(r, cols["post_date"]),
                values["post_date"],
                "is earlier than the pre date, so the post score and date were not read",
                "Check both dates: the post score is taken after the pre score.",
                "error",
                "post_before_pre",
            )
            values["post_score"] = values["post_date"] = None
        rows.append(
            OutcomeRow(
                wlz_id=wlz_id,
                measure=measure,
                pre_score=values["pre_score"],
                pre_date=values["pre_date"],
                post_score=values["post_score"],
                post_date=values["post_date"],
                scale_min=lo,
                scale_max=hi,
                higher_is_better=hib,
                sheet=sheet.name,
                cell=f"{sheet.name}!{coord(r, cols['wlz_id'])}",
                row=r + 1,
            )
        )
    if id_rows:
        _blank_rows(ctx, sheet, blanks, min(id_rows), max(id_rows))
    return rows


def _read_feedback(sheet: _Sheet, ctx: _Ctx) -> list[FeedbackRow]:
    cfg = ctx.cfg
    fb = cfg.feedback
    labels = {"wlz_id": _labels(cfg, "wlz_id")}
    for key, item in fb.items.items():
        labels[key] = {normalise_label(x) for x in [item.label, *item.aliases]}
    head = _table_header(sheet, ctx, labels)
    if head is None:
        return []
    hr, cols = head
    for key, item in fb.items.items():
        if key not in cols:
            ctx.add(
                sheet.name,
                coord(hr, 0),
                None,
                f"the '{item.label}' column was not found, so it was not read",
                f"Put the heading '{item.label}' back at the top of its column.",
                "error",
                "column_missing",
            )
    item_cols = [(k, cols[k]) for k in fb.items if k in cols]
    seen: dict[str, int] = {}
    rows: list[FeedbackRow] = []
    blanks: list[int] = []
    id_rows: list[int] = []
    for r in range(hr + 1, sheet.nrows):
        has_data = any(sheet.get(r, c) is not None for _, c in item_cols)
        if sheet.get(r, cols["wlz_id"]) is None and not has_data:
            if all(sheet.get(r, c) is None for c in range(len(sheet.rows[r]))):
                blanks.append(r)
            continue
        if sheet.get(r, cols["wlz_id"]) is not None:
            id_rows.append(r)
        wlz_id = _check_child(ctx, sheet, r, cols["wlz_id"], has_data, seen, "answers")
        if wlz_id is None:
            continue
        values: dict[str, int | None] = {k: None for k in fb.items}
        for key, c in item_cols:
            v = sheet.get(r, c)
            if v is None:
                continue
            score = _as_whole(v, fb.min, fb.max)
            if score is None:
                ctx.add(
                    sheet.name,
                    coord(r, c),
                    v,
                    f"is not an answer from {fb.min} to {fb.max}, so it was not read",
                    f"Type the child's answer as a whole number from {fb.min} to {fb.max}.",
                    "error",
                    "feedback_invalid",
                )
            values[key] = score
        rows.append(
            FeedbackRow(
                wlz_id=wlz_id,
                enjoyment=values["enjoyment"],
                usefulness=values["usefulness"],
                would_recommend=values["would_recommend"],
                sheet=sheet.name,
                cell=f"{sheet.name}!{coord(r, cols['wlz_id'])}",
                row=r + 1,
            )
        )
    if id_rows:
        _blank_rows(ctx, sheet, blanks, min(id_rows), max(id_rows))
    return rows


# --------------------------------------------------------------------------------------
# About and the hidden template record
# --------------------------------------------------------------------------------------


def _read_about(sheet: _Sheet, ctx: _Ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    lookup = {normalise_label(lab): key for key, labs in cfg.about.items() for lab in labs}
    about: dict[str, Any] = {}
    where: dict[str, str] = {}
    for r in range(min(sheet.nrows, 100)):
        for c in range(len(sheet.rows[r])):
            key = lookup.get(normalise_label(sheet.get(r, c)))
            if key is None or key in about:
                continue
            value = next(
                (
                    sheet.get(r, j)
                    for j in range(c + 1, len(sheet.rows[r]))
                    if sheet.get(r, j) is not None
                ),
                None,
            )
            about[key] = value
            where[key] = coord(r, c + 1)
            break
    out: dict[str, Any] = {}
    for key, value in about.items():
        if value is None:
            out[key] = None
        elif key in ("scale_min", "scale_max"):
            out[key] = _as_number(value)
        elif key == "higher_is_better":
            out[key] = _as_bool(value)
        elif key == "template_version":
            num = _as_number(value)
            out[key] = int(num) if num is not None and num.is_integer() else None
        elif key == "term":
            t = normalise_label(value)
            t = re.sub(r"\s*term$", "", t)
            out[key] = t
        elif key == "partner_id":
            out[key] = str(value).strip().upper()
        elif isinstance(value, float) and value.is_integer():
            out[key] = str(int(value))
        else:
            out[key] = str(value).strip()
    for key in cfg.about_required:
        if out.get(key) in (None, ""):
            raise _Quarantine(
                f"the About sheet does not say the {cfg.about_label(key)} (it goes in column B "
                f"next to '{cfg.about_label(key)}'), so we cannot tell which programme and "
                "term the file is for",
                "Please do not change the About sheet. " + _RETEMPLATE,
            )
    if not re.fullmatch(r"\d{4}/\d{2}", out["academic_year"]):
        raise _Quarantine(
            f"the About sheet's {cfg.about_label('academic_year')} (cell "
            f"{where['academic_year']}) is not a school year like 2017/18",
            "Put back the academic year as it was on the template we sent (e.g. 2017/18).",
        )
    if out["term"] not in ("autumn", "spring", "summer"):
        raise _Quarantine(
            f"the About sheet's {cfg.about_label('term')} (cell {where['term']}) is not "
            "autumn, spring or summer",
            "Put back the term as it was on the template we sent.",
        )
    version = out.get("template_version")
    if version is not None and version != cfg.template_version:
        ctx.add(
            sheet.name,
            where.get("template_version"),
            None,
            f"this file was made with template version {version}; the current one is "
            f"{cfg.template_version}",
            "Nothing to do this time; please use the newest template next term.",
            "warning",
            "template_version",
        )
    return out


def _read_meta(sheet: _Sheet, ctx: _Ctx) -> None:
    sessions: dict[dt.date, int | None] = {}
    children: set[str] = set()
    for r in range(sheet.nrows):
        key = normalise_label(sheet.get(r, 0))
        if key == "session":
            day, _ = _cell_date(sheet.get(r, 1), ctx)
            if day is not None:
                mins = _as_number(sheet.get(r, 2))
                sessions[day] = int(mins) if mins is not None else None
        elif key == "child":
            v = sheet.get(r, 1)
            if v is not None:
                children.add(_norm_id(v))
    ctx.meta_sessions = sessions
    ctx.meta_children = children


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


def _read(
    path: str | os.PathLike[str],
    allocated: Collection[str] | None,
    known_children: Mapping[str, str] | None,
    term_dates: tuple[dt.date, dt.date] | None,
    about_only: bool = False,
) -> TemplateRead:
    cfg = template_settings()
    p = Path(path)
    ctx = _Ctx(
        cfg,
        None if allocated is None else {_norm_id(a) for a in allocated},
        None if known_children is None else normalised_ids(known_children),
        term_dates,
    )
    result = TemplateRead(path=str(p))
    try:
        _check_file(p, cfg)
        try:
            wb = CalamineWorkbook.from_path(str(p))
        except Exception as exc:  # calamine raises several types for damaged files
            raise _Quarantine(
                "the workbook is damaged or is not an Excel workbook, and could not be opened",
                "Open it in Excel, save it again as 'Excel Workbook (.xlsx)' and send it "
                "again. " + _RETEMPLATE,
            ) from exc
        with wb:
            if len(wb.sheet_names) > cfg.limits.max_sheets:
                raise _Quarantine(
                    f"the workbook has {len(wb.sheet_names)} sheets; a template has "
                    f"{len(cfg.sheets)}, and files with over {cfg.limits.max_sheets} are not read",
                    "Delete the sheets you added and send it again.",
                )
            cache: dict[str, _Sheet] = {}

            def load(name: str) -> _Sheet:
                if name not in cache:
                    try:
                        cache[name] = _load_sheet(wb, name, cfg)
                    except _Quarantine:
                        raise
                    except Exception as exc:
                        raise _Quarantine(
                            f"the sheet '{name}' is damaged and could not be read",
                            "Open the file in Excel, save it again as .xlsx and send it "
                            "again. " + _RETEMPLATE,
                        ) from exc
                return cache[name]

            found, visible = _resolve_sheets(wb, ctx, load)
            result.sheets = dict(found)
            for key in SHEET_KEYS:
                s = cfg.sheets[key]
                if key in found or s.if_missing == "ignore":
                    continue
                if s.if_missing == "quarantine":
                    listed = ", ".join(f"'{n}'" for n in visible) or "none"
                    raise _Quarantine(
                        f"the workbook has no {s.name} sheet (its sheets: {listed}), so it "
                        "does not look like a WLZ attendance template",
                        _RETEMPLATE,
                    )
                if not about_only:
                    ctx.add(
                        None,
                        None,
                        None,
                        f"the {s.name} sheet is missing, so nothing from it was read",
                        f"Put the {s.name} sheet back (ask your WLZ contact for a fresh "
                        "template and copy it in) and send the file again.",
                        "error",
                        "sheet_missing",
                    )
            about = _read_about(load(found["about"]), ctx)
            result.about = about
            ctx.academic_year = about.get("academic_year")
            if about_only:
                result.findings = ctx.findings
                return result
            if META_SHEET in wb.sheet_names:
                _read_meta(load(META_SHEET), ctx)
            att = _read_grid(load(found["attendance"]), ctx, "attendance")
            eng = None
            if "engagement" in found:
                try:
                    eng = _read_grid(load(found["engagement"]), ctx, "engagement")
                except _Quarantine as q:  # the optional sheet is unreadable: skip it only
                    ctx.add(
                        found["engagement"],
                        None,
                        None,
                        q.problem + ", so no engagement ratings were read",
                        q.expected,
                        "error",
                        "header_missing",
                    )
            marks = _read_marks(att, eng, ctx)
            outcomes = (
                _read_outcomes(load(found["outcomes"]), ctx, about) if "outcomes" in found else []
            )
            feedback = _read_feedback(load(found["feedback"]), ctx) if "feedback" in found else []
    except _Quarantine as q:
        reason = f"{q.problem[:1].upper()}{q.problem[1:]}. {q.expected}"
        result.quarantine_reason = reason
        result.marks, result.outcomes, result.feedback = [], [], []
        # only the reason: other findings would ask for fixes to a file we did not read
        result.findings = [
            Finding(None, None, None, q.problem, q.expected, "error", "file_not_readable")
        ]
        return result
    result.marks, result.outcomes, result.feedback = marks, outcomes, feedback
    result.findings = ctx.findings
    return result


def read_template(
    path: str | os.PathLike[str],
    *,
    allocated: Collection[str] | None = None,
    known_children: Mapping[str, str] | None = None,
    term_dates: tuple[dt.date, dt.date] | None = None,
) -> TemplateRead:
    """Read a returned template; never raises for a bad file (see ``quarantine_reason``).

    - ``allocated``: the WLZ IDs allocated to this programme and term
      (``reference/allocations.csv``); ``None`` skips the check.
    - ``known_children``: WLZ ID -> the name the programme holds, to spot a wrong ID
      behind a misspelt name; ``None`` skips the check.
    - ``term_dates``: (first, last day) of the term; sessions outside it are not read.
    """
    return _read(path, allocated, known_children, term_dates)


def read_about(path: str | os.PathLike[str]) -> TemplateRead:
    """Only the About sheet (partner, programme, year, term): what the pipeline needs to
    look up the allocations and term dates before calling :func:`read_template`.
    ``quarantine_reason`` is set when the file cannot be read or attributed."""
    return _read(path, None, None, None, about_only=True)


def validate_file(
    path: str | os.PathLike[str],
    *,
    allocated: Collection[str] | None = None,
    known_children: Mapping[str, str] | None = None,
    term_dates: tuple[dt.date, dt.date] | None = None,
) -> list[Finding]:
    """The findings :func:`read_template` gives for the file (errors and warnings)."""
    return read_template(
        path, allocated=allocated, known_children=known_children, term_dates=term_dates
    ).findings
