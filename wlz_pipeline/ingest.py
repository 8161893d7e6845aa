"""Landing folder -> file registry -> raw layer.

Every file is identified by its content hash: the same bytes dropped twice, or under a
new name, ingest nothing new (status ``duplicate``). Each received file is kept in a
content-addressed archive beside the warehouse. A file that cannot be read, or sits
where the pipeline does not expect it, is ``quarantined`` whole with a reason a person
can act on; every other file still goes through. A newer file of the same kind for the
same anchor and period ``supersedes`` the older one (the older stays in the registry).

A file's rows, findings and registry entry commit together (with the other files of
its batch, ``_Batch``), so a failure part-way through leaves no half-loaded file behind.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import queue
import shutil
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa

from wlz_pipeline.canonical import (
    INTERACTION_FIELDS,
    MIS_DATE_FIELDS,
    PARTNER_KEYS,
    PARTNER_TABLES,
    REFERENCE_FILES,
)
from wlz_pipeline.settings import load_settings
from wlz_pipeline.sources.ctf import ctf_source_urn, read_ctf
from wlz_pipeline.sources.duck_csv import (
    SCRATCH,
    ScannedBody,
    attach_scratch,
    detach_scratch,
    scan_body,
)
from wlz_pipeline.sources.mis import MisProfile, load_profiles, mis_layout
from wlz_pipeline.sources.survey import survey_layout
from wlz_pipeline.sources.tabular import fixed_layout, read_fixed_csv
from wlz_pipeline.sources.text import HeaderAt, Rows, UnreadableFile, canonical_rows
from wlz_pipeline.warehouse import transaction

log = logging.getLogger(__name__)

#: Landing sub-folders and the source each holds (sources.md "Landing layout").
SOURCES = ("reference", "mis", "surveys", "interactions", "partners")
MAX_FILE_BYTES = 2 * 1024**3
#: The sources whose files are read on several threads (``Ingestor.ingest_source``):
#: CSV exports that DuckDB scans. Reference files are read before anything can be
#: checked against them, and partner templates are read in Python (one core whatever
#: the threads).
PARALLEL_SOURCES = ("mis", "surveys", "interactions")
#: How much of an MIS extract is read to tell whether it is a pupil register
#: (``Ingestor.is_register``): the header is within its first ten records.
REGISTER_PEEK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Finding:
    """A file-level or cell-level note about a file, stored in ``meta.file_findings``.
    ``problem`` never quotes the value (safe for logs); ``value`` is restricted."""

    severity: str  # error | warn | info
    problem: str
    location: str | None = None
    column: str | None = None
    expected: str | None = None
    code: str | None = None
    value: str | None = None


def ignored_column(column: str, why: str) -> Finding:
    return Finding(
        "info", f"column {column!r} is {why}; ignored", column=column, code="column_ignored"
    )


@dataclass
class Parsed:
    """What a reader made of one file: canonical rows per raw table (read in Python, or
    by DuckDB into a table of its in-memory scratch database), and notes."""

    tables: dict[str, Rows | Columns | ScannedBody] = field(default_factory=dict)
    profile: str | None = None
    kinds: list[str] = field(default_factory=list)
    period: str | None = None
    as_of: date | None = None
    findings: list[Finding] = field(default_factory=list)


@dataclass
class IngestReport:
    source: str
    seen: int = 0
    ingested: int = 0
    duplicates: int = 0
    quarantined: int = 0
    unchanged: int = 0
    unread: int = 0  # of the unchanged: known by their stat, not read (landing_stats)
    rows: int = 0
    read_by_duckdb: int = 0  # CSVs whose rows DuckDB's reader loaded (duck_csv)
    quarantine_reasons: list[tuple[str, str]] = field(default_factory=list)

    def as_metadata(self) -> dict[str, int]:
        return {
            "files_seen": self.seen,
            "files_ingested": self.ingested,
            "files_duplicate": self.duplicates,
            "files_quarantined": self.quarantined,
            "files_already_known": self.unchanged,
            "files_known_without_reading": self.unread,
            "rows_ingested": self.rows,
            "files_read_by_duckdb": self.read_by_duckdb,
        }


#: What ``os.stat`` says of a file that no write can leave unchanged: size, modification
#: and change times (ns), inode and device (``meta.landing_stats``).
Signature = tuple[int, int, int, int, int]
SIGNATURE_COLUMNS = ("size_bytes", "mtime_ns", "ctime_ns", "inode", "device")


def file_signature(st: os.stat_result) -> Signature:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def last_changed_ns(sig: Signature | list[int]) -> int:
    """When a file last changed: the later of its modification and change times (a copy
    that puts an old mtime back, ``cp -p`` or ``rsync -t``, still sets the change time)."""
    return max(sig[1], sig[2])


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def landing_files(data_dir: Path, source: str) -> list[Path]:
    """Files under one landing sub-folder, never following links out of it.

    Order decides which of two identical files seen in the same scan is the original
    and which the duplicate: per folder, shorter names first ("Pupils.csv" before
    "Pupils (1).csv" or "Copy of Pupils.csv"), then by name; deterministic."""
    root = data_dir / source
    if not root.is_dir():
        return []
    out = [
        p
        for p in root.rglob("*")
        if not p.is_symlink() and p.is_file() and not p.name.startswith(".")
    ]
    return sorted(out, key=lambda p: (p.parent.as_posix(), len(p.name), p.name))


def stray_files(data_dir: Path, ignore: Iterable[str]) -> list[Path]:
    """Top-level files and folders the landing layout does not have."""
    ignore = set(ignore)
    return [
        p
        for p in sorted(data_dir.iterdir())
        if p.name not in SOURCES and p.name not in ignore and not p.name.startswith(".")
    ]


def _parse_date(value: str | None, formats: Iterable[str]) -> date | None:
    if not value:
        return None
    for f in formats:
        try:
            return datetime.strptime(value.strip(), f).date()
        except ValueError:
            continue
    return None


def academic_year(d: date) -> str:
    start = d.year if d.month >= 9 else d.year - 1
    return f"{start}/{(start + 1) % 100:02d}"


#: A raw table's rows column by column: ``_row_number`` and each field's text, all of one
#: length (what ``_cell_columns`` makes of a partner template's rows).
Columns = dict[str, list]


def _row_columns(rows: Rows) -> Columns:
    """``Rows`` (line number, fields) column by column."""
    if not rows:
        return {}
    cols: Columns = {"_row_number": [ln for ln, _ in rows]}
    for f in rows[0][1]:
        cols[f] = [r.get(f) for _, r in rows]
    return cols


def _cell_columns(items: Sequence, ident: Mapping[str, str], fields: Sequence[str]) -> Columns:
    """A template's rows (``items``, each with its ``cell``, e.g. ``Attendance!D5``) as
    columns: ``_row_number`` (the cell's row), the template's identity (``ident``), the
    sheet and cell, and ``fields`` as text (None stays None). Built column by column: a
    dict per row, turned into columns later, made ingesting the zone's 448 templates
    about a tenth slower (10.0 -> 9.0 s)."""
    refs = [(x.cell or "").partition("!") for x in items]
    digits = ["".join(ch for ch in cell if ch.isdigit()) for _, _, cell in refs]
    cols: Columns = {"_row_number": [int(d) if d else 0 for d in digits]}
    cols.update((k, [v] * len(items)) for k, v in ident.items())
    cols["sheet"] = [sheet or None for sheet, _, _ in refs]
    cols["cell"] = [cell or None for _, _, cell in refs]
    for f in fields:
        cols[f] = [None if (v := getattr(x, f)) is None else str(v) for x in items]
    return cols


def field_values(
    con: duckdb.DuckDBPyConnection, body: Rows | ScannedBody, fields: Iterable[str]
) -> list[str | None]:
    """The values of ``fields`` in a file's rows (distinct ones when DuckDB read them)."""
    if isinstance(body, ScannedBody):
        return list(body.distinct(con, list(fields)))
    fields = list(fields)
    return [r.get(f) for _, r in body for f in fields]


def _mis_period(
    kind: str, values: Iterable[str | None], formats: list[str]
) -> tuple[str | None, date | None]:
    """What a MIS extract covers, from the values of its kind's date fields."""
    dates = [d for v in values if (d := _parse_date(v, formats)) is not None]
    if not dates:
        return None, None
    lo, hi = min(dates), max(dates)
    if kind == "pupils":  # one register snapshot per academic year
        return academic_year(hi), hi
    return f"{lo.isoformat()}..{hi.isoformat()}", hi


def _current(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of current (not superseded) files; ``r`` is the raw table's alias and
    ``{current}`` the join that keeps current files."""
    return con.execute(
        sql.replace(
            "{current}",
            "JOIN meta.file_registry f ON f.file_hash = r._file_hash AND f.status = 'ingested'",
        ),
        params or [],
    ).fetchall()


def known_children(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every enrolled child's WLZ ID and name, which templates are checked against; the
    same for every template of one scan, so it is read once per scan.

    The name is the forename and surname of one register row: the newest, in
    staging.pupils' order (the row's extract date, else its file's as-of date, else the
    day the file arrived; then the file's as-of date, its arrival, its path and the row
    number), so ties between extracts of the same date resolve the same way every time."""
    return dict(
        _current(
            con,
            """SELECT upper(trim(r.wlz_id)), coalesce(p.name[1] || ' ' || p.name[2], '')
               FROM raw.ref_enrolments r {current}
               LEFT JOIN (
                   SELECT upper(replace(trim(x.upn), ' ', '')) AS upn,
                          arg_max(
                              [trim(x.forename), trim(x.surname)],
                              (coalesce(wlz_date(x.extract_date), fx.as_of,
                                        CAST(fx.arrived_at AS DATE)),
                               coalesce(fx.as_of, DATE '0001-01-01'),
                               fx.arrived_at, fx.path, x._row_number)) AS name
                   FROM raw.pupils x
                   JOIN meta.file_registry fx
                     ON fx.file_hash = x._file_hash AND fx.status = 'ingested'
                   GROUP BY 1) p
                 ON p.upn = upper(replace(trim(r.upn), ' ', ''))""",
        )
    )


class PartnerLookups:
    """What returned templates are checked against, read from the raw layer once per scan
    (so it works before staging is rebuilt, and on a read-only warehouse): the children
    allocated to each programme and term, every enrolled child's name
    (``known_children``) and each term's dates. One scan of the zone checks ~450
    templates; reading these per template cost about a quarter of ingesting them."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.allocated: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
        for partner, programme, year, term, wlz in _current(
            con,
            "SELECT upper(trim(r.partner_id)), trim(r.programme), trim(r.academic_year), "
            "lower(trim(r.term)), upper(trim(r.wlz_id)) FROM raw.ref_allocations r {current}",
        ):
            self.allocated[(partner, programme, year, term)].add(wlz)
        self.terms: dict[tuple[str, str], tuple[date, date] | None] = {
            (year, term): None if lo is None else (lo, hi)
            for year, term, lo, hi in _current(
                con,
                "SELECT trim(r.academic_year), lower(trim(r.term)), "
                "min(wlz_date(r.start_date)), max(wlz_date(r.end_date)) "
                "FROM raw.ref_calendar r {current} GROUP BY ALL",
            )
        }
        from wlz_pipeline.sources.partner_template_read import normalised_ids

        self.known = normalised_ids(known_children(con))

    def context(
        self, partner: str, programme: str, year: str, term: str
    ) -> tuple[set[str], Mapping[str, str], tuple[date, date] | None]:
        """``(allocated, known children, term dates)`` for one template's About sheet."""
        return (
            set(self.allocated.get((partner, programme, year, term), ())),
            self.known,
            self.terms.get((year, term)),
        )


def partner_context(
    con: duckdb.DuckDBPyConnection, partner: str, programme: str, year: str, term: str
) -> tuple[set[str], Mapping[str, str], tuple[date, date] | None]:
    """``PartnerLookups(con).context(...)``: for checking one template on its own."""
    return PartnerLookups(con).context(partner, programme, year, term)


class _InOrder:
    """Work on a file's cursor, handed back in the order it was put: ``put(fn)`` runs
    ``fn(cursor)`` (at once with one worker, on ``con`` itself; else on a thread of the
    pool, with a cursor of ``con`` that no other thread uses meanwhile); ``ready()``
    yields the results at the head of the queue that are done, waiting for the head
    while more than ``ahead`` are queued; ``rest()`` yields every result left. An
    exception raised by ``fn`` is raised by the ``ready``/``rest`` that reaches it;
    leaving the block cancels what has not started and waits for what has."""

    def __init__(self, con: duckdb.DuckDBPyConnection, workers: int, ahead: int) -> None:
        self.con, self.ahead = con, max(1, ahead)
        self.queued: deque[Future] = deque()
        self.cursors: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
        self._opened: list[duckdb.DuckDBPyConnection] = []
        self.pool: ThreadPoolExecutor | None = None
        if workers > 1:
            self._opened = [con.cursor() for _ in range(workers)]
            for cur in self._opened:
                self.cursors.put(cur)
            self.pool = ThreadPoolExecutor(workers, thread_name_prefix="wlz-ingest")

    def __enter__(self) -> _InOrder:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
        finally:
            for cur in self._opened:
                cur.close()

    def _on_a_cursor(self, fn: Callable[[duckdb.DuckDBPyConnection], object]) -> object:
        cur = self.cursors.get()
        try:
            return fn(cur)
        finally:
            self.cursors.put(cur)

    def put(self, fn: Callable[[duckdb.DuckDBPyConnection], object]) -> None:
        if self.pool is not None:
            self.queued.append(self.pool.submit(self._on_a_cursor, fn))
            return
        done: Future = Future()
        try:
            done.set_result(fn(self.con))
        except BaseException as exc:  # raised in order, by ready()
            done.set_exception(exc)
        self.queued.append(done)

    def ready(self) -> Iterator:
        while self.queued and (self.queued[0].done() or len(self.queued) > self.ahead):
            yield self.queued.popleft().result()

    def rest(self) -> Iterator:
        while self.queued:
            yield self.queued.popleft().result()


class _Batch:
    """The files of one scan, committed a batch at a time: each file's rows, findings
    and registry entry are in the same transaction as the other files of its batch, so
    a failure leaves every file wholly in or wholly out (a rerun takes in the files
    whose batch did not commit; archived copies are content-addressed and rewritten
    identically). One commit per file cost about a tenth of the zone's ingestion; a
    file's rows wait in the scans' scratch database (duck_csv) or in memory until the
    commit."""

    def __init__(self, ing: Ingestor, report: IngestReport, size: int) -> None:
        self.ing, self.report, self.size = ing, report, max(1, size)
        self.pending: list[tuple[Parsed, str, dict, str] | dict] = []

    def register(self, **row: object) -> None:
        """A registry entry without rows (a duplicate or a quarantined file)."""
        self.pending.append(row)
        self._maybe_commit()

    def load(self, parsed: Parsed, file_hash: str, base: dict, archived_as: str) -> None:
        self.pending.append((parsed, file_hash, base, archived_as))
        self._maybe_commit()

    def _maybe_commit(self) -> None:
        if len(self.pending) >= self.size:
            self.commit()

    def commit(self) -> None:
        pending, self.pending = self.pending, []
        if not pending:
            return
        ing, loaded = self.ing, []
        try:
            with transaction(ing.con):
                for item in pending:
                    if isinstance(item, dict):
                        ing._register(**item)
                    else:
                        loaded.append((item[0], ing._load(*item)))
                ing._flush()
        finally:
            ing._buffered.clear()
            ing._scanned.clear()
            for item in pending:
                if not isinstance(item, dict):
                    for body in item[0].tables.values():
                        if isinstance(body, ScannedBody):
                            body.drop(ing.con)
        for parsed, n in loaded:
            self.report.ingested += 1
            self.report.rows += n
            self.report.read_by_duckdb += any(
                isinstance(b, ScannedBody) for b in parsed.tables.values()
            )


class Ingestor:
    """Registers and ingests the files of one landing sub-folder."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        data_dir: Path,
        archive_dir: Path,
        run_started: datetime | None = None,
    ) -> None:
        self.con = con
        self.data_dir = data_dir
        self.archive_dir = archive_dir
        #: rows and findings read into memory, by table, until ``_flush``
        self._buffered: dict[str, list[pa.Table]] = defaultdict(list)
        #: scanned files' rows (``ScannedBody``), by table, until ``_flush``: (SQL, params)
        self._scanned: dict[str, list[tuple[str, list]]] = defaultdict(list)
        now = run_started or datetime.now().replace(microsecond=0)
        # A scan's arrival time is strictly after every earlier scan's, so "newest file"
        # (apply_supersede) never ties between scans: two scans within one second (a
        # corrected re-send dropped straight after the original) or a clock set back.
        (last,) = con.execute("SELECT max(arrived_at) FROM meta.file_registry").fetchone()
        self.now = max(now, last + timedelta(seconds=1)) if last is not None else now
        self._profiles: dict[str, MisProfile] | None = None
        self._anchors: dict[str, str | None] | None = None
        self._lookups: PartnerLookups | None = None  # what templates are checked against
        self._partners: set[str] | None = None
        #: numbers the files DuckDB's reader loads, for their scratch tables' names (a
        #: count's next() is atomic: the parsing threads share it)
        self._scans = itertools.count(1)
        self._scratch = SCRATCH  # ingest_source gives each source its own

    # -- reference lookups -------------------------------------------------------------
    @property
    def profiles(self) -> dict[str, MisProfile]:
        if self._profiles is None:
            self._profiles = load_profiles()
        return self._profiles

    def anchors(self) -> dict[str, str | None]:
        """Current anchors (URN -> MIS profile) from the current reference file (read
        once per scan of a folder: reference files are ingested before MIS extracts)."""
        if self._anchors is not None:
            return self._anchors
        rows = self.con.execute(
            """SELECT trim(a.urn), lower(trim(a.mis_profile)) FROM raw.ref_anchors a
               JOIN meta.file_registry f ON f.file_hash = a._file_hash
               WHERE f.status = 'ingested'"""
        ).fetchall()
        self._anchors = dict(rows)
        return self._anchors

    # -- parsing --------------------------------------------------------------------------
    def parse(
        self,
        source: str,
        rel: Path,
        data: bytes,
        stored: Path | None = None,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> Parsed:
        """Read one file. ``stored`` is a copy of exactly ``data`` (the archived file),
        which DuckDB's CSV reader may read instead of parsing ``data`` in Python; ``con``
        (default: the ingestor's own) is the cursor it scans with, for the sources read
        on several threads (``PARALLEL_SOURCES``)."""
        con = con or self.con
        if source == "partners":
            return self._parse_partner(rel)
        if source == "reference":
            return self._parse_reference(rel, data)
        if source == "mis":
            return self._parse_mis(con, rel, data, stored)
        if source == "surveys":
            return self._parse_fixed(con, rel, data, "survey_responses", stored)
        if source == "interactions":
            return self._parse_fixed(con, rel, data, "interactions", stored)
        raise UnreadableFile(f"no reader for the {source}/ folder")

    def _body(
        self,
        con: duckdb.DuckDBPyConnection,
        stored: Path | None,
        text: str,
        encoding: str,
        at: HeaderAt,
        index: dict[str, int],
        fields: tuple[str, ...],
    ) -> Rows | ScannedBody:
        """A CSV's rows: by DuckDB when it can read them exactly (duck_csv), else Python."""
        if stored is not None:
            # a name of its own: the files of a batch wait for one commit (_Batch)
            name = f"_wlz_scan_{next(self._scans)}"
            scanned = scan_body(
                con, stored, text, encoding, at, index, fields, name, database=self._scratch
            )
            if scanned is not None:
                return scanned
        return canonical_rows(text, at, index, fields)

    def _parse_reference(self, rel: Path, data: bytes) -> Parsed:
        if rel.suffix.lower() != ".csv" or len(rel.parts) != 2:
            raise UnreadableFile("reference files are CSVs directly in reference/")
        stem = rel.stem.lower()
        name = next((n for n in REFERENCE_FILES if stem == n or stem.startswith(n + "_")), None)
        if name is None:
            known = ", ".join(f"{n}.csv" for n in REFERENCE_FILES)
            raise UnreadableFile(f"unknown reference file {rel.name!r}: expected one of {known}")
        cols = REFERENCE_FILES[name]
        read = read_fixed_csv(data, cols, required=cols, what=f"reference/{name}.csv")
        p = Parsed(tables={f"raw.ref_{name}": read.rows}, kinds=[name], period=name)
        p.findings += [ignored_column(c, f"not part of {name}.csv") for c in read.ignored_columns]
        return p

    def _parse_fixed(
        self, con: duckdb.DuckDBPyConnection, rel: Path, data: bytes, kind: str, stored: Path | None
    ) -> Parsed:
        if rel.suffix.lower() != ".csv":
            raise UnreadableFile(f"expected a .csv export, got {rel.suffix or 'no extension'}")
        if kind == "survey_responses":
            layout = survey_layout(data)
            stamp = "submitted_at"
        else:
            layout = fixed_layout(
                data, INTERACTION_FIELDS, required=INTERACTION_FIELDS, what="interaction log"
            )
            stamp = "started_at"
        body = self._body(
            con, stored, layout.text, layout.encoding, layout.at, layout.index, layout.fields
        )
        fmts = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S"]
        values = field_values(con, body, [stamp])
        dates = [d for v in values if (d := _parse_date(v, fmts))]
        p = Parsed(
            tables={f"raw.{kind}": body},
            kinds=[kind],
            as_of=max(dates) if dates else None,
        )
        p.findings += [ignored_column(c, "not a known column") for c in layout.ignored_columns]
        return p

    def _parse_mis(
        self, con: duckdb.DuckDBPyConnection, rel: Path, data: bytes, stored: Path | None
    ) -> Parsed:
        if len(rel.parts) != 3:
            raise UnreadableFile("MIS extracts belong in mis/<anchor URN>/, one folder per anchor")
        urn = rel.parts[1]
        anchors = self.anchors()
        if urn not in anchors:
            raise UnreadableFile(
                f"folder mis/{urn}/ is not an anchor in reference/anchors.csv: "
                "check the URN, or add the anchor first"
            )
        suffix = rel.suffix.lower()
        if suffix == ".xml":
            profile = self.profiles["ctf"]
            tables = read_ctf(data, profile)
            p = Parsed(profile="ctf")
            p.as_of = _parse_date(tables["pupils"][0][1].get("extract_date"), ["%Y-%m-%d"])
            p.period = academic_year(p.as_of) if p.as_of else None
            source = ctf_source_urn(data)
            if source and source != urn:
                # A transfer from another school (e.g. the Year 7 intake's primary): its
                # pupils are on that school's register, not this anchor's, until this
                # school's own extract lists them; their attendance and results are kept.
                del tables["pupils"]
                p.findings.append(
                    Finding(
                        "info",
                        f"a transfer file from school {source}: its pupils' attendance and "
                        "assessment results are kept; register rows come from this "
                        "anchor's own extracts",
                        code="ctf_transfer_in",
                    )
                )
            for kind, rows in tables.items():
                if rows:
                    p.tables[f"raw.{kind}"] = rows
                    p.kinds.append(kind)
            return p
        if suffix != ".csv":
            raise UnreadableFile(f"MIS extracts must be .csv or CTF .xml, not {suffix or 'none'}")
        name = anchors[urn]
        if name not in self.profiles or self.profiles[name].ctf is not None:
            raise UnreadableFile(
                f"anchor {urn} names MIS profile {name!r}, which has no mapping file in "
                "config/mis_profiles/"
            )
        profile = self.profiles[name]
        layout = mis_layout(data, profile)
        body = self._body(
            con, stored, layout.text, layout.encoding, layout.at, layout.index, layout.fields
        )
        values = field_values(con, body, MIS_DATE_FIELDS[layout.kind])
        period, as_of = _mis_period(layout.kind, values, profile.date_formats)
        p = Parsed(
            tables={f"raw.{layout.kind}": body},
            profile=name,
            kinds=[layout.kind],
            period=period,
            as_of=as_of,
        )
        p.findings += [
            ignored_column(c, f"not mapped by the {name} profile") for c in layout.ignored_columns
        ]
        return p

    def _current(self, sql: str, params: list | None = None) -> list[tuple]:
        return _current(self.con, sql, params)

    def _parse_partner(self, rel: Path) -> Parsed:
        from wlz_pipeline.sources import partner_template as pt

        if len(rel.parts) != 3 or rel.suffix.lower() != ".xlsx":
            raise UnreadableFile(
                "partner templates belong in partners/<partner_id>/ as .xlsx workbooks"
            )
        folder = rel.parts[1].upper()
        if self._partners is None:
            self._partners = {
                r[0]
                for r in self._current(
                    "SELECT upper(trim(r.partner_id)) FROM raw.ref_partners r {current}"
                )
            }
        if folder not in self._partners:
            raise UnreadableFile(
                f"folder partners/{rel.parts[1]}/ is not a partner in reference/partners.csv"
            )
        path = self.data_dir / rel
        head = pt.read_about(path)
        if head.quarantine_reason:
            raise UnreadableFile(head.quarantine_reason)
        about = head.about
        partner = str(about.get("partner_id") or "").strip().upper()
        programme = str(about.get("programme") or "").strip()
        year = str(about.get("academic_year") or "").strip()
        term = str(about.get("term") or "").strip().lower()
        if partner != folder:
            raise UnreadableFile(
                f"the About sheet names partner {partner or '(none)'}, but the file is in "
                f"partners/{rel.parts[1]}/: put it in its partner's folder"
            )
        if self._lookups is None:
            self._lookups = PartnerLookups(self.con)
        allocated, known, term_dates = self._lookups.context(partner, programme, year, term)
        read = pt.read_template(
            path, allocated=allocated, known_children=known, term_dates=term_dates
        )
        if read.quarantine_reason:
            raise UnreadableFile(read.quarantine_reason)
        ident = {"partner_id": partner, "programme": programme, "academic_year": year, "term": term}

        # each table's fields after the identity and the cell (canonical.PARTNER_TABLES)
        marks, outcomes, feedback = (
            _cell_columns(items, ident, PARTNER_TABLES[name][len(PARTNER_KEYS) :])
            for name, items in (
                ("partner_marks", read.marks),
                ("partner_outcomes", read.outcomes),
                ("partner_feedback", read.feedback),
            )
        )
        p = Parsed(
            tables={
                "raw.partner_marks": marks,
                "raw.partner_outcomes": outcomes,
                "raw.partner_feedback": feedback,
            },
            kinds=["partner_template"],
            period=f"{partner}|{programme}|{year}|{term}",
        )
        for f in read.findings:
            rec = f.as_record(redact=False)
            p.findings.append(
                Finding(
                    severity="error" if f.severity == "error" else "warn",
                    problem=f.problem,
                    location=f.ref,
                    column=rec["column"],
                    expected=f.expected,
                    code=f.code,
                    value=rec["value"],
                )
            )
        return p

    # -- loading --------------------------------------------------------------------------
    def _insert(
        self,
        table: str,
        rows: Rows | Columns | ScannedBody,
        file_hash: str,
        profile: str | None,
        anchor: str | None,
    ) -> int:
        if isinstance(rows, ScannedBody):
            # inserted with the batch's other scans of this table (``_flush``)
            self._scanned[table].append(
                (
                    f"""SELECT ? AS _file_hash, ? AS _profile, ? AS _anchor_urn,
                           ?::TIMESTAMP AS _ingested_at, b.*
                    FROM ({rows.select()}) AS b""",
                    [file_hash, profile, anchor, self.now],
                )
            )
            return rows.rows
        given = rows if isinstance(rows, dict) else _row_columns(rows)
        n = len(given.get("_row_number", ()))
        if not n:
            return 0
        cols: dict[str, list] = {
            "_file_hash": [file_hash] * n,
            "_row_number": given["_row_number"],
            "_profile": [profile] * n,
            "_anchor_urn": [anchor] * n,
            "_ingested_at": [self.now] * n,
        }
        cols.update((f, v) for f, v in given.items() if f != "_row_number")
        self._buffered[table].append(
            pa.table(
                {
                    k: pa.array(v, type=pa.string())
                    if k not in ("_row_number", "_ingested_at")
                    else v
                    for k, v in cols.items()
                }
            )
        )
        return n

    def _buffer_findings(self, file_hash: str, findings: Sequence[Finding]) -> None:
        """A file's findings, held like its in-memory rows until ``_flush``."""
        fields = ("location", "column", "severity", "problem", "expected", "code", "value")
        self._buffered["meta.file_findings"].append(
            pa.table(
                {"file_hash": pa.array([file_hash] * len(findings), type=pa.string())}
                | {
                    ("column_name" if f == "column" else f): pa.array(
                        [getattr(x, f) for x in findings], type=pa.string()
                    )
                    for f in fields
                }
            )
        )

    def _flush(self) -> None:
        """Insert the rows held for a whole commit batch, one statement per table, inside
        its transaction: the files DuckDB scanned (``_scanned``, their rows still in the
        scratch tables), then the rows and findings read into memory (``_buffered``). The
        batch empties both whether or not this succeeds (``_Batch.commit``). One statement
        per file and table cost about a quarter of ingesting a zone's ~450 partner
        templates (three tables each); one per finding, far more for a template with
        thousands of them; and for the scanned MIS extracts, ~10 % of ``raw/mis`` on the
        zone (3.6 s of 40.3, mean of 6 and 7 runs)."""
        for table, scans in self._scanned.items():
            # one statement for the batch's scans of a table: UNION ALL keeps each file's
            # order and the files' order; BY NAME, as files of different MIS layouts map
            # different fields (a field a file lacks is NULL, as in a one-file insert)
            self.con.execute(
                f"INSERT INTO {table} BY NAME "
                + " UNION ALL BY NAME ".join(f"SELECT * FROM ({sql})" for sql, _ in scans),
                [v for _, params in scans for v in params],
            )
        for table, parts in self._buffered.items():
            arrow = pa.concat_tables(parts, promote_options="default")
            self.con.register("_incoming", arrow)
            try:
                self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _incoming")
            finally:
                self.con.unregister("_incoming")

    def _archive(self, path: Path, file_hash: str, data: bytes | None = None) -> Path:
        """The content-addressed copy of a file: ``data`` (the bytes that were hashed)
        when given, else the file copied."""
        target = self.archive_dir / file_hash[:2] / (file_hash + path.suffix.lower())
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(target.suffix + ".part")
            if data is None:
                shutil.copyfile(path, tmp)
            else:
                tmp.write_bytes(data)
            tmp.replace(target)
        return target

    def _register(self, **row: object) -> None:
        cols = list(row)
        self.con.execute(
            f"INSERT INTO meta.file_registry ({', '.join(cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})",
            list(row.values()),
        )

    def is_register(self, path: Path, rel: Path) -> bool:
        """Whether a file of ``mis/`` is a pupil register, which ``raw/pupils`` ingests
        ahead of the other extracts (``ingest_source(..., registers=True)``): a CTF file
        (it carries the register, with the attendance and results that come with it), or
        a CSV whose header matches its anchor's profile's ``pupils`` extract.

        Decided on the file's first ``REGISTER_PEEK_BYTES`` (up to a line end), where
        the header is, so both parts of the folder agree on every file without either
        reading the other's files whole; on the whole file only when no header is found
        there and there is more. A file that cannot be told (an unknown anchor or
        layout) is not a register: ``raw/mis`` quarantines it with the reason."""
        if rel.suffix.lower() == ".xml":
            return True
        anchors = self.anchors()
        if rel.suffix.lower() != ".csv" or len(rel.parts) != 3 or rel.parts[1] not in anchors:
            return False
        profile = self.profiles.get(anchors[rel.parts[1]] or "")
        if profile is None or profile.ctf is not None:
            return False
        with open(path, "rb") as fh:
            head = fh.read(REGISTER_PEEK_BYTES + 1)
        whole = len(head) <= REGISTER_PEEK_BYTES
        if not whole:
            head = head[: head.rfind(b"\n", 0, REGISTER_PEEK_BYTES) + 1]
        try:
            return mis_layout(head, profile).kind == "pupils"
        except UnreadableFile:
            if whole or path.stat().st_size > MAX_FILE_BYTES:
                return False
        try:
            return mis_layout(path.read_bytes(), profile).kind == "pupils"
        except UnreadableFile:
            return False

    def ingest_source(self, source: str, registers: bool | None = None) -> IngestReport:
        """Register and ingest the new files of ``source``'s landing folder: for ``mis``,
        with ``registers`` True only its pupil registers (``is_register``), with False
        every other file, with None (the default) all of them.

        Files are taken in ``landing_files`` order, and registered, loaded and committed
        in that order (``_Batch``). For ``PARALLEL_SOURCES`` the archiving and reading of
        a file run on ``ingest.parse_workers`` threads, each with its own cursor, up to
        a batch ahead of the commits: DuckDB reads one file on one core, and while one
        thread's scan runs, another file is decoded and hashed or a batch committed."""
        report = IngestReport(source=source)
        self._anchors = self._lookups = self._partners = None  # read again for each scan
        # every receipt, with whether it was loaded as a pupil register (None: not loaded,
        # a duplicate or quarantined file)
        known: dict[str, bool | None] = dict(
            self.con.execute(
                """SELECT receipt_id,
                          CASE WHEN status IN ('ingested', 'superseded')
                               THEN coalesce(profile = 'ctf' OR list_contains(kinds, 'pupils'),
                                             false) END
                   FROM meta.file_registry"""
            ).fetchall()
        )
        first_path = dict(
            self.con.execute(
                """SELECT file_hash, arg_min(path, arrived_at || path) FROM meta.file_registry
                   WHERE status <> 'duplicate' GROUP BY file_hash"""
            ).fetchall()
        )
        settings = load_settings().ingest
        # files whose stat is unchanged since they were hashed are not read again
        stats = self._landing_stats(source) if settings.trust_file_stats else {}
        settled_before = time.time_ns() - int(settings.settled_seconds * 1e9)
        hashed: dict[str, tuple[Signature, str]] = {}
        batch = _Batch(self, report, settings.commit_files)
        workers = settings.parse_workers if source in PARALLEL_SOURCES else 1
        if workers > 1:
            # read here, once: the threads only look them up
            self.anchors()
            _ = self.profiles
        self._scratch = f"{SCRATCH}_{source}"  # its own: another step may ingest meanwhile
        attach_scratch(self.con, self._scratch)
        try:
            with _InOrder(self.con, workers, ahead=max(settings.commit_files, 2 * workers)) as q:
                files = landing_files(self.data_dir, source)
                for path in files:
                    rel = path.relative_to(self.data_dir)
                    # the stat before any read: a write after it changes the stat, so the
                    # file is hashed again next run, whichever bytes this scan read
                    sig = file_signature(path.stat())
                    last = stats.get(rel.as_posix())
                    # known by its stat: as it was when hashed, and that receipt registered
                    receipt = f"{last[1]}:{rel.as_posix()}" if last and last[0] == sig else ""
                    unchanged = receipt in known
                    if registers is not None:
                        # a file known by its stat is told by what it was loaded as, not
                        # peeked at: peeking at every file of the zone's unchanged mis/
                        # took the registers part 13.5 s with the page cache dropped
                        # (0.36 s warm); this way, 0.1 s
                        loaded = known[receipt] if unchanged else None
                        if loaded is None:
                            loaded = self.is_register(path, rel)
                        if loaded != registers:
                            continue  # the other part's file
                    if unchanged:
                        report.seen += 1
                        report.unchanged += 1
                        report.unread += 1
                    else:
                        self._queue(q, source, path, rel, sig, known, first_path, report, hashed)
                    for outcome in q.ready():
                        self._take(batch, report, *outcome)
                for outcome in q.rest():
                    self._take(batch, report, *outcome)
            batch.commit()
        finally:
            detach_scratch(self.con, self._scratch)  # with any scan a failure left behind
        self.apply_supersede(source)
        if settings.trust_file_stats:
            listed = {p.relative_to(self.data_dir).as_posix() for p in files}
            self._record_stats(stats, hashed, listed, settled_before)
        return report

    def _landing_stats(self, source: str) -> dict[str, tuple[Signature, str]]:
        """``{path: (signature, file hash)}`` of ``source``'s files as last hashed."""
        rows = self.con.execute(
            f"""SELECT path, {", ".join(SIGNATURE_COLUMNS)}, file_hash
                FROM meta.landing_stats WHERE starts_with(path, ?)""",
            [f"{source}/"],
        ).fetchall()
        return {r[0]: (tuple(r[1:6]), r[6]) for r in rows}

    def _record_stats(
        self,
        before: dict[str, tuple[Signature, str]],
        hashed: dict[str, tuple[Signature, str]],
        listed: set[str],
        settled_before: int,
    ) -> None:
        """Keep the stat of each file hashed in this scan (all of them now registered)
        that had settled, i.e. last changed before ``settled_before`` (ns): one changed
        later is hashed again next run. Files no longer in the folder are forgotten."""
        stale = [p for p in before if p in hashed or p not in listed]
        kept = {p: e for p, e in hashed.items() if last_changed_ns(e[0]) <= settled_before}
        if not stale and not kept:
            return
        sigs = [sig for sig, _ in kept.values()]
        rows = pa.table(
            {
                "path": pa.array(list(kept), type=pa.string()),
                **{
                    name: pa.array([sig[i] for sig in sigs], type=pa.int64())
                    for i, name in enumerate(SIGNATURE_COLUMNS)
                },
                "file_hash": pa.array([h for _, h in kept.values()], type=pa.string()),
            }
        )
        with transaction(self.con):
            if stale:
                self.con.execute(
                    "DELETE FROM meta.landing_stats WHERE list_contains(?, path)", [stale]
                )
            if kept:
                self.con.register("_landing_stats", rows)
                try:
                    self.con.execute(
                        "INSERT INTO meta.landing_stats BY NAME SELECT * FROM _landing_stats"
                    )
                finally:
                    self.con.unregister("_landing_stats")

    def _queue(
        self,
        q: _InOrder,
        source: str,
        path: Path,
        rel: Path,
        sig: Signature,
        known: Mapping[str, object],
        first_path: dict[str, str],
        report: IngestReport,
        hashed: dict[str, tuple[Signature, str]],
    ) -> None:
        """Hash a landing file not known by its stat ``sig`` (here, in landing order, so
        the first of two identical files is the original) and queue what becomes of it,
        unless it is known by its hash. ``hashed`` collects the stat and hash of each
        file hashed."""
        report.seen += 1
        rel_path = rel.as_posix()
        size = sig[0]
        # Read once: the bytes hashed are the bytes archived and parsed, even if someone
        # overwrites the landing file meanwhile.
        data = path.read_bytes() if size <= MAX_FILE_BYTES else None
        file_hash = sha256_file(path) if data is None else hashlib.sha256(data).hexdigest()
        hashed[rel_path] = (sig, file_hash)
        receipt = f"{file_hash}:{rel_path}"
        if receipt in known:
            report.unchanged += 1
            return
        base = dict(
            receipt_id=receipt,
            file_hash=file_hash,
            path=rel_path,
            size_bytes=size,
            arrived_at=self.now,
            source=source,
            anchor_urn=rel.parts[1] if source == "mis" and len(rel.parts) == 3 else None,
        )
        if file_hash in first_path:
            reason = f"same content as {first_path[file_hash]}"
            q.put(lambda _: (base, None, reason, None))
            return
        first_path[file_hash] = rel_path
        q.put(partial(self._read_file, source, path, rel, data, base))

    def _read_file(
        self,
        source: str,
        path: Path,
        rel: Path,
        data: bytes | None,
        base: dict,
        con: duckdb.DuckDBPyConnection,
    ) -> tuple[dict, Parsed | None, str | None, str]:
        """Archive and read one new file (on ``con``, a parsing thread's cursor):
        ``(registry entry, what was read, None, archived as)``, or ``(entry, None,
        quarantine reason, archived as)``."""
        stored = self._archive(path, base["file_hash"], data)
        archived_as = str(stored.relative_to(self.archive_dir))
        try:
            if data is None:
                raise UnreadableFile(f"file larger than {MAX_FILE_BYTES // 2**30} GB")
            return base, self.parse(source, rel, data, stored, con), None, archived_as
        except UnreadableFile as exc:
            return base, None, str(exc), archived_as

    def _take(
        self,
        batch: _Batch,
        report: IngestReport,
        base: dict,
        parsed: Parsed | None,
        reason: str | None,
        archived_as: str | None,
    ) -> None:
        """One file's outcome into the batch, in landing order: loaded, a duplicate
        (no archive) or quarantined."""
        if parsed is not None:
            batch.load(parsed, base["file_hash"], base, archived_as or "")
        elif archived_as is None:
            batch.register(**base, status="duplicate", reason=reason)
            report.duplicates += 1
        else:
            batch.register(**base, status="quarantined", reason=reason, archived_as=archived_as)
            report.quarantined += 1
            report.quarantine_reasons.append((base["path"], reason or ""))
            log.warning("quarantined %s: %s", base["path"], reason)

    def _load(self, parsed: Parsed, file_hash: str, base: dict, archived_as: str) -> int:
        """One file's rows, findings and registry entry (inside the batch's transaction)."""
        n = 0
        for table, rows in parsed.tables.items():
            n += self._insert(table, rows, file_hash, parsed.profile, base["anchor_urn"])
        if parsed.findings:
            self._buffer_findings(file_hash, parsed.findings)
        self._register(
            **base,
            profile=parsed.profile,
            kinds=parsed.kinds,
            period=parsed.period,
            as_of=parsed.as_of,
            rows_read=n,
            status="ingested",
            archived_as=archived_as,
        )
        return n

    def apply_supersede(self, source: str) -> None:
        """Within each (anchor, profile, kinds, period) the newest file is current.

        Newest = latest as-of date, then latest arrival; between files that arrived in
        the same scan, the longer name ("X (corrected).xlsx", "X v2.csv" after "X.csv"),
        then the name (deterministic)."""
        with transaction(self.con):
            self.con.execute(
                """
                WITH ranked AS (
                    SELECT receipt_id, file_hash, period,
                           first_value(file_hash) OVER w AS newest,
                           row_number() OVER w AS rn
                    FROM meta.file_registry
                    WHERE source = ? AND status IN ('ingested', 'superseded')
                      AND period IS NOT NULL
                    WINDOW w AS (PARTITION BY coalesce(anchor_urn, ''), coalesce(profile, ''),
                                              array_to_string(kinds, ','), period
                                 ORDER BY as_of DESC NULLS LAST, arrived_at DESC,
                                          length(path) DESC, path DESC)
                )
                UPDATE meta.file_registry f SET
                    status = CASE WHEN r.rn = 1 THEN 'ingested' ELSE 'superseded' END,
                    superseded_by = CASE WHEN r.rn = 1 THEN NULL ELSE r.newest END,
                    reason = CASE WHEN r.rn = 1 THEN NULL
                                  ELSE 'a newer file for the same period: ' || r.period END
                FROM ranked r WHERE f.receipt_id = r.receipt_id
                """,
                [source],
            )

    def register_strays(self, ignore: Iterable[str]) -> list[str]:
        """Record files outside the landing layout (reported, never guessed at)."""
        notes = []
        for p in stray_files(self.data_dir, ignore):
            notes.append(
                f"{p.name}: not part of the landing layout (expected the folders "
                f"{', '.join(SOURCES)}); ignored"
            )
        return notes


def ingest_all(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    archive_dir: Path,
    sources: Iterable[str] = ("reference", "mis", "surveys", "interactions", "partners"),
) -> dict[str, IngestReport]:
    """Ingest the landing folders in dependency order (reference first)."""
    from wlz_pipeline.warehouse import load_config_tables

    load_config_tables(con)
    ing = Ingestor(con, data_dir, archive_dir)
    return {s: ing.ingest_source(s) for s in sources}
