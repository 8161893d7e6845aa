"""Programme KPIs (rules.md §12) on the worked register of engagement_scenario.py."""

from __future__ import annotations

import pytest
from engagement_scenario import rows


def _kpis(con) -> dict:
    return {
        (r["cohort"], r["anchor_urn"]): r for r in rows(con, "SELECT * FROM marts.programme_kpis")
    }


def test_decline_and_dropout_rates_on_a_worked_register(scenario):
    k = _kpis(scenario)[("2017/18", "140102")]
    # register of cohort 2017/18 at anchor 140102 (11 children):
    #   C1-C6 approached and consented; C6 exited early (moved school, 10 Nov 2017)
    #   D1, D2 approached and declined; D3 declined with no approach date recorded
    #   A1 approached, no decision yet; I1 identified only
    assert k["children_identified"] == 11
    # approached: C1-C6, D1, D2, D3 (a decline is an approach), A1 = 10; declined 3
    assert (k["children_declined"], k["children_approached"]) == (3, 10)
    assert k["decline_rate"] == pytest.approx(0.3)
    # consented 6, exited early 1
    assert (k["children_exited_early"], k["children_supported"]) == (1, 6)
    assert k["dropout_rate"] == pytest.approx(1 / 6)


def test_per_child_measures_have_their_numerators(scenario):
    k = _kpis(scenario)[("2017/18", "140102")]
    # LW interactions while enrolled: C1 14 (13 autumn + 1 spring), C2 11, C3 11, C4 12,
    # C5 12, C6 4 (the one after the exit does not count) = 64
    assert k["lw_interactions"] == 64
    assert k["interactions_per_child"] == pytest.approx(64 / 6)
    # partner hours while enrolled: C1 6, C2 5, C5 7, C6 8 (P01); C3 1.5, C4 0.75 (P03)
    assert k["partner_hours"] == pytest.approx(28.25)
    assert k["partner_hours_per_child"] == pytest.approx(28.25 / 6)
    # sessions: attended 6 + 5 + 7 + 8 + 2 + 1 = 29; missed 4 + 3 + 4 + 0 + 0 + 1 = 12
    assert (k["support_sessions_attended"], k["support_sessions_missed"]) == (29, 12)
    assert k["support_attendance_rate"] == pytest.approx(29 / 41)
    # the other cohort and anchor is a group of its own, with no interactions: 0, not NULL
    other = _kpis(scenario)[("2016/17", "140103")]
    assert (other["children_supported"], other["lw_interactions"]) == (1, 0)
    assert other["decline_rate"] == pytest.approx(0.0)
