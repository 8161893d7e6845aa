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
        # the first step of a run of one step at a time (run.concurrent_steps: 1; side by
        # side, GX runs in the run's process) starts the process's GX worker, which
        # imports GX on the other core meanwhile, so the first suite does not wait for it
        # (it ends with the run's process; quality/gx_worker.py). Not a resource lifecycle
        # hook: those make Dagster treat the resource as a context manager, which sensors
        # cannot open.
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


def _executor_config() -> dg.Field:
    fields = dict(dg.in_process_executor.config_schema.as_field().config_type.fields)
    fields["concurrent_steps"] = dg.Field(
        int,
        is_required=False,
        description="Steps run side by side, each on its own thread (default: run."
        "concurrent_steps in config/settings.yaml; 1 = one after another).",
    )
    return dg.Field(fields, description="Execute the run's steps in one process.")


@dg.executor(name="in_process", config_schema=_executor_config())
def in_process_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """The run's steps in its own process, up to ``run.concurrent_steps`` at once, each on
    its own thread, with the warehouse held open between them (``warehouse.held_open``:
    a DuckDB database costs 25-40 ms to open, and a run opens the warehouse two to four
    times a step; ``wlz_pipeline.executor``). What ``wlz run``, the UI, the schedule and
    the sensors' runs use; same name and configuration as Dagster's in-process executor,
    plus ``concurrent_steps``."""
    from wlz_pipeline.executor import StepsInThreads

    config = dict(init_context.executor_config)
    concurrent = (
        config.pop("concurrent_steps", None) or settings.load_settings().run.concurrent_steps
    )
    inner = dg.in_process_executor.executor_creation_fn(
        init_context._replace(executor_config=config)  # noqa: SLF001
    )
    return StepsInThreads(inner.retries, inner.step_dependency_config, concurrent)
