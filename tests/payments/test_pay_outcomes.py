"""Outcome status per child (rules.md §14), by hand: the rule, and the mart built from a
hand-made marts.risk_factors (the long form of the risk profile)."""

from __future__ import annotations

import pytest

from tests.payments.conftest import make_config
from wlz_pipeline import warehouse
from wlz_pipeline.payments.build import build_outcomes
from wlz_pipeline.payments.outcomes import Reading, evaluate

SDQ = make_config().measure("emotional_wellbeing", "primary")  # lower is better, min 3
ATTENDANCE = make_config().measure("school_attendance", "primary")  # higher, min 0.02
READING = make_config().measure("reading_english", "primary")  # higher, min 5


def r(factor, at_risk, value, scale=None):
    return Reading(factor, at_risk, value, scale)


@pytest.mark.parametrize(
    ("measure", "base", "end", "status", "why"),
    [
        # not at risk at the start: success is not counted
        (
            SDQ,
            r("sdq_total", False, 10, None),
            r("sdq_total", False, 4),
            "not_eligible",
            "not at risk",
        ),
        (
            SDQ,
            r("sdq_total", None, None),
            r("sdq_total", False, 4),
            "not_eligible",
            "baseline unknown",
        ),
        (SDQ, None, r("sdq_total", False, 4), "not_eligible", "baseline unknown"),
        (None, r("sdq_total", True, 20), r("sdq_total", False, 4), "not_eligible", "no measure"),
        # at risk, endpoint missing
        (SDQ, r("sdq_total", True, 20), None, "no_evidence", "endpoint missing"),
        (SDQ, r("sdq_total", True, 20), r("sdq_total", None, None), "no_evidence", "endpoint"),
        # no longer at risk
        (SDQ, r("sdq_total", True, 20), r("sdq_total", False, 19), "achieved", "no longer"),
        # still at risk: 20 -> 17 is 3 points lower (lower is better): achieved
        (SDQ, r("sdq_total", True, 20), r("sdq_total", True, 17), "achieved", "improved by 3"),
        # 20 -> 18 is only 2 points: not achieved
        (SDQ, r("sdq_total", True, 20), r("sdq_total", True, 18), "not_achieved", "2 < 3"),
        # 20 -> 23 is worse
        (SDQ, r("sdq_total", True, 20), r("sdq_total", True, 23), "not_achieved", "-3 < 3"),
        # attendance 0.93 -> 0.95 = 2 percentage points (exactly the minimum; in binary
        # floating point 0.95 - 0.93 is 0.0199999...)
        (
            ATTENDANCE,
            r("attendance_below_96", True, 0.93),
            r("attendance_below_96", True, 0.95),
            "achieved",
            "0.02 >= 0.02",
        ),
        (
            ATTENDANCE,
            r("attendance_below_96", True, 0.93),
            r("attendance_below_96", True, 0.949),
            "not_achieved",
            "0.019 < 0.02",
        ),
        # standardised 70 -> 75: +5 points, achieved; a GCSE grade is another scale: only
        # "no longer at risk" counts
        (
            READING,
            r("attainment_reading", True, 70, "standardised"),
            r("attainment_reading", True, 75, "standardised"),
            "achieved",
            "5 >= 5",
        ),
        (
            READING,
            r("attainment_reading", True, 70, "standardised"),
            r("attainment_reading", True, 3, "gcse"),
            "not_achieved",
            "not measurable",
        ),
    ],
)
def test_outcome_status(measure, base, end, status, why):
    result = evaluate(measure, base, end)
    assert result.status == status
    assert why in result.reason


RISK_FACTORS = """
CREATE TABLE marts.risk_factors (
    anchor_urn VARCHAR, upn VARCHAR, academic_year VARCHAR, wave VARCHAR, factor VARCHAR,
    kind VARCHAR, at_risk BOOLEAN, value_number DOUBLE, value_text VARCHAR,
    threshold DOUBLE, evidence VARCHAR)
"""


def test_outcomes_mart_from_the_risk_factors(tmp_path):
    con = warehouse.connect(tmp_path / "wh" / "wlz.duckdb")
    warehouse.bootstrap(con)
    con.execute(
        """CREATE TABLE staging.enrolments AS SELECT * FROM (VALUES
           ('WLZ000000001', 'A00000000001', '140102', '2016/17', DATE '2016-11-21',
            NULL::DATE, NULL::VARCHAR, []::VARCHAR[], 'hash-enrol', 1)) AS t(
           wlz_id, upn, anchor_urn, cohort, consent_on, exit_on, exit_reason,
           target_outcomes, _file_hash, _row_number)"""
    )
    con.execute("""CREATE TABLE staging.anchors AS SELECT '140102' AS urn, 'primary' AS phase""")
    con.execute(RISK_FACTORS)
    rows = [
        # reading: standardised 70 at baseline (at risk) -> 76 at the endpoint (still at
        # risk): +6 >= 5, achieved
        (
            "autumn",
            "2016/17",
            "attainment_reading",
            True,
            2.3,
            "70",
            "standardised 70 -> national percentile 2.3 < 20: at risk "
            "(standardised, assessed 2016-10-14)",
        ),
        (
            "summer",
            "2017/18",
            "attainment_reading",
            True,
            5.5,
            "76",
            "standardised 76 -> national percentile 5.5 < 20: at risk "
            "(standardised, assessed 2018-06-22)",
        ),
        # SDQ total 18 at risk -> 17 still at risk: 1 point, not achieved
        ("autumn", "2016/17", "sdq_total", True, 18.0, "18", "self response"),
        ("summer", "2017/18", "sdq_total", True, 17.0, "17", "self response"),
        # attendance not at risk at baseline
        ("autumn", "2016/17", "attendance_below_96", False, 0.97, "0.97", "year"),
        # peer problems at risk, no endpoint
        ("autumn", "2016/17", "sdq_peer", True, 4.0, "4", "self response"),
    ]
    for wave, ay, factor, at_risk, num, text, ev in rows:
        con.execute(
            "INSERT INTO marts.risk_factors VALUES ('140102', 'A00000000001', ?, ?, ?, "
            "'outcome', ?, ?, ?, NULL, ?)",
            [ay, wave, factor, at_risk, num, text, ev],
        )
    # the same child on another anchor's register that year (not at risk there): the
    # enrolling anchor's row is the one used
    con.execute(
        "INSERT INTO marts.risk_factors VALUES ('140199', 'A00000000001', '2016/17', 'autumn', "
        "'sdq_total', 'outcome', false, 9, '9', NULL, 'teacher response')"
    )
    result = build_outcomes(con, make_config())
    assert result["rows"] == 7
    got = {
        o: (s, b, e, c)
        for o, s, b, e, c in con.execute(
            "SELECT outcome, status, baseline_value, end_value, change FROM marts.outcomes"
        ).fetchall()
    }
    con.close()
    assert got["reading_english"] == ("achieved", 70.0, 76.0, 6.0)
    assert got["emotional_wellbeing"] == ("not_achieved", 18.0, 17.0, -1.0)
    assert got["school_attendance"][0] == "not_eligible"
    assert got["relationships"][0] == "no_evidence"
    assert got["maths"][0] == "not_eligible"  # no baseline reading: unknown, not eligible
