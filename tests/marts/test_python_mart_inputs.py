"""A Python mart reads only the tables it declares: versions.py skips its rebuild when
those are unchanged, so an undeclared input would leave it stale."""

from __future__ import annotations

import shutil

import pytest

from wlz_pipeline import warehouse
from wlz_pipeline.marts.build import python_marts


@pytest.mark.parametrize("mart", python_marts(), ids=lambda m: m.table)
def test_python_mart_builds_the_same_from_its_declared_inputs_alone(sample_run, tmp_path, mart):
    copy = tmp_path / "wlz.duckdb"
    shutil.copy(sample_run.warehouse, copy)
    con = warehouse.connect(copy)
    try:
        expected = con.execute(f"SELECT * FROM {mart.table} ORDER BY ALL").fetchall()
        dropped = []
        for schema, name in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE schema_name IN ('staging', 'marts')"
        ).fetchall():
            table = f"{schema}.{name}"
            if table not in mart.inputs and table != mart.table:
                con.execute(f"DROP TABLE {table}")
                dropped.append(table)
        assert dropped  # the graph has tables this mart does not read
        mart.build(con)
        assert con.execute(f"SELECT * FROM {mart.table} ORDER BY ALL").fetchall() == expected
    finally:
        con.close()
