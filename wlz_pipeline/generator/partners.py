"""What partner sessions *really* looked like: the truth behind the partner templates.

The template writer (not this package) pre-fills a workbook per programme and term; a
returned template is the partner's record of this plan. :func:`partner_attendance_plan`
turns the generated allocations and the calendar into, for each (programme,
academic_year, term): the weekly session dates, and for each allocated child a mark
per session, engagement ratings, pre/post outcome scores and feedback.

Marks: ``P`` present, ``L`` late, ``A`` absent, ``E`` excused, ``X`` the session did not
run (the whole group), ``""`` not recorded. Each child has a deterministic attendance
propensity per programme; some drop out (absent from some point to the end of the
term, at least the last three sessions), so both sides of every rule occur: children
attending >= 60% with >= 6 hours, drop-outs, two consecutive missed sessions, and an
``X`` between two absences.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from .reference import MEASURES, PROGRAMMES_SAMPLE, Programme
from .school_calendar import BANK_HOLIDAYS, SchoolCalendar
from .util import clip

_TERM_ORDER = ("autumn", "spring", "summer")


@dataclass
class ChildSessions:
    wlz_id: str
    propensity: float
    marks: list[str]
    engagement: list[int | None]
    pre_score: int | None
    pre_date: date | None
    post_score: int | None
    post_date: date | None
    feedback: dict[str, int | None]
    dropped_out: bool

    @property
    def attended(self) -> int:
        return sum(m in ("P", "L") for m in self.marks)

    @property
    def missed(self) -> int:
        return sum(m in ("A", "E") for m in self.marks)


@dataclass
class ProgrammeTermPlan:
    programme: str
    partner_id: str
    academic_year: str
    term: str
    weekday: int
    planned_minutes: int
    session_dates: list[date]
    cancelled: list[date]
    measure: tuple[str, int, int, bool]
    children: list[ChildSessions] = field(default_factory=list)


def _default_programmes() -> dict[str, Programme]:
    return {
        f"{pid}-{slug}": Programme(f"{pid}-{slug}", pid, phases, area, wd, mins)
        for pid, slug, phases, area, wd, mins in PROGRAMMES_SAMPLE
    }


def _term_bounds(calendar) -> dict[tuple[str, str], list[tuple[date, date]]]:
    out: dict[tuple[str, str], list[tuple[date, date]]] = {}
    if isinstance(calendar, SchoolCalendar):
        for h in calendar.half_terms:
            out.setdefault((h.academic_year, h.term), []).append((h.start, h.end))
        return out
    for row in calendar:  # rows of reference/calendar.csv as dicts
        start, end = row["start_date"], row["end_date"]
        start = date.fromisoformat(start) if isinstance(start, str) else start
        end = date.fromisoformat(end) if isinstance(end, str) else end
        out.setdefault((row["academic_year"], row["term"]), []).append((start, end))
    return out


def _row(a) -> tuple[str, str, str, str, str]:
    if isinstance(a, Mapping):
        return (a["wlz_id"], a["partner_id"], a["programme"], a["academic_year"], a["term"])
    return tuple(a)  # type: ignore[return-value]


def partner_attendance_plan(
    allocations: Iterable,
    calendar,
    rng: random.Random,
    *,
    programmes: Mapping[str, Programme] | Iterable[Programme] | None = None,
    enrolments: Mapping[str, tuple[date | None, date | None]] | None = None,
) -> dict[tuple[str, str, str], ProgrammeTermPlan]:
    """The true sessions of every (programme, academic_year, term) with allocations.

    ``allocations``: rows ``(wlz_id, partner_id, programme, academic_year, term)`` or
    dicts with those keys (reference/allocations.csv). ``calendar``: a
    :class:`SchoolCalendar` or rows of reference/calendar.csv. ``enrolments``: optional
    ``wlz_id -> (consent_on, exit_on)``; sessions outside enrolment are left blank.
    The result depends only on the inputs and the state of ``rng``.
    """
    if programmes is None:
        progs = _default_programmes()
    elif isinstance(programmes, Mapping):
        progs = dict(programmes)
    else:
        progs = {p.programme: p for p in programmes}
    salt = rng.getrandbits(64)
    bounds = _term_bounds(calendar)
    groups: dict[tuple[str, str, str], list[str]] = {}
    partner_of: dict[str, str] = {}
    for a in allocations:
        wlz_id, partner_id, programme, ay, term = _row(a)
        groups.setdefault((programme, ay, term), []).append(wlz_id)
        partner_of[programme] = partner_id
    plans: dict[tuple[str, str, str], ProgrammeTermPlan] = {}
    for key in sorted(groups, key=lambda k: (k[1], _TERM_ORDER.index(k[2]), k[0])):
        programme, ay, term = key
        prog = progs.get(programme)
        weekday = prog.weekday if prog else 1
        minutes = prog.minutes if prog else 60
        measure = prog.measure if prog else MEASURES["emotional_wellbeing"]
        dates = []
        for start, end in bounds.get((ay, term), []):
            d = start + timedelta(days=(weekday - start.weekday()) % 7)
            while d <= end:
                if d not in BANK_HOLIDAYS:
                    dates.append(d)
                d += timedelta(days=7)
        prng = random.Random(f"{salt}|{programme}|{ay}|{term}")
        cancelled: list[date] = []
        if len(dates) > 4:
            r = prng.random()
            n_cancel = 2 if r < 0.1 else 1 if r < 0.4 else 0
            cancelled = sorted(prng.sample(dates[1:-1], n_cancel))
        plan = ProgrammeTermPlan(
            programme, partner_of[programme], ay, term, weekday, minutes, dates, cancelled, measure
        )
        for wlz_id in sorted(set(groups[key])):
            window = (enrolments or {}).get(wlz_id, (None, None))
            plan.children.append(_child(salt, wlz_id, plan, window))
        plans[key] = plan
    return plans


def propensity(salt: int, wlz_id: str, programme: str) -> float:
    """The child's true chance of attending a session of this programme."""
    r = random.Random(f"{salt}|{wlz_id}|{programme}")
    u = r.random()
    if u < 0.12:
        return round(r.uniform(0.2, 0.5), 3)
    if u < 0.3:
        return round(r.uniform(0.5, 0.75), 3)
    return round(r.uniform(0.75, 0.98), 3)


def _child(
    salt: int, wlz_id: str, plan: ProgrammeTermPlan, window: tuple[date | None, date | None]
) -> ChildSessions:
    p = propensity(salt, wlz_id, plan.programme)
    r = random.Random(f"{salt}|{wlz_id}|{plan.programme}|{plan.academic_year}|{plan.term}")
    running = [i for i, d in enumerate(plan.session_dates) if d not in plan.cancelled]
    drop_at = None
    if len(running) >= 5 and r.random() < (0.35 if p < 0.5 else 0.08):
        drop_at = running[r.randint(1, len(running) - 3)]
    consent, exit_on = window
    marks: list[str] = []
    engagement: list[int | None] = []
    for i, d in enumerate(plan.session_dates):
        if (consent is not None and d < consent) or (exit_on is not None and d > exit_on):
            marks.append("")
        elif d in plan.cancelled:
            marks.append("X")
        elif drop_at is not None and i >= drop_at:
            marks.append("A")
        elif r.random() < 0.03:
            marks.append("")
        elif r.random() < p:
            marks.append("L" if r.random() < 0.1 else "P")
        else:
            marks.append("E" if r.random() < 0.25 else "A")
        if marks[-1] in ("P", "L"):
            engagement.append(int(clip(round(1.5 + 3.2 * p + r.gauss(0, 0.8)), 1, 5)))
        else:
            engagement.append(None)
    name, lo, hi, higher_better = plan.measure
    attended = [d for d, m in zip(plan.session_dates, marks, strict=True) if m in ("P", "L")]
    pre = post = None
    pre_date = post_date = None
    if attended:
        pre = int(clip(round(r.gauss((lo + hi) * 0.45, (hi - lo) * 0.15)), lo, hi))
        pre_date = attended[0]
        if drop_at is None and len(attended) >= 3 and r.random() < 0.9:
            rate = len(attended) / max(1, sum(m in ("P", "L", "A", "E") for m in marks))
            delta = r.gauss(-0.5 + 4.0 * rate, 2.0) * (1 if higher_better else -1)
            post = int(clip(round(pre + delta), lo, hi))
            post_date = attended[-1]
    feedback: dict[str, int | None] = {}
    for item in ("enjoyment", "usefulness", "would_recommend"):
        feedback[item] = (
            None
            if not attended or r.random() < 0.15
            else int(clip(round(1.8 + 3.0 * p + r.gauss(0, 0.9)), 1, 5))
        )
    return ChildSessions(
        wlz_id, p, marks, engagement, pre, pre_date, post, post_date, feedback, drop_at is not None
    )


def plan_for_world(world, rng: random.Random) -> dict[tuple[str, str, str], ProgrammeTermPlan]:
    """:func:`partner_attendance_plan` for a built world (its programmes and enrolment dates).

    ``world`` is a :class:`wlz_pipeline.generator.world.World` (``build_world(scale, seed)``).
    """
    windows = {r.wlz_id: (r.consent_on, r.exit_on) for r in world.register.entries if r.enrolled}
    return partner_attendance_plan(
        world.allocations, world.cal, rng, programmes=world.programmes, enrolments=windows
    )
