"""The GX suites of core_commitment and alerts, run through GX as the asset checks run
them: they pass on the scenario's tables and fail on a planted violation of each
invariant (numerator <= denominator, all_met = the three parts, one open alert per
child and type, closed_on >= opened_on)."""

from __future__ import annotations

from pathlib import Path

from engagement_scenario import C1, C2, C3, build, load_scenario

from wlz_pipeline import warehouse
from wlz_pipeline.quality.gx_duckdb import SUITES_DIR, load_suite, validate_table


def _failures(path: Path, table: str) -> dict[str, int | None]:
    """Failing expectations of ``expectations/<table>.json``: description -> rows."""
    suite = load_suite(SUITES_DIR / f"{table}.json")
    outcome = validate_table(path, f"marts.{table}", suite)
    assert all(o.error is None for o in outcome.outcomes), [o.error for o in outcome.outcomes]
    return {
        r.expectation_config.description or r.expectation_config.type: (
            r.result.get("unexpected_count", r.result.get("observed_value"))
        )
        for r in outcome.validation_result.results
        if not r.success
    }


def test_suites_pass_on_good_data_and_fail_on_planted_violations(tmp_path: Path):
    path = tmp_path / "wlz.duckdb"
    con = warehouse.connect(path)
    warehouse.bootstrap(con)
    load_scenario(con)
    build(con)
    con.close()

    assert _failures(path, "core_commitment") == {}
    assert _failures(path, "alerts") == {}

    con = warehouse.connect(path)
    # a numerator above its denominator (C1: 13 check-in weeks of 12)
    con.execute(
        "UPDATE marts.core_commitment SET weeks_with_checkin = school_weeks_to_date + 1 "
        "WHERE wlz_id = ? AND term = 'autumn'",
        [C1],
    )
    # all_met true while its parts are false (C2)
    con.execute(
        "UPDATE marts.core_commitment SET all_met = true WHERE wlz_id = ? AND term = 'autumn'",
        [C2],
    )
    # a second open alert of the same type for C1
    con.execute(
        "INSERT INTO marts.alerts SELECT md5('planted'), wlz_id, lw_id, anchor_urn, alert_type, "
        "opened_on + 1, NULL, true, NULL, conditions, evidence, as_of_date, rule_version "
        "FROM marts.alerts WHERE wlz_id = ? AND alert_type = 'partner_template_missing'",
        [C1],
    )
    # an alert closing before it opened (C3)
    con.execute(
        "UPDATE marts.alerts SET closed_on = opened_on - 1 "
        "WHERE wlz_id = ? AND alert_type = 'no_checkin'",
        [C3],
    )
    con.close()

    assert _failures(path, "core_commitment") == {
        "numerators do not exceed their denominators (check-in weeks, reviews)": 1,
        "all_met is the three parts together (NULL while one is NULL and none is false)": 1,
    }
    assert _failures(path, "alerts") == {
        "at most one open alert per child and alert type": 1,
        "alerts of the same child and type never overlap in time": 1,
        "an alert closes on or after the day it opened": 1,
    }
