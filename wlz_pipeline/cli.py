"""The ``wlz`` command: run the pipeline, generate synthetic data, and the data team's
everyday tools."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from wlz_pipeline import settings

app = typer.Typer(help="The WLZ outcomes pipeline.", no_args_is_help=True, add_completion=False)
console = Console()

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="WLZ_DATA_DIR", help="Landing folder (default data/sample)."),
]
WarehouseOpt = Annotated[
    Path | None,
    typer.Option("--warehouse", envvar="WLZ_WAREHOUSE", help="Restricted warehouse file."),
]


def run_pipeline(
    data_dir: Path | None,
    warehouse_file: Path | None,
    selection: str | None = None,
    log_level: str = "WARNING",
    rebuild_all: bool = False,
    instance=None,  # noqa: ANN001 - a DagsterInstance (default: DAGSTER_HOME's, else ephemeral)
):
    """Materialise the asset graph (or a selection) in-process; returns Dagster's result."""
    from wlz_pipeline.quality import gx_worker

    # A run of one step at a time (run.concurrent_steps: 1) validates in a GX worker
    # process (quality/gx_worker.py; side by side, GX runs here and no worker starts).
    # Started here, before Dagster is imported, its GX import (5-12 s) overlaps Dagster's
    # start-up (~10 s) on the other core; started by the first step, it overlapped only
    # ingestion, which on an incremental night is too short to hide it (issue 9: the
    # first suite waited ~2.5 s).
    # Its first warehouse connection would start it anyway (assets/resources.py).
    gx_worker.start()
    import dagster as dg

    from assets.resources import WarehouseResource, in_process_executor
    from wlz_pipeline import warehouse
    from wlz_pipeline.definitions import ALL_ASSETS, ALL_CHECKS
    from wlz_pipeline.executor import execute_in_process

    resource = WarehouseResource(
        data_dir=str(settings.data_dir(data_dir)),
        warehouse=str(settings.warehouse_path(warehouse_file)),
        rebuild_all=rebuild_all,
    )
    if instance is None:
        instance = (
            dg.DagsterInstance.get()
            if os.environ.get("DAGSTER_HOME")
            else dg.DagsterInstance.ephemeral()
        )
    # the code location's executor (several steps at a time: wlz_pipeline/executor.py),
    # which ``materialize`` would replace with Dagster's one-at-a-time in-process one
    defs = dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=[
            dg.define_asset_job("wlz_run", selection=selection, executor_def=in_process_executor)
        ],
        resources={"wlz": resource},
    )
    # the run keeps the warehouse open between its steps, and closes it at the end
    with warehouse.held_open():
        return execute_in_process(
            defs.resolve_job_def("wlz_run"),
            instance=instance,
            # the summary below says what happened; step-by-step logs are in the Dagster UI
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )


def dg_severity_error():
    import dagster as dg

    return dg.AssetCheckSeverity.ERROR


def summary_rows(warehouse_file: Path) -> dict[str, list[tuple]]:
    """What a run produced: tables and row counts, files by status, quarantined rows."""
    from wlz_pipeline.warehouse import connect

    con = connect(warehouse_file, read_only=True)
    try:
        tables = con.execute(
            """SELECT schema_name || '.' || table_name, estimated_size
               FROM duckdb_tables() WHERE schema_name IN ('staging', 'marts')
               ORDER BY 1"""
        ).fetchall()
        counts = [(t, con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t, _ in tables]
        files = con.execute(
            "SELECT source, status, count(*) FROM meta.file_registry GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        quarantine = con.execute(
            """SELECT table_name, rule, count(*) FROM meta.quarantine WHERE severity = 'error'
               GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
    finally:
        con.close()
    return {"tables": counts, "files": files, "quarantine": quarantine}


def _print_locations(wh: Path) -> None:
    """Where the run's files are: the warehouse, the publication (with the run that made
    it: a blocked run leaves the previous one), the Parquet folder, Data Docs, claims."""
    import duckdb

    from wlz_pipeline.payments.store import claims_dir
    from wlz_pipeline.publish import publication_path
    from wlz_pipeline.quality.gx_duckdb import data_docs_index

    pub = publication_path(wh)
    published = "not published"
    if pub.exists():
        con = duckdb.connect(str(pub), read_only=True)
        try:
            run_id, at = con.execute("SELECT run_id, published_at FROM bi.publication").fetchone()
        finally:
            con.close()
        published = f"{pub} (run {run_id}, published {at:%Y-%m-%d %H:%M} UTC)"
    parquet = pub.with_name(f"{pub.stem}_parquet")
    docs = data_docs_index(wh)
    console.print(
        f"warehouse:   {wh} (restricted)\n"
        f"publication: {published}\n"
        f"parquet:     {parquet if parquet.exists() else 'none'}\n"
        f"data docs:   {docs if docs.exists() else 'none'}\n"
        f"claims:      {claims_dir(warehouse=wh)} (restricted; back it up with the data)"
    )


@app.command()
def run(
    data_dir: DataDir = None,
    warehouse: WarehouseOpt = None,
    select: Annotated[
        str | None, typer.Option(help="Dagster asset selection, e.g. 'key:staging/*'.")
    ] = None,
    rebuild_all: Annotated[
        bool,
        typer.Option(
            "--rebuild-all",
            help="Rebuild and revalidate every table, also those whose inputs have not "
            "changed since they were last built.",
        ),
    ] = False,
) -> None:
    """Ingest the landing folder and rebuild every table whose inputs changed (all of
    them with --rebuild-all); print what came out."""
    started = time.perf_counter()
    wh = settings.warehouse_path(warehouse)
    dd = settings.data_dir(data_dir)
    console.print(f"data dir:  {dd}\nwarehouse: {wh}")
    result = run_pipeline(dd, wh, select, rebuild_all=rebuild_all)
    if select:  # a selection may leave out the publication, which rebuilds the index
        from wlz_pipeline.quality.gx_duckdb import build_data_docs_index

        build_data_docs_index(wh)
    elapsed = time.perf_counter() - started
    s = summary_rows(wh)

    t = Table(title="Tables")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in s["tables"]:
        t.add_row(name, f"{n:,}")
    console.print(t)
    f = Table(title="Files received")
    for c in ("source", "status", "files"):
        f.add_column(c)
    for row in s["files"]:
        f.add_row(*(str(x) for x in row))
    console.print(f)
    if s["quarantine"]:
        q = Table(title="Rows quarantined (see meta.quarantine)")
        for c in ("table", "rule", "rows"):
            q.add_column(c)
        for row in s["quarantine"]:
            q.add_row(*(str(x) for x in row))
        console.print(q)
    checks = result.get_asset_check_evaluations()
    failed = [e for e in checks if not e.passed]
    console.print(f"checks: {len(checks) - len(failed)} passed, {len(failed)} failed")
    for e in failed:
        colour = "red" if e.severity == dg_severity_error() else "yellow"
        console.print(
            f"  [{colour}]{e.severity.value}[/{colour}] "
            f"{e.asset_key.to_user_string()}: {e.check_name}"
        )
    _print_locations(wh)
    status = "succeeded" if result.success else "FAILED"
    console.print(f"run {result.run_id} {status} in {elapsed:.1f}s")
    if not result.success:
        for ev in result.all_events:
            if ev.is_step_failure:
                console.print(f"[red]step failed: {ev.step_key}[/red]")
        raise typer.Exit(1)


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the landing layout into.")],
    scale: Annotated[str, typer.Option(help="sample | zone")] = "sample",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 20170901,
    overwrite: Annotated[
        bool, typer.Option(help="Replace generated files already in OUT.")
    ] = False,
) -> None:
    """Write a synthetic Zone in the landing layout (deterministic for a seed and scale)."""
    from wlz_pipeline.generator import generate as gen

    started = time.perf_counter()
    manifest = gen(out, scale=scale, seed=seed, overwrite=overwrite)
    console.print(
        f"wrote {len(manifest.get('files', []))} files to {out} "
        f"in {time.perf_counter() - started:.1f}s"
    )


def _register_commands() -> None:
    import importlib
    import pkgutil

    from wlz_pipeline import commands

    for mod in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
        importlib.import_module(f"wlz_pipeline.commands.{mod}").register(app)


_register_commands()


def main() -> None:
    """Entry point. Leaves without the interpreter's teardown once the command is done:
    DuckDB's bindings print harmless "leaked" warnings at shutdown when GX's SQLAlchemy
    engines still reference DuckDB objects, and they would bury the run summary."""
    import os
    import sys

    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
