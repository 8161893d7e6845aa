"""Resources: where the landing folder and the warehouse are. Paths come from the
environment (``WLZ_DATA_DIR``, ``WLZ_WAREHOUSE``) or run config, never from globals, so
one code location per zone is a matter of settings (performance.md, "beyond one
machine")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from wlz_pipeline import settings, warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The restricted warehouse (read-write, one writer) and the landing folder."""

    data_dir: str = ""
    warehouse: str = ""
    #: Rebuild every table even when what it is built from has not changed
    #: (wlz_pipeline/versions.py); also WLZ_REBUILD_ALL=1.
    rebuild_all: bool = False

    @property
    def data_path(self) -> Path:
        return settings.data_dir(self.data_dir or None)

    @property
    def warehouse_path(self) -> Path:
        return settings.warehouse_path(self.warehouse or None)

    @property
    def archive_dir(self) -> Path:
        return self.warehouse_path.parent / "archive"

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        # the first step of a run starts the process's GX worker, which imports GX on the
        # other core meanwhile, so the first suite does not wait for it (it ends with the
        # run's process; quality/gx_worker.py). Not a resource lifecycle hook: those make
        # Dagster treat the resource as a context manager, which sensors cannot open.
        from wlz_pipeline.quality import gx_worker

        gx_worker.start()
        con = warehouse.connect(self.warehouse_path)
        try:
            warehouse.bootstrap(con)
            yield con
        except BaseException:
            # a failed step leaves nothing held open behind it (the database closes with
            # this connection, below): the next step opens it afresh, so one DuckDB
            # invalidated by a fatal error is not reused
            warehouse.release(self.warehouse_path)
            raise
        finally:
            con.close()


class _HeldOpenExecutor(dg.Executor):
    """Dagster's in-process executor, with the warehouse held open between the run's steps
    (``warehouse.held_open``: a DuckDB database costs 25-40 ms to open, and a run opens
    the warehouse two to four times a step) and closed when the run's steps are done."""

    def __init__(self, inner: dg.Executor) -> None:
        self._inner = inner

    @property
    def retries(self):  # noqa: ANN201 - dagster's RetryMode
        return self._inner.retries

    @property
    def step_dependency_config(self):  # noqa: ANN201
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan):  # noqa: ANN001, ANN201
        with warehouse.held_open():
            yield from self._inner.execute(plan_context, execution_plan)


@dg.executor(name="in_process", config_schema=dg.in_process_executor.config_schema.as_field())
def in_process_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """The in-process executor (same name and configuration as Dagster's), holding the
    warehouse open between steps: what the UI, the schedule and the sensors' runs use."""
    return _HeldOpenExecutor(dg.in_process_executor.executor_creation_fn(init_context))
