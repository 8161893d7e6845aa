"""Hand-made facts for the payment rules: a test rate card with round prices (so each
test can work out its amounts by hand), the sample's term dates, and builders for
children."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest

from wlz_pipeline.payments import eligibility as el
from wlz_pipeline.payments.ledger import ChildFacts, OutcomeFact
from wlz_pipeline.payments.periods import Calendar, TermDates
from wlz_pipeline.payments.rate_card import PaymentConfig, from_dict

AS_OF = date(2018, 7, 23)

OUTCOMES = [
    "reading_english",
    "maths",
    "writing_engagement",
    "emotional_wellbeing",
    "relationships",
    "school_attendance",
    "parental_engagement",
]

# Prices in pounds. Outcome prices have a three-way tie at 1200.00 (reading_english,
# maths, school_attendance) to test the rate-card-order tie-break.
PRIMARY = {
    "sign_up": "500.00",
    "engagement_y1": "800.00",
    "engagement_y2": "800.00",
    "outcomes": {
        "reading_english": "1200.00",
        "maths": "1200.00",
        "writing_engagement": "1000.00",
        "emotional_wellbeing": "1500.00",
        "relationships": "900.01",
        "school_attendance": "1200.00",
        "parental_engagement": "700.00",
    },
}
QUARTERS = {"council": "0.25", "schools": "0.25", "philanthropy": "0.25", "outcomes_fund": "0.25"}
OUTCOME_SHARES = {"council": "0.4", "schools": "0.3", "philanthropy": "0.2", "outcomes_fund": "0.1"}


def measure(factor: str, better: str = "higher", min_change: str = "5") -> dict:
    return {"factor": factor, "better": better, "min_change": min_change, "unit": "points"}


RAW_CONFIG = {
    "version": 1,
    "contract": {
        "name": "test contract",
        "cap": "1000000.00",
        "commissioners": ["council", "schools", "philanthropy", "outcomes_fund"],
        "outcomes": OUTCOMES,
        "max_outcome_payments": 3,
        "phases": ["early_years", "primary", "secondary"],
        "anchor_phases": {"nursery": "early_years", "primary": "primary", "secondary": "secondary"},
    },
    "engagement": {
        "interaction_kinds": ["check_in", "one_to_one", "formal_review"],
        "with_whom": ["child"],
        "min_interactions": 10,
        "min_partner_attendance_rate": "0.6",
        "min_partner_hours": "6",
    },
    "completion": {"completed_exit_reasons": []},
    "outcome_measures": {
        "reading_english": {"primary": measure("attainment_reading")},
        "maths": {"primary": measure("attainment_maths")},
        "writing_engagement": {"primary": measure("attainment_writing")},
        "emotional_wellbeing": {"primary": measure("sdq_total", "lower", "3")},
        "relationships": {"primary": measure("sdq_peer", "lower", "3")},
        "school_attendance": {"primary": measure("attendance_below_96", "higher", "0.02")},
        "parental_engagement": {"primary": measure("parents_involvement", "higher", "0.5")},
    },
    "rate_cards": [
        {
            "id": "test-2016",
            "effective_from": "2016-09-01",
            "prices": {"primary": PRIMARY},
            "shares": {
                "sign_up": QUARTERS,
                "engagement_y1": QUARTERS,
                "engagement_y2": QUARTERS,
                "outcome": OUTCOME_SHARES,
            },
        }
    ],
}


def make_config(**changes) -> PaymentConfig:
    """The test configuration; ``changes`` maps a dotted path to a new value."""
    raw = copy.deepcopy(RAW_CONFIG)
    for path, value in changes.items():
        node = raw
        *parents, last = path.split(".")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[last] = value
    return from_dict(raw)


@pytest.fixture
def cfg() -> PaymentConfig:
    return make_config()


SAMPLE_TERMS = [
    ("2016/17", "autumn", date(2016, 9, 5), date(2016, 12, 20)),
    ("2016/17", "spring", date(2017, 1, 4), date(2017, 3, 31)),
    ("2016/17", "summer", date(2017, 4, 18), date(2017, 7, 21)),
    ("2017/18", "autumn", date(2017, 9, 5), date(2017, 12, 20)),
    ("2017/18", "spring", date(2018, 1, 4), date(2018, 3, 29)),
    ("2017/18", "summer", date(2018, 4, 16), date(2018, 7, 20)),
]


@pytest.fixture
def calendar() -> Calendar:
    return Calendar(TermDates(*t) for t in SAMPLE_TERMS)


def weekly_checkins(start: date, n: int, kind: str = "check_in", whom: str = "child"):
    return [el.Interaction(start + timedelta(weeks=i), kind, whom, "hash-int") for i in range(n)]


def sessions(start: date, attended: int, missed: int, minutes: int = 60):
    out = []
    for i in range(attended + missed):
        out.append(
            el.PartnerSession(
                start + timedelta(weeks=i), i < attended, i >= attended, minutes, "hash-pm"
            )
        )
    return out


def year1_engagement(consent: date):
    """Exactly enough for year 1 (cohort 2016/17): 10 check-ins with the child after
    consent, 10 partner sessions of 60 minutes, 6 attended (6/10 = 60%, 6 x 60 / 60 = 6 h)."""
    return weekly_checkins(date(2017, 1, 9), 10), sessions(date(2017, 1, 10), 6, 4)


def year2_engagement():
    """Exactly enough for year 2 (autumn + spring 2017/18)."""
    return weekly_checkins(date(2017, 9, 11), 10), sessions(date(2017, 9, 12), 6, 4)


def achieved(*outcomes: str, status: str = "achieved") -> dict[str, OutcomeFact]:
    return {
        o: OutcomeFact(o, status, {"status": status, "outcome": o}, frozenset({"hash-out"}))
        for o in outcomes
    }


def child(
    wlz_id: str,
    consent: date | None = date(2016, 11, 21),
    cohort: str = "2016/17",
    phase: str = "primary",
    exit_on: date | None = None,
    targets: tuple[str, ...] = (),
    interactions=(),
    partner=(),
    outcomes: dict | None = None,
) -> ChildFacts:
    return ChildFacts(
        enrolment=el.Enrolment(
            wlz_id=wlz_id,
            cohort=cohort,
            anchor_urn="140102",
            phase=phase,
            consent_on=consent,
            exit_on=exit_on,
            exit_reason="withdrew" if exit_on else None,
            target_outcomes=targets,
            source="hash-enrol",
            phase_from="test",
        ),
        interactions=tuple(interactions),
        sessions=tuple(partner),
        outcomes=outcomes or {},
    )
