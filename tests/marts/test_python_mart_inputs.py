"""A Python mart reads only the tables (and of some, the rows) it declares: versions.py
skips its rebuild when those are unchanged, so an undeclared input would leave it stale."""

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
        for table, where in mart.rows.items():  # of these it reads only some rows
            (removed,) = con.execute(
                f"SELECT count(*) FROM {table} WHERE ({where}) IS NOT TRUE"
            ).fetchone()
            assert removed  # the sample has rows the mart does not read
            con.execute(f"DELETE FROM {table} WHERE ({where}) IS NOT TRUE")
        mart.build(con)
        assert con.execute(f"SELECT * FROM {mart.table} ORDER BY ALL").fetchall() == expected
    finally:
        con.close()


def _payments():
    from wlz_pipeline.payments import build
    from wlz_pipeline.payments.store import ClaimsStore, claims_dir

    def ledger(con, warehouse_file):
        return build.build_ledger(con, ClaimsStore(claims_dir(warehouse=warehouse_file)))

    return [
        (build.OUTCOMES_TABLE, build.OUTCOMES_INPUTS, lambda con, _: build.build_outcomes(con)),
        (build.LEDGER_TABLE, build.LEDGER_INPUTS, ledger),
        (build.CLAIMS_TABLE, build.CLAIMS_INPUTS, lambda con, _: build.build_claims(con)),
    ]


@pytest.mark.parametrize("table,inputs,make", _payments(), ids=lambda x: str(x)[:30])
def test_payment_tables_build_the_same_from_their_declared_inputs_alone(
    sample_run, tmp_path, table, inputs, make
):
    copy = tmp_path / "wlz.duckdb"
    shutil.copy(sample_run.warehouse, copy)
    con = warehouse.connect(copy)
    try:
        expected = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        assert expected
        for schema, name in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE schema_name IN ('staging', 'marts')"
        ).fetchall():
            if f"{schema}.{name}" not in (*inputs, table):
                con.execute(f"DROP TABLE {schema}.{name}")
        # the same store as the sample run's ledger read (claims/ beside its warehouse)
        make(con, sample_run.warehouse)
        assert con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() == expected
    finally:
        con.close()
