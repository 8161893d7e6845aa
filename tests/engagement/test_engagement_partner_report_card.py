"""The partner report card (rules.md §12) on the hand-built scenario
(engagement_scenario.py); every figure is worked out by hand below."""

from __future__ import annotations

import math
from datetime import date

import pytest
from engagement_scenario import rows


def _card(con, programme: str) -> dict:
    return rows(con, "SELECT * FROM marts.partner_report_card WHERE programme = ?", [programme])[0]


def test_outcome_lower_is_better_effect_size_and_percent_improved(scenario):
    card = _card(scenario, "P01-drama")
    # Worries checklist (lower is better), children with pre and post:
    #   C1 20 -> 14 (-6, improved), C2 16 -> 17 (+1, not), C5 12 -> 9 (-3, improved);
    #   C6 has a pre score only (18): counted in outcome_pre_n, not in n.
    assert card["outcome_measure"] == "Worries checklist"
    assert card["higher_is_better"] is False
    assert (card["outcome_pre_n"], card["outcome_n"]) == (4, 3)
    # mean change (-6 + 1 - 3) / 3 = -8/3
    assert card["mean_change"] == pytest.approx(-8 / 3)
    assert (card["mean_pre"], card["mean_post"]) == (pytest.approx(16.0), pytest.approx(40 / 3))
    # 2 of 3 improved (direction-aware)
    assert (card["improved_n"], card["improved_rate"]) == (2, pytest.approx(2 / 3))
    # sample sd of pre (20, 16, 12): sqrt((16 + 0 + 16) / 2) = 4; effect size -8/3 / 4
    assert card["sd_pre"] == pytest.approx(4.0)
    assert card["effect_size"] == pytest.approx(-2 / 3)
    assert card["improvement_effect_size"] == pytest.approx(2 / 3)


def test_outcome_higher_is_better(scenario):
    card = _card(scenario, "P03-art")
    # Art confidence (higher is better): C3 10 -> 13 (+3, improved), C4 14 -> 14 (not)
    assert card["higher_is_better"] is True
    assert (card["outcome_n"], card["improved_n"]) == (2, 1)
    assert card["improved_rate"] == pytest.approx(0.5)
    assert card["mean_change"] == pytest.approx(1.5)
    # sd of (10, 14) = sqrt((4 + 4) / 1) = 2.828...; 1.5 / 2.828 = 0.530
    assert card["sd_pre"] == pytest.approx(math.sqrt(8))
    assert card["effect_size"] == pytest.approx(1.5 / math.sqrt(8))
    assert card["improvement_effect_size"] == pytest.approx(card["effect_size"])


def test_reach_support_participation_satisfaction(scenario):
    card = _card(scenario, "P01-drama")
    # allocated C1, C2, C5, C6; all attended at least once; the last 3 sessions that ran
    # are 15, 22 and 29 Nov (18 Oct did not run): C1 (P on 22 Nov) and C5 attended one
    assert (card["children_allocated"], card["children_started"], card["children_retained"]) == (
        4,
        4,
        2,
    )
    assert card["retained_rate"] == pytest.approx(0.5)
    # 12 sessions on the template, 11 ran, 1 did not (X for everybody)
    assert (card["sessions_planned"], card["sessions_run"], card["sessions_not_run"]) == (12, 11, 1)
    # child-hours: C1 6 + C2 5 + C5 7 + C6 8 = 26 (60-minute sessions); per child 26 / 4
    assert card["child_hours"] == pytest.approx(26.0)
    assert card["hours_per_child"] == pytest.approx(6.5)
    # attended 26, missed C1 4 + C2 3 + C5 4 + C6 0 = 11
    assert (card["child_sessions_attended"], card["child_sessions_missed"]) == (26, 11)
    assert card["attendance_rate"] == pytest.approx(26 / 37)
    # ratings on attended sessions: C1 6 x 4, C2 5 x 3, C6 8 x 5 (C5 none): 79 / 19
    assert card["engagement_ratings"] == 19
    assert card["mean_engagement"] == pytest.approx(79 / 19)
    # feedback: enjoyment 5, 3, 4; usefulness 4, -, 4; would recommend 5, 2, 4
    assert (card["feedback_n"], card["enjoyment_n"], card["usefulness_n"]) == (3, 3, 2)
    assert card["mean_enjoyment"] == pytest.approx(4.0)
    assert card["mean_usefulness"] == pytest.approx(4.0)
    assert card["mean_would_recommend"] == pytest.approx(11 / 3)


def test_data_completeness_and_dosage(scenario):
    card = _card(scenario, "P01-drama")
    # cells of sessions that ran while the child was enrolled: C1, C2, C5 11 each; C6
    # (exited 10 Nov) 8 = 41. Blank among them: C1 1, C2 3 -> recorded 37.
    assert (card["marks_expected"], card["marks_recorded"]) == (41, 37)
    assert card["marks_recorded_rate"] == pytest.approx(37 / 41)
    assert (card["template_returned"], card["returns_missing"]) == (True, 0)
    # dosage (hours attended; bands <6, 6-12, >=12) of children with pre and post:
    #   C2 5 h (low, not improved), C1 6 h (medium, improved), C5 7 h (medium, improved)
    assert (card["dosage_low_n"], card["dosage_low_improved_n"]) == (1, 0)
    assert card["dosage_low_improvement_rate"] == pytest.approx(0.0)
    assert (card["dosage_medium_n"], card["dosage_medium_improved_n"]) == (2, 2)
    assert card["dosage_medium_improvement_rate"] == pytest.approx(1.0)
    assert (card["dosage_high_n"], card["dosage_high_improvement_rate"]) == (0, None)


def test_a_template_not_returned_is_missing_not_zero(scenario):
    card = _card(scenario, "P02-football")
    assert (card["template_returned"], card["return_status"], card["returns_missing"]) == (
        False,
        "overdue",
        1,
    )
    assert card["due_on"] == date(2017, 12, 15)
    assert card["children_allocated"] == 2
    for measure in (
        "children_started",
        "sessions_run",
        "child_hours",
        "attendance_rate",
        "outcome_n",
        "marks_expected",
        "marks_recorded_rate",
        "dosage_low_n",
    ):
        assert card[measure] is None, measure
    late = _card(scenario, "P03-art")
    assert (late["template_returned"], late["returned_on"]) == (True, date(2017, 12, 20))
