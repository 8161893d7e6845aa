"""engagement_weekly, engagement_term and core_commitment on the hand-built scenario
(engagement_scenario.py): the expected figures are worked out in the comments."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from engagement_scenario import C1, C2, C4, C5, C6, TUE, rows


def test_as_of_date_defaults_to_the_newest_evidence(scenario):
    # newest interaction 12 Jan 2018; newest session 29 Nov; newest mark 10 Nov
    assert scenario.execute(
        "SELECT as_of_date, as_of_mode FROM marts.engagement_settings"
    ).fetchone() == (date(2018, 1, 12), "latest_data")


def test_school_weeks_are_weeks_with_a_term_day(scenario):
    weeks = dict(
        scenario.execute(
            "SELECT week_start, school_week FROM marts.engagement_weeks "
            "WHERE week_start BETWEEN DATE '2017-08-28' AND DATE '2018-01-08'"
        ).fetchall()
    )
    school = sorted(w for w, s in weeks.items() if s)
    # the Mondays of the 12 autumn school weeks, then spring's first
    assert school == [*(TUE[n] - timedelta(days=1) for n in range(1, 13)), date(2018, 1, 8)]
    assert weeks[date(2017, 10, 23)] is False  # half-term holiday
    assert weeks[date(2017, 8, 28)] is False  # before the first term day (4 Sep)


def test_weekly_checkin_needs_a_checkin_kind_with_the_child(scenario):
    by_week = {
        r["week_start"]: r
        for r in rows(
            scenario,
            "SELECT * FROM marts.engagement_weekly WHERE wlz_id = ? AND term = 'autumn'",
            [C1],
        )
    }
    # week 5 (w/c 2 Oct): only a formal review with the parent; week 9 (w/c 6 Nov): a
    # check-in with the parent. Neither is a check-in with the child.
    week5, week9 = by_week[date(2017, 10, 2)], by_week[date(2017, 11, 6)]
    assert (week5["checkin_met"], week5["lw_interactions"], week5["lw_minutes"]) == (False, 1, 45)
    assert week5["lw_interactions_formal_review"] == 1
    assert week5["lw_interactions_with_parent_carer"] == 1
    assert (week9["checkin_met"], week9["lw_interactions_with_parent_carer"]) == (False, 1)
    week10 = by_week[date(2017, 11, 13)]  # a check-in and a formal review with the child
    assert (week10["checkin_met"], week10["checkin_interactions"], week10["lw_minutes"]) == (
        True,
        2,
        70,
    )
    # holiday weeks are rows (they add up to the term) but are not judged
    assert by_week[date(2017, 10, 23)]["school_week"] is False
    assert by_week[date(2017, 10, 23)]["checkin_met"] is None
    assert sum(r["checkin_met"] is True for r in by_week.values()) == 10
    assert sum(r["school_week"] for r in by_week.values()) == 12


def test_weekly_support_sessions_and_hours(scenario):
    r = rows(
        scenario,
        "SELECT * FROM marts.engagement_weekly WHERE wlz_id = ? AND week_start = ?",
        [C2, date(2017, 10, 2)],
    )[0]
    # w/c 2 Oct: C2 absent (A) from the 4 Oct session; a 30-minute LW-led group on 5 Oct
    assert (r["support_sessions_attended"], r["support_sessions_missed"]) == (0, 1)
    assert r["partner_hours"] == 0 and r["lw_support_hours"] == pytest.approx(0.5)
    assert r["support_hours"] == pytest.approx(0.5)
    r = rows(
        scenario,
        "SELECT * FROM marts.engagement_weekly WHERE wlz_id = ? AND week_start = ?",
        [C2, date(2017, 11, 13)],
    )[0]
    # w/c 13 Nov: the 15 Nov session ran (C1, C5 marked) but C2's cell is blank
    assert (r["support_sessions_attended"], r["support_sessions_missed"]) == (0, 0)
    assert r["support_sessions_unrecorded"] == 1


def test_weeks_count_only_while_enrolled(scenario):
    weeks = [
        w for (w,) in scenario.execute(
            "SELECT week_start FROM marts.engagement_weekly WHERE wlz_id = ? ORDER BY 1", [C6]
        ).fetchall()
    ]  # fmt: skip
    # consent Fri 1 Sep (w/c 28 Aug) to exit Fri 10 Nov (w/c 6 Nov)
    assert weeks[0] == date(2017, 8, 28) and weeks[-1] == date(2017, 11, 6)
    # the check-in of 20 Nov, after the exit, counts nowhere
    total = scenario.execute(
        "SELECT sum(lw_interactions) FROM marts.engagement_term WHERE wlz_id = ?", [C6]
    ).fetchone()[0]
    assert total == 4


def test_term_totals_add_up_the_weeks(scenario):
    t = {
        r["wlz_id"]: r
        for r in rows(scenario, "SELECT * FROM marts.engagement_term WHERE term = 'autumn'")
    }
    # C1: 10 check-ins + 2 reviews + 1 parent check-in = 13 interactions;
    # minutes 10 x 20 + 45 + 15 + 50 = 310
    assert (t[C1]["lw_interactions"], t[C1]["lw_minutes"]) == (13, 310)
    assert (t[C1]["lw_interactions_with_child"], t[C1]["lw_interactions_with_parent_carer"]) == (
        11,
        2,
    )
    assert (t[C1]["school_weeks"], t[C1]["weeks_with_checkin"]) == (12, 10)
    # C1 partner: attended 6, missed 4 -> 6 / 10; 6 x 60 min = 6 h
    assert (t[C1]["support_sessions_attended"], t[C1]["support_sessions_missed"]) == (6, 4)
    assert t[C1]["support_attendance_rate"] == pytest.approx(0.6)
    assert t[C1]["support_hours"] == pytest.approx(6.0)
    # C1 is also allocated to P02, whose template never came back
    assert (t[C1]["support_programmes_allocated"], t[C1]["support_programmes_not_returned"]) == (
        2,
        1,
    )
    # C2: attended 5, missed 3 -> 5 / 8; 5 h partner + 0.5 h group = 5.5 h
    assert t[C2]["support_attendance_rate"] == pytest.approx(5 / 8)
    assert (t[C2]["partner_hours"], t[C2]["lw_support_hours"]) == (
        pytest.approx(5.0),
        pytest.approx(0.5),
    )
    assert t[C2]["support_hours"] == pytest.approx(5.5)
    # C5: attended 7, missed 4
    assert t[C5]["support_attendance_rate"] == pytest.approx(7 / 11)


def test_no_counted_session_is_a_null_rate_not_zero(scenario):
    # C3's P03 sessions were both attended; C3 has no missed session: rate 1.0. C4 is on
    # P02 (no template) and P03 (P, A): 1 / 2. In spring nobody has a session: NULL.
    rates = dict(
        scenario.execute(
            "SELECT wlz_id, support_attendance_rate FROM marts.engagement_term "
            "WHERE term = 'spring'"
        ).fetchall()
    )
    assert rates and all(v is None for v in rates.values())


def _cc(scenario, wlz, term="autumn"):
    return rows(
        scenario,
        "SELECT * FROM marts.core_commitment WHERE wlz_id = ? AND term = ?",
        [wlz, term],
    )[0]


def test_core_commitment_all_met_at_10_of_12_weeks_and_6_hours(scenario):
    r = _cc(scenario, C1)
    assert r["term_complete"] is True
    # 10 / 12 = 0.833 >= 0.8
    assert (r["weeks_with_checkin"], r["school_weeks"], r["checkin_met"]) == (10, 12, True)
    assert r["checkin_share"] == pytest.approx(10 / 12)
    # a formal review in autumn_1 (3 Oct, with the parent) and autumn_2 (14 Nov)
    assert (r["reviews_held"], r["half_terms"], r["review_met"]) == (2, 2, True)
    # exactly 6 hours: met (a missing P02 template cannot undo hours already reached)
    assert r["support_hours"] == pytest.approx(6.0) and r["hours_met"] is True
    assert r["all_met"] is True


def test_core_commitment_not_met_at_9_of_12_weeks_one_review_and_5_5_hours(scenario):
    r = _cc(scenario, C2)
    # 9 / 12 = 0.75 < 0.8
    assert (r["weeks_with_checkin"], r["school_weeks"], r["checkin_met"]) == (9, 12, False)
    # no formal review in autumn_2
    assert (r["reviews_held"], r["half_terms"], r["review_met"]) == (1, 2, False)
    assert r["half_terms_without_review"] == 1
    # 5.5 h < 6, the term is over and every template of C2 came back: not met
    assert r["support_hours"] == pytest.approx(5.5)
    assert (r["support_programmes_not_returned"], r["hours_met"]) == (0, False)
    assert r["all_met"] is False


def test_core_commitment_is_undecided_while_the_term_runs(scenario):
    # spring, as of Fri 12 Jan: 11 school weeks in the term, one so far (with a check-in)
    r = _cc(scenario, C1, "spring")
    assert r["term_complete"] is False
    assert (r["school_weeks"], r["school_weeks_to_date"], r["weeks_with_checkin"]) == (11, 1, 1)
    assert (r["checkin_met"], r["review_met"], r["hours_met"], r["all_met"]) == (
        None,
        None,
        None,
        None,
    )


def test_hours_short_with_a_missing_template_are_unknown(scenario):
    # C4: 0.75 h from P03 (one 45-minute session attended) and P02 never returned:
    # the term is over but the hours cannot be judged
    r = _cc(scenario, C4)
    assert r["support_hours"] == pytest.approx(0.75)
    assert (r["support_programmes_not_returned"], r["hours_met"]) == (1, None)
    # check-ins in 11 of 12 weeks (met), no formal review (not met): a part not met
    # makes all_met false even with the hours unknown
    assert (r["checkin_met"], r["review_met"], r["all_met"]) == (True, False, False)


def test_exited_child_is_judged_on_its_enrolled_weeks(scenario):
    # C6 exited Fri 10 Nov: school weeks 1-7 and 8-9 = 9; check-ins weeks 1-4 = 4
    r = _cc(scenario, C6)
    assert r["term_complete"] is True
    assert (r["weeks_with_checkin"], r["school_weeks"], r["checkin_met"]) == (4, 9, False)
    # no formal review at all: 0 of 2 half-terms
    assert (r["reviews_held"], r["half_terms"], r["review_met"]) == (0, 2, False)
    # P01 sessions attended while enrolled: s1-s6, s8, s9 = 8 h
    assert r["support_hours"] == pytest.approx(8.0) and r["hours_met"] is True
