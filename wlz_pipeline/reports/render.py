"""Render every HTML report (``render_reports``): static, self-contained pages (inline CSS
and SVG, no script, a Content-Security-Policy that forbids any fetch), printable on A4.

Layout of the output folder (default ``<warehouse dir>/reports``)::

    index.html                      the publication's as-of date, links to everything
    summary.html                    WLZ summary (from bi.summary_constructs)
    partners/<id>_<year>_<term>.html  partner report cards (from bi.partner_report_card)
    restricted/index.html           RESTRICTED: lists the child profiles and claim packs
    restricted/children/<WLZ ID>.html  child profiles (restricted warehouse)
    restricted/claims/<period>_<commissioner>.html  claim packs (restricted warehouse)

The pages outside ``restricted/`` are built only from the published BI file, and are
scanned for WLZ ID- and UPN-shaped text before they are written (fail closed).
``restricted/`` is created owner-only (0700), its pages 0600. Each page is written to a
temporary file and renamed; pages of an earlier render that are no longer produced (a
child who left the register) are removed.

The body of a child profile or a claim pack (``child_main.html``, ``claim_main.html``:
tables and charts, most of the render's time) is cached in ``restricted/.cache/`` under a
digest of everything it is rendered from (``cache.py``), so a night on which few children's
data changed re-renders few bodies; the page around each body (generated at, publication
run) is rendered every time.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from wlz_pipeline import warehouse as wh
from wlz_pipeline.payments import ledger
from wlz_pipeline.payments.ledger import pounds
from wlz_pipeline.publish import publication_path
from wlz_pipeline.reports import published, restricted, svg
from wlz_pipeline.reports.cache import FragmentCache, code_digest, source_files

log = logging.getLogger(__name__)

#: The reports code: every file of it is in the cache keys (``_cache``).
PACKAGE = Path(__file__).parent
TEMPLATES = PACKAGE / "templates"
#: Text that must never appear on a page outside restricted/ (a WLZ ID; a UPN).
IDENTIFIER_PATTERNS = {
    "a WLZ ID": re.compile(r"WLZ[0-9]{9}"),
    "a UPN": re.compile(r"(?<![A-Za-z0-9])[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z](?![A-Za-z0-9])"),
}


class ReportError(RuntimeError):
    """The reports could not be rendered (nothing is left half-written)."""


@dataclass
class ReportResult:
    out_dir: Path
    index: Path
    restricted_index: Path | None
    pages: Counter = field(default_factory=Counter)  # page type -> pages written
    removed: int = 0
    as_of_date: date | None = None
    cache_hits: Counter = field(default_factory=Counter)  # page type -> bodies reused
    cache_misses: Counter = field(default_factory=Counter)  # page type -> bodies rendered
    cache_pruned: int = 0  # cache entries no page uses any more, removed


def reports_dir(warehouse_file: str | Path, explicit: str | Path | None = None) -> Path:
    """``explicit``, else ``WLZ_REPORTS_DIR``, else ``reports/`` beside the warehouse."""
    value = explicit or os.environ.get("WLZ_REPORTS_DIR")
    if value:
        return Path(value).resolve()
    return Path(warehouse_file).resolve().parent / "reports"


# -- formatting (jinja filters) ---------------------------------------------------------
def fmt_pct(x: Any, places: int = 0) -> str:
    return "–" if x is None else f"{float(x) * 100:.{places}f}%"


def fmt_num(x: Any, places: int = 1) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    v = float(x)
    return f"{v:,.0f}" if v.is_integer() and places == 0 else f"{v:,.{places}f}"


def fmt_date(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, datetime):
        return f"{x:%d %b %Y %H:%M}"
    if isinstance(x, date):
        return f"{x:%d %b %Y}"
    return str(x)


def fmt_gbp(pence: Any) -> str:
    return "–" if pence is None else pounds(int(pence))


def fmt_yesno(x: Any) -> str:
    return "–" if x is None else ("yes" if x else "no")


def humanise(x: Any) -> str:
    return "–" if x is None else str(x).replace("_", " ")


#: Attributes of a plain dict (``items``, ``keys``, ``get`` ...): for these names a template
#: gets the attribute, not the key, whatever the dict holds.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(jinja2.Environment):
    """Jinja's environment with a short cut for ``row.column`` on a plain dict (the
    restricted pages' rows; a page reads thousands of them).

    Jinja tries ``getattr(row, "column")`` first and only then ``row["column"]``: on a
    plain dict the attribute never exists unless it is one of dict's own, so the first
    try only costs an ``AttributeError``. Here the key is read directly in that case; the
    result is the same value (or undefined) in every case."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def _environment(threshold: int) -> jinja2.Environment:
    env = _Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # one environment per render: no need to stat each template
    )
    env.filters.update(
        pct=fmt_pct,
        num=fmt_num,
        day=fmt_date,
        gbp=fmt_gbp,
        yesno=fmt_yesno,
        human=humanise,
        construct=published.label,
    )
    mark = f"‹{threshold}"

    def cell(row: published.Row, column: str, kind: str = "num", places: int = 1) -> Markup:
        """A published figure as a ``<td>``: the suppression mark when the publisher
        withheld it, a dash when there is no data."""
        if row.is_suppressed(column):
            return Markup(
                f'<td class="num supp"><abbr title="suppressed: fewer than {threshold} '
                f'children">{escape(mark)}</abbr></td>'
            )
        v = row[column]
        text = fmt_pct(v) if kind == "pct" else fmt_num(v, places)
        return Markup(f'<td class="num">{escape(text)}</td>')

    env.globals.update(cell=cell, suppression_mark=mark, threshold=threshold)
    return env


# -- writing ------------------------------------------------------------------------------
def assert_no_child_identifiers(html: str, page: str) -> None:
    for what, pattern in IDENTIFIER_PATTERNS.items():
        if pattern.search(html):
            raise ReportError(f"{page} would contain {what}: not written (fail closed)")


class _Writer:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.written: set[Path] = set()
        self._folders: set[Path] = set()  # made already (a render writes thousands of pages)

    def write(self, rel: str, html: str, *, restricted_page: bool) -> Path:
        path = self.out / rel
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        if not restricted_page:
            assert_no_child_identifiers(html, rel)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                os.fchmod(fh.fileno(), 0o600 if restricted_page else 0o644)
                fh.write(html)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.written.add(path)
        return path

    def remove_stale(self, folders: list[Path]) -> int:
        n = 0
        for folder in folders:
            if folder.is_dir():
                for p in folder.glob("*.html"):
                    if p not in self.written:
                        p.unlink()
                        n += 1
        return n


def _restricted_dirs(out: Path) -> None:
    for d in (out / "restricted", out / "restricted" / "children", out / "restricted" / "claims"):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)


# -- charts -------------------------------------------------------------------------------
def _summary_chart(wave: published.SummaryWave, mark: str) -> Markup:
    rows = wave.rows
    groups = (
        ("WLZ", "wlz"),
        ("Matched comparison", "comparison"),
        ("Screened population", "population"),
    )
    series, missing = [], []
    for name, prefix in groups:
        series.append((name, [r[f"{prefix}_pct"] for r in rows]))
        missing.append([mark if r.is_suppressed(f"{prefix}_pct") else "no data" for r in rows])
    return svg.grouped_bars(
        [published.label(r["construct"]) for r in rows],
        series,
        missing_label=missing,
        title=f"Children at risk by construct, {wave.academic_year} {wave.wave}",
        desc="Share of children at risk on each construct among WLZ children, matched "
        "comparison children and all screened children; the same figures, with their n, "
        "are in the table above. Suppressed figures are marked " + mark + ".",
    )


def _child_charts(child: restricted.ChildProfile) -> dict[str, Any]:
    weeks = [
        (
            w["week_start"],
            float(w["lw_minutes"] or 0),
            w["checkin_met"] if w["school_week"] else None,
        )
        for w in child.weeks
    ]
    charts: dict[str, Any] = {
        "contact": svg.weekly_columns(
            weeks,
            title="Link worker contact per week",
            desc="Minutes of link worker contact in each week of the programme (all "
            "interactions), and whether the weekly check-in was met in school weeks. The "
            "termly totals are in the table below.",
        )
        if weeks
        else None,
        "programmes": {},
    }
    for p in child.programmes:
        if p.sessions:
            charts["programmes"][p.programme] = svg.session_strip(
                p.sessions,
                title=f"Sessions of {p.programme}: attendance and engagement",
                desc="Each session in date order: a dot at the engagement rating (1-5) when "
                "attended, a cross when missed, a grey tick when not counted.",
            )
    return charts


# -- cached page bodies -------------------------------------------------------------------
def _cache(out_dir: Path, enabled: bool) -> FragmentCache:
    """The body cache of ``out_dir`` (under restricted/: the bodies name children), salted
    with the digest of the code that renders them: this package (its Python and
    templates) and the module of the ``gbp`` filter."""
    salt = code_digest(source_files(PACKAGE, TEMPLATES, extra=[Path(ledger.__file__)]))
    return FragmentCache(out_dir / "restricted" / ".cache" if enabled else None, salt)


#: Where a cached child body shows the publication's as-of date: the date is put in when
#: the page is written, so a night with new data (a new as-of date) still finds the
#: bodies of the children whose own data did not change.
AS_OF_SLOT = Markup("<!--wlz:as-of-date-->")


def _body(
    env: jinja2.Environment,
    cache: FragmentCache,
    template: str,
    kind: str,
    inputs: dict[str, Any],
    drawn: Callable[[], dict[str, Any]] | None = None,
) -> Markup:
    """``template`` rendered from ``inputs`` alone, or its cached rendering.

    The key is the digest of ``inputs`` and the suppression threshold (the environment's
    only setting a template can read); the template and the code are in the cache's salt.
    ``drawn`` adds values computed from ``inputs`` (the charts) only when the body is
    rendered: they must depend on nothing else. The body's chart ids are numbered from 1,
    so it is the same whatever was rendered before it."""
    key = cache.key(template, (env.globals["threshold"], inputs))
    html = cache.get(kind, key)
    if html is None:
        with svg.page_ids():
            html = env.get_template(template).render(**inputs, **(drawn() if drawn else {}))
        cache.put(key, html)
    return Markup(html)


# -- child profiles, in several processes --------------------------------------------------
@dataclass(frozen=True)
class _ChildPages:
    """What a process needs to write its share of the child profile pages."""

    warehouse: Path
    threshold: int
    cache_folder: Path | None
    cache_salt: bytes
    base: dict[str, Any]
    out_dir: Path


def _write_child_pages(
    job: _ChildPages,
    children: list[restricted.ChildProfile],
    env: jinja2.Environment,
    bodies: FragmentCache,
    writer: _Writer,
) -> int:
    child_page = env.get_template("child.html")
    as_of = str(escape(fmt_date(job.base["pub"].as_of_date)))
    for child in children:
        main = _body(
            env,
            bodies,
            "child_main.html",
            "child",
            {"child": child, "as_of_date": AS_OF_SLOT},
            lambda child=child: {"charts": _child_charts(child)},
        )
        main = Markup(str(main).replace(AS_OF_SLOT, as_of))
        html = child_page.render(
            **job.base, child=child, main=main, root="../../", restricted_page=True
        )
        writer.write(f"restricted/children/{child.file_name}", html, restricted_page=True)
    return len(children)


def _load_children(job: _ChildPages, share: tuple[int, int]) -> list[restricted.ChildProfile]:
    con = wh.connect(job.warehouse, read_only=True)
    try:
        return restricted.child_profiles(con, job.base["pub"].as_of_date, share)
    finally:
        con.close()


@dataclass
class _Share:
    """What a worker did with its share: the pages written, and what the caller's index,
    writer and cache must know of them."""

    pages: int
    children: list[restricted.ChildProfile]  # for the index: details and alerts only
    written: set[Path]
    used: set[str]
    hits: Counter[str]
    misses: Counter[str]


def _child_pages_worker(job: _ChildPages, share: tuple[int, int]) -> _Share:
    """A worker process's share: it reads its children from the warehouse (read-only,
    beside the caller's connection) and writes their pages."""
    children = _load_children(job, share)
    bodies = FragmentCache(job.cache_folder, job.cache_salt)
    writer = _Writer(job.out_dir)
    n = _write_child_pages(job, children, _environment(job.threshold), bodies, writer)
    slim = [
        restricted.ChildProfile(wlz_id=c.wlz_id, details=c.details, alerts=c.alerts)
        for c in children
    ]
    return _Share(n, slim, writer.written, bodies.used, bodies.hits, bodies.misses)


class _ChildPagesInParallel:
    """The child profile pages split among ``reports.processes`` processes
    (config/settings.yaml): this one and spawned workers, each reading and writing every
    n-th child (``start`` before this process reads its own share, so that the workers
    read theirs meanwhile). A page is the same bytes whichever process writes it (its
    chart ids count per page). A worker that dies costs time: its share is done here."""

    def __init__(self, job: _ChildPages, enrolled: int) -> None:
        from wlz_pipeline.settings import load_settings

        cfg = load_settings().reports
        self.job = job
        self.processes = 1 if enrolled < cfg.process_from_pages else cfg.processes
        self.pool = None
        self.futures: list = []

    def start(self) -> None:
        if self.processes == 1:
            return
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the run's process has threads (Dagster's, DuckDB's)
        ctx = multiprocessing.get_context("spawn")
        self.pool = ProcessPoolExecutor(max_workers=self.processes - 1, mp_context=ctx)
        self.futures = [
            self.pool.submit(_child_pages_worker, self.job, (i, self.processes))
            for i in range(1, self.processes)
        ]

    @property
    def share(self) -> tuple[int, int]:
        """This process's share."""
        return (0, self.processes)

    def finish(
        self,
        children: list[restricted.ChildProfile],
        env: jinja2.Environment,
        bodies: FragmentCache,
        writer: _Writer,
    ) -> tuple[int, list[restricted.ChildProfile]]:
        """Write this process's share (``children``), then take in the workers'; the
        pages written and every child (in WLZ ID order, for the index)."""
        from concurrent.futures.process import BrokenProcessPool

        n = _write_child_pages(self.job, children, env, bodies, writer)
        every = list(children)
        try:
            for i, future in enumerate(self.futures, start=1):
                try:
                    done: _Share = future.result()
                except BrokenProcessPool as exc:
                    log.warning("a report worker died (%s): its pages are written here", exc)
                    share = _load_children(self.job, (i, self.processes))
                    n += _write_child_pages(self.job, share, env, bodies, writer)
                    every += share
                    continue
                n += done.pages
                every += done.children
                writer.written |= done.written
                bodies.used |= done.used
                bodies.hits.update(done.hits)
                bodies.misses.update(done.misses)
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)
        return n, sorted(every, key=lambda c: c.wlz_id)


# -- the whole render ---------------------------------------------------------------------
def render_reports(
    warehouse_file: str | Path,
    out: str | Path | None = None,
    *,
    publication_file: str | Path | None = None,
    now: datetime | None = None,
    cache: bool = True,
) -> ReportResult:
    """Render every report from the publication (public pages) and the restricted
    warehouse (child profiles, claim packs). Raises ``ReportError``.

    ``cache=False`` renders every body afresh and leaves the body cache untouched (the
    pages are the same bytes either way)."""
    warehouse_file = Path(warehouse_file).resolve()
    pub_path = publication_path(warehouse_file, publication_file)
    if not pub_path.is_file():
        raise ReportError(f"no publication at {pub_path}: run the pipeline (or wlz publish) first")
    if not warehouse_file.is_file():
        raise ReportError(f"no warehouse at {warehouse_file}: run the pipeline first")
    out_dir = reports_dir(warehouse_file, out)
    generated = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0, tzinfo=None)

    with published.open_publication(pub_path) as bi:
        pub = published.publication(bi)
        waves = published.summary_waves(bi)
        cards = published.partner_cards(bi)
    try:
        con = wh.connect(warehouse_file, read_only=True)
    except Exception as exc:  # noqa: BLE001 - duckdb raises several kinds
        raise ReportError(
            f"cannot open the warehouse {warehouse_file} read-only ({exc}); is a run writing it?"
        ) from exc
    base = {"pub": pub, "generated_at": generated}
    out_dir.mkdir(parents=True, exist_ok=True)
    _restricted_dirs(out_dir)
    bodies = _cache(out_dir, cache)
    job = _ChildPages(
        warehouse_file, pub.suppression_threshold, bodies.folder, bodies.salt, base, out_dir
    )
    try:
        parallel = _ChildPagesInParallel(job, restricted.enrolled_children(con))
        parallel.start()
        children = restricted.child_profiles(con, pub.as_of_date, parallel.share)
        packs = restricted.claim_packs(con)
    finally:
        con.close()

    env = _environment(pub.suppression_threshold)
    writer = _Writer(out_dir)
    result = ReportResult(out_dir, out_dir / "index.html", None, as_of_date=pub.as_of_date)
    mark = env.globals["suppression_mark"]
    if waves:
        with svg.page_ids():
            charts = {w.slug: _summary_chart(w, mark) for w in waves}
        html = env.get_template("summary.html").render(
            **base, waves=waves, charts=charts, root="", restricted_page=False
        )
        writer.write("summary.html", html, restricted_page=False)
        result.pages["summary"] += 1
    partner_page = env.get_template("partner.html")
    for card in cards:
        html = partner_page.render(**base, card=card, root="../", restricted_page=False)
        writer.write(f"partners/{card.file_name}", html, restricted_page=False)
        result.pages["partner"] += 1
    pages, children = parallel.finish(children, env, bodies, writer)
    result.pages["child"] += pages
    claim_page = env.get_template("claim.html")
    for pack in packs:
        main = _body(env, bodies, "claim_main.html", "claim", {"pack": pack})
        html = claim_page.render(**base, pack=pack, main=main, root="../../", restricted_page=True)
        writer.write(f"restricted/claims/{pack.file_name}", html, restricted_page=True)
        result.pages["claim"] += 1
    html = env.get_template("restricted_index.html").render(
        **base, children=children, packs=packs, root="../", restricted_page=True
    )
    result.restricted_index = writer.write("restricted/index.html", html, restricted_page=True)
    html = env.get_template("index.html").render(
        **base,
        waves=waves,
        cards=cards,
        n_children=len(children),
        n_packs=len(packs),
        root="",
        restricted_page=False,
    )
    writer.write("index.html", html, restricted_page=False)
    result.pages["index"] += 2
    result.removed = writer.remove_stale(
        [
            out_dir / "partners",
            out_dir / "restricted" / "children",
            out_dir / "restricted" / "claims",
        ]
    )
    if not waves and (out_dir / "summary.html").exists():
        (out_dir / "summary.html").unlink()
        result.removed += 1
    result.cache_hits, result.cache_misses = bodies.hits, bodies.misses
    result.cache_pruned = bodies.prune()
    return result
