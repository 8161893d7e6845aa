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
