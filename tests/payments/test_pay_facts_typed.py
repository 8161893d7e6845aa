"""The ledger's facts read with typed dates and shared objects, against their plain
definitions (each row converted on its own in Python), and the rule version computed
once per configuration object."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import date, datetime

import duckdb

from tests.payments.conftest import make_config
from wlz_pipeline.payments import eligibility as el
from wlz_pipeline.payments import facts


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging")
    con.execute(
        "CREATE TABLE staging.interactions (wlz_id VARCHAR, started_at TIMESTAMP, kind VARCHAR, "
        "with_whom VARCHAR, _file_hash VARCHAR)"
    )
    con.execute(
        "CREATE TABLE staging.partner_marks (wlz_id VARCHAR, session_date DATE, attended BOOLEAN, "
        "missed BOOLEAN, planned_minutes BIGINT, _file_hash VARCHAR)"
    )
    return con


INTERACTIONS = [
    # late on one day, then earlier the same day (insertion order is not time order)
    ("WLZ1", datetime(2018, 3, 29, 23, 59, 59, 999999), "check_in", "child", "h1"),
    ("WLZ1", datetime(2018, 3, 29, 0, 0), "one_to_one", "child", "h1"),
    ("WLZ1", datetime(2018, 3, 29, 12, 0), "check_in", None, "h2"),
    ("WLZ1", datetime(2018, 3, 29, 12, 0), None, "parent", "h2"),
    ("WLZ1", datetime(2018, 3, 30, 0, 0, 0, 1), "check_in", "child", "h1"),
    ("WLZ1", datetime(2018, 3, 29, 23, 59, 59, 999999), "check_in", "child", "h1"),  # again
    ("WLZ2", datetime(2017, 12, 31, 23, 0), "formal_review", "child", "h3"),
    ("WLZ2", datetime(1999, 1, 1, 8, 30), "check_in", "child", None),
    (None, datetime(2018, 1, 1, 9, 0), "check_in", "child", "h1"),  # no child
    ("WLZ3", None, "check_in", "child", "h1"),  # no time
]

MARKS = [
    ("WLZ1", date(2018, 3, 1), True, False, 60, "p1"),
    ("WLZ1", date(2018, 3, 1), True, False, 60, "p1"),  # the same mark twice
    ("WLZ1", date(2018, 2, 1), None, None, None, "p1"),
    ("WLZ1", date(2018, 2, 1), False, True, 45, "p2"),
    ("WLZ2", date(2018, 1, 5), None, True, 30, None),
    (None, date(2018, 1, 5), True, False, 30, "p1"),
    ("WLZ2", None, True, False, 30, "p1"),
]


def plain_interactions(con):
    out = defaultdict(list)
    for wlz_id, on, kind, whom, fh in con.execute(
        """SELECT wlz_id, started_at, kind, with_whom, _file_hash FROM staging.interactions
           WHERE wlz_id IS NOT NULL AND started_at IS NOT NULL ORDER BY ALL"""
    ).fetchall():
        out[wlz_id].append(el.Interaction(on.date(), kind, whom, fh))
    return out


def plain_sessions(con):
    out = defaultdict(list)
    for wlz_id, on, attended, missed, minutes, fh in con.execute(
        """SELECT wlz_id, session_date, coalesce(attended, false), coalesce(missed, false),
                  planned_minutes, _file_hash
           FROM staging.partner_marks
           WHERE wlz_id IS NOT NULL AND session_date IS NOT NULL ORDER BY ALL"""
    ).fetchall():
        out[wlz_id].append(el.PartnerSession(on, attended, missed, minutes, fh))
    return out


def test_interactions_and_sessions_equal_their_plain_definitions():
    con = _con()
    con.executemany("INSERT INTO staging.interactions VALUES (?, ?, ?, ?, ?)", INTERACTIONS)
    con.executemany("INSERT INTO staging.partner_marks VALUES (?, ?, ?, ?, ?, ?)", MARKS)
    got = facts.interactions(con)
    assert got == plain_interactions(con)
    # hand-worked: WLZ1's five rows are on 29 March (four, in time order) and 30 March
    assert [(i.on, i.kind) for i in got["WLZ1"]] == [
        (date(2018, 3, 29), "one_to_one"),
        (date(2018, 3, 29), "check_in"),
        (date(2018, 3, 29), None),
        (date(2018, 3, 29), "check_in"),
        (date(2018, 3, 29), "check_in"),
        (date(2018, 3, 30), "check_in"),
    ]
    assert all(type(i.on) is date for rows in got.values() for i in rows)
    assert set(got) == {"WLZ1", "WLZ2"}
    sessions = facts.partner_sessions(con)
    assert sessions == plain_sessions(con)
    assert [(s.on, s.attended, s.missed) for s in sessions["WLZ1"]][:2] == [
        (date(2018, 2, 1), False, False),
        (date(2018, 2, 1), False, True),
    ]
    assert set(sessions) == {"WLZ1", "WLZ2"}


def test_equal_facts_share_one_object():
    con = _con()
    con.executemany("INSERT INTO staging.interactions VALUES (?, ?, ?, ?, ?)", INTERACTIONS)
    got = facts.interactions(con)["WLZ1"]
    assert got[3] is got[4] and got[3] == el.Interaction(
        date(2018, 3, 29), "check_in", "child", "h1"
    )


def _plain_rule_version(cfg) -> str:
    """The digest's definition: sha256 of the configuration as JSON, its amounts in
    integer pence (as they were dumped before the dump wrote pounds, so a configuration's
    rule_version has not changed), keys sorted."""
    dumped = cfg.model_dump(mode="json")
    dumped["contract"]["cap"] = cfg.contract.cap
    for card, card_model in zip(dumped["rate_cards"], cfg.rate_cards, strict=True):
        for phase, prices in card["prices"].items():
            p = card_model.prices[phase]
            prices.update(sign_up=p.sign_up, engagement_y1=p.engagement_y1)
            prices.update(engagement_y2=p.engagement_y2, outcomes=dict(p.outcomes))
    text = json.dumps(dumped, sort_keys=True, default=str)
    return f"{cfg.version}+{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def test_rule_version_is_the_digest_of_the_whole_config_and_follows_copies():
    cfg = make_config()
    assert cfg.rule_version == _plain_rule_version(cfg)
    assert cfg.rule_version == cfg.rule_version  # cached: the same on every call
    bumped = cfg.model_copy(update={"version": cfg.version + 1})
    assert bumped.rule_version == _plain_rule_version(bumped) != cfg.rule_version
    engagement = cfg.engagement.model_copy(update={"min_interactions": 99})
    changed = cfg.model_copy(update={"engagement": engagement})
    assert changed.rule_version == _plain_rule_version(changed)
    assert changed.digest != cfg.digest and changed.version == cfg.version
    assert cfg.model_copy(deep=True).rule_version == cfg.rule_version
    # the cache is not a field: it is not dumped and does not change equality
    assert "rule_version" not in cfg.model_dump() and "digest" not in cfg.model_dump()
    assert make_config() == cfg
