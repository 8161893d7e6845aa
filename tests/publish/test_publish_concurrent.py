"""The published tables and their Parquet files are written several at a time, each on a
cursor of its own: a failure in one of them stops the rest and publishes nothing."""

from __future__ import annotations

import os

import duckdb
import pytest

from wlz_pipeline import publish as publish_module
from wlz_pipeline.publish import _concurrently, parquet_link, parquet_versions, publish


def _log_con(threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": threads})
    con.execute("ATTACH ':memory:' AS wh")  # the statements run with USE wh
    con.execute("CREATE TABLE memory.main.ran (n INTEGER)")
    return con


def test_statements_after_a_failure_do_not_run():
    con = _log_con(threads=1)  # one at a time: the order is the order given
    statements = [
        "INSERT INTO memory.main.ran VALUES (1)",
        "SELECT error('disk full')",
        "INSERT INTO memory.main.ran VALUES (3)",
        "INSERT INTO memory.main.ran VALUES (4)",
    ]
    with pytest.raises(duckdb.Error, match="disk full"):
        _concurrently(con, statements)
    assert con.execute("SELECT list(n ORDER BY n) FROM memory.main.ran").fetchall() == [([1],)]
    con.close()


def test_statements_run_on_their_own_cursors_in_the_warehouse_catalog():
    con = _log_con(threads=2)
    con.execute("CREATE TABLE wh.main.src AS SELECT range AS n FROM range(10)")
    _concurrently(
        con,
        [
            "CREATE TABLE wh.main.evens AS SELECT n FROM src WHERE n % 2 = 0",  # USE wh
            "CREATE TABLE wh.main.odds AS SELECT n FROM src WHERE n % 2 = 1",
            "INSERT INTO memory.main.ran SELECT count(*) FROM src",
        ],
    )
    assert con.execute(
        "SELECT (SELECT sum(n) FROM wh.main.evens), (SELECT sum(n) FROM wh.main.odds), "
        "(SELECT list(n) FROM memory.main.ran)"
    ).fetchall() == [(20, 25, [10])]
    con.close()


def _unchanged(fresh, fingerprint, before: dict[str, str]) -> None:
    assert fingerprint(fresh.report.path) == before
    assert not [p.name for p in fresh.report.path.parent.iterdir() if ".tmp" in p.name]
    current = os.readlink(parquet_link(fresh.report.path)).split("/")[-1]
    assert [p.name for p in parquet_versions(fresh.report.path).iterdir()] == [current]


def test_a_table_that_fails_while_others_are_created_publishes_nothing(
    fresh, monkeypatch, fingerprint
):
    before = fingerprint(fresh.report.path)
    plan = publish_module._plan_table

    def failing(con, name, spec, cfg, keys):
        planned = plan(con, name, spec, cfg, keys)
        if name == "school_attendance":
            planned.sql = f"CREATE TABLE pub.bi.{name} AS SELECT error('disk full') AS x"
        return planned

    monkeypatch.setattr(publish_module, "_plan_table", failing)
    with pytest.raises(duckdb.Error, match="disk full"):
        publish(fresh.warehouse, data_dir=fresh.landing, demo_key=True, run_id="broken")
    _unchanged(fresh, fingerprint, before)


def test_a_parquet_file_that_fails_publishes_nothing(fresh, monkeypatch, fingerprint):
    before = fingerprint(fresh.report.path)
    run = publish_module._concurrently

    def failing_copy(con, statements):
        if statements and statements[0].startswith("COPY"):
            statements = [*statements[:-1], "SELECT error('disk full')"]
        run(con, statements)

    monkeypatch.setattr(publish_module, "_concurrently", failing_copy)
    with pytest.raises(duckdb.Error, match="disk full"):
        publish(fresh.warehouse, data_dir=fresh.landing, demo_key=True, run_id="broken")
    _unchanged(fresh, fingerprint, before)
