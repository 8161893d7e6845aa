"""What the UI's "Materialize all" does, end to end: the Dagster webserver and daemon run
on the project's workspace.yaml (as ``make dev`` starts them), a run of ``wlz_everything``
is submitted through the webserver's GraphQL API, the daemon launches it, and the new
publication replaces the previous one, which a reader process (a BI tool) holds open
read-only the whole time: the run succeeds, the reader keeps the old data until it
reconnects, then sees the new publication."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from wlz_pipeline.config import REPO_ROOT

BIN = Path(sys.executable).parent
# guards against a hang, not limits on speed (the test ends when the run does): make test
# runs another test file beside this one, so they leave room for a slow, shared machine
START_TIMEOUT = 180
RUN_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped with everything it started
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_for_server(port: int, procs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for p in procs:
            assert p.poll() is None, f"{p.args[0]} exited with {p.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail("the Dagster webserver did not start")


def tail(path: Path, n: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


@pytest.mark.slow
def test_materialise_everything_through_the_webserver_and_daemon(fresh, open_reader, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
    landing, warehouse = fresh.landing, fresh.warehouse  # with a previous publication
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "WLZ_DATA_DIR": str(landing),
        "WLZ_WAREHOUSE": str(warehouse),
        "WLZ_PSEUDONYM_KEY": "test-only-pseudonym-key-0123456789",
        # no sensor run of its own while the test's run goes through
        "WLZ_AUTOMATION_DEFAULT": "stopped",
    }
    # Create the instance's storage once, first: a webserver and a daemon starting together
    # on a fresh DAGSTER_HOME both create its SQLite schema, and the loser fails with
    # alembic's "more than one head present" (seen here, intermittently)
    subprocess.run(
        [str(BIN / "dagster"), "instance", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    web_log, daemon_log = tmp_path / "webserver.log", tmp_path / "daemon.log"
    web = start(
        [
            str(BIN / "dagster-webserver"),
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env,
        web_log,
    )
    daemon = start([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, daemon_log)
    reader = open_reader(fresh.report.path)
    try:
        assert reader.opened[:2] == ["open", "first-run"]
        wait_for_server(port, [web, daemon])
        client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=60)
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # the code location may still be loading
            try:
                run_id = client.submit_job_execution("wlz_everything")
                break
            except DagsterGraphQLClientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        deadline = time.monotonic() + RUN_TIMEOUT
        status = None
        while time.monotonic() < deadline:
            status = client.get_run_status(run_id).value
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(1)
        assert status == "SUCCESS", (
            f"run {run_id} ended {status}\n--- daemon log ---\n{tail(daemon_log)}"
        )
        assert reader.ask("read") == ["read", *reader.opened[1:]]  # still the old publication
        assert reader.ask("reconnect")[1] == run_id  # then the new one
        assert reader.alive
    finally:
        stop(daemon)
        stop(web)
    publication = warehouse.parent / "wlz_bi.duckdb"
    con = duckdb.connect(str(publication), read_only=True)
    try:
        row = con.execute("SELECT run_id, checks_passed, key_source FROM bi.publication").fetchall()
        children = con.execute("SELECT count(*) FROM bi.dim_child").fetchall()[0][0]
    finally:
        con.close()
    assert row[0][0] == run_id and row[0][1] > 0 and row[0][2] == "environment"
    assert children > 0
    assert (warehouse.parent / "wlz_bi_parquet" / "publication.parquet").is_file()
