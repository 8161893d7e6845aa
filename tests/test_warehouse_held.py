"""Holding the warehouse open between the steps of a run (``warehouse.held_open``): inside
the block the file stays open in this process after its connections close (another
process cannot open it: that is what holding is); what needs the file from elsewhere
releases it (a read-only connection, the publication's read-only ATTACH); at the end of
the block the file is closed and checkpointed, and a run executed by the code location's
executor (the UI, schedule and sensor runs) holds it the same way.

The sample run (tests/conftest.py) runs the whole graph inside ``held_open``, as ``wlz
run`` does, so every suite's GX worker call, the reports and the publication are
exercised with the warehouse held."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from assets.resources import WarehouseResource, in_process_executor
from wlz_pipeline import settings, warehouse
from wlz_pipeline.quality import gx_worker

#: Opens the file read-write in another process: prints "opened" and the row count of
#: t, or "locked" when a process holds it.
OPEN_ELSEWHERE = textwrap.dedent(
    """
    import sys, duckdb
    try:
        con = duckdb.connect(sys.argv[1])
    except duckdb.IOException as exc:
        print("locked" if "lock" in str(exc).lower() else f"error {exc}")
    else:
        print("opened", con.execute("SELECT count(*) FROM t").fetchone()[0])
        con.close()
    """
)


def open_elsewhere(path: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", OPEN_ELSEWHERE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout.strip()


def _write_row(path: Path, value: int) -> None:
    con = warehouse.connect(path)
    try:
        con.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
        con.execute("INSERT INTO t VALUES (?)", [value])
    finally:
        con.close()


@pytest.fixture(autouse=True)
def nothing_held():
    warehouse.release()
    yield
    warehouse.release()
    gx_worker.stop()  # started by WarehouseResource.connect


def test_the_file_stays_open_inside_the_block_and_is_closed_and_checkpointed_after(tmp_path):
    path = tmp_path / "wlz.duckdb"
    with warehouse.held_open():
        _write_row(path, 1)
        assert open_elsewhere(path) == "locked"  # the step's connection is closed, the file not
        _write_row(path, 2)  # the next step: a new connection to the open database
        assert open_elsewhere(path) == "locked"
    assert open_elsewhere(path) == "opened 2"
    assert not Path(f"{path}.wal").exists()  # closed, so checkpointed


def test_a_held_warehouse_that_spilled_to_its_temp_directory_opens_again(tmp_path):
    # at zone scale a step spills to the temp directory; DuckDB then refuses to set it
    # again, even to the same folder, so the next step's connection must not try
    path = tmp_path / "wlz.duckdb"
    with warehouse.held_open():
        con = warehouse.connect(path)
        con.execute("SET memory_limit = '100MB'")
        con.execute("SET preserve_insertion_order = false")
        con.execute(
            "CREATE TABLE big AS SELECT i, md5(i::VARCHAR) AS s FROM range(4000000) t(i) ORDER BY s"
        )
        con.close()
        con = warehouse.connect(path)  # the next step
        assert con.execute("SELECT count(*) FROM big").fetchone()[0] == 4_000_000
        con.close()


def test_without_the_block_every_connection_closes_the_file(tmp_path):
    path = tmp_path / "wlz.duckdb"
    _write_row(path, 1)
    assert open_elsewhere(path) == "opened 1"


def test_the_setting_turns_holding_off(tmp_path, monkeypatch):
    real = settings.load_settings()
    off = real.model_copy(
        update={"duckdb": real.duckdb.model_copy(update={"hold_between_steps": False})}
    )
    monkeypatch.setattr(warehouse, "load_settings", lambda: off)
    path = tmp_path / "wlz.duckdb"
    with warehouse.held_open():
        _write_row(path, 1)
        assert open_elsewhere(path) == "opened 1"


def test_a_read_only_connection_releases_the_held_file(tmp_path):
    path = tmp_path / "wlz.duckdb"
    with warehouse.held_open():
        _write_row(path, 7)
        con = warehouse.connect(path, read_only=True)  # the reports' connection
        assert con.execute("SELECT v FROM t").fetchall() == [(7,)]
        con.close()
        assert open_elsewhere(path) == "opened 1"  # released, not held again by a reader


def test_release_leaves_other_warehouses_held(tmp_path):
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    with warehouse.held_open():
        _write_row(a, 1)
        _write_row(b, 1)
        warehouse.release(a)
        assert open_elsewhere(a) == "opened 1"
        assert open_elsewhere(b) == "locked"


def test_a_failed_step_leaves_the_file_released(tmp_path):
    path = tmp_path / "wlz.duckdb"
    wlz = WarehouseResource(warehouse=str(path), data_dir=str(tmp_path / "landing"))
    with warehouse.held_open():
        with pytest.raises(RuntimeError, match="step failed"), wlz.connect() as con:
            con.execute("CREATE TABLE t (v INTEGER)")
            con.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("step failed")
        assert open_elsewhere(path) == "opened 1"


# -- a run through the code location's executor --------------------------------------------
def _probe_job() -> dg.JobDefinition:
    """Two steps on a warehouse: the first writes a row; the second asks another process
    whether it can open the file (between the steps the first's connection has closed)."""

    @dg.asset
    def first(wlz: WarehouseResource) -> None:
        with wlz.connect() as con:
            con.execute("CREATE TABLE t (v INTEGER)")
            con.execute("INSERT INTO t VALUES (1)")

    @dg.asset(deps=[first])
    def second(wlz: WarehouseResource) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"elsewhere": open_elsewhere(wlz.warehouse_path)})

    defs = dg.Definitions(
        assets=[first, second],
        jobs=[dg.define_asset_job("probe", executor_def=in_process_executor)],
        resources={"wlz": WarehouseResource()},
    )
    return defs.resolve_job_def("probe")


def test_a_run_of_the_code_locations_executor_holds_the_file_between_steps(tmp_path, monkeypatch):
    path = tmp_path / "wlz.duckdb"
    monkeypatch.setenv("WLZ_WAREHOUSE", str(path))
    monkeypatch.setenv("WLZ_DATA_DIR", str(tmp_path / "landing"))
    with dg.instance_for_test() as instance:
        result = dg.execute_job(dg.reconstructable(_probe_job), instance=instance)
        assert result.success
        events = result.get_asset_materialization_events()
        seconds = [e for e in events if e.asset_key == dg.AssetKey("second")]
        assert seconds[0].materialization.metadata["elsewhere"].value == "locked"
    assert open_elsewhere(path) == "opened 1"  # the run's end closed it
