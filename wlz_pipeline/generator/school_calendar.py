"""English school terms for the synthetic Zone (reference/calendar.csv).

Term dates are typical London local-authority dates for 2016/17 and 2017/18: autumn
early September to ~20 December with half-term late October, spring early January to
just before Easter with half-term mid February, summer mid April to ~21 July with
half-term late May. Bank holidays that fall in term (the early-May Monday) are term
days in the calendar but no school: registers mark them ``#`` and nobody meets a child.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

HALF_TERM_NAMES = ("autumn_1", "autumn_2", "spring_1", "spring_2", "summer_1", "summer_2")
TERMS = ("autumn", "spring", "summer")

_DATES: dict[str, tuple[tuple[date, date], ...]] = {
    "2016/17": (
        (date(2016, 9, 5), date(2016, 10, 21)),
        (date(2016, 10, 31), date(2016, 12, 20)),
        (date(2017, 1, 4), date(2017, 2, 10)),
        (date(2017, 2, 20), date(2017, 3, 31)),
        (date(2017, 4, 18), date(2017, 5, 26)),
        (date(2017, 6, 5), date(2017, 7, 21)),
    ),
    "2017/18": (
        (date(2017, 9, 5), date(2017, 10, 20)),
        (date(2017, 10, 30), date(2017, 12, 20)),
        (date(2018, 1, 4), date(2018, 2, 9)),
        (date(2018, 2, 19), date(2018, 3, 29)),
        (date(2018, 4, 16), date(2018, 5, 25)),
        (date(2018, 6, 4), date(2018, 7, 20)),
    ),
}

#: England and Wales bank holidays in the two years (only the May Mondays fall in term).
BANK_HOLIDAYS: frozenset[date] = frozenset(
    {
        date(2016, 8, 29),
        date(2016, 12, 26),
        date(2016, 12, 27),
        date(2017, 1, 2),
        date(2017, 4, 14),
        date(2017, 4, 17),
        date(2017, 5, 1),
        date(2017, 5, 29),
        date(2017, 8, 28),
        date(2017, 12, 25),
        date(2017, 12, 26),
        date(2018, 1, 1),
        date(2018, 3, 30),
        date(2018, 4, 2),
        date(2018, 5, 7),
        date(2018, 5, 28),
        date(2018, 8, 27),
    }
)


@dataclass(frozen=True)
class HalfTerm:
    academic_year: str
    term: str
    half_term: str
    start: date
    end: date


def ay_start_year(academic_year: str) -> int:
    return int(academic_year[:4])


def academic_year_of(d: date) -> str:
    y = d.year if d.month >= 9 else d.year - 1
    return f"{y}/{(y + 1) % 100:02d}"


class SchoolCalendar:
    """Half-terms, term days and school weeks of the generated academic years."""

    def __init__(self, academic_years: tuple[str, ...]):
        missing = [ay for ay in academic_years if ay not in _DATES]
        if missing:
            raise ValueError(f"no term dates for {missing}")
        self.academic_years = tuple(academic_years)
        self.half_terms: list[HalfTerm] = []
        for ay in academic_years:
            for name, (start, end) in zip(HALF_TERM_NAMES, _DATES[ay], strict=True):
                self.half_terms.append(HalfTerm(ay, name.split("_")[0], name, start, end))
        self._days: dict[str, list[date]] = {}
        self._lookup: dict[date, HalfTerm] = {}
        for ht in self.half_terms:
            d = ht.start
            while d <= ht.end:
                if d.weekday() < 5:
                    self._days.setdefault(ht.academic_year, []).append(d)
                    self._lookup[d] = ht
                d += timedelta(days=1)

    # --- lookups -------------------------------------------------------------------
    def register_days(self, ay: str) -> list[date]:
        """Every weekday inside a half-term (bank holidays included, coded ``#``)."""
        return self._days[ay]

    def school_days(self, ay: str, start: date | None = None, end: date | None = None):
        """Weekdays in term that are not bank holidays, optionally within [start, end]."""
        return [
            d
            for d in self._days[ay]
            if d not in BANK_HOLIDAYS
            and (start is None or d >= start)
            and (end is None or d <= end)
        ]

    def half_term_of(self, d: date) -> HalfTerm | None:
        return self._lookup.get(d)

    def is_term_day(self, d: date) -> bool:
        return d in self._lookup

    def half_terms_of(self, ay: str, term: str | None = None) -> list[HalfTerm]:
        return [
            h for h in self.half_terms if h.academic_year == ay and (term is None or h.term == term)
        ]

    def term_bounds(self, ay: str, term: str) -> tuple[date, date]:
        hts = self.half_terms_of(ay, term)
        return hts[0].start, hts[-1].end

    def year_bounds(self, ay: str) -> tuple[date, date]:
        return self.half_terms_of(ay)[0].start, self.half_terms_of(ay)[-1].end

    def term_of(self, d: date) -> tuple[str, str] | None:
        """(academic_year, term) of a date inside a term, else the next term's."""
        for ay in self.academic_years:
            for term in TERMS:
                start, end = self.term_bounds(ay, term)
                if d <= end:
                    return ay, term
        return None

    def weeks(self, start: date, end: date) -> list[tuple[date, list[date]]]:
        """School weeks (Monday, school days in the week) overlapping [start, end]."""
        out: dict[date, list[date]] = {}
        for ay in self.academic_years:
            for d in self.school_days(ay, start, end):
                out.setdefault(d - timedelta(days=d.weekday()), []).append(d)
        return sorted(out.items())

    def rows(self) -> list[list[str]]:
        return [
            [h.academic_year, h.term, h.half_term, h.start.isoformat(), h.end.isoformat()]
            for h in self.half_terms
        ]
