"""Through the warehouse: landing files -> staging -> ledger; submit; a corrected source
file; a rebuild of the warehouse from scratch. The submitted lines never change, and the
difference is one adjustment in the next open period.

Only the reference files are landed (no MIS extracts): the children's phase comes from
their anchor (140102 primary, 140103 secondary), which keeps the test fast."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

from tests.payments.conftest import PRIMARY, RAW_CONFIG
from wlz_pipeline import warehouse
from wlz_pipeline.ingest import ingest_all
from wlz_pipeline.models import build_all
from wlz_pipeline.payments import build
from wlz_pipeline.payments.rate_card import from_dict
from wlz_pipeline.payments.store import ClaimsStore

HEADER = (
    "wlz_id,upn,anchor_urn,cohort,identified_on,approached_on,consent_on,declined_on,"
    "lw_id,exit_on,exit_reason,target_outcomes\n"
)
ENROLMENTS = HEADER + (
    "WLZ000000001,K205200116001,140102,2017/18,2017-10-20,2017-11-01,2017-11-10,,LW01,,,\n"
    "WLZ000000003,N205200116003,140103,2017/18,2017-10-20,2017-11-02,2017-11-12,,LW02,,,\n"
)
# the register is corrected: child 3 never consented (declined on 12 Nov 2017)
CORRECTED = HEADER + (
    "WLZ000000001,K205200116001,140102,2017/18,2017-10-20,2017-11-01,2017-11-10,,LW01,,,\n"
    "WLZ000000003,N205200116003,140103,2017/18,2017-10-20,2017-11-02,,2017-11-12,LW02,,,\n"
)


def _config():
    raw = copy.deepcopy(RAW_CONFIG)
    raw["rate_cards"][0]["prices"]["secondary"] = copy.deepcopy(PRIMARY)
    return from_dict(raw)


def _build(landing: Path, wh: Path, store: ClaimsStore, cfg):
    con = warehouse.connect(wh)
    try:
        warehouse.bootstrap(con)
        ingest_all(con, landing, wh.parent / "archive", sources=("reference",))
        build_all(con, ("staging",))
        build.build_outcomes(con, cfg)
        build.build_ledger(con, store, cfg)
        build.build_claims(con, cfg)
        lines = build.read_ledger(con)
        claims = con.execute(
            "SELECT claim_period, commissioner, lines, amount_pence, submitted "
            "FROM marts.payment_claims ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    return lines, claims


def test_submit_correct_rerun_and_rebuild(landing, tmp_path):
    cfg = _config()
    shutil.rmtree(landing / "interactions")
    (landing / "reference" / "enrolments.csv").write_text(ENROLMENTS)
    wh = tmp_path / "wh" / "wlz.duckdb"
    store = ClaimsStore(tmp_path / "claims")

    lines, _ = _build(landing, wh, store, cfg)
    # two sign-ups in autumn 2017/18 (consent 10 and 12 Nov 2017), 4 x 12500p each
    assert {(x["wlz_id"], x["claim_period"], x["status"]) for x in lines} == {
        ("WLZ000000001", "2017/18-autumn", "claimable"),
        ("WLZ000000003", "2017/18-autumn", "claimable"),
    }
    assert sum(x["amount_pence"] for x in lines) == 100000
    store.submit("2017/18-autumn", lines, submitted_by="test")
    submitted = {x["line_id"]: x for x in lines}

    # the corrected register arrives; the same warehouse is updated
    (landing / "reference" / "enrolments.csv").write_text(CORRECTED)
    lines2, claims2 = _build(landing, wh, store, cfg)

    def check(result):
        frozen = [x for x in result if x["line_id"] in submitted]
        assert len(frozen) == 8
        for x in frozen:
            assert x["status"] == "submitted"
            for c in (
                "claim_period",
                "wlz_id",
                "commissioner",
                "amount_pence",
                "evidence",
                "price_pence",
                "rate_card",
                "rule_version",
            ):
                assert x[c] == submitted[x["line_id"]][c]
        adj = [x for x in result if x["line_kind"] == "adjustment"]
        # child 3's sign-up is taken back: -12500p per commissioner in spring 2017/18
        assert {(x["wlz_id"], x["claim_period"], x["amount_pence"]) for x in adj} == {
            ("WLZ000000003", "2017/18-spring", -12500)
        }
        assert len(adj) == 4
        assert {x["adjusts_line_id"] for x in adj} == {
            k for k, v in submitted.items() if v["wlz_id"] == "WLZ000000003"
        }
        # 100000 - 50000
        assert sum(x["amount_pence"] for x in result) == 50000

    check(lines2)
    assert ("2017/18-autumn", "council", 2, 25000, True) in claims2
    assert ("2017/18-spring", "council", 1, -12500, False) in claims2

    # the whole warehouse (file, archive) is rebuilt from the landing files
    shutil.rmtree(wh.parent)
    lines3, claims3 = _build(landing, wh, store, cfg)
    check(lines3)
    # same inputs, same ledger, line for line
    assert lines3 == lines2
    assert claims3 == claims2
