"""Shared fixtures: a real DuckDB warehouse file per test, and copies of the hand-made
landing folder in tests/data/landing that a test may change."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from wlz_pipeline import warehouse

TEST_DATA = Path(__file__).parent / "data"
LANDING = TEST_DATA / "landing"


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

    if _exit_status and not hasattr(sys, "ps1"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
