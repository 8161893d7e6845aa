"""Fixtures for the HTML report tests: the session's sample run (tests/conftest.py, which
materialises every asset, the reports included), read-only connections to its restricted
warehouse and its publication, and Debian's chromium driven by Playwright.

No browser is ever downloaded: Playwright launches /usr/bin/chromium (``make chromium``
installs it). Screenshots go to test-output/reports/ (gitignored)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "reports"


@dataclass(frozen=True)
class Sample:
    warehouse: Path
    publication: Path
    reports: Path
    result: object


@pytest.fixture(scope="session")
def sample(sample_run) -> Sample:
    wh = sample_run.warehouse
    return Sample(wh, wh.parent / "wlz_bi.duckdb", wh.parent / "reports", sample_run.result)


@pytest.fixture(scope="session")
def wh(sample) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(sample.warehouse), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="session")
def bi(sample) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(sample.publication), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's chromium is missing: run `make chromium` (never `playwright install`)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Opened:
    page: object
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def assert_clean(self, path: Path) -> None:
        assert self.console_errors == [], self.console_errors
        assert self.failed_requests == [], self.failed_requests
        # self-contained: the only request is the page itself
        assert self.requests == [path.resolve().as_uri()], self.requests


@pytest.fixture
def open_page(browser):
    """Open a report file in a fresh page: collects console errors, page errors and every
    request (failed or not), takes a full-page screenshot, checks the page is clean."""
    contexts = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _open(path: Path, shot: str) -> Opened:
        ctx = browser.new_context(viewport={"width": 1100, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        opened = Opened(page)
        page.on(
            "console",
            lambda m: opened.console_errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: opened.console_errors.append(str(e)))
        page.on("requestfailed", lambda r: opened.failed_requests.append(r.url))
        page.on("request", lambda r: opened.requests.append(r.url))
        response = page.goto(path.resolve().as_uri(), wait_until="load")
        assert response is None or response.ok
        page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)
        opened.assert_clean(path)
        return opened

    yield _open
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def rendered_copy(sample, tmp_path) -> Path:
    """A private copy of the sample's warehouse and publication (to render elsewhere)."""
    for name in ("wlz.duckdb", "wlz_bi.duckdb"):
        shutil.copy2(sample.warehouse.parent / name, tmp_path / name)
    return tmp_path / "wlz.duckdb"
