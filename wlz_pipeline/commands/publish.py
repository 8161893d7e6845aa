"""``wlz publish`` (the BI publication from an existing warehouse), ``wlz reidentify``
(the restricted identity behind a child_key, for the data team) and ``wlz dictionary``
(the published data dictionary as Markdown)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

WarehouseOpt = Annotated[
    Path | None, typer.Option(envvar="WLZ_WAREHOUSE", help="Restricted warehouse file.")
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="WLZ_DATA_DIR",
        help="Landing folder the warehouse was built from (decides whether the sample's demo "
        "key may be used).",
    ),
]
DemoKeyOpt = Annotated[
    bool,
    typer.Option(
        "--demo-key",
        help="Use the documented demo pseudonym key (synthetic data and tests only).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command()(publish)
    app.command()(reidentify)
    app.command()(dictionary)


def dictionary(
    publication: Annotated[
        Path | None,
        typer.Option(
            help="Published BI file (default: WLZ_PUBLICATION, config/publication.yaml, "
            "else wlz_bi.duckdb beside the warehouse).",
        ),
    ] = None,
    warehouse: WarehouseOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the Markdown here (default: print it).")
    ] = None,
) -> None:
    """Write the published data dictionary (every table and column of the BI database with
    its description) as Markdown, read from the publication itself."""
    import duckdb

    from wlz_pipeline import settings
    from wlz_pipeline.dictionary import dictionary_markdown
    from wlz_pipeline.publish import publication_path

    path = publication_path(settings.warehouse_path(warehouse), publication)
    if not path.exists():
        typer.echo(f"No publication at {path}: run the pipeline (make run) first.", err=True)
        raise typer.Exit(1)
    con = duckdb.connect(str(path), read_only=True)
    try:
        text = dictionary_markdown(con)
    finally:
        con.close()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


def _dagster_checks(console):  # noqa: ANN001, ANN202
    """Latest check results from the Dagster instance in DAGSTER_HOME (None without one)."""
    import os

    if not os.environ.get("DAGSTER_HOME"):
        return None
    import dagster as dg

    from assets.publish import LAYERS, latest_checks
    from wlz_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = [k for k in graph.get_all_asset_keys() if k.path[0] in LAYERS]
    with dg.DagsterInstance.get() as instance:
        checks = latest_checks(instance, graph, keys)
    console.print(f"checks (latest in {os.environ['DAGSTER_HOME']}): {len(checks)}")
    return checks


def publish(
    warehouse: WarehouseOpt = None,
    data_dir: DataDirOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            envvar="WLZ_PUBLICATION", help="Published file (default beside the warehouse)."
        ),
    ] = None,
    demo_key: DemoKeyOpt = False,
) -> None:
    """Publish the pseudonymised BI database from an existing warehouse (what the
    publication asset does at the end of a run). With DAGSTER_HOME set, refuses when the
    latest evaluation of a blocking check failed, and records the check counts."""
    from rich.console import Console

    from wlz_pipeline import settings
    from wlz_pipeline.pseudonym import PseudonymKeyMissing
    from wlz_pipeline.publish import PublicationError
    from wlz_pipeline.publish import publish as do_publish

    console = Console()
    err = Console(stderr=True)
    checks = _dagster_checks(console)
    if checks:
        failed = [c for c in checks if c.blocking and not c.passed]
        if failed:
            err.print("[red]Not published: these blocking checks failed in their latest run:[/red]")
            for c in failed:
                err.print(f"  {c.asset}: {c.check_name} (run {c.run_id})")
            raise typer.Exit(1)
    try:
        report = do_publish(
            settings.warehouse_path(warehouse),
            data_dir=settings.data_dir(data_dir),
            out=out,
            demo_key=demo_key,
            checks=checks,
        )
    except (PseudonymKeyMissing, PublicationError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"published {report.path} (run {report.run_id}, as of {report.as_of_date})")
    for table, rows in report.tables.items():
        console.print(f"  bi.{table}: {rows:,} rows")
    for table, why in report.skipped.items():
        console.print(f"  [yellow]skipped bi.{table}[/yellow]: {why}")
    if report.parquet_dir:
        console.print(f"parquet: {report.parquet_dir}")
    for item in report.undescribed:
        err.print(f"[yellow]no description: bi.{item}[/yellow]")


def reidentify(
    child_key: Annotated[str, typer.Argument(help="A child_key from the BI publication.")],
    warehouse: WarehouseOpt = None,
    data_dir: DataDirOpt = None,
    demo_key: DemoKeyOpt = False,
) -> None:
    """Show who a child_key is (WLZ ID, UPN, anchor, name) from the restricted warehouse,
    recomputing keys with the same secret (WLZ_PSEUDONYM_KEY). For the data team acting on
    an alert: the output is restricted data; do not paste it into BI, email or tickets."""
    from rich.console import Console
    from rich.table import Table

    from wlz_pipeline import settings
    from wlz_pipeline.pseudonym import PseudonymKeyMissing
    from wlz_pipeline.publish import reidentify as do_reidentify

    err = Console(stderr=True)
    try:
        found = do_reidentify(
            settings.warehouse_path(warehouse),
            child_key,
            data_dir=settings.data_dir(data_dir),
            demo_key=demo_key,
        )
    except PseudonymKeyMissing as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    if not found:
        err.print(
            f"No child in the warehouse has key {child_key} under this key "
            "(wrong WLZ_PSEUDONYM_KEY, or a different warehouse?)."
        )
        raise typer.Exit(1)
    table = Table(title="RESTRICTED - do not copy into BI, email or tickets")
    for col in ("child_key", "wlz_id", "upn", "anchor_urn", "forename", "surname", "found in"):
        table.add_column(col)
    for i in found:
        table.add_row(
            i.child_key,
            i.wlz_id or "",
            i.upn or "",
            i.anchor_urn or "",
            i.forename or "",
            i.surname or "",
            i.found_in,
        )
    Console().print(table)
