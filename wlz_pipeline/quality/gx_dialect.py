"""The SQLAlchemy dialect GX's engine opens the warehouse with (``wlz_duckdb://``).

It is duckdb_engine's dialect, except that it opens the file with exactly the DuckDB
configuration it is given (``warehouse.duckdb_config()``): duckdb_engine adds a
``custom_user_agent`` of its own, and DuckDB refuses a second connection to a database
this process already has open with a different configuration. With the run's steps side
by side (wlz_pipeline/executor.py), GX validates in the run's process while other steps
hold the warehouse open, so its connections must join theirs. It uses no duckdb_engine
extras (preloaded extensions, registered filesystems, non-core settings)."""

from __future__ import annotations

from typing import Any

import duckdb
import duckdb_engine

#: The URL scheme (``quality/gx_duckdb._datasource`` registers it).
SCHEME = "wlz_duckdb"


class WarehouseDialect(duckdb_engine.Dialect):
    """duckdb_engine's dialect (``name`` stays ``duckdb``, so GX's SQL is the same),
    connecting with the configuration as given."""

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        config = {**cparams.pop("config", {}), **cparams.pop("url_config", {})}
        return duckdb_engine.ConnectionWrapper(duckdb.connect(*cargs, config=config, **cparams))


def register() -> None:
    """Make ``wlz_duckdb://`` URLs use this dialect (lazily imported by SQLAlchemy)."""
    from sqlalchemy.dialects import registry

    registry.register(SCHEME, __name__, "WarehouseDialect")
