"""The hand-built engagement scenario, built once per test session in a real DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
from engagement_scenario import build, load_scenario

from wlz_pipeline import warehouse


@pytest.fixture(scope="session")
def scenario(tmp_path_factory) -> Iterator[duckdb.DuckDBPyConnection]:
    path = tmp_path_factory.mktemp("engagement") / "wlz.duckdb"
    con = warehouse.connect(path)
    warehouse.bootstrap(con)
    load_scenario(con)
    build(con)
    yield con
    con.close()
