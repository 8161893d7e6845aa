"""The run's GX worker (wlz_pipeline/quality/gx_worker.py): suites validated there give
the same outcome as in the run's process, which then never imports GX; failures come
back as the caller's exceptions; a dead worker costs time, not a result; a Dagster run
stops its worker."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from wlz_pipeline.config import REPO_ROOT
from wlz_pipeline.quality import gx_worker
from wlz_pipeline.quality.gx_duckdb import SuiteError, load_suite, suite_files, validate_table


@pytest.fixture(autouse=True)
def no_worker():
    """Each test starts from a process without a worker (a Dagster run in this test
    process, e.g. the sample run, leaves its worker idle until the process ends)."""
    gx_worker.stop()
    yield
    gx_worker.stop()


@pytest.fixture
def worker(edit_settings):
    edit_settings(run={"concurrent_steps": 1})  # the worker serves runs of one step at a time
    assert gx_worker.start()
    try:
        yield
    finally:
        gx_worker.stop()


def test_without_a_worker_the_call_runs_here():
    assert gx_worker.pid() is None
    assert gx_worker.run(os.getpid) == os.getpid()


def test_with_a_worker_the_call_runs_in_it(worker):
    ran_in = gx_worker.run(os.getpid)
    assert ran_in != os.getpid()
    assert ran_in == gx_worker.pid()


def test_the_workers_exception_is_raised_again_with_its_traceback(worker, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(SuiteError, match="not readable JSON") as info:
        gx_worker.run(load_suite, bad)
    assert any("in the GX worker" in note for note in info.value.__notes__)


def test_a_dead_worker_falls_back_to_this_process(worker, caplog):
    os.kill(gx_worker.pid(), 9)
    with caplog.at_level(logging.WARNING, logger="wlz_pipeline.quality.gx_worker"):
        assert gx_worker.run(os.getpid) == os.getpid()
    assert "gone" in caplog.text
    assert gx_worker.pid() is None  # not used again


def test_stop_ends_the_worker_process(worker):
    process = gx_worker._worker.process
    assert process.is_alive()
    gx_worker.stop()
    assert gx_worker.pid() is None
    assert not process.is_alive()
    assert process.exitcode is not None


def test_a_suite_validated_in_the_worker_matches_and_gx_stays_out_of_the_run(
    sample_run, tmp_path, edit_settings
):
    edit_settings(run={"concurrent_steps": 1})  # the script's process reads it too
    wh = tmp_path / "wlz.duckdb"
    shutil.copy(sample_run.warehouse, wh)
    suite = suite_files()["pupils"]
    inline = validate_table(wh, "staging.pupils", load_suite(suite))
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from wlz_pipeline.quality import gx_worker
        from wlz_pipeline.quality.gx_duckdb import validate_versioned
        gx_worker.start()
        outcome, now = validate_versioned(
            Path({str(wh)!r}), "staging.pupils", Path({str(suite)!r}), force=True
        )
        gx_worker.stop()
        print(json.dumps({{"outcome": outcome.to_json(), "now": now,
                          "gx_here": "great_expectations" in sys.modules}}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["now"] is True
    assert got["gx_here"] is False  # the worker imported GX, the run's process did not
    assert got["outcome"] == inline.to_json()
    # and the worker leaves without its interpreter's teardown, where DuckDB's bindings
    # print "nanobind: leaked ..." lines for GX's engines into the run's log
    assert "leaked" not in out.stderr, out.stderr[-2000:]


def test_a_dagster_run_validates_its_suites(sample_run):
    # in this process: the settings run steps side by side, so no worker is started
    assert sample_run.result.success
    checks = sample_run.result.get_asset_check_evaluations()
    assert [
        c for c in checks if "validated_now" in c.metadata and c.metadata["validated_now"].value
    ]


def test_the_worker_ends_with_a_process_that_leaves_without_cleaning_up(tmp_path, edit_settings):
    edit_settings(run={"concurrent_steps": 1})  # the script's process reads it too
    # wlz run ends with os._exit: no atexit handler runs, the worker must see its pipe close
    script = textwrap.dedent(
        """
        import os, sys
        from wlz_pipeline.quality import gx_worker
        gx_worker.start()
        print(gx_worker.pid(), flush=True)
        os._exit(0)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    pid = int(out.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 60  # it may still be importing GX: it exits after that
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state == "Z":  # exited; only waiting for whoever adopted it to reap it
            return
        time.sleep(0.2)
    os.kill(pid, 9)
    pytest.fail(f"the GX worker {pid} outlived its parent")


def _what_wlz_run_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    from wlz_pipeline import cli, executor

    seen: dict[str, object] = {}

    def execute_in_process(*args: object, **kwargs: object) -> None:
        seen["worker_pid"] = gx_worker.pid()
        seen["warehouse_exists"] = (tmp_path / "wlz.duckdb").exists()

    monkeypatch.setattr(executor, "execute_in_process", execute_in_process)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # an ephemeral instance: make test sets it
    cli.run_pipeline(tmp_path / "landing", tmp_path / "wlz.duckdb")
    return seen


def test_wlz_run_starts_the_worker_before_dagster_starts_the_run(
    tmp_path, monkeypatch, edit_settings
):
    # one step at a time: the worker validates, and its GX import overlaps Dagster's
    # start-up, not only the run's first steps
    edit_settings(run={"concurrent_steps": 1})
    seen = _what_wlz_run_started(tmp_path, monkeypatch)
    assert seen["worker_pid"] is not None
    assert seen["warehouse_exists"] is False  # no step had opened the warehouse yet


def test_steps_side_by_side_validate_without_a_worker(tmp_path, monkeypatch, edit_settings):
    # the worker could not open the warehouse while other steps hold it
    edit_settings(run={"concurrent_steps": 2})
    assert not gx_worker.enabled()
    assert _what_wlz_run_started(tmp_path, monkeypatch)["worker_pid"] is None
