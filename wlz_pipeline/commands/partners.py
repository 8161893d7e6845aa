"""``wlz template`` and ``wlz validate``: the partner-template round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command()(template)
    app.command()(validate)


def template(
    out: Annotated[Path, typer.Option(help="Folder to write the workbooks into.")],
    partner: Annotated[str | None, typer.Option(help="Partner id, e.g. P03.")] = None,
    programme: Annotated[str | None, typer.Option(help="One programme only.")] = None,
    term: Annotated[str | None, typer.Option(help="e.g. 2017/18-autumn")] = None,
    warehouse: Annotated[
        Path | None, typer.Option(envvar="WLZ_WAREHOUSE", help="Restricted warehouse.")
    ] = None,
) -> None:
    """Write the attendance template of each partner programme and term, pre-filled with
    the children allocated to it (one .xlsx per programme and term, under OUT/<partner>/)."""
    from rich.console import Console

    from wlz_pipeline import settings
    from wlz_pipeline import warehouse as wh
    from wlz_pipeline.partner_templates import parse_term, template_specs, write_templates

    if term:
        try:
            parse_term(term)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--term") from exc
    con = wh.connect(settings.warehouse_path(warehouse), read_only=True)
    try:
        specs = template_specs(con, partner=partner, programme=programme, term=term)
    finally:
        con.close()
    if not specs:
        Console(stderr=True).print("No allocations match: nothing to write.")
        raise typer.Exit(1)
    for path in write_templates(specs, out):
        Console().print(str(path))


def validate(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A returned .xlsx.")],
    warehouse: Annotated[
        Path | None,
        typer.Option(
            envvar="WLZ_WAREHOUSE",
            help="Check children and dates against this warehouse's register (if it exists).",
        ),
    ] = None,
) -> None:
    """Check one returned partner template offline and list what to fix.

    Exit status 0 when there is nothing to fix (warnings only), 1 when there are errors."""
    from rich.console import Console

    from wlz_pipeline import settings
    from wlz_pipeline import warehouse as wh
    from wlz_pipeline.ingest import partner_context
    from wlz_pipeline.sources import partner_template as pt

    kwargs: dict = {}
    head = pt.read_about(file)
    wh_path = settings.warehouse_path(warehouse)
    if head.quarantine_reason is None and wh_path.exists():
        about = head.about
        con = wh.connect(wh_path, read_only=True)
        try:
            allocated, known, term_dates = partner_context(
                con,
                str(about.get("partner_id") or "").strip().upper(),
                str(about.get("programme") or "").strip(),
                str(about.get("academic_year") or "").strip(),
                str(about.get("term") or "").strip().lower(),
            )
        finally:
            con.close()
        kwargs = {"allocated": allocated, "known_children": known, "term_dates": term_dates}
    findings = pt.validate_file(file, **kwargs)
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"{file.name}:")
    console.print(pt.format_findings(findings))
    if not kwargs:
        console.print(
            "(Children and dates were not checked against the programme register: "
            "no warehouse found.)"
        )
    raise typer.Exit(1 if any(f.severity == "error" for f in findings) else 0)
