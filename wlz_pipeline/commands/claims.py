"""``wlz claims``: submit a claim period (freeze it), show where claims stand, and export a
commissioner's claim (.xlsx and .csv)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

claims_app = typer.Typer(
    help="Outcome-payment claims: submit a period, show their status, export a claim.",
    no_args_is_help=True,
)

WarehouseOpt = Annotated[
    Path | None, typer.Option("--warehouse", envvar="WLZ_WAREHOUSE", help="Restricted warehouse.")
]
ClaimsDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--claims-dir",
        envvar="WLZ_CLAIMS_DIR",
        help="Frozen-claims store (default: claims/ beside the warehouse folder).",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(claims_app, name="claims")


def _open(warehouse: Path | None):  # noqa: ANN202
    import duckdb

    from wlz_pipeline import settings
    from wlz_pipeline import warehouse as wh

    path = settings.warehouse_path(warehouse)
    if not path.exists():
        raise typer.BadParameter(
            f"no warehouse at {path}: run `wlz run` first", param_hint="--warehouse"
        )
    try:
        return wh.connect(path, read_only=True), path
    except duckdb.IOException as exc:
        _fail(
            f"cannot open the warehouse {path} ({exc}). A pipeline run may be writing it: "
            "try again when it has finished."
        )


def _fail(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"[red]{message}[/red]")
    raise typer.Exit(1)


def _period(text: str) -> str:
    from wlz_pipeline.payments.periods import Period

    try:
        return str(Period.parse(text))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from exc


@claims_app.command()
def submit(
    period: Annotated[str, typer.Option(help="Claim period, e.g. 2017/18-spring.")],
    warehouse: WarehouseOpt = None,
    claims_dir: ClaimsDirOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    submitted_by: Annotated[
        str | None, typer.Option("--by", help="Who submits (default: the user name).")
    ] = None,
) -> None:
    """Freeze PERIOD: record its ledger lines in the claims store. They never change again;
    later differences become adjustments in the next open period."""
    from rich.console import Console

    from wlz_pipeline.payments import store as st
    from wlz_pipeline.payments.build import ledger_state, read_ledger
    from wlz_pipeline.payments.facts import table_exists
    from wlz_pipeline.payments.ledger import pounds
    from wlz_pipeline.payments.periods import period_key

    period = _period(period)
    console = Console(highlight=False)
    store = st.ClaimsStore(st.claims_dir(claims_dir, warehouse))
    try:
        submissions = store.submissions()
        fingerprint = store.fingerprint()
    except st.StoreError as exc:
        _fail(str(exc))
    if period in submissions:
        _fail(
            f"{period} was already submitted ({submissions[period].submission_id}); "
            "a submitted claim never changes"
        )
    con, wh_path = _open(warehouse)
    try:
        if not table_exists(con, "marts.payment_ledger"):
            _fail("the warehouse has no payment ledger yet: run `wlz run` first")
        state = ledger_state(con)
        lines = read_ledger(con, "WHERE claim_period = ?", [period])
        open_periods = [
            p
            for (p,) in con.execute(
                "SELECT DISTINCT claim_period FROM marts.payment_ledger WHERE NOT submitted"
            ).fetchall()
        ]
    finally:
        con.close()
    if state is None or state["store_fingerprint"] != fingerprint:
        _fail(
            "the ledger in the warehouse was built before the latest submission (or with "
            f"another claims store than {store.root}): run `wlz run` and review the claim again"
        )
    if not lines:
        _fail(f"the ledger has no lines in {period}: nothing to submit")
    if any(x["submitted"] for x in lines):
        _fail(f"the ledger already shows {period} as submitted: run `wlz run`")
    earlier = sorted(
        (p for p in open_periods if period_key(p) < period_key(period)), key=period_key
    )
    if earlier:
        console.print(f"[yellow]note: earlier periods still open: {', '.join(earlier)}[/yellow]")
    console.print(_period_table(lines, f"Claim {period}"))
    total = sum(int(x["amount_pence"]) for x in lines)
    if not yes and not typer.confirm(
        f"Submit {period}? Its {len(lines)} lines will be frozen for good", default=False
    ):
        raise typer.Exit(1)
    try:
        sub = store.submit(
            period,
            lines,
            submitted_by=submitted_by,
            context={
                "warehouse": str(wh_path),
                "rule_version": state["rule_version"],
                "as_of": None if state["as_of"] is None else str(state["as_of"]),
            },
        )
    except st.StoreError as exc:
        _fail(str(exc))
    console.print(
        f"submitted {period}: {len(lines)} lines, {pounds(total)} "
        f"({sub.submission_id}, in {store.submissions_dir})\n"
        "Run `wlz run` to see them as submitted in the ledger."
    )


def _period_table(lines, title: str):  # noqa: ANN001, ANN202
    from rich.table import Table

    from wlz_pipeline.payments.ledger import pounds

    t = Table(title=title)
    for c in ("commissioner", "lines", "claimable", "adjustment", "capped", "submitted", "amount"):
        t.add_column(c, justify="left" if c == "commissioner" else "right")
    per: dict[str, dict[str, int]] = {}
    for x in lines:
        row = per.setdefault(x["commissioner"], {"lines": 0, "amount": 0})
        row["lines"] += 1
        row[x["status"]] = row.get(x["status"], 0) + 1
        row["amount"] += int(x["amount_pence"])
    for c, row in per.items():
        t.add_row(
            c,
            str(row["lines"]),
            *(str(row.get(s, 0)) for s in ("claimable", "adjustment", "capped", "submitted")),
            pounds(row["amount"]),
        )
    t.add_row(
        "total", str(len(lines)), "", "", "", "", pounds(sum(int(x["amount_pence"]) for x in lines))
    )
    return t


@claims_app.command()
def status(warehouse: WarehouseOpt = None, claims_dir: ClaimsDirOpt = None) -> None:
    """Claim periods and their totals: submitted (from the claims store) and open (from
    the ledger in the warehouse)."""
    from rich.console import Console
    from rich.table import Table

    from wlz_pipeline import settings
    from wlz_pipeline.payments import store as st
    from wlz_pipeline.payments.build import ledger_state
    from wlz_pipeline.payments.facts import table_exists
    from wlz_pipeline.payments.ledger import pounds
    from wlz_pipeline.payments.periods import period_key

    console = Console(highlight=False)
    store = st.ClaimsStore(st.claims_dir(claims_dir, warehouse))
    try:
        docs = {d["claim_period"]: d for d in store.documents()}
        fingerprint = store.fingerprint()
    except st.StoreError as exc:
        _fail(str(exc))
    console.print(f"claims store: {store.root} ({len(docs)} periods submitted)")
    rows: dict[str, dict] = {}
    for p, d in docs.items():
        rows[p] = {
            "status": "submitted",
            "lines": d["totals"]["lines"],
            "by": d["totals"]["by_commissioner_pence"],
            "amount": d["totals"]["amount_pence"],
            "when": f"{d['submitted_at']} by {d['submitted_by']}",
        }
    state = None
    cap = None
    wh_path = settings.warehouse_path(warehouse)
    if wh_path.exists():
        con, _ = _open(warehouse)
        try:
            if table_exists(con, "marts.payment_ledger"):
                state = ledger_state(con)
                for p, c, n, amount, submitted in con.execute(
                    """SELECT claim_period, commissioner, count(*), sum(amount_pence),
                              bool_and(submitted)
                       FROM marts.payment_ledger GROUP BY ALL ORDER BY ALL"""
                ).fetchall():
                    if p in docs:
                        continue
                    r = rows.setdefault(
                        p, {"status": "open", "lines": 0, "by": {}, "amount": 0, "when": ""}
                    )
                    if submitted:
                        r["status"] = "submitted (not in this store!)"
                    r["lines"] += n
                    r["by"][c] = int(amount)
                    r["amount"] += int(amount)
        finally:
            con.close()
    else:
        console.print(f"[yellow]no warehouse at {wh_path}: showing submitted periods only[/yellow]")
    if state is not None:
        cap = state["cap_pence"]
        if state["store_fingerprint"] != fingerprint:
            console.print(
                "[yellow]the ledger was built before the latest submission: run `wlz run`[/yellow]"
            )
    from wlz_pipeline.payments.rate_card import load

    order = load().contract.commissioners
    found = {c for r in rows.values() for c in r["by"]}
    commissioners = [c for c in order if c in found] + sorted(found - set(order))
    t = Table(title="Claim periods")
    for c in ("period", "status", "lines", "amount", "submitted"):
        t.add_column(c, justify="right" if c in ("lines", "amount") else "left")
    by = Table(title="By commissioner")
    for c in ("period", "commissioner", "amount"):
        by.add_column(c, justify="right" if c == "amount" else "left")
    grand = 0
    for p in sorted(rows, key=period_key):
        r = rows[p]
        grand += r["amount"]
        t.add_row(p, r["status"], str(r["lines"]), pounds(r["amount"]), r["when"])
        for c in commissioners:
            if c in r["by"]:
                by.add_row(p, c, pounds(r["by"][c]))
    console.print(t)
    console.print(by)
    console.print(
        f"ledger total {pounds(grand)}" + (f" of the cap {pounds(cap)}" if cap is not None else "")
    )


@claims_app.command()
def export(
    period: Annotated[str, typer.Option(help="Claim period, e.g. 2017/18-spring.")],
    commissioner: Annotated[str, typer.Option(help="e.g. council, schools, philanthropy.")],
    out: Annotated[Path, typer.Option(help="Folder to write the .xlsx and .csv into.")],
    warehouse: WarehouseOpt = None,
    claims_dir: ClaimsDirOpt = None,
) -> None:
    """Write COMMISSIONER's claim for PERIOD (.xlsx and .csv): every line with the child's
    WLZ ID, the payment, the amount and the evidence, and totals that reconcile to the
    ledger."""
    from rich.console import Console

    from wlz_pipeline.payments import store as st
    from wlz_pipeline.payments.build import ledger_state, read_ledger
    from wlz_pipeline.payments.export import ExportError, export_claim
    from wlz_pipeline.payments.facts import table_exists
    from wlz_pipeline.payments.ledger import pounds

    period = _period(period)
    store = st.ClaimsStore(st.claims_dir(claims_dir, warehouse))
    con, wh_path = _open(warehouse)
    try:
        if not table_exists(con, "marts.payment_ledger"):
            _fail("the warehouse has no payment ledger yet: run `wlz run` first")
        lines = read_ledger(
            con, "WHERE claim_period = ? AND commissioner = ?", [period, commissioner]
        )
        claims_total = None
        if table_exists(con, "marts.payment_claims"):
            found = con.execute(
                "SELECT amount_pence FROM marts.payment_claims "
                "WHERE claim_period = ? AND commissioner = ?",
                [period, commissioner],
            ).fetchall()
            claims_total = int(found[0][0]) if found else 0
        state = ledger_state(con)
        known = [
            c
            for (c,) in con.execute(
                "SELECT DISTINCT commissioner FROM marts.payment_ledger ORDER BY 1"
            ).fetchall()
        ]
    finally:
        con.close()
    if not lines:
        _fail(
            f"no lines for {commissioner!r} in {period} "
            f"(commissioners in the ledger: {', '.join(known)})"
        )
    try:
        fresh = state is not None and state["store_fingerprint"] == store.fingerprint()
    except st.StoreError as exc:
        _fail(str(exc))
    if not fresh:
        _fail("the ledger was built before the latest submission: run `wlz run` first")
    submitted = all(x["submitted"] for x in lines)
    try:
        result = export_claim(
            lines,
            period,
            commissioner,
            out,
            claims_total,
            context={
                "Period submitted": "yes, " + str(lines[0]["submission_id"])
                if submitted
                else "no (open: may still change)",
                "Rule version": state["rule_version"] if state else None,
                "Data as of": state["as_of"] if state else None,
                "Warehouse": str(wh_path),
            },
        )
    except ExportError as exc:
        _fail(str(exc))
    Console(highlight=False).print(
        f"{result.lines} lines, {pounds(result.amount_pence)}:\n  {result.xlsx}\n  {result.csv}"
    )
