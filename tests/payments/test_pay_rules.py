"""Which payments a child gets (rules.md §15), worked by hand against the test rate card
of conftest.py (primary: sign-up £500.00, engagement £800.00 each year, outcomes
£1,200.00 / £1,200.00 / £1,000.00 / £1,500.00 / £900.01 / £1,200.00 / £700.00; sign-up and
engagement shared 0.25 x 4, outcomes 0.4 / 0.3 / 0.2 / 0.1)."""

from __future__ import annotations

import copy
import json
from datetime import date

from tests.payments.conftest import (
    AS_OF,
    PRIMARY,
    RAW_CONFIG,
    achieved,
    child,
    make_config,
    weekly_checkins,
    year1_engagement,
    year2_engagement,
)
from wlz_pipeline.payments.ledger import assemble, entitlements
from wlz_pipeline.payments.rate_card import from_dict


def ledger(children, cfg, calendar, as_of=AS_OF):
    return assemble(entitlements(children, cfg, calendar, as_of), [], {}, cfg)


def paid(lines):
    """{(payment_type, outcome): {commissioner: pence}} of the lines with money."""
    out: dict = {}
    for ln in lines:
        out.setdefault((ln["payment_type"], ln["outcome"]), {})[ln["commissioner"]] = ln[
            "amount_pence"
        ]
    return out


def test_sign_up_only(cfg, calendar):
    # consent 21 Nov 2016 falls in autumn term 2016/17; no interactions, no partner
    # sessions: neither engagement payment; no outcomes.
    lines = ledger([child("WLZ000000001")], cfg, calendar)
    assert paid(lines) == {
        # £500.00 = 50000p x 0.25 = 12500p each
        ("sign_up", None): {
            "council": 12500,
            "schools": 12500,
            "philanthropy": 12500,
            "outcomes_fund": 12500,
        }
    }
    assert {ln["claim_period"] for ln in lines} == {"2016/17-autumn"}
    assert {ln["status"] for ln in lines} == {"claimable"}
    assert sum(ln["amount_pence"] for ln in lines) == 50000


def test_sign_up_and_year_one_engagement_at_the_thresholds(cfg, calendar):
    consent = date(2016, 12, 12)
    inter, partner = year1_engagement(consent)
    # noise that must not count: a parent check-in, a group session, a check-in before
    # consent
    inter += weekly_checkins(date(2017, 1, 9), 1, whom="parent_carer")
    inter += weekly_checkins(date(2017, 1, 9), 1, kind="group")
    inter += weekly_checkins(date(2016, 11, 1), 1)
    lines = ledger(
        [child("WLZ000000002", consent, interactions=inter, partner=partner)], cfg, calendar
    )
    by = paid(lines)
    assert set(by) == {("sign_up", None), ("engagement_y1", None)}
    # £800.00 = 80000p x 0.25 = 20000p each, claimed in spring 2016/17
    assert by[("engagement_y1", None)] == dict.fromkeys(
        ("council", "schools", "philanthropy", "outcomes_fund"), 20000
    )
    eng = [ln for ln in lines if ln["payment_type"] == "engagement_y1"]
    assert {ln["claim_period"] for ln in eng} == {"2016/17-spring"}
    ev = json.loads(eng[0]["evidence"])["conditions"]
    # 10 counted interactions (the 3 noise ones excluded); 6 of 10 sessions = 60%; 6 h
    assert ev["interactions"] == 10
    assert ev["partner_attendance_rate"] == 0.6
    assert ev["partner_hours"] == 6.0
    assert ev["window_end"] == "2017-03-31"


def test_one_interaction_short_is_not_engaged(cfg, calendar):
    consent = date(2016, 12, 12)
    inter, partner = year1_engagement(consent)
    lines = ledger(
        [child("WLZ000000002", consent, interactions=inter[:9], partner=partner)], cfg, calendar
    )
    assert set(paid(lines)) == {("sign_up", None)}


def _four_achieved_child(wlz_id: str, targets=()):
    consent = date(2016, 11, 21)
    i1, p1 = year1_engagement(consent)
    i2, p2 = year2_engagement()
    return child(
        wlz_id,
        consent,
        targets=targets,
        interactions=i1 + i2,
        partner=p1 + p2,
        outcomes={
            **achieved("emotional_wellbeing", "reading_english", "maths", "school_attendance"),
            **achieved("relationships", status="not_achieved"),
            **achieved("writing_engagement", status="not_eligible"),
        },
    )


def test_both_engagements_and_three_of_four_achieved_outcomes(cfg, calendar):
    lines = ledger([_four_achieved_child("WLZ000000003")], cfg, calendar)
    by = paid(lines)
    # achieved: emotional_wellbeing £1,500, and three at £1,200 (reading_english, maths,
    # school_attendance). Highest price first: emotional_wellbeing; then the tie in
    # rate-card order: reading_english, maths. school_attendance is the fourth: not paid.
    assert set(by) == {
        ("sign_up", None),
        ("engagement_y1", None),
        ("engagement_y2", None),
        ("outcome", "emotional_wellbeing"),
        ("outcome", "reading_english"),
        ("outcome", "maths"),
    }
    # £1,500.00 x 0.4 / 0.3 / 0.2 / 0.1 = 60000 / 45000 / 30000 / 15000p
    assert by[("outcome", "emotional_wellbeing")] == {
        "council": 60000,
        "schools": 45000,
        "philanthropy": 30000,
        "outcomes_fund": 15000,
    }
    # £1,200.00 -> 48000 / 36000 / 24000 / 12000p
    assert by[("outcome", "maths")] == {
        "council": 48000,
        "schools": 36000,
        "philanthropy": 24000,
        "outcomes_fund": 12000,
    }
    outcome_lines = [ln for ln in lines if ln["payment_type"] == "outcome"]
    assert {ln["claim_period"] for ln in outcome_lines} == {"2017/18-summer"}
    # 50000 + 80000 + 80000 + 150000 + 120000 + 120000 = 600000p
    assert sum(ln["amount_pence"] for ln in lines) == 600000


def test_target_outcomes_naming_two_are_the_only_ones_paid(cfg, calendar):
    kid = _four_achieved_child("WLZ000000004", targets=("maths", "school_attendance"))
    by = paid(ledger([kid], cfg, calendar))
    # only the named outcomes, although emotional_wellbeing (£1,500) and reading_english
    # (earlier in rate-card order) were achieved too
    assert {o for (t, o) in by if t == "outcome"} == {"maths", "school_attendance"}
    # 50000 + 80000 + 80000 + 120000 + 120000 = 450000p
    assert sum(sum(v.values()) for v in by.values()) == 450000


def test_a_named_target_not_achieved_is_not_replaced(cfg, calendar):
    kid = _four_achieved_child("WLZ000000005", targets=("relationships", "maths"))
    by = paid(ledger([kid], cfg, calendar))
    assert {o for (t, o) in by if t == "outcome"} == {"maths"}


def test_achieved_outcomes_without_an_engagement_payment_are_not_paid(cfg, calendar):
    kid = child("WLZ000000006", outcomes=achieved("maths", "emotional_wellbeing"))
    lines = ledger([kid], cfg, calendar)
    assert set(paid(lines)) == {("sign_up", None)}
    ents = entitlements([kid], cfg, calendar, AS_OF)
    outcome = [e for e in ents if e.payment_type == "outcome"]
    assert len(outcome) == 2 and not any(e.met for e in outcome)
    assert "no engagement payment met" in outcome[0].evidence["conditions"]["why_not"]


def test_early_leaver(cfg, calendar):
    consent = date(2016, 11, 21)
    inter, partner = year1_engagement(consent)
    # left on 2 March 2017, before the last day of spring term (31 March 2017): engaged
    # enough before leaving, but not enrolled on 31 March; never completes
    kid = child(
        "WLZ000000007",
        consent,
        exit_on=date(2017, 3, 2),
        interactions=[i for i in inter if i.on <= date(2017, 3, 2)]
        + weekly_checkins(date(2016, 11, 28), 6),
        partner=[s for s in partner if s.on <= date(2017, 3, 2)],
        outcomes=achieved("maths"),
    )
    lines = ledger([kid], cfg, calendar)
    assert set(paid(lines)) == {("sign_up", None)}
    ents = {e.payment_type: e for e in entitlements([kid], cfg, calendar, AS_OF)}
    assert ents["engagement_y1"].evidence["conditions"]["enrolled_on_window_end"] is False
    assert "did not complete" in ents["outcome"].evidence["conditions"]["why_not"]


def test_exit_on_the_last_day_of_spring_still_counts_as_enrolled(cfg, calendar):
    consent = date(2016, 12, 12)
    inter, partner = year1_engagement(consent)
    kid = child(
        "WLZ000000008", consent, exit_on=date(2017, 3, 31), interactions=inter, partner=partner
    )
    assert ("engagement_y1", None) in paid(ledger([kid], cfg, calendar))


def test_nothing_is_due_before_its_deciding_day(cfg, calendar):
    # as of 30 March 2017 the spring term has not ended: no engagement decision yet
    consent = date(2016, 12, 12)
    inter, partner = year1_engagement(consent)
    kid = child("WLZ000000009", consent, interactions=inter, partner=partner)
    ents = entitlements([kid], cfg, calendar, date(2017, 3, 30))
    assert [e.payment_type for e in ents] == ["sign_up"]


def test_unpriced_phase_gets_no_lines(cfg, calendar):
    # the test card prices primary only: an early-years child's sign-up is met but not
    # payable
    kid = child("WLZ000000010", phase="early_years")
    assert ledger([kid], cfg, calendar) == []
    (e,) = [e for e in entitlements([kid], cfg, calendar, AS_OF) if e.payment_type == "sign_up"]
    assert e.met and not e.payable
    assert "does not price phase" in e.evidence["not_payable"]


def test_consent_in_a_later_year_is_not_a_sign_up(cfg, calendar):
    kid = child("WLZ000000011", consent=date(2017, 9, 20), cohort="2016/17")
    assert ledger([kid], cfg, calendar) == []


def test_consent_in_the_easter_holiday_belongs_to_the_spring_term(cfg, calendar):
    # spring term 2016/17 ends 31 March, summer starts 18 April
    kid = child("WLZ000000012", consent=date(2017, 4, 10))
    assert {ln["claim_period"] for ln in ledger([kid], cfg, calendar)} == {"2016/17-spring"}


def test_same_input_gives_identical_lines(cfg, calendar):
    kids = [_four_achieved_child("WLZ000000013"), child("WLZ000000014")]
    assert ledger(kids, cfg, calendar) == ledger(list(reversed(kids)), cfg, calendar)


def test_cap_reached_part_way_through_a_period(calendar):
    # cap £1,300.00 = 130000p. Three sign-ups of 50000p in autumn 2016/17, in child order:
    # 50000 (total 50000), 50000 (100000), the third would make 150000 > 130000: capped.
    cfg = make_config(**{"contract.cap": "1300.00"})
    kids = [child(f"WLZ00000010{i}") for i in (1, 2, 3)]
    lines = ledger(kids, cfg, calendar)
    by_child = {}
    for ln in lines:
        by_child.setdefault(ln["wlz_id"], set()).add((ln["status"], ln["amount_pence"]))
    assert by_child["WLZ000000101"] == {("claimable", 12500)}
    assert by_child["WLZ000000102"] == {("claimable", 12500)}
    assert by_child["WLZ000000103"] == {("capped", 0)}
    capped = [ln for ln in lines if ln["capped"]]
    assert len(capped) == 4
    assert sum(ln["capped_pence"] for ln in capped) == 50000
    assert "would exceed the cap of £1,300.00" in capped[0]["reason"]
    assert sum(ln["amount_pence"] for ln in lines) == 100000


def test_a_smaller_payment_that_still_fits_under_the_cap_is_claimable(calendar):
    # cap £1,100.00 = 110000p. Primary sign-ups of 50000p: 50000, 100000, then a third
    # would make 150000: capped. A secondary sign-up priced £100.00 = 10000p still fits:
    # 100000 + 10000 = 110000 <= 110000, so it is claimable.
    raw = copy.deepcopy(RAW_CONFIG)
    raw["contract"]["cap"] = "1100.00"
    raw["rate_cards"][0]["prices"]["secondary"] = {**PRIMARY, "sign_up": "100.00"}
    cfg = from_dict(raw)
    kids = [
        child("WLZ000000201"),
        child("WLZ000000202"),
        child("WLZ000000203"),
        child("WLZ000000204", phase="secondary"),
    ]
    lines = ledger(kids, cfg, calendar)
    status = {ln["wlz_id"]: ln["status"] for ln in lines}
    assert status == {
        "WLZ000000201": "claimable",
        "WLZ000000202": "claimable",
        "WLZ000000203": "capped",
        "WLZ000000204": "claimable",
    }
    assert sum(ln["amount_pence"] for ln in lines) == 110000
