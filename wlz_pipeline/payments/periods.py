"""Claim periods: one per term, written ``2017/18-spring`` (contract.md).

Periods are ordered by academic year, then autumn < spring < summer. The period after
``2017/18-summer`` is ``2018/19-autumn`` (pure arithmetic: the calendar is only needed
to say which term a date falls in).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

TERMS: tuple[str, ...] = ("autumn", "spring", "summer")
_PERIOD = re.compile(r"^(\d{4})/(\d{2})-(autumn|spring|summer)$")


def academic_year_of(d: date) -> str:
    """``2017-10-01`` -> ``2017/18`` (1 September - 31 August, rules.md §1)."""
    start = d.year if d.month >= 9 else d.year - 1
    return f"{start}/{(start + 1) % 100:02d}"


def next_academic_year(ay: str) -> str:
    start = int(ay[:4]) + 1
    return f"{start}/{(start + 1) % 100:02d}"


@dataclass(frozen=True, order=True)
class Period:
    start_year: int
    term_index: int

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.match(str(text).strip())
        if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
            raise ValueError(
                f"not a claim period: {text!r} (write the academic year and term, e.g. "
                "2017/18-spring)"
            )
        return cls(int(m.group(1)), TERMS.index(m.group(3)))

    @classmethod
    def of(cls, academic_year: str, term: str) -> Period:
        return cls.parse(f"{academic_year}-{term}")

    @property
    def academic_year(self) -> str:
        return f"{self.start_year}/{(self.start_year + 1) % 100:02d}"

    @property
    def term(self) -> str:
        return TERMS[self.term_index]

    def __str__(self) -> str:
        return f"{self.academic_year}-{self.term}"

    def next(self) -> Period:
        if self.term_index == len(TERMS) - 1:
            return Period(self.start_year + 1, 0)
        return Period(self.start_year, self.term_index + 1)


def period_key(text: str) -> tuple[int, int]:
    """Sort key of a period's text."""
    p = Period.parse(text)
    return (p.start_year, p.term_index)


def next_open_period(after: str, submitted: Iterable[str]) -> str:
    """The earliest period after ``after`` that has not been submitted."""
    done = {str(Period.parse(s)) for s in submitted}
    p = Period.parse(after).next()
    while str(p) in done:
        p = p.next()
    return str(p)


@dataclass(frozen=True)
class TermDates:
    academic_year: str
    term: str
    start: date
    end: date


class Calendar:
    """Term dates (from staging.calendar: one row per half-term, merged per term)."""

    def __init__(self, terms: Iterable[TermDates]) -> None:
        self._terms: dict[tuple[str, str], TermDates] = {}
        for t in terms:
            key = (t.academic_year, t.term)
            old = self._terms.get(key)
            if old is not None:  # half-terms of one term: the term spans them all
                t = TermDates(t.academic_year, t.term, min(old.start, t.start), max(old.end, t.end))
            self._terms[key] = t

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, date, date]]) -> Calendar:
        return cls(TermDates(ay, term, s, e) for ay, term, s, e in rows if s and e)

    def term(self, academic_year: str, term: str) -> TermDates | None:
        return self._terms.get((academic_year, term))

    def term_end(self, academic_year: str, term: str) -> date | None:
        t = self.term(academic_year, term)
        return t.end if t else None

    def term_start(self, academic_year: str, term: str) -> date | None:
        t = self.term(academic_year, term)
        return t.start if t else None

    def period_of(self, d: date) -> str | None:
        """The claim period a date belongs to: the term of its academic year that had
        started by that date (a date in a holiday belongs to the term before it; a date
        before the autumn term starts belongs to autumn). None when the calendar does
        not have the date's academic year."""
        ay = academic_year_of(d)
        terms = [self._terms.get((ay, t)) for t in TERMS]
        if not any(terms):
            return None
        chosen = "autumn"
        for t in terms:
            if t is not None and t.start <= d:
                chosen = t.term
        return f"{ay}-{chosen}"
