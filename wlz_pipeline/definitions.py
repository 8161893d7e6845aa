"""The one place the asset graph is assembled (``workspace.yaml`` loads this module).

Each module of the ``assets`` package that defines ``defs`` (a ``dg.Definitions`` of
its assets, checks, jobs, schedules and sensors) is merged here, in module-name order:
adding a layer is adding a module. Resources are bound once, below.
"""

from __future__ import annotations

import importlib
import pkgutil

import dagster as dg

import assets
from assets.resources import WarehouseResource, in_process_executor


def _modules() -> list:
    names = sorted(m.name for m in pkgutil.iter_modules(assets.__path__))
    mods = [importlib.import_module(f"assets.{n}") for n in names]
    return [m for m in mods if isinstance(getattr(m, "defs", None), dg.Definitions)]


_parts = dg.Definitions.merge(*(m.defs for m in _modules()))

_assets = list(_parts.assets or [])

#: Partitioned assets (``partners/templates``, by term) run one partition per run, in
#: their own jobs (``wlz_templates``): an unpartitioned run cannot carry them.
PARTITIONED_ASSETS = [a for a in _assets if getattr(a, "partitions_def", None) is not None]
#: Every unpartitioned asset: what ``wlz run`` and the nightly ``wlz_everything`` build.
ALL_ASSETS = [a for a in _assets if getattr(a, "partitions_def", None) is None]
ALL_CHECKS = list(_parts.asset_checks or [])

#: Everything unpartitioned, in one process: steps share one DuckDB file, and a process
#: per step would pay Dagster's import time per asset (conventions.md, known traps).
everything_job = dg.define_asset_job(
    "wlz_everything",
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.assets(*(k for a in PARTITIONED_ASSETS for k in a.keys)),
    executor_def=in_process_executor,
    description="Ingest every landing folder, rebuild every table and run every check.",
)

defs = dg.Definitions(
    assets=[*ALL_ASSETS, *PARTITIONED_ASSETS],
    asset_checks=ALL_CHECKS,
    jobs=[everything_job, *(_parts.jobs or [])],
    schedules=list(_parts.schedules or []),
    sensors=list(_parts.sensors or []),
    resources={"wlz": WarehouseResource()},
    executor=in_process_executor,
)
