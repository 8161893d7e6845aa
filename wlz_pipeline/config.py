"""Typed access to the YAML files in ``config/``.

Every threshold, price, window, MIS layout and survey construct lives in ``config/``
with a comment saying where its default comes from. Code reads them through this module
so that a bad edit fails at start-up with the file and field named, not mid-run.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The default configuration folder; ``WLZ_CONFIG_DIR`` points a deployment elsewhere.
DEFAULT_CONFIG_DIR = REPO_ROOT / "config"


def config_dir() -> Path:
    """The configuration folder in force (``WLZ_CONFIG_DIR`` or the repository's)."""
    return Path(os.environ.get("WLZ_CONFIG_DIR", DEFAULT_CONFIG_DIR))


class ConfigError(ValueError):
    """A configuration file is missing or does not describe a valid setting."""


@lru_cache(maxsize=128)
def _load_yaml_cached(path: str, mtime_ns: int) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_yaml(relpath: str | Path, base: Path | None = None) -> Any:
    """Load ``config/<relpath>`` (cached until the file changes).

    Callers must treat the result as read-only: it is shared between callers.
    """
    path = Path(base or config_dir()) / relpath
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    try:
        return _load_yaml_cached(str(path), path.stat().st_mtime_ns)
    except yaml.YAMLError as exc:  # pragma: no cover - message pass-through
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
