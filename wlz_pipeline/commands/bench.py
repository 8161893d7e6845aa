"""``wlz bench``: the zone-scale benchmark of performance.md (floor, cold run, incremental
night, sample), written as a JSON report. Not a test: it asserts nothing about times."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_ZONE = Path("/tmp/wlz-bench/zone")


def register(app: typer.Typer) -> None:
    app.command()(bench)


def bench(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Zone landing folder outside the repository (generated there when it has "
            "no MANIFEST.json). Default: WLZ_BENCH_DIR, else /tmp/wlz-bench/zone. Never "
            "modified: the bench works on a copy.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Report file (default <work dir>/bench-report.json).")
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the copy, warehouse, DAGSTER_HOME and logs go "
            "(default /tmp/wlz-bench/runs/<timestamp>)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Generator seed when the zone is made.")] = 20170901,
    skip_sample: Annotated[
        bool, typer.Option("--skip-sample", help="Leave out the cold sample run.")
    ] = False,
    keep: Annotated[
        bool, typer.Option(help="Keep the landing copy and warehouses (several GB).")
    ] = False,
) -> None:
    """Benchmark the whole graph cold on the zone scale against the floor (DuckDB scanning
    every input once + calamine reading every workbook once), then an incremental night,
    then the sample; write the JSON report and print the ratios against performance.md."""
    from rich.console import Console

    from wlz_pipeline.bench import human_summary, run_bench

    console = Console()
    dd = data_dir or Path(os.environ.get("WLZ_BENCH_DIR") or DEFAULT_ZONE)
    wd = work_dir or Path("/tmp/wlz-bench/runs") / datetime.now().strftime("%Y%m%dT%H%M%S")
    report = run_bench(dd, wd, seed=seed, sample=not skip_sample, keep=keep, echo=console.print)
    path = out or wd / "bench-report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    console.print(human_summary(report), highlight=False)
    console.print(f"report: {path}")
    failed = report["runs_failed"]
    if failed:
        console.print(f"[red]pipeline run failed: {', '.join(failed)} (see the logs)[/red]")
        raise typer.Exit(1)
