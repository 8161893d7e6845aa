"""Shared pieces of the partner template: settings, data classes, findings, cell helpers.

See :mod:`wlz_pipeline.sources.partner_template` for the whole story; this module holds
what both the writer and the reader need, so neither imports the other.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from threading import Lock
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from wlz_pipeline.config import ConfigError, load_yaml

# --------------------------------------------------------------------------------------
# Configuration (config/partner_template.yaml, config/partner_programmes.yaml)
# --------------------------------------------------------------------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SHEET_KEYS = ("instructions", "about", "attendance", "engagement", "outcomes", "feedback")
FEEDBACK_ITEMS = ("enjoyment", "usefulness", "would_recommend")
#: The hidden sheet recording what the template was generated with (sessions, children).
META_SHEET = "_wlz_template"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    max_file_bytes: int = Field(gt=0)
    max_uncompressed_bytes: int = Field(gt=0)
    max_compression_ratio: float = Field(gt=1)
    max_sheets: int = Field(gt=0)
    max_rows: int = Field(gt=0)
    max_cols: int = Field(gt=0)
    max_cells: int = Field(gt=0)
    header_search_rows: int = Field(gt=0)


class MarkSetting(_Strict):
    label: str
    counts_as: Literal["attended", "missed", "not_counted"]


class RatingScale(_Strict):
    min: int
    max: int
    low_label: str = ""
    high_label: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> RatingScale:
        if self.min >= self.max:
            raise ValueError("min must be below max")
        return self


class FeedbackItem(_Strict):
    label: str
    question: str
    aliases: list[str] = []


class FeedbackSetting(_Strict):
    min: int
    max: int
    items: dict[str, FeedbackItem]

    @field_validator("items")
    @classmethod
    def _all_items(cls, v: dict[str, FeedbackItem]) -> dict[str, FeedbackItem]:
        if set(v) != set(FEEDBACK_ITEMS):
            raise ValueError(f"feedback items must be exactly {', '.join(FEEDBACK_ITEMS)}")
        return v


class SheetSetting(_Strict):
    name: str
    aliases: list[str] = []
    if_missing: Literal["quarantine", "error", "ignore"]


class TemplateSettings(_Strict):
    """``config/partner_template.yaml``."""

    template_version: int
    limits: Limits
    marks: dict[str, MarkSetting]
    engagement: RatingScale
    feedback: FeedbackSetting
    sheets: dict[str, SheetSetting]
    headers: dict[str, list[str]]
    about: dict[str, list[str]]
    about_required: list[str]
    text_date_formats: list[str]
    spare_rows: int = Field(ge=0, le=200)

    @field_validator("marks")
    @classmethod
    def _marks_upper(cls, v: dict[str, MarkSetting]) -> dict[str, MarkSetting]:
        for code in v:
            if code != code.upper() or len(code) != 1:
                raise ValueError(f"mark {code!r}: marks are single upper-case letters")
        return v

    @field_validator("sheets")
    @classmethod
    def _all_sheets(cls, v: dict[str, SheetSetting]) -> dict[str, SheetSetting]:
        if list(v) != list(SHEET_KEYS):
            raise ValueError(f"sheets must be, in this order: {', '.join(SHEET_KEYS)}")
        return v

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        need = {
            "wlz_id",
            "child_name",
            "planned_minutes",
            "measure",
            "pre_score",
            "pre_date",
            "post_score",
            "post_date",
            "scale_min",
            "scale_max",
            "higher_is_better",
        }
        missing = need - set(v)
        if missing:
            raise ValueError(f"headers: missing {', '.join(sorted(missing))}")
        if any(not labels for labels in v.values()):
            raise ValueError("headers: every heading needs at least its printed label")
        return v

    @field_validator("about")
    @classmethod
    def _about(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        need = {
            "partner_id",
            "partner_name",
            "programme",
            "academic_year",
            "term",
            "session_leader",
            "outcome_area",
            "measure",
            "scale_min",
            "scale_max",
            "higher_is_better",
            "template_version",
        }
        missing = need - set(v)
        if missing:
            raise ValueError(f"about: missing {', '.join(sorted(missing))}")
        return v

    # Convenience -------------------------------------------------------------------
    def label(self, key: str) -> str:
        """The printed label of a column heading."""
        return self.headers[key][0]

    def about_label(self, key: str) -> str:
        return self.about[key][0]

    @property
    def mark_codes(self) -> tuple[str, ...]:
        return tuple(self.marks)

    def marks_phrase(self) -> str:
        """ "P, L, A, E or X"."""
        codes = list(self.marks)
        return ", ".join(codes[:-1]) + " or " + codes[-1] if len(codes) > 1 else codes[0]


class Measure(_Strict):
    """A pre/post outcome measure: its name and scale."""

    name: str
    scale_min: float
    scale_max: float
    higher_is_better: bool

    @model_validator(mode="after")
    def _ordered(self) -> Measure:
        if self.scale_min >= self.scale_max:
            raise ValueError("scale_min must be below scale_max")
        return self


class _ProgrammeDefaults(_Strict):
    weekday: str
    minutes: int = Field(ge=1, le=480)
    measure: Measure

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, v: str) -> str:
        if v.strip().lower() not in WEEKDAYS:
            raise ValueError(f"weekday {v!r}: use one of {', '.join(WEEKDAYS)}")
        return v.strip().lower()


class _ProgrammeOverride(_Strict):
    weekday: str | None = None
    minutes: int | None = Field(default=None, ge=1, le=480)
    measure: Measure | None = None

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, v: str | None) -> str | None:
        if v is not None and v.strip().lower() not in WEEKDAYS:
            raise ValueError(f"weekday {v!r}: use one of {', '.join(WEEKDAYS)}")
        return None if v is None else v.strip().lower()


class ProgrammesFile(_Strict):
    """``config/partner_programmes.yaml``."""

    defaults: _ProgrammeDefaults
    programmes: dict[str, _ProgrammeOverride | None] = {}


@dataclass(frozen=True)
class ProgrammeSettings:
    """The delivery pattern and measure in force for one programme."""

    programme: str
    weekday: int  # 0 = Monday, as datetime.date.weekday()
    minutes: int
    measure: Measure
    configured: bool  # False when the programme is not listed and the defaults apply


_cache: dict[str, tuple[Any, BaseModel]] = {}
_lock = Lock()


def _load(filename: str, model: type[BaseModel]) -> Any:
    raw = load_yaml(filename)
    with _lock:
        hit = _cache.get(filename)
        if hit is not None and hit[0] is raw:
            return hit[1]
    if raw is None:
        raise ConfigError(f"config/{filename}: the file is empty")
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"config/{filename}: invalid configuration:\n{exc}") from exc
    with _lock:
        _cache[filename] = (raw, parsed)
    return parsed


def template_settings() -> TemplateSettings:
    """``config/partner_template.yaml``, validated (``ConfigError`` when it is not)."""
    return _load("partner_template.yaml", TemplateSettings)


def programme_settings(programme: str) -> ProgrammeSettings:
    """The delivery pattern of ``programme`` (``config/partner_programmes.yaml``).

    Programme names match case-insensitively; an unlisted programme gets the defaults.
    """
    cfg: ProgrammesFile = _load("partner_programmes.yaml", ProgrammesFile)
    wanted = normalise_label(programme)
    override = None
    configured = False
    for name, ov in cfg.programmes.items():
        if normalise_label(name) == wanted:
            override, configured = ov, True
            break
    d = cfg.defaults
    weekday = (override.weekday if override and override.weekday else None) or d.weekday
    minutes = (override.minutes if override and override.minutes else None) or d.minutes
    measure = (override.measure if override and override.measure else None) or d.measure
    return ProgrammeSettings(
        programme=programme,
        weekday=WEEKDAYS.index(weekday),
        minutes=minutes,
        measure=measure,
        configured=configured,
    )


# --------------------------------------------------------------------------------------
# Data classes shared by writer and reader
# --------------------------------------------------------------------------------------

WLZ_ID_RE = re.compile(r"^WLZ\d{9}$")


def is_wlz_id(value: object) -> bool:
    return isinstance(value, str) and WLZ_ID_RE.match(value) is not None


@dataclass(frozen=True)
class Session:
    """One planned session: its date and planned length in minutes."""

    date: dt.date
    planned_minutes: int | None


@dataclass(frozen=True)
class Child:
    wlz_id: str
    display_name: str


@dataclass
class TemplateSpec:
    """Everything a template is generated from (plain values: no CSV reading here)."""

    partner_id: str
    partner_name: str
    programme: str
    academic_year: str  # "2017/18"
    term: str  # autumn | spring | summer
    session_leader: str
    outcome_area: str
    measure: Measure
    sessions: list[Session]
    children: list[Child]

    def __post_init__(self) -> None:
        if isinstance(self.measure, dict):
            self.measure = Measure(**self.measure)
        self.sessions = [s if isinstance(s, Session) else Session(*s) for s in self.sessions]
        self.children = [c if isinstance(c, Child) else Child(*c) for c in self.children]
        if not re.fullmatch(r"\d{4}/\d{2}", self.academic_year):
            raise ValueError(f"academic_year {self.academic_year!r}: expected e.g. 2017/18")
        if self.term not in ("autumn", "spring", "summer"):
            raise ValueError(f"term {self.term!r}: expected autumn, spring or summer")
        ids = [c.wlz_id for c in self.children]
        bad = [i for i in ids if not is_wlz_id(i)]
        if bad:
            raise ValueError(f"{len(bad)} child id(s) are not WLZ IDs (WLZ + 9 digits)")
        if len(set(ids)) != len(ids):
            raise ValueError("a child is listed twice")
        dates = [s.date for s in self.sessions]
        if dates != sorted(set(dates)):
            raise ValueError("sessions must be in date order, each date once")


@dataclass(frozen=True)
class Finding:
    """One problem in a returned template, written for the partner who filled it in.

    ``value`` is what the partner typed (their own file, so quoting it helps them find
    it). It may be a child's name or a free-text note, so it is *personal data*: the
    pipeline must not put it in logs or Dagster metadata. ``problem`` and ``expected``
    never contain the value, a name or a WLZ ID, so :meth:`message` with
    ``show_value=False`` (or :meth:`as_record` with ``redact=True``) is safe to log.
    ``value_is_personal`` is True for every finding that quotes a value.
    """

    sheet: str | None
    cell: str | None  # "D7" (the sheet is in ``sheet``); None for whole-file/sheet findings
    value: Any
    problem: str  # a predicate when there is a value ("is not an attendance mark")
    expected: str  # what to do / what is expected, a full sentence
    severity: Literal["error", "warning"]
    code: str  # a stable machine-readable rule name, e.g. "mark_invalid"

    @property
    def value_is_personal(self) -> bool:
        return self.value is not None

    @property
    def ref(self) -> str | None:
        if self.sheet and self.cell:
            return f"{self.sheet}!{self.cell}"
        return self.sheet

    @property
    def row(self) -> int | None:
        if not self.cell:
            return None
        m = re.match(r"^([A-Z]+)(\d+)$", self.cell)
        return int(m.group(2)) if m else None

    @property
    def column(self) -> str | None:
        if not self.cell:
            return None
        m = re.match(r"^([A-Z]+)(\d*)$", self.cell)
        return m.group(1) if m else None

    def where(self) -> str:
        """Where, as a partner finds it: "Attendance sheet, row 7, column D"."""
        parts = []
        if self.sheet:
            parts.append(f"{self.sheet} sheet")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column}")
        return ", ".join(parts) if parts else "The file"

    def message(self, show_value: bool = True) -> str:
        """One line: where, what is wrong (quoting the value when asked), what to do."""
        if self.value is None:
            what = self.problem[:1].upper() + self.problem[1:]
        elif show_value:
            what = f"'{display_value(self.value)}' {self.problem}"
        else:
            what = f"The value typed here {self.problem}"
        return f"{self.where()}: {what}. {self.expected}"

    def as_record(self, redact: bool = True) -> dict[str, Any]:
        """A plain dict for the warehouse or logs; ``redact`` drops the typed value."""
        return {
            "sheet": self.sheet,
            "cell": self.cell,
            "row": self.row,
            "column": self.column,
            "value": None if redact or self.value is None else display_value(self.value),
            "problem": self.problem,
            "expected": self.expected,
            "severity": self.severity,
            "code": self.code,
            "message": self.message(show_value=not redact),
        }


def display_value(value: Any) -> str:
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.strftime("%d/%m/%Y")
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).replace("\n", " ").replace("\r", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def format_findings(findings: Sequence[Finding], show_values: bool = True) -> str:
    """A numbered list a non-technical person can act on: where, what, what to do.

    Errors come first (something was not read), then warnings (read, but please check).
    """
    if not findings:
        return "No problems found: everything in the file was read."
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    head = []
    if errors:
        head.append(f"{len(errors)} {'problem' if len(errors) == 1 else 'problems'} to fix")
    if warnings:
        head.append(f"{len(warnings)} {'thing' if len(warnings) == 1 else 'things'} to check")
    lines = [" and ".join(head) + ":"]
    n = 0
    for title, group in (("To fix (this was not read):", errors), ("To check:", warnings)):
        if not group:
            continue
        lines.append("")
        lines.append(title)
        for f in group:
            n += 1
            if f.value is None:
                what = f.problem[:1].upper() + f.problem[1:]
            elif show_values:
                what = f"'{display_value(f.value)}' {f.problem}"
            else:
                what = f"The value typed here {f.problem}"
            lines.append(f"{n:>3}. {f.where()}")
            lines.append(f"     What is wrong: {what}.")
            lines.append(f"     What to do: {f.expected}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Cell helpers
# --------------------------------------------------------------------------------------

#: Characters that make a spreadsheet treat text as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def neutralise_cell(value: Any) -> Any:
    """Make a value safe to write to a CSV a spreadsheet may open.

    Text starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
    apostrophe (``'=HYPERLINK(...)``): the OWASP recommendation, which Excel and
    LibreOffice display as text and never evaluate. The apostrophe is visible to a
    program that reads the CSV back, so it is a marker a reader can strip (see
    :func:`unneutralise_cell`); a tab prefix was rejected because it is invisible and
    silently changes the value. Non-text values are returned unchanged.

    For ``.xlsx`` files the writer does better: the text is stored as a string cell
    (never a formula) with Excel's "quote prefix" style, so the value is unchanged.
    """
    if is_formula_like(value):
        return "'" + value
    return value


def unneutralise_cell(value: Any) -> Any:
    """Undo :func:`neutralise_cell` (for a program reading one of our CSVs back)."""
    if isinstance(value, str) and value.startswith("'") and is_formula_like(value[1:]):
        return value[1:]
    return value


def normalise_label(value: object) -> str:
    """Labels compare case-insensitively, ignoring surrounding and repeated spaces."""
    if value is None:
        return ""
    text = str(value).replace("\u00a0", " ").replace("\ufeff", "")
    return " ".join(text.strip().casefold().split())


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def col_letter(index0: int) -> str:
    """0-based column index -> letters (0 -> A)."""
    n = index0 + 1
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def coord(row0: int, col0: int) -> str:
    """0-based (row, column) -> "D7"."""
    return f"{col_letter(col0)}{row0 + 1}"


_EXCEL_EPOCH = dt.date(1899, 12, 30)
_WEEKDAY_PREFIX = re.compile(
    r"^(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?\s+", re.IGNORECASE
)


def academic_year_bounds(academic_year: str | None) -> tuple[int, int] | None:
    """The calendar years of an academic year: "2017/18" -> (2017, 2018)."""
    if not academic_year:
        return None
    m = re.fullmatch(r"\s*(\d{4})\s*/\s*(\d{2}|\d{4})\s*", str(academic_year))
    if not m:
        return None
    start = int(m.group(1))
    return start, start + 1


def parse_text_date(
    text: str,
    formats: Iterable[str],
    academic_year: str | None = None,
) -> dt.date | None:
    """A date typed as text, read day first (3/10/17 = 3 October 2017), or None.

    A format without a year takes it from the academic year (September-December in the
    first calendar year, January-August in the second).
    """
    s = _WEEKDAY_PREFIX.sub("", " ".join(str(text).strip().split()))
    if not s:
        return None
    for fmt in formats:
        has_year = "%Y" in fmt or "%y" in fmt
        try:
            if has_year:
                parsed = dt.datetime.strptime(s, fmt).date()
            else:
                bounds = academic_year_bounds(academic_year)
                if bounds is None:
                    continue
                d = dt.datetime.strptime(f"{s} 2000", f"{fmt} %Y").date()
                year = bounds[0] if d.month >= 9 else bounds[1]
                parsed = d.replace(year=year)
        except ValueError:
            continue
        if 1990 <= parsed.year <= 2100:
            return parsed
    try:  # ISO date-time text ("2017-10-03 00:00:00")
        parsed = dt.datetime.fromisoformat(s).date()
    except ValueError:
        return None
    return parsed if 1990 <= parsed.year <= 2100 else None


def excel_serial_to_date(value: float) -> dt.date | None:
    """An Excel serial day number (a date cell shown as a number), if plausible."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if not float(value).is_integer():
        return None
    # 32874 = 1 Jan 1990, 73415 = 31 Dec 2100
    if not 32874 <= value <= 73415:
        return None
    return _EXCEL_EPOCH + dt.timedelta(days=int(value))


def date_to_excel_serial(day: dt.date) -> int:
    return (day - _EXCEL_EPOCH).days


@dataclass
class HandEdit:
    """What :func:`hand_edit` did to a file (for the sample's README)."""

    defect: str
    sheet: str
    cells: list[str] = field(default_factory=list)
    description: str = ""
