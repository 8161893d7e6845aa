"""The conditions of each outcome payment (rules.md §15) as pure functions.

Every function takes plain facts (dataclasses below) and returns a ``Decision``: whether
the condition is met, the claim period the payment belongs to, and the evidence (the
values and thresholds that decided it, and the source files they came from). Nothing
here reads the warehouse; ``facts`` does that.

Definitions (rules.md §9, §15; choices written down where the spec is silent):

- *enrolled on a day D*: consent recorded on or before D, and no exit before D
  (``exit_on`` is the child's last day on the programme, so a child leaving on D was
  still enrolled on D).
- *year-1 engagement*: enrolled on the last day of spring term Y; from the consent date
  to that day, at least ``min_interactions`` LW interactions of the configured kinds
  with the child, and partner attendance rate (attended / (attended + missed)) and
  hours (planned minutes of attended sessions / 60) at or above their thresholds.
- *year-2 engagement*: the same test from the first day of autumn term Y+1 (or consent,
  if later) to the last day of spring term Y+1, enrolled on that day.
- *completed*: still enrolled on the last day of the summer term of Y+1, or exited for a
  reason configured as a completion.
- A payment is *due* (evaluated at all) once the day that decides it has passed: the
  consent date for sign-up, the last day of the spring term for engagement, the last
  day of the programme for outcomes. Before that there is no line, never a "not met".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from wlz_pipeline.payments.periods import TERMS, Calendar, academic_year_of, next_academic_year
from wlz_pipeline.payments.rate_card import Completion, Engagement

# --------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Enrolment:
    wlz_id: str
    cohort: str
    anchor_urn: str | None
    phase: str | None
    consent_on: date | None
    exit_on: date | None = None
    exit_reason: str | None = None
    target_outcomes: tuple[str, ...] = ()
    source: str | None = None  # file hash of the register row
    phase_from: str | None = None  # how the phase was decided (evidence)
    upn: str | None = None  # to find the child's risk profile (restricted)


@dataclass(frozen=True)
class Interaction:
    on: date
    kind: str | None
    with_whom: str | None
    source: str | None = None


@dataclass(frozen=True)
class PartnerSession:
    on: date
    attended: bool
    missed: bool
    planned_minutes: int | None
    source: str | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of one payment's condition for one child."""

    payment_type: str
    met: bool
    claim_period: str | None
    evidence: dict[str, Any]
    sources: frozenset[str] = field(default_factory=frozenset)
    outcome: str | None = None


# --------------------------------------------------------------------------- helpers


def enrolled_on(e: Enrolment, d: date) -> bool:
    return e.consent_on is not None and e.consent_on <= d and (e.exit_on is None or e.exit_on >= d)


def _rate(n: int, d: int) -> float | None:
    return None if d == 0 else round(n / d, 4)


def fallback_period(d: date) -> str:
    """The term of a date when the calendar lacks its year: Sep-Dec autumn, Jan-Mar
    spring, Apr-Aug summer (approximate: only used without a school calendar)."""
    term = "autumn" if d.month >= 9 else "spring" if d.month <= 3 else "summer"
    return f"{academic_year_of(d)}-{term}"


def period_of(calendar: Calendar, d: date) -> str:
    return calendar.period_of(d) or fallback_period(d)


def _sources(*groups: Iterable[str | None]) -> frozenset[str]:
    return frozenset(s for g in groups for s in g if s)


# --------------------------------------------------------------------------- payments


def sign_up(e: Enrolment, calendar: Calendar, as_of: date) -> Decision | None:
    """Payment 1: consent recorded in the cohort's first year; claimed in the term of
    consent. None while not due (no consent yet, or consent after ``as_of``)."""
    if e.consent_on is None or e.consent_on > as_of:
        return None
    consent_year = academic_year_of(e.consent_on)
    met = consent_year == e.cohort
    evidence = {
        "condition": "consent recorded in the cohort's first academic year",
        "consent_on": e.consent_on.isoformat(),
        "consent_academic_year": consent_year,
        "cohort": e.cohort,
        "met": met,
    }
    if not met:
        evidence["why_not"] = f"consent in {consent_year}, not in the cohort year {e.cohort}"
    return Decision(
        "sign_up", met, period_of(calendar, e.consent_on), evidence, _sources([e.source])
    )


def engagement(
    e: Enrolment,
    year: int,
    calendar: Calendar,
    interactions: Sequence[Interaction],
    sessions: Sequence[PartnerSession],
    rules: Engagement,
    as_of: date,
) -> Decision | None:
    """Payment 2 (``year=1``) or 3 (``year=2``). None while not due."""
    if year not in (1, 2):
        raise ValueError("year must be 1 or 2")
    payment_type = f"engagement_y{year}"
    ay = e.cohort if year == 1 else next_academic_year(e.cohort)
    last_day = calendar.term_end(ay, "spring")
    if last_day is None or last_day > as_of or e.consent_on is None:
        return None
    if year == 1:
        start = e.consent_on
    else:
        autumn = calendar.term_start(ay, "autumn") or date(int(ay[:4]), 9, 1)
        start = max(autumn, e.consent_on)
    enrolled = enrolled_on(e, last_day)

    kinds, whom = set(rules.interaction_kinds), set(rules.with_whom)
    counted = [
        i
        for i in interactions
        if start <= i.on <= last_day and i.kind in kinds and i.with_whom in whom
    ]
    in_window = [s for s in sessions if start <= s.on <= last_day]
    attended = [s for s in in_window if s.attended]
    missed = [s for s in in_window if s.missed]
    minutes = sum(s.planned_minutes or 0 for s in attended)
    recorded = len(attended) + len(missed)
    rate = Fraction(len(attended), recorded) if recorded else None
    hours = Fraction(minutes, 60)
    min_hours = Fraction(str(rules.min_partner_hours))

    interactions_met = len(counted) >= rules.min_interactions
    rate_met = rate is not None and rate >= rules.min_partner_attendance_rate
    hours_met = hours >= min_hours
    met = enrolled and interactions_met and rate_met and hours_met

    evidence: dict[str, Any] = {
        "condition": (
            f"enrolled on the last day of spring term {ay}; from {start.isoformat()} to "
            f"{last_day.isoformat()}: >= {rules.min_interactions} LW interactions "
            f"({'/'.join(rules.interaction_kinds)} with {'/'.join(rules.with_whom)}), "
            f"partner attendance rate >= {float(rules.min_partner_attendance_rate):g} "
            f"and >= {rules.min_partner_hours} hours attended"
        ),
        "window_start": start.isoformat(),
        "window_end": last_day.isoformat(),
        "enrolled_on_window_end": enrolled,
        "interactions": len(counted),
        "interactions_min": rules.min_interactions,
        "interactions_met": interactions_met,
        "partner_sessions_attended": len(attended),
        "partner_sessions_missed": len(missed),
        "partner_attendance_rate": None if rate is None else round(float(rate), 4),
        "partner_attendance_rate_min": float(rules.min_partner_attendance_rate),
        "partner_attendance_met": rate_met,
        "partner_hours": round(float(hours), 2),
        "partner_hours_min": float(min_hours),
        "partner_hours_met": hours_met,
        "met": met,
    }
    if not met:
        why = []
        if not enrolled:
            why.append(f"not enrolled on {last_day.isoformat()}")
        if not interactions_met:
            why.append(f"{len(counted)} interactions < {rules.min_interactions}")
        if not rate_met:
            why.append(
                "no partner sessions recorded"
                if rate is None
                else f"partner attendance {float(rate):.2%} below the minimum"
            )
        if not hours_met:
            why.append(f"{float(hours):.2f} partner hours < {float(min_hours):g}")
        evidence["why_not"] = "; ".join(why)
    period = f"{ay}-spring"
    return Decision(
        payment_type,
        met,
        period,
        evidence,
        _sources([e.source], (i.source for i in counted), (s.source for s in in_window)),
    )


def completion(e: Enrolment, calendar: Calendar, rules: Completion, as_of: date) -> Decision | None:
    """Completed the programme: enrolled on the last day of summer term Y+1 (or exited
    for a reason that counts as completion). None while the programme has not ended."""
    ay = next_academic_year(e.cohort)
    last_day = calendar.term_end(ay, "summer")
    if last_day is None or last_day > as_of or e.consent_on is None:
        return None
    by_reason = e.exit_reason is not None and e.exit_reason in set(rules.completed_exit_reasons)
    met = enrolled_on(e, last_day) or by_reason
    evidence = {
        "condition": f"still on the programme on its last day ({last_day.isoformat()})",
        "programme_end": last_day.isoformat(),
        "exit_on": None if e.exit_on is None else e.exit_on.isoformat(),
        "exit_reason": e.exit_reason,
        "met": met,
    }
    return Decision("completion", met, f"{ay}-summer", evidence, _sources([e.source]))


def select_outcomes(
    achieved: Iterable[str],
    targets: Sequence[str],
    prices: Mapping[str, int],
    order: Sequence[str],
    max_n: int,
) -> tuple[list[str], dict[str, str]]:
    """Which achieved outcomes are paid (rules.md §15): only the child's target outcomes
    when any are named, otherwise all achieved ones; the highest-priced first, ties in
    rate-card order; at most ``max_n``. Returns ``(paid, why_not)`` where ``why_not``
    says for each achieved outcome not paid why not."""
    achieved = [o for o in order if o in set(achieved)]
    # A named list is binding even if a name is misspelt: a typo pays less, never more.
    named = [t for t in targets if t]
    why_not: dict[str, str] = {}
    if named:
        candidates = [o for o in achieved if o in named]
        for o in achieved:
            if o not in named:
                why_not[o] = "not one of the child's target outcomes"
    else:
        candidates = list(achieved)
    ranked = sorted(candidates, key=lambda o: (-prices.get(o, 0), order.index(o)))
    paid = ranked[:max_n]
    for o in ranked[max_n:]:
        why_not[o] = f"only {max_n} outcome payments per child (higher-priced ones paid)"
    return [o for o in ranked if o in paid], why_not


def decimal_text(d: Decimal | None) -> str | None:
    """``Decimal('8.000000000')`` -> ``'8'`` (never exponent notation)."""
    if d is None:
        return None
    text = f"{d.normalize():f}"
    return "0" if text in ("-0", "0") else text


def decimal_of(x: float | int | Decimal | None) -> Decimal | None:
    """A float from the warehouse as an exact decimal, rid of binary noise (9 places)."""
    if x is None:
        return None
    return Decimal(repr(float(x))).quantize(Decimal("0.000000001"))


__all__ = [
    "TERMS",
    "Decision",
    "Enrolment",
    "Interaction",
    "PartnerSession",
    "completion",
    "engagement",
    "enrolled_on",
    "select_outcomes",
    "sign_up",
]
