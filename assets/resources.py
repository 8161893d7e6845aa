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

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # once per run (in-process executor): the run's GX worker starts importing GX now,
        # on the other core, so the first suite does not wait for it (quality/gx_worker.py)
        from wlz_pipeline.quality import gx_worker

        gx_worker.start()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        from wlz_pipeline.quality import gx_worker

        gx_worker.stop()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = warehouse.connect(self.warehouse_path)
        try:
            warehouse.bootstrap(con)
            yield con
        finally:
            con.close()
