"""Shared fixtures: a real DuckDB warehouse file per test, copies of the hand-made
landing folder in tests/data/landing that a test may change, and the committed sample
materialised once per session by Dagster (``sample_run``)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

from wlz_pipeline import warehouse
from wlz_pipeline.config import DEFAULT_CONFIG_DIR

TEST_DATA = Path(__file__).parent / "data"
LANDING = TEST_DATA / "landing"
SAMPLE = Path(__file__).parent.parent / "data" / "sample"


@dataclass(frozen=True)
class SampleRun:
    """The whole asset graph (and its checks) materialised on data/sample."""

    result: object  # dagster ExecuteInProcessResult
    warehouse: Path


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> SampleRun:
    """The committed sample, materialised by Dagster into a temporary warehouse, once per
    test session (about a minute): the publication (the sample's documented demo key) and
    the HTML reports are written beside it. Tests only read it. Like ``wlz run``, the run
    holds the warehouse open between its steps (``warehouse.held_open``), so GX, the
    reports and the publication must each release it to run at all. It runs them with
    Dagster's own in-process executor, one step at a time: tests/test_executor.py runs the
    code location's, steps side by side, and compares the two."""
    import dagster as dg

    from assets.resources import WarehouseResource
    from wlz_pipeline.definitions import ALL_ASSETS, ALL_CHECKS

    wh = tmp_path_factory.mktemp("sample") / "wlz.duckdb"
    with dg.DagsterInstance.ephemeral() as instance, warehouse.held_open():
        result = dg.materialize(
            [*ALL_ASSETS, *ALL_CHECKS],
            resources={"wlz": WarehouseResource(data_dir=str(SAMPLE), warehouse=str(wh))},
            instance=instance,
            raise_on_error=False,
        )
    return SampleRun(result, wh)


@pytest.fixture
def config_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Copy ``config/`` to a temporary folder and point ``WLZ_CONFIG_DIR`` at it (this
    process, and the processes it starts).

    Returns a function giving the path of one copied file, to edit in a test.
    """
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    monkeypatch.setenv("WLZ_CONFIG_DIR", str(target))
    return lambda name: target / name


@pytest.fixture
def edit_settings(config_copy: Callable[[str], Path]) -> Callable[..., None]:
    """Change settings in the copy's settings.yaml: ``edit_settings(run={"concurrent_steps":
    1})`` (its comments are not kept)."""

    def edit(**sections: dict) -> None:
        path = config_copy("settings.yaml")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for section, values in sections.items():
            data[section].update(values)
        path.write_text(yaml.safe_dump(data), encoding="utf-8")

    return edit


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """A private copy of tests/data/landing."""
    dst = tmp_path / "landing"
    shutil.copytree(LANDING, dst)
    return dst


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A bootstrapped warehouse in a real DuckDB file."""
    c = warehouse.connect(tmp_path / "wh" / "wlz.duckdb")
    warehouse.bootstrap(c)
    yield c
    c.close()


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "wh" / "archive"


# DuckDB's bindings (nanobind) print "leaked type/function" warnings at interpreter
# shutdown when GX's SQLAlchemy engines still reference DuckDB objects. They are harmless,
# but they would follow pytest's closing line, which CI and people read. So the test
# process leaves without the interpreter's teardown, once pytest has reported.
_exit_status: list[int] = []


def pytest_sessionfinish(session, exitstatus) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    import os
    import sys

    if not _exit_status or hasattr(sys, "ps1"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    if "PYTEST_XDIST_WORKER" in os.environ:
        # an xdist worker (make test runs two) has sent its results, and must leave
        # normally for its controller; only its teardown's stderr, which would land in
        # the middle of the controller's report, goes to /dev/null. At exit, not now:
        # pytest gives the worker its stderr back after this hook.
        import atexit

        atexit.register(os.dup2, os.open(os.devnull, os.O_WRONLY), 2)
        return
    os._exit(_exit_status[-1])
