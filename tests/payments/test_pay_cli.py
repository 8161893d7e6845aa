"""``wlz claims submit | status | export`` on a warehouse holding a ledger built from the
test facts (sign-up 12500p per commissioner; engagement 20000p)."""

from __future__ import annotations

import csv
from datetime import date

from openpyxl import load_workbook
from typer.testing import CliRunner

from tests.payments.conftest import AS_OF, child, year1_engagement
from wlz_pipeline import warehouse
from wlz_pipeline.cli import app
from wlz_pipeline.marts.tables import write_table
from wlz_pipeline.payments.build import (
    LEDGER_TABLE,
    STATE_COLUMNS,
    STATE_TABLE,
    build_claims,
)
from wlz_pipeline.payments.ledger import LEDGER_COLUMNS, assemble, entitlements
from wlz_pipeline.payments.store import ClaimsStore

runner = CliRunner()


def _build_ledger(wh, store, cfg, calendar):
    consent = date(2016, 12, 12)
    inter, partner = year1_engagement(consent)
    kids = [
        child("WLZ000000001"),
        child("WLZ000000002", consent, interactions=inter, partner=partner),
    ]
    lines = assemble(
        entitlements(kids, cfg, calendar, AS_OF), store.frozen_lines(), store.submissions(), cfg
    )
    con = warehouse.connect(wh)
    try:
        warehouse.bootstrap(con)
        names = [c for c, _ in LEDGER_COLUMNS]
        write_table(con, LEDGER_TABLE, LEDGER_COLUMNS, [[x[c] for c in names] for x in lines])
        state = {
            "store_dir": str(store.root),
            "store_fingerprint": store.fingerprint(),
            "periods_submitted": sorted(store.submissions()),
            "rule_version": cfg.rule_version,
            "as_of": AS_OF,
            "lines": len(lines),
            "amount_pence": sum(x["amount_pence"] for x in lines),
            "cap_pence": cfg.contract.cap,
        }
        write_table(con, STATE_TABLE, STATE_COLUMNS, [[state[c] for c, _ in STATE_COLUMNS]])
        build_claims(con, cfg)
    finally:
        con.close()


def _wlz(*args):
    return runner.invoke(app, ["claims", *args], catch_exceptions=False)


def test_status_export_submit(tmp_path, cfg, calendar):
    wh = tmp_path / "wh" / "wlz.duckdb"
    claims = tmp_path / "claims"
    store = ClaimsStore(claims)
    _build_ledger(wh, store, cfg, calendar)
    opts = ["--warehouse", str(wh), "--claims-dir", str(claims)]

    # a text cell that a spreadsheet would run as a formula
    con = warehouse.connect(wh)
    con.execute(
        "UPDATE marts.payment_ledger SET reason = '=HYPERLINK(\"http://x\")' "
        "WHERE wlz_id = 'WLZ000000002' AND payment_type = 'sign_up' AND commissioner = 'council'"
    )
    con.close()

    res = _wlz("status", *opts)
    assert res.exit_code == 0, res.output
    assert "2016/17-autumn" in res.output and "open" in res.output

    out = tmp_path / "out"
    res = _wlz(
        "export",
        "--period",
        "2016/17-autumn",
        "--commissioner",
        "council",
        "--out",
        str(out),
        *opts,
    )
    assert res.exit_code == 0, res.output
    with (out / "WLZ_claim_2016-17-autumn_council.csv").open(
        encoding="utf-8-sig", newline=""
    ) as fh:
        rows = list(csv.DictReader(fh))
    lines, total = rows[:-1], rows[-1]
    # two sign-ups of 12500p for the council
    assert sorted(r["WLZ ID"] for r in lines) == ["WLZ000000001", "WLZ000000002"]
    assert [r["Amount (pence)"] for r in lines] == ["12500", "12500"]
    assert [r["Amount (GBP)"] for r in lines] == ["125.00", "125.00"]
    assert [r["Commissioner's share"] for r in lines] == ["0.25", "0.25"]
    assert total["Line ID"] == "TOTAL" and total["Amount (pence)"] == "25000"
    assert {r["Reason"] for r in lines} == {"", '\'=HYPERLINK("http://x")'}
    assert all(r["Source files"] and r["Evidence"].startswith("consent ") for r in lines)

    wb = load_workbook(out / "WLZ_claim_2016-17-autumn_council.xlsx")
    ws = wb["Claim"]
    header = [c.value for c in ws[1]]
    reason = [ws.cell(row=i, column=header.index("Reason") + 1) for i in (2, 3)]
    formula_cell = next(c for c in reason if c.value)
    assert formula_cell.value == '=HYPERLINK("http://x")'
    assert formula_cell.data_type == "s" and formula_cell.quotePrefix
    assert ws.cell(row=4, column=1).value == "TOTAL"
    assert ws.cell(row=4, column=header.index("Amount (pence)") + 1).value == 25000
    assert not any(
        c.data_type == "f" for row in ws.iter_rows() for c in row
    )  # no formulas at all, totals are values
    summary = dict(wb["Summary"].iter_rows(values_only=True))
    assert summary["Total (pence)"] == 25000
    assert summary["Reconciles to marts.payment_claims"] == "yes"

    res = _wlz("submit", "--period", "2016/17-autumn", "--yes", "--by", "tester", *opts)
    assert res.exit_code == 0, res.output
    assert (claims / "submissions" / "2016-17-autumn.json").exists()
    (sub,) = store.documents()
    assert sub["submitted_by"] == "tester"
    # 8 lines: 2 sign-ups x 4 commissioners, 100000p
    assert sub["totals"]["lines"] == 8 and sub["totals"]["amount_pence"] == 100000

    res = _wlz("submit", "--period", "2016/17-autumn", "--yes", *opts)
    assert res.exit_code == 1 and "already submitted" in res.output
    # the ledger has not been rebuilt since: it does not know the submission yet
    res = _wlz("submit", "--period", "2016/17-spring", "--yes", *opts)
    assert res.exit_code == 1 and "built before the latest submission" in res.output

    _build_ledger(wh, store, cfg, calendar)
    res = _wlz("status", *opts)
    assert res.exit_code == 0 and "submitted" in res.output
    res = _wlz("submit", "--period", "2016/17-spring", "--yes", *opts)
    assert res.exit_code == 0, res.output


def test_export_refuses_a_claim_that_does_not_reconcile(tmp_path, cfg, calendar):
    wh = tmp_path / "wh" / "wlz.duckdb"
    store = ClaimsStore(tmp_path / "claims")
    _build_ledger(wh, store, cfg, calendar)
    con = warehouse.connect(wh)
    con.execute(
        "UPDATE marts.payment_claims SET amount_pence = amount_pence + 1 "
        "WHERE claim_period = '2016/17-autumn' AND commissioner = 'schools'"
    )
    con.close()
    res = _wlz(
        "export",
        "--period",
        "2016/17-autumn",
        "--commissioner",
        "schools",
        "--out",
        str(tmp_path / "out"),
        "--warehouse",
        str(wh),
        "--claims-dir",
        str(store.root),
    )
    assert res.exit_code == 1
    assert "payment_claims says 25001" in res.output
    assert not (tmp_path / "out").exists()
