"""Fixtures for the publication tests: warehouses built from the hand-made landing folder
(tests/data/landing) without Dagster, and their publications."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from wlz_pipeline import warehouse
from wlz_pipeline.ingest import ingest_all
from wlz_pipeline.publish import PublicationReport, parquet_link, publish

LANDING = Path(__file__).parent.parent / "data" / "landing"
TEST_KEY = "test-only-pseudonym-key-0123456789"


def build_warehouse(landing: Path, wh: Path) -> None:
    """Ingest ``landing`` and build staging and every mart, as a run would."""
    con = warehouse.connect(wh)
    try:
        warehouse.bootstrap(con)
        ingest_all(con, landing, wh.parent / "archive")
        try:
            from wlz_pipeline.marts.build import build_everything
        except ImportError:  # pragma: no cover - before the marts package existed
            from wlz_pipeline.models import build_all as build_everything
        build_everything(con)
    finally:
        con.close()


@dataclass
class Built:
    landing: Path
    warehouse: Path
    report: PublicationReport


@pytest.fixture(scope="session")
def published(tmp_path_factory) -> Built:
    """One warehouse and its publication (demo key, run id ``first-run``), built once.
    Tests only read it; ``fresh`` gives a private copy to change."""
    root = tmp_path_factory.mktemp("published")
    landing = root / "landing"
    shutil.copytree(LANDING, landing)
    wh = root / "wh" / "wlz.duckdb"
    build_warehouse(landing, wh)
    report = publish(wh, data_dir=landing, demo_key=True, run_id="first-run")
    return Built(landing, wh, report)


@pytest.fixture
def fresh(published, tmp_path) -> Built:
    """A private copy of the published fixture (landing, warehouse, publication)."""
    root = published.landing.parent
    for name in ("landing", "wh"):
        shutil.copytree(root / name, tmp_path / name, symlinks=True)
    wh = tmp_path / "wh" / "wlz.duckdb"
    report = dataclasses.replace(
        published.report,
        path=tmp_path / "wh" / published.report.path.name,
        parquet_dir=tmp_path / "wh" / published.report.parquet_dir.name,
    )
    return Built(tmp_path / "landing", wh, report)


@pytest.fixture
def bi(published) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(published.report.path), read_only=True)
    yield con
    con.close()


def _fingerprint(publication: Path) -> dict[str, str]:
    """sha256 of the published file and of every file the Parquet link points at, plus the
    link's target: equal fingerprints = byte-identical publication."""
    out = {"wlz_bi.duckdb": hashlib.sha256(publication.read_bytes()).hexdigest()}
    link = parquet_link(publication)
    if link.is_symlink():
        import os

        out["link"] = os.readlink(link)
        for f in sorted(link.iterdir()):
            out[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _published_run_id(publication: Path) -> str:
    con = duckdb.connect(str(publication), read_only=True)
    try:
        return con.execute("SELECT run_id FROM bi.publication").fetchall()[0][0]
    finally:
        con.close()


@pytest.fixture
def fingerprint():
    return _fingerprint


@pytest.fixture
def run_id_of():
    return _published_run_id


READER = textwrap.dedent(
    """
    import sys, duckdb
    path = sys.argv[1]
    def state(con):
        run = con.execute("SELECT run_id FROM bi.publication").fetchall()[0][0]
        n = con.execute("SELECT count(*) FROM bi.dim_child").fetchall()[0][0]
        return f"{run} {n}"
    con = duckdb.connect(path, read_only=True)
    print("open", state(con), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "read":
            print("read", state(con), flush=True)
        elif cmd == "reconnect":
            con.close()
            con = duckdb.connect(path, read_only=True)
            print("reconnected", state(con), flush=True)
        else:
            break
    """
)


class Reader:
    """A separate process holding the publication open read-only, as a BI tool does."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.opened = self.proc.stdout.readline().split()

    def ask(self, command: str) -> list[str]:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().split()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def open_reader():
    readers: list[Reader] = []

    def _open(path: Path) -> Reader:
        reader = Reader(path)
        readers.append(reader)
        return reader

    yield _open
    for reader in readers:
        reader.close()
