"""The one place the asset graph is assembled (``workspace.yaml`` loads this module)."""

from __future__ import annotations

import dagster as dg

from assets.checks import build_checks
from assets.ingest import build_ingest_assets
from assets.models import build_model_assets
from assets.resources import WarehouseResource

ALL_ASSETS = [*build_ingest_assets(), *build_model_assets()]
ALL_CHECKS = build_checks()

#: Everything, in one process: steps share one DuckDB file, and a process per step
#: would pay Dagster's import time per asset (conventions.md, known traps).
everything_job = dg.define_asset_job(
    "wlz_everything",
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    description="Ingest every landing folder and rebuild every table.",
)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[everything_job],
    resources={"wlz": WarehouseResource()},
    executor=dg.in_process_executor,
)
