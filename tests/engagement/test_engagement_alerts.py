"""Follow-up alerts (rules.md §11) on the hand-built scenario (engagement_scenario.py),
and their stability from run to run."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from engagement_scenario import C1, C2, C3, C4, C5, C6, build, load_scenario, rows

from wlz_pipeline import warehouse
from wlz_pipeline.config import DEFAULT_CONFIG_DIR


def _alerts(con, wlz=None, alert_type=None) -> list[dict]:
    return rows(
        con,
        "SELECT * FROM marts.alerts WHERE (? IS NULL OR wlz_id = ?) AND (? IS NULL OR "
        "alert_type = ?) ORDER BY wlz_id, alert_type, opened_on",
        [wlz, wlz, alert_type, alert_type],
    )


def _spans(alerts: list[dict]) -> list[tuple]:
    return [(a["opened_on"], a["closed_on"], a["close_reason"]) for a in alerts]


def test_two_consecutive_missed_sessions_open_and_attending_closes(scenario):
    alerts = _alerts(scenario, C5, "missed_partner_sessions")
    assert _spans(alerts) == [
        # A on 13 and 20 Sep: opened on the second miss; P on 27 Sep closes it
        (date(2017, 9, 20), date(2017, 9, 27), "attended"),
        # A on 11 Oct, X on 18 Oct (did not run), A on 1 Nov: still two in a row
        (date(2017, 11, 1), date(2017, 11, 8), "attended"),
    ]
    second = json.loads(alerts[1]["evidence"])
    (condition,) = second["conditions"]
    assert condition["missed_on"] == ["2017-10-11", "2017-11-01"]
    assert condition["marks"] == ["A", "A"]
    assert condition["partner_id"] == "P01" and condition["programme"] == "P01-drama"
    assert second["threshold"] == {"missed_sessions_in_a_row": 2}
    assert alerts[0]["lw_id"] == "LW01"


def test_misses_with_an_attendance_between_open_nothing(scenario):
    # C1: P E L A P P X E P (blank) P A - never two recorded misses in a row
    # C2: P A P P A P X P (blank) (blank) E (blank)
    assert _alerts(scenario, C1, "missed_partner_sessions") == []
    assert _alerts(scenario, C2, "missed_partner_sessions") == []


def test_14_term_time_days_without_a_checkin_open_an_alert(scenario):
    # C3: check-in Tue 5 Sep, next Thu 21 Sep. Term-time days 6..19 Sep are 14, so the
    # alert opens on Tue 19 Sep and the check-in of 21 Sep closes it.
    alerts = _alerts(scenario, C3, "no_checkin")
    assert _spans(alerts) == [(date(2017, 9, 19), date(2017, 9, 21), "checked_in")]
    (condition,) = json.loads(alerts[0]["evidence"])["conditions"]
    assert condition["last_checkin_on"] == "2017-09-05"
    assert condition["term_time_days_without_checkin"] == 14


def test_a_school_holiday_does_not_count_towards_the_14_days(scenario):
    # C4: Fri 13 Oct -> Thu 2 Nov is 20 calendar days but only 10 term-time days
    # (14-20 Oct and 30 Oct-1 Nov; 21-29 Oct is the half-term holiday): no alert.
    assert _alerts(scenario, C4, "no_checkin") == []
    # and neither C1 (longest gap: 14 days, the check-in on the 14th day) nor C2
    assert _alerts(scenario, C1, "no_checkin") == []
    assert _alerts(scenario, C2, "no_checkin") == []


def test_an_alert_closes_when_the_enrolment_ends(scenario):
    # C6: last check-in Tue 26 Sep; 14 term-time days later is Tue 10 Oct; exited 10 Nov
    assert _spans(_alerts(scenario, C6, "no_checkin")) == [
        (date(2017, 10, 10), date(2017, 11, 10), "enrolment_ended")
    ]


def test_school_attendance_below_90_in_the_half_term(scenario):
    # C3 in autumn_2: 8/10 = 0.80 on Fri 3 Nov (first day with 10 possible sessions),
    # 18/20 = 0.90 on Fri 10 Nov (not below 0.90)
    alerts = _alerts(scenario, C3, "low_school_attendance")
    assert _spans(alerts) == [(date(2017, 11, 3), date(2017, 11, 10), "attendance_recovered")]
    (condition,) = json.loads(alerts[0]["evidence"])["conditions"]
    assert (condition["attended_sessions"], condition["possible_sessions"]) == (8, 10)
    assert condition["attendance_rate"] == pytest.approx(0.8)
    assert condition["half_term"] == "autumn_2"


def test_missing_partner_templates_open_after_the_grace_period(scenario):
    # autumn ends Fri 1 Dec; due 15 Dec (14 days); overdue from 16 Dec.
    # P02 never returned (C1, C4); P03 returned on 20 Dec (C3, C4); P01 on time.
    c1 = _alerts(scenario, C1, "partner_template_missing")
    assert _spans(c1) == [(date(2017, 12, 16), None, None)]
    assert c1[0]["is_open"] is True
    c3 = _alerts(scenario, C3, "partner_template_missing")
    assert _spans(c3) == [(date(2017, 12, 16), date(2017, 12, 20), "template_returned")]
    # C4: both programmes overdue from the same day -> one alert with two conditions
    c4 = _alerts(scenario, C4, "partner_template_missing")
    assert _spans(c4) == [(date(2017, 12, 16), None, None)]
    assert c4[0]["conditions"] == 2
    programmes = [c["programme"] for c in json.loads(c4[0]["evidence"])["conditions"]]
    assert sorted(programmes) == ["P02-football", "P03-art"]
    assert _alerts(scenario, C2, "partner_template_missing") == []


def test_every_alert_of_the_scenario_and_nothing_else(scenario):
    got = {(a["wlz_id"], a["alert_type"], a["opened_on"]) for a in _alerts(scenario)}
    assert got == {
        (C1, "partner_template_missing", date(2017, 12, 16)),
        (C3, "no_checkin", date(2017, 9, 19)),
        (C3, "low_school_attendance", date(2017, 11, 3)),
        (C3, "partner_template_missing", date(2017, 12, 16)),
        (C4, "partner_template_missing", date(2017, 12, 16)),
        (C5, "missed_partner_sessions", date(2017, 9, 20)),
        (C5, "missed_partner_sessions", date(2017, 11, 1)),
        (C6, "no_checkin", date(2017, 10, 10)),
    }
    a = _alerts(scenario, C3, "no_checkin")[0]
    expected = hashlib.md5(f"no_checkin|{C3}|2017-09-19".encode()).hexdigest()
    assert a["alert_id"] == expected
    # evidence never carries the child's identifiers
    for alert in _alerts(scenario):
        assert "WLZ" not in alert["evidence"] and "A0000" not in alert["evidence"]


@pytest.fixture
def config_with_as_of(tmp_path, monkeypatch):
    """A copy of config/ whose engagement.yaml fixes the as-of date."""

    def make(as_of: str) -> None:
        cfg = tmp_path / "config"
        if cfg.exists():
            shutil.rmtree(cfg)
        shutil.copytree(DEFAULT_CONFIG_DIR, cfg)
        text = (cfg / "engagement.yaml").read_text(encoding="utf-8")
        assert "as_of_date: latest_data" in text
        (cfg / "engagement.yaml").write_text(
            text.replace("as_of_date: latest_data", f"as_of_date: {as_of}"), encoding="utf-8"
        )
        monkeypatch.setenv("WLZ_CONFIG_DIR", str(cfg))

    return make


def test_an_alert_keeps_its_id_from_run_to_run(tmp_path: Path, config_with_as_of):
    con = warehouse.connect(tmp_path / "wh" / "wlz.duckdb")
    warehouse.bootstrap(con)
    load_scenario(con)

    def run(as_of: str) -> dict:
        config_with_as_of(as_of)
        build(con)
        assert con.execute("SELECT as_of_date FROM marts.engagement_settings").fetchone()[0] == (
            date.fromisoformat(as_of)
        )
        return {(a["wlz_id"], a["alert_type"], a["opened_on"]): a for a in _alerts(con)}

    # On Sun 5 Nov: C5's second alert (opened 1 Nov) and C6's (opened 10 Oct) are open;
    # C3's attendance alert opened on 3 Nov; nothing after 5 Nov exists yet.
    early = run("2017-11-05")
    c5 = early[(C5, "missed_partner_sessions", date(2017, 11, 1))]
    c6 = early[(C6, "no_checkin", date(2017, 10, 10))]
    assert (c5["is_open"], c5["closed_on"], c6["is_open"]) == (True, None, True)
    assert early[(C3, "low_school_attendance", date(2017, 11, 3))]["is_open"] is True
    assert not any(k[2] > date(2017, 11, 5) for k in early)
    # the next day's run: the same alerts, same ids
    nxt = run("2017-11-06")
    assert {k: a["alert_id"] for k, a in nxt.items()} == {
        k: a["alert_id"] for k, a in early.items()
    }
    # later, when they have closed, they are still the same alerts
    late = run("2018-01-12")
    for key, alert in early.items():
        assert late[key]["alert_id"] == alert["alert_id"]
    assert late[(C5, "missed_partner_sessions", date(2017, 11, 1))]["closed_on"] == date(
        2017, 11, 8
    )
    con.close()


@pytest.mark.parametrize("returned", ["P03", "P02"])
def test_conditions_clearing_on_the_same_day_close_with_the_enrolment_ending(tmp_path, returned):
    # C4's two templates (P02, P03) are overdue from 16 Dec (test above). If C4 leaves on
    # 20 Dec, the day one of them comes back, that one's condition clears as
    # template_returned and the other's as enrolment_ended, both on 20 Dec. The alert
    # closes that day as enrolment_ended, whichever programme's template came back.
    con = warehouse.connect(tmp_path / "wlz.duckdb")
    warehouse.bootstrap(con)
    load_scenario(con)
    con.execute("UPDATE staging.enrolments SET exit_on = DATE '2017-12-20' WHERE wlz_id = ?", [C4])
    if returned == "P02":  # the 20 Dec template is P02's instead of P03's
        con.execute(
            "UPDATE meta.file_registry SET period = 'P02|P02-football|2017/18|autumn' "
            "WHERE period = 'P03|P03-art|2017/18|autumn'"
        )
    build(con)
    alerts = _alerts(con, C4, "partner_template_missing")
    assert _spans(alerts) == [(date(2017, 12, 16), date(2017, 12, 20), "enrolment_ended")]
    assert alerts[0]["conditions"] == 2
    con.close()
