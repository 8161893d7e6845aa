"""Run-time settings: paths from options or the environment, the rest from
``config/settings.yaml``."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from wlz_pipeline.config import REPO_ROOT, load_yaml

DEFAULT_DATA_DIR = REPO_ROOT / "data" / "sample"
DEFAULT_WAREHOUSE = REPO_ROOT / ".wlz" / "warehouse" / "wlz.duckdb"


class DuckDBSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    memory_limit: str = "2500MB"
    threads: int = 2
    temp_directory: str | None = None
    hold_between_steps: bool = True


class IngestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    commit_files: int = 64
    parse_workers: int = Field(default=2, ge=1)
    trust_file_stats: bool = True
    settled_seconds: float = Field(default=2.0, ge=0)


class QualitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gx_results_kept: int = 7
    gx_worker: bool = True


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    processes: int = Field(default=2, ge=1)
    process_from_pages: int = Field(default=400, ge=1)


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    concurrent_steps: int = Field(default=2, ge=1)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duckdb: DuckDBSettings = DuckDBSettings()
    ingest: IngestSettings = IngestSettings()
    quality: QualitySettings = QualitySettings()
    reports: ReportSettings = ReportSettings()
    run: RunSettings = RunSettings()
    landing_ignore: list[str] = []
    sensor_stable_seconds: float = 30


def load_settings() -> Settings:
    return Settings.model_validate(load_yaml("settings.yaml"))


def data_dir(explicit: str | Path | None = None) -> Path:
    """The landing folder: the option, else ``WLZ_DATA_DIR``, else the committed sample."""
    value = explicit or os.environ.get("WLZ_DATA_DIR") or DEFAULT_DATA_DIR
    return Path(value).resolve()


def warehouse_path(explicit: str | Path | None = None) -> Path:
    """The restricted warehouse file: the option, else ``WLZ_WAREHOUSE``, else ``.wlz/``."""
    value = explicit or os.environ.get("WLZ_WAREHOUSE") or DEFAULT_WAREHOUSE
    return Path(value).resolve()
