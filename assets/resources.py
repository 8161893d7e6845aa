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
        finally:
            con.close()
