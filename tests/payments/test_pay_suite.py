"""The blocking suite of the ledger (expectations/payment_ledger.json): every
invariant holds on a ledger the builder made, and planted violations make it fail."""

from __future__ import annotations

import json
from datetime import date

from tests.payments.conftest import (
    AS_OF,
    achieved,
    child,
    year1_engagement,
    year2_engagement,
)
from wlz_pipeline import warehouse
from wlz_pipeline.config import REPO_ROOT
from wlz_pipeline.marts.tables import write_table
from wlz_pipeline.payments.ledger import LEDGER_COLUMNS, assemble, entitlements

SUITE = REPO_ROOT / "expectations" / "payment_ledger.json"


def _kids():
    consent = date(2016, 11, 21)
    i1, p1 = year1_engagement(consent)
    i2, p2 = year2_engagement()
    engaged = child(
        "WLZ000000002",
        consent,
        interactions=i1 + i2,
        partner=p1 + p2,
        outcomes=achieved("emotional_wellbeing", "reading_english", "maths", "relationships"),
    )
    return [child("WLZ000000001"), engaged]


def _warehouse(tmp_path, cfg, calendar):
    lines = assemble(entitlements(_kids(), cfg, calendar, AS_OF), [], {}, cfg)
    wh = tmp_path / "wh" / "wlz.duckdb"
    con = warehouse.connect(wh)
    warehouse.bootstrap(con)
    names = [c for c, _ in LEDGER_COLUMNS]
    write_table(con, "marts.payment_ledger", LEDGER_COLUMNS, [[x[c] for c in names] for x in lines])
    return wh, con


def _queries():
    suite = json.loads(SUITE.read_text())
    return [
        (e["description"], e["kwargs"]["unexpected_rows_query"])
        for e in suite["expectations"]
        if e["type"] == "unexpected_rows_expectation"
    ]


def _failing(con):
    """Descriptions of the suite's row queries that find rows (DuckDB, without GX)."""
    out = set()
    for desc, query in _queries():
        sql = query.format(batch="marts.payment_ledger")
        if con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0]:
            out.add(desc.split(":")[0].split(" (")[0])
    return out


def _plant(con):
    # 1. one commissioner's part 1p more than the split: parts no longer add up to the price
    con.execute(
        "UPDATE marts.payment_ledger SET amount_pence = amount_pence + 1 "
        "WHERE wlz_id = 'WLZ000000001' AND commissioner = 'council'"
    )
    # 2. a fourth outcome payment for the engaged child (copy of maths as relationships)
    con.execute(
        """INSERT INTO marts.payment_ledger
           SELECT * REPLACE (line_id || 'x' AS line_id, payment_id || 'x' AS payment_id,
                             'relationships' AS outcome)
           FROM marts.payment_ledger WHERE outcome = 'maths'"""
    )
    # 3. an outcome payment for a child with no engagement payment
    con.execute(
        """INSERT INTO marts.payment_ledger
           SELECT * REPLACE (line_id || 'y' AS line_id, payment_id || 'y' AS payment_id,
                             'WLZ000000009' AS wlz_id)
           FROM marts.payment_ledger WHERE outcome = 'emotional_wellbeing'"""
    )


PLANTED = {
    "parts add up to the price",
    "each commissioner's part is within 1p of price x share",
    "at most three outcome payments per child",
    "outcome payments only for a child with an engagement payment met",
}
CAP = "total payments <= the contract cap"


def test_every_invariant_holds_on_a_built_ledger_and_planted_violations_are_found(
    tmp_path, cfg, calendar
):
    _, con = _warehouse(tmp_path, cfg, calendar)
    try:
        assert _failing(con) == set()
        _plant(con)
        assert _failing(con) == PLANTED
        # 4. a cap below the total: 50000 + 50000 + 80000 + 80000 + 150000 + 120000 +
        # 120000 = 650000p in the ledger (before the planted lines) > 100000p
        con.execute("UPDATE marts.payment_ledger SET cap_pence = 100000")
        assert _failing(con) == PLANTED | {CAP}
    finally:
        con.close()


def test_the_gx_suite_blocks_on_a_planted_violation(tmp_path, cfg, calendar):
    from wlz_pipeline.quality.gx_duckdb import load_suite, validate_table

    wh, con = _warehouse(tmp_path, cfg, calendar)
    _plant(con)
    con.close()
    outcome = validate_table(wh, "marts.payment_ledger", load_suite(SUITE))
    failed = [o for o in outcome.outcomes if not o.success]
    assert all(o.severity == "ERROR" for o in outcome.outcomes)  # every one blocks
    assert len(outcome.outcomes) == len(json.loads(SUITE.read_text())["expectations"])
    # the four planted invariants, each found by GX through DuckDB (and nothing else)
    assert len(failed) == len(PLANTED)
    assert all(o.expectation == "unexpected_rows_expectation" for o in failed)
    assert all(o.error is None and o.failing_rows for o in failed)
