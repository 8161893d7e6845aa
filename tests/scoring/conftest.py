"""Fixtures for the scoring tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from wlz_pipeline.config import DEFAULT_CONFIG_DIR


@pytest.fixture
def config_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Copy ``config/`` to a temporary folder and point ``WLZ_CONFIG_DIR`` at it.

    Returns a function giving the path of one copied file, to edit in a test.
    """
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    monkeypatch.setenv("WLZ_CONFIG_DIR", str(target))
    return lambda name: target / name
