"""``wlz report``: render every HTML report from an existing warehouse and its publication
(what the ``reports/html`` asset does at the end of a run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

WarehouseOpt = Annotated[
    Path | None,
    typer.Option("--warehouse", envvar="WLZ_WAREHOUSE", help="Restricted warehouse file."),
]


def register(app: typer.Typer) -> None:
    app.command()(report)


def report(
    warehouse: WarehouseOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            envvar="WLZ_REPORTS_DIR",
            help="Folder for the pages (default: reports/ beside the warehouse). Child "
            "profiles and claim packs go to its restricted/ folder.",
        ),
    ] = None,
    publication: Annotated[
        Path | None,
        typer.Option(
            "--publication",
            envvar="WLZ_PUBLICATION",
            help="Published BI file (default beside the warehouse).",
        ),
    ] = None,
) -> None:
    """Render the HTML reports: WLZ summary and partner report cards (from the published
    BI file, no child identifiers), child profiles and claim packs (RESTRICTED, in
    restricted/), and an index."""
    from rich.console import Console

    from wlz_pipeline import settings
    from wlz_pipeline.reports import ReportError, render_reports

    console = Console(highlight=False)
    try:
        result = render_reports(
            settings.warehouse_path(warehouse), out, publication_file=publication
        )
    except ReportError as exc:
        Console(stderr=True, highlight=False).print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"reports as of {result.as_of_date}: {result.index}")
    for kind, n in sorted(result.pages.items()):
        console.print(f"  {kind}: {n} pages")
    if result.removed:
        console.print(f"  removed {result.removed} pages no longer produced")
    console.print(f"restricted (child profiles, claim packs): {result.restricted_index}")
