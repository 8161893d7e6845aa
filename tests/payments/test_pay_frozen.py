"""Frozen claims: submitted lines never change; differences become adjustments in the
next open period, once (rules.md §15). Amounts from the test rate card: sign-up £500.00
and engagement £800.00, each shared 0.25 x 4 (12500p and 20000p per commissioner)."""

from __future__ import annotations

import json
import os
from datetime import date

import pytest

from tests.payments.conftest import AS_OF, child, make_config, year1_engagement
from wlz_pipeline.payments.ledger import FROZEN_COLUMNS, assemble, entitlements
from wlz_pipeline.payments.store import ClaimsStore, StoreError


def run(kids, cfg, calendar, store):
    ents = entitlements(kids, cfg, calendar, AS_OF)
    return assemble(ents, store.frozen_lines(), store.submissions(), cfg)


def submit(store, lines, period):
    store.submit(period, [x for x in lines if x["claim_period"] == period], submitted_by="test")


def kids_with(engaged: bool):
    consent = date(2016, 12, 12)
    inter, partner = year1_engagement(consent)
    return [
        child("WLZ000000001"),
        child(
            "WLZ000000002",
            consent,
            interactions=inter if engaged else inter[:9],  # 9 < 10: no longer engaged
            partner=partner,
        ),
    ]


def frozen_view(line):
    return {c: line[c] for c in FROZEN_COLUMNS if c not in ("submission_id", "submitted_at")}


def test_submitted_line_never_changes_and_a_correction_becomes_one_adjustment(
    cfg, calendar, tmp_path
):
    store = ClaimsStore(tmp_path / "claims")
    first = run(kids_with(engaged=True), cfg, calendar, store)
    submit(store, first, "2016/17-autumn")  # two sign-ups
    submit(store, first, "2016/17-spring")  # child 2's year-1 engagement
    spring = {x["line_id"]: x for x in first if x["claim_period"] == "2016/17-spring"}
    assert len(spring) == 4

    # a correction in the source: child 2 had only 9 interactions
    second = run(kids_with(engaged=False), cfg, calendar, store)
    for line in second:
        if line["line_id"] in spring:
            assert line["status"] == "submitted"
            assert frozen_view(line) == frozen_view(spring[line["line_id"]])
    adjustments = [x for x in second if x["line_kind"] == "adjustment"]
    # -20000p per commissioner, in the next open period (summer 2016/17), each
    # referencing the submitted line of the same commissioner
    assert {(x["claim_period"], x["commissioner"], x["amount_pence"]) for x in adjustments} == {
        ("2016/17-summer", c, -20000)
        for c in ("council", "schools", "philanthropy", "outcomes_fund")
    }
    assert {x["adjusts_line_id"] for x in adjustments} == set(spring)
    assert all(x["status"] == "adjustment" for x in adjustments)
    # 50000 + 50000 + 80000 - 80000
    assert sum(x["amount_pence"] for x in second) == 100000
    ev = json.loads(adjustments[0]["evidence"])
    assert ev["adjustment"]["frozen_pence"] == 20000 and ev["adjustment"]["due_pence"] == 0
    assert "9 interactions < 10" in ev["conditions"]["why_not"]

    # rerun with the same data: the same adjustment, not a second one
    assert run(kids_with(engaged=False), cfg, calendar, store) == second

    # the adjustment's period is submitted: it is frozen too, and nothing new appears
    submit(store, second, "2016/17-summer")
    third = run(kids_with(engaged=False), cfg, calendar, store)
    assert [x for x in third if not x["submitted"]] == []
    assert sum(x["amount_pence"] for x in third) == 100000

    # the correction is itself corrected: +20000p per commissioner in the next open
    # period after the original (spring and summer 2016/17 are submitted: autumn 2017/18)
    fourth = run(kids_with(engaged=True), cfg, calendar, store)
    new = [x for x in fourth if not x["submitted"]]
    assert {(x["claim_period"], x["amount_pence"], x["adjusts_line_id"]) for x in new} == {
        ("2017/18-autumn", 20000, x) for x in spring
    }
    assert sum(x["amount_pence"] for x in fourth) == 180000


def test_a_late_entitlement_goes_into_the_next_open_period(cfg, calendar, tmp_path):
    store = ClaimsStore(tmp_path / "claims")
    first = run([child("WLZ000000001")], cfg, calendar, store)
    submit(store, first, "2016/17-autumn")
    # child 3's register row arrives after autumn 2016/17 was submitted
    second = run([child("WLZ000000001"), child("WLZ000000003")], cfg, calendar, store)
    late = [x for x in second if x["wlz_id"] == "WLZ000000003"]
    assert {(x["claim_period"], x["line_kind"], x["amount_pence"]) for x in late} == {
        ("2016/17-spring", "adjustment", 12500)
    }
    assert all(x["adjusts_line_id"] is None for x in late)
    assert "late entitlement" in late[0]["reason"]


def test_a_payment_capped_at_submission_is_paid_when_the_cap_allows(calendar, tmp_path):
    # cap £500.00 = 50000p: the first sign-up fits, the second is capped (0p) and frozen
    store = ClaimsStore(tmp_path / "claims")
    tight = make_config(**{"contract.cap": "500.00"})
    kids = [child("WLZ000000001"), child("WLZ000000002")]
    first = run(kids, tight, calendar, store)
    assert {x["wlz_id"]: x["status"] for x in first} == {
        "WLZ000000001": "claimable",
        "WLZ000000002": "capped",
    }
    submit(store, first, "2016/17-autumn")
    # still capped: no new line for it in every later period
    assert [x for x in run(kids, tight, calendar, store) if not x["submitted"]] == []
    # the cap is raised to £1,000.00: the capped payment is now due, as an adjustment
    wide = make_config(**{"contract.cap": "1000.00"})
    later = [x for x in run(kids, wide, calendar, store) if not x["submitted"]]
    assert {(x["wlz_id"], x["claim_period"], x["amount_pence"]) for x in later} == {
        ("WLZ000000002", "2016/17-spring", 12500)
    }
    assert "capped when submitted" in later[0]["reason"]


def test_a_period_is_submitted_once_and_a_changed_file_is_refused(cfg, calendar, tmp_path):
    store = ClaimsStore(tmp_path / "claims")
    lines = run([child("WLZ000000001")], cfg, calendar, store)
    submit(store, lines, "2016/17-autumn")
    with pytest.raises(StoreError, match="already submitted"):
        submit(store, lines, "2016/17-autumn")
    with pytest.raises(StoreError, match="cannot go into"):
        store.submit("2016/17-spring", lines)
    path = store.submissions_dir / "2016-17-autumn.json"
    doc = json.loads(path.read_text())
    assert doc["totals"]["amount_pence"] == 50000
    doc["lines"][0]["amount_pence"] = 99999
    os.chmod(path, 0o644)
    path.write_text(json.dumps(doc))
    with pytest.raises(StoreError, match="changed after submission"):
        store.frozen_lines()
