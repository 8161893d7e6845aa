"""DfE attendance register codes: category per code and date (rules.md §2, domain_facts §4).

The table lives in ``config/attendance_codes.yaml``. ``classify`` answers for one mark;
``code_table_rows`` gives the same table flat, so the warehouse can classify millions of
marks with a join::

    join attendance_codes c
      on c.code = upper(trim(m.code))
     and m.date >= coalesce(c.valid_from, date '1900-01-01')
     and m.date <= coalesce(c.valid_to, date '9999-12-31')

(a mark with no matching row is ``invalid``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from wlz_pipeline.scoring._config import StrictModel, load_settings

CONFIG_FILE = "attendance_codes.yaml"

Category = Literal["present", "approved_activity", "authorised", "unauthorised", "not_counted"]
CATEGORIES: tuple[str, ...] = (
    "present",
    "approved_activity",
    "authorised",
    "unauthorised",
    "not_counted",
)
INVALID = "invalid"
#: Categories that count as attendance (rules.md §2).
ATTENDED_CATEGORIES = frozenset({"present", "approved_activity"})
#: Categories that are possible sessions: everything except not_counted.
POSSIBLE_CATEGORIES = frozenset(CATEGORIES) - {"not_counted"}


class _CodeRow(StrictModel):
    code: str = Field(min_length=1, max_length=4)
    category: Category
    description: str = Field(min_length=1)
    valid_from: date | None = None
    valid_to: date | None = None

    @model_validator(mode="after")
    def _check(self) -> _CodeRow:
        if self.code != self.code.strip().upper():
            raise ValueError(f"code {self.code!r} must be upper case without spaces")
        if self.valid_from and self.valid_to and self.valid_from > self.valid_to:
            raise ValueError(f"code {self.code}: valid_from is after valid_to")
        return self


class _AttendanceConfig(StrictModel):
    codes: list[_CodeRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> _AttendanceConfig:
        by_code: dict[str, list[_CodeRow]] = defaultdict(list)
        for row in self.codes:
            by_code[row.code].append(row)
        for code, rows in by_code.items():
            spans = sorted((r.valid_from or date.min, r.valid_to or date.max) for r in rows)
            for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
                if start <= end:
                    raise ValueError(f"code {code}: two rows are valid on the same date")
        return self


def _config() -> _AttendanceConfig:
    return load_settings(CONFIG_FILE, _AttendanceConfig)


_index: tuple[_AttendanceConfig, dict[str, list[_CodeRow]]] | None = None


def _rows_by_code() -> dict[str, list[_CodeRow]]:
    global _index
    cfg = _config()
    if _index is None or _index[0] is not cfg:
        by_code: dict[str, list[_CodeRow]] = defaultdict(list)
        for row in cfg.codes:
            by_code[row.code].append(row)
        _index = (cfg, dict(by_code))
    return _index[1]


def normalise_code(code: str) -> str:
    """The code as the table spells it: surrounding spaces removed, letters upper case."""
    return str(code).strip().upper()


def classify(code: str | None, on: date) -> str:
    """The category of register mark ``code`` on date ``on``, or ``"invalid"``.

    Invalid: blank, a code not in the table, or a code not valid on ``on`` (e.g. ``H``
    after 2024-08-18, ``C1`` before 2024-08-19).
    """
    if code is None:
        return INVALID
    for row in _rows_by_code().get(normalise_code(code), ()):
        if (row.valid_from is None or on >= row.valid_from) and (
            row.valid_to is None or on <= row.valid_to
        ):
            return row.category
    return INVALID


def is_attended(category: str) -> bool:
    """Present or approved educational activity."""
    return category in ATTENDED_CATEGORIES


def is_possible(category: str) -> bool:
    """A possible session: any valid category except ``not_counted``."""
    return category in POSSIBLE_CATEGORIES


def code_table_rows() -> list[dict[str, object]]:
    """The code table, one flat dict per row, for loading into the warehouse.

    Keys: ``code``, ``category``, ``valid_from``, ``valid_to`` (inclusive dates or
    ``None`` for open-ended), ``description``, ``attended`` and ``possible`` (bools
    derived from the category).
    """
    return [
        {
            "code": row.code,
            "category": row.category,
            "valid_from": row.valid_from,
            "valid_to": row.valid_to,
            "description": row.description,
            "attended": is_attended(row.category),
            "possible": is_possible(row.category),
        }
        for row in _config().codes
    ]


@dataclass(frozen=True)
class SessionTally:
    """Session counts by category; ``invalid`` marks are neither possible nor attended."""

    present: int = 0
    approved_activity: int = 0
    authorised: int = 0
    unauthorised: int = 0
    not_counted: int = 0
    invalid: int = 0

    @property
    def attended(self) -> int:
        return self.present + self.approved_activity

    @property
    def possible(self) -> int:
        return self.present + self.approved_activity + self.authorised + self.unauthorised

    @property
    def attendance_rate(self) -> float | None:
        """attended / possible; ``None`` when there is no possible session."""
        return self.attended / self.possible if self.possible else None


def tally(marks: Iterable[tuple[str | None, date]]) -> SessionTally:
    """Count (code, date) session marks by category (a reference for the SQL version)."""
    counts: dict[str, int] = dict.fromkeys((*CATEGORIES, INVALID), 0)
    for code, on in marks:
        counts[classify(code, on)] += 1
    return SessionTally(**counts)
