"""The benchmark of performance.md (issue 9): what the pipeline costs, as ratios to a floor
measured in the same invocation.

- the *floor*: DuckDB alone scanning every input file of the landing folder once (CSVs
  with ``read_csv``, CTF XML with ``read_text``) plus python-calamine reading every partner
  workbook once (``measure_floor``);
- the *cold run*: ``wlz run`` as a subprocess on a fresh warehouse and DAGSTER_HOME; wall
  time, peak resident memory (``os.wait4``), per-step times from the run's events
  (``step_times``) and rows per table;
- the *incremental night*: one anchor's new week of attendance marks
  (``derive_new_week``) and the returned partner templates, then only what the landing
  sensor would select (``sensor_selection``);
- the *quiet night*: the same selection again with nothing new (``quiet_night``): the
  least a night of that selection costs;
- the *sample*: a cold ``wlz run`` on ``data/sample`` including Dagster start-up.

Benchmarks are not tests: nothing here asserts a time. The pure parts (floor, step times,
classification, new-week file, ratios) are tested on small data in tests/test_bench.py.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from wlz_pipeline.config import REPO_ROOT

log = logging.getLogger(__name__)

#: performance.md's targets on the 2-core, 24 GB machine.
TARGETS = {
    "cold_over_floor": 3.0,  # cold zone run within 3x the floor
    "validation_share": 0.25,  # validation under 25% of the cold run's time
    "incremental_share": 0.10,  # incremental night under 10% of the cold run's time
    "peak_rss_mb": 4000.0,  # peak memory under 4 GB (decimal MB, as DuckDB's "4GB")
    "sample_seconds": 60.0,  # sample run, cold, including Dagster start-up
}

#: Key the bench runs publish under: the zone is not the sample, so the demo key is refused.
BENCH_PSEUDONYM_KEY = "wlz-bench-only-pseudonym-key-not-for-real-data-0123456789"

#: Environment the pipeline subprocess must not inherit (the bench passes paths itself).
_SCRUB_ENV = ("WLZ_DATA_DIR", "WLZ_WAREHOUSE", "WLZ_PUBLICATION", "DAGSTER_HOME")


# -- input files ------------------------------------------------------------------------------
@dataclass
class FileScan:
    path: str  # relative to the landing folder
    source: str  # landing sub-folder: reference, mis, surveys, interactions, partners
    fmt: str  # csv | ctf_xml | workbook
    rows: int = 0  # data rows (CSV), files (XML), non-empty sheet rows (workbook)
    columns: int = 0  # CSV columns / workbook sheets
    bytes: int = 0
    seconds: float = 0.0
    expected_rows: int | None = None  # from MANIFEST.json when it says
    encoding: str | None = None  # CSVs: the read_csv encoding used
    manifest_status: str | None = None  # what MANIFEST.json expects ingestion to say
    error: str | None = None


def file_format(rel: Path) -> str | None:
    """What reader the floor uses for a landing file (None: not an input the floor reads)."""
    suffix = rel.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".xml" and rel.parts[0] == "mis":
        return "ctf_xml"
    if suffix == ".xlsx" and rel.parts[0] == "partners":
        return "workbook"
    return None


def input_files(data_dir: Path) -> list[tuple[Path, str, str]]:
    """(relative path, source, format) of every input file, in ingestion order."""
    from wlz_pipeline.ingest import SOURCES, landing_files

    out = []
    for source in SOURCES:
        for path in landing_files(data_dir, source):
            rel = path.relative_to(data_dir)
            fmt = file_format(rel)
            if fmt is not None:
                out.append((rel, source, fmt))
    return out


def _manifest(data_dir: Path) -> dict[str, dict]:
    import json

    path = data_dir / "MANIFEST.json"
    if not path.exists():
        return {}
    files = json.loads(path.read_text(encoding="utf-8")).get("files", [])
    return {f["path"]: f for f in files if "path" in f}


#: read_csv options of the floor, besides the encoding. DuckDB's sniffer finds the header
#: below title and blank lines; every column is read as text, as ingestion does.
CSV_OPTIONS = "all_varchar = true"


def csv_encoding(data: bytes) -> str:
    """The DuckDB encoding that reads a CSV: utf-8 when the bytes are UTF-8 (a BOM is
    handled by DuckDB), else latin-1, which decodes Windows-1252 text byte for byte
    (DuckDB's latin-1 refuses only the C1 bytes 0x80-0x9F: the Windows-1252 punctuation
    that the zone's Windows-1252 exports do not use; such a file is reported as an error)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _scan_csv(con, path: Path, encoding: str) -> tuple[int, int]:  # noqa: ANN001
    rel = f"read_csv(?, {CSV_OPTIONS}, encoding = '{encoding}')"
    # every value is read (the concatenation), and blank lines are not rows
    (n,) = con.execute(
        f"SELECT count(*) FILTER (WHERE concat_ws('', *COLUMNS(*)) <> '') FROM {rel}",
        [str(path)],
    ).fetchone()
    cols = len(con.execute(f"DESCRIBE SELECT * FROM {rel}", [str(path)]).fetchall())
    return n, cols


def _scan_xml(con, path: Path) -> tuple[int, int]:  # noqa: ANN001
    n, _size = con.execute(
        "SELECT count(*), sum(length(content)) FROM read_text(?)", [str(path)]
    ).fetchone()
    return n, 1


def _read_workbook(path: Path) -> tuple[int, int]:
    from python_calamine import CalamineWorkbook

    rows = 0
    with CalamineWorkbook.from_path(str(path)) as wb:
        names = list(wb.sheet_names)
        for name in names:
            data = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
            rows += sum(1 for r in data if any(v not in ("", None) for v in r))
    return rows, len(names)


def floor_connection():  # noqa: ANN201
    """An in-memory DuckDB with the warehouse's settings (config/settings.yaml)."""
    import tempfile

    import duckdb

    from wlz_pipeline.settings import load_settings
    from wlz_pipeline.warehouse import duckdb_config

    con = duckdb.connect(":memory:", config=duckdb_config())
    temp = load_settings().duckdb.temp_directory or tempfile.gettempdir()
    con.execute("SET temp_directory = ?", [temp])
    return con


def prepare_files(data_dir: Path, files: Iterable[Path]) -> dict[str, str]:
    """Untimed by the floor: read every file once, so the floor and the run both read from
    the page cache (the floor is not penalised for going first), and choose each CSV's
    encoding (``csv_encoding``). Returns relative path -> encoding for the CSVs."""
    out = {}
    for rel in files:
        data = (Path(data_dir) / rel).read_bytes()
        if rel.suffix.lower() == ".csv":
            out[Path(rel).as_posix()] = csv_encoding(data)
    return out


def measure_floor(
    data_dir: Path,
    con=None,  # noqa: ANN001
    encodings: dict[str, str] | None = None,
) -> dict:
    """Time DuckDB scanning every CSV and CTF XML once, and calamine reading every partner
    workbook once. Each file is scanned on its own (the files of one folder have different
    layouts) with ``read_csv`` / ``read_text``; the rows counted are reported per file, and
    a file DuckDB cannot read is reported, not skipped silently."""
    data_dir = Path(data_dir)
    files = input_files(data_dir)
    if encodings is None:
        encodings = prepare_files(data_dir, [f for f, _, _ in files])
    own = con is None
    con = con or floor_connection()
    manifest = _manifest(data_dir)
    scans: list[FileScan] = []
    try:
        for rel, source, fmt in files:
            path = data_dir / rel
            entry = manifest.get(rel.as_posix(), {})
            scan = FileScan(
                rel.as_posix(),
                source,
                fmt,
                bytes=path.stat().st_size,
                expected_rows=entry.get("rows") if fmt == "csv" else None,
                encoding=encodings.get(rel.as_posix()) if fmt == "csv" else None,
                manifest_status=entry.get("expected_status"),
            )
            started = time.perf_counter()
            try:
                if fmt == "csv":
                    scan.rows, scan.columns = _scan_csv(con, path, scan.encoding or "utf-8")
                elif fmt == "ctf_xml":
                    scan.rows, scan.columns = _scan_xml(con, path)
                else:
                    scan.rows, scan.columns = _read_workbook(path)
            except Exception as exc:  # noqa: BLE001 - reported per file
                scan.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            scan.seconds = time.perf_counter() - started
            scans.append(scan)
    finally:
        if own:
            con.close()
    return summarise_floor(scans)


def summarise_floor(scans: list[FileScan]) -> dict:
    by_fmt: dict[str, dict] = {}
    by_source: dict[str, dict] = {}
    for s in scans:
        for group, key in ((by_fmt, s.fmt), (by_source, s.source)):
            g = group.setdefault(key, {"files": 0, "rows": 0, "bytes": 0, "seconds": 0.0})
            g["files"] += 1
            g["rows"] += s.rows
            g["bytes"] += s.bytes
            g["seconds"] += s.seconds
    mismatched = [
        {"path": s.path, "rows": s.rows, "manifest_rows": s.expected_rows}
        for s in scans
        if s.expected_rows is not None and s.error is None and s.rows != s.expected_rows
    ]
    return {
        "seconds": sum(s.seconds for s in scans),
        "duckdb_seconds": sum(s.seconds for s in scans if s.fmt != "workbook"),
        "workbook_seconds": sum(s.seconds for s in scans if s.fmt == "workbook"),
        "files": len(scans),
        "rows": sum(s.rows for s in scans),
        "by_format": by_fmt,
        "by_source": by_source,
        "errors": [
            {"path": s.path, "error": s.error, "manifest_status": s.manifest_status}
            for s in scans
            if s.error
        ],
        "rows_differing_from_manifest": mismatched,
        "csv_options": f"{CSV_OPTIONS}, encoding = utf-8 | latin-1 (per file)",
        "xml_reader": "read_text",
        "workbook_reader": "python-calamine (every sheet, to_python)",
        "per_file": [asdict(s) for s in scans],
    }


# -- step times from a run's events -----------------------------------------------------------
_ENDS = {"STEP_SUCCESS": "success", "STEP_FAILURE": "failure", "STEP_SKIPPED": "skipped"}


def step_times(events: Iterable[tuple[str | None, str, float]]) -> dict[str, dict]:
    """``{step_key: {"seconds", "status", "start"}}`` from (step_key, event type, unix
    timestamp) triples: STEP_START to STEP_SUCCESS / STEP_FAILURE. A step that started and
    never ended has status "incomplete" and no seconds."""
    starts: dict[str, float] = {}
    out: dict[str, dict] = {}
    for step, kind, ts in events:
        if not step:
            continue
        if kind == "STEP_START":
            starts[step] = ts
            out[step] = {"seconds": None, "status": "incomplete", "start": ts}
        elif kind in _ENDS:
            began = starts.get(step)
            out[step] = {
                "seconds": None if began is None else ts - began,
                "status": _ENDS[kind],
                "start": began,
            }
    return out


def run_events(instance, run_id: str) -> list[tuple[str | None, str, float]]:  # noqa: ANN001
    """(step_key, event type, timestamp) of a run's Dagster events, in order."""
    return events_of(instance.all_logs(run_id))


def events_of(entries: Iterable) -> list[tuple[str | None, str, float]]:
    """``run_events`` of a run's event log entries (``instance.all_logs``)."""
    out = []
    for entry in entries:
        ev = entry.dagster_event
        if ev is not None:
            out.append((entry.step_key or ev.step_key, ev.event_type_value, entry.timestamp))
    return out


def run_window(events: Iterable[tuple[str | None, str, float]]) -> float | None:
    """Seconds from RUN_START to the run's end event (None if either is missing)."""
    start = end = None
    for _, kind, ts in events:
        # Dagster stores run events under their old names (PIPELINE_START, ...)
        kind = kind.replace("PIPELINE_", "RUN_")
        if kind == "RUN_START":
            start = ts
        elif kind in ("RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED"):
            end = ts
    return None if start is None or end is None else end - start


def check_step_keys() -> set[str]:
    """Step keys of the asset-check steps (suites, quarantine counts, distributions)."""
    from wlz_pipeline.definitions import ALL_CHECKS

    return {c.node_def.name for c in ALL_CHECKS}


def classify_step(step_key: str, check_steps: set[str] = frozenset()) -> str:
    """ingestion (raw__*), validation (asset-check steps), or tables (the rest)."""
    if step_key.startswith("raw__"):
        return "ingestion"
    if step_key in check_steps or step_key.endswith("_suite") or "_rows_quarantined" in step_key:
        return "validation"
    return "tables"


def seconds_by_class(steps: dict[str, dict], check_steps: set[str] = frozenset()) -> dict:
    out = {"ingestion": 0.0, "validation": 0.0, "tables": 0.0}
    for key, s in steps.items():
        out[classify_step(key, check_steps)] += s["seconds"] or 0.0
    return out


# -- what running steps side by side could give --------------------------------------------
def step_dependencies() -> dict[str, set[str]] | None:
    """Each step of the code location's whole asset job (checks included, a blocking check
    before what reads its table) and the steps it waits for, from Dagster's execution
    plan; None when the plan cannot be built (``create_execution_plan`` is Dagster's
    internal API, so an upgrade may move it: the bench then reports no bound)."""
    try:
        from dagster._core.execution.api import create_execution_plan

        from wlz_pipeline.definitions import defs

        plan = create_execution_plan(defs.resolve_implicit_global_asset_job_def())
        return {s.key: set(s.get_execution_dependency_keys()) for s in plan.steps}
    except Exception:  # noqa: BLE001 - a bound is a nicety: the bench goes on without it
        log.warning("no execution plan for the side-by-side bound", exc_info=True)
        return None


def critical_path(
    seconds: Mapping[str, float], deps: Mapping[str, set[str]]
) -> tuple[float, list[str]]:
    """The longest chain of dependent steps among those that ran (``seconds``): its
    total time and its steps, first step first. Dependencies that did not run count as
    done."""
    finish: dict[str, float] = {}
    before: dict[str, str | None] = {}
    for key in _dependency_order(seconds, deps):
        ran = sorted(d for d in deps.get(key, ()) if d in seconds)  # ties: by name
        prev = max(ran, key=lambda d: finish[d], default=None)
        before[key] = prev
        finish[key] = seconds[key] + (finish[prev] if prev else 0.0)
    if not finish:
        return 0.0, []
    last: str | None = max(finish, key=lambda k: finish[k])
    total, chain = finish[last], []
    while last is not None:
        chain.append(last)
        last = before[last]
    return total, chain[::-1]


def _dependency_order(seconds: Mapping[str, float], deps: Mapping[str, set[str]]) -> list[str]:
    from wlz_pipeline.models import dependency_order

    return dependency_order(sorted(seconds), lambda k: sorted(deps.get(k, ())), "steps")


def side_by_side(seconds: Mapping[str, float], deps: Mapping[str, set[str]], workers: int) -> float:
    """When the steps that ran (``seconds``) would finish, ``workers`` at a time, each
    started as soon as what it waits for is done, the one with the longest chain after
    it first (list scheduling), each taking the time it took alone. A bound, not a
    forecast: it ignores steps slowing each other on shared cores."""
    import heapq

    from wlz_pipeline.models import dependents, longest_chains

    order = _dependency_order(seconds, deps)
    after = dependents(order, lambda k: deps.get(k, ()))
    tail = longest_chains(order, lambda k: deps.get(k, ()), seconds.__getitem__)
    waiting = {k: sum(1 for d in deps.get(k, ()) if d in seconds) for k in order}
    ready = [(-tail[k], k) for k in order if waiting[k] == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < max(1, workers):
            _, k = heapq.heappop(ready)
            heapq.heappush(running, (now + seconds[k], k))
        now, k = heapq.heappop(running)
        for c in after[k]:
            waiting[c] -= 1
            if waiting[c] == 0:
                heapq.heappush(ready, (-tail[c], c))
    return now


def side_by_side_bound(steps: Mapping[str, dict], deps: Mapping[str, set[str]] | None) -> dict:
    """The report's bound for one run: its steps one after another (their sum), two and three
    at a time (``side_by_side``), and the critical path."""
    if deps is None:
        return {"available": False}
    seconds = {k: float(v["seconds"] or 0.0) for k, v in steps.items()}
    total, chain = critical_path(seconds, deps)
    return {
        "available": True,
        "one_at_a_time_seconds": round(sum(seconds.values()), 1),
        "two_at_a_time_seconds": round(side_by_side(seconds, deps, 2), 1),
        "three_at_a_time_seconds": round(side_by_side(seconds, deps, 3), 1),
        "critical_path_seconds": round(total, 1),
        "critical_path": chain,
        "method": "step times of this run (as measured: with steps side by side they "
        "include steps slowing each other) and Dagster's execution plan",
    }


# -- the new week of attendance marks ---------------------------------------------------------
@dataclass
class NewWeek:
    path: Path  # the file written
    anchor_urn: str
    profile: str
    derived_from: str  # the marks file it copies its layout from
    rows: int
    first_date: date
    last_date: date
    shifted_from: tuple[date, date]
    encoding: str


def _anchor_profiles(data_dir: Path) -> dict[str, str]:
    from wlz_pipeline.sources.text import decode

    text, _ = decode((data_dir / "reference" / "anchors.csv").read_bytes(), ["utf-8-sig", "cp1252"])
    return {
        r["urn"].strip(): (r.get("mis_profile") or "").strip().lower()
        for r in csv.DictReader(io.StringIO(text))
        if r.get("urn")
    }


def _parse(value: str, formats: list[str]) -> tuple[date, str] | None:
    for f in formats:
        try:
            return datetime.strptime(value.strip(), f).date(), f
        except ValueError:
            continue
    return None


def _latest_marks_file(folder: Path, profile) -> tuple[Path, object, date] | None:  # noqa: ANN001
    from wlz_pipeline.sources.mis import read_mis_csv
    from wlz_pipeline.sources.text import UnreadableFile

    best = None
    for path in sorted(folder.glob("*.csv")):
        try:
            ext = read_mis_csv(path.read_bytes(), profile)
        except (UnreadableFile, UnicodeDecodeError):
            continue
        if ext.kind != "attendance_marks":
            continue
        dates = [p[0] for _, r in ext.rows if (p := _parse(r["date"] or "", profile.date_formats))]
        if dates and (best is None or max(dates) > best[2]):
            best = (path, ext, max(dates))
    return best


def derive_new_week(data_dir: Path, urn: str | None = None, days: int = 7) -> NewWeek:
    """Write, into ``mis/<urn>/``, the anchor's next week of attendance marks in its own
    MIS layout: the marks of the last ``days`` days of its latest marks file, dates moved
    ``days`` later. Same title lines, header, encoding, line endings and date format as
    the file it copies; a new period, so it is ingested (not a duplicate, supersedes
    nothing). ``urn`` defaults to the first anchor (by URN) with CSV marks."""
    from wlz_pipeline.sources.mis import load_profiles
    from wlz_pipeline.sources.text import decode

    data_dir = Path(data_dir)
    profiles = load_profiles()
    anchors = _anchor_profiles(data_dir)
    candidates = [urn] if urn else sorted(anchors)
    for u in candidates:
        profile = profiles.get(anchors.get(u, ""))
        if profile is None or "attendance_marks" not in profile.extracts:
            continue
        found = _latest_marks_file(data_dir / "mis" / u, profile)
        if found is not None:
            break
    else:
        raise ValueError(f"no anchor with CSV attendance marks among {candidates[:5]}")
    source, ext, last = found
    text, encoding = decode(source.read_bytes(), profile.encodings)
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    head = "".join(lines[: ext.header_line])  # title lines and the header, as written
    if not head.endswith(("\n", "\r")):
        head += newline
    header = next(csv.reader([lines[ext.header_line - 1]]))
    norm = [h.strip().lower() for h in header]
    date_col = norm.index(ext.columns["date"].strip().lower())
    body = "".join(lines[ext.header_line :])
    start = last - timedelta(days=days - 1)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=newline)
    rows = 0
    written: list[date] = []
    for rec in csv.reader(io.StringIO(body)):
        if not rec or date_col >= len(rec):
            continue
        parsed = _parse(rec[date_col], profile.date_formats)
        if parsed is None or parsed[0] < start:
            continue
        d, fmt = parsed
        written.append(d + timedelta(days=days))
        rec[date_col] = written[-1].strftime(fmt)
        writer.writerow(rec)
        rows += 1
    new_first, new_last = min(written), max(written)
    target = source.with_name(f"{source.stem} week {new_first:%Y-%m-%d}{source.suffix}")
    target.write_bytes((head + buf.getvalue()).encode(encoding))
    return NewWeek(
        target,
        u,
        profile.name,
        source.relative_to(data_dir).as_posix(),
        rows,
        new_first,
        new_last,
        (start, last),
        encoding,
    )


#: Where the zone generator keeps the templates it holds back from the landing folder.
HELD_BACK_DIR = "incremental"


def returned_templates(source_dir: Path, limit: int = 10) -> list[tuple[Path, str]]:
    """Up to ``limit`` partner templates the generator held back (MANIFEST.json
    ``held_back``; files under incremental/partners/): (file, where it lands relative to
    the landing folder). An incremental night drops them in: new content, ingested."""
    import json

    source_dir = Path(source_dir)
    manifest = source_dir / "MANIFEST.json"
    held: list[tuple[Path, str]] = []
    if manifest.exists():
        spec = json.loads(manifest.read_text(encoding="utf-8")).get("held_back") or {}
        held = [(source_dir / f["file"], f["landing_path"]) for f in spec.get("files", [])]
    if not held:
        root = source_dir / HELD_BACK_DIR / "partners"
        held = [
            (p, p.relative_to(source_dir / HELD_BACK_DIR).as_posix())
            for p in sorted(root.glob("*/*.xlsx"))
        ]
    return [(p, rel) for p, rel in held if p.is_file()][:limit]


# -- selection the landing sensor would make ---------------------------------------------------
def sensor_selection(sources: Iterable[str]) -> tuple[str, list[str]]:
    """The asset selection string for ``wlz run --select`` that equals what the landing
    sensor requests for new files in ``sources`` (their raw assets and everything
    downstream, partitioned assets left out), and the asset keys it resolves to. Raises
    if the string and the sensor's selection differ."""
    import dagster as dg

    from assets.automation import landing_selection
    from assets.ingest import raw_assets_for_folder
    from wlz_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    expected = set(landing_selection(graph, sources))
    roots = [k for s in sorted(set(sources)) for k in raw_assets_for_folder(s) if k in expected]
    # in Dagster's selection syntax a trailing "+" without a depth is every downstream layer
    text = " or ".join(f'key:"{k.to_user_string()}"+' for k in roots)
    got = {
        k
        for k in dg.AssetSelection.from_string(text).resolve(graph)
        if graph.get(k).partitions_def is None
    }
    if got != expected:
        raise RuntimeError(f"selection {text!r} differs from the sensor's")
    return text, sorted(k.to_user_string() for k in expected)


# -- subprocess runs ------------------------------------------------------------------------
@dataclass
class RunMeasure:
    command: list[str]
    returncode: int
    wall_seconds: float
    peak_rss_mb: float  # the pipeline process (os.wait4 ru_maxrss), decimal MB
    log: str
    run_id: str | None = None
    run_seconds: float | None = None  # RUN_START to its end, from the events
    steps: dict[str, dict] = field(default_factory=dict)
    #: the tables the run built again (``tables_rebuilt``)
    tables_rebuilt: list[str] = field(default_factory=list)
    #: user + system CPU of the process and of the children it waited for (``os.wait4``)
    cpu_seconds: float | None = None


def wlz_command() -> list[str]:
    exe = Path(sys.executable).with_name("wlz")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from wlz_pipeline.cli import main; main()"]


def fresh_dagster_home(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "config" / "dagster.yaml", path / "dagster.yaml")
    return path


def run_wlz(
    data_dir: Path,
    warehouse: Path,
    dagster_home: Path,
    log: Path,
    select: str | None = None,
    pseudonym_key: str | None = BENCH_PSEUDONYM_KEY,
) -> RunMeasure:
    """``wlz run`` in a subprocess; wall time and the child's peak RSS (``os.wait4``: the
    kernel's ru_maxrss for that process alone, in KiB on Linux)."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB_ENV}
    env["DAGSTER_HOME"] = str(dagster_home)
    env.pop("WLZ_PSEUDONYM_KEY", None)
    if pseudonym_key:
        env["WLZ_PSEUDONYM_KEY"] = pseudonym_key
    env.setdefault("COLUMNS", "120")
    cmd = [*wlz_command(), "run", "--data-dir", str(data_dir), "--warehouse", str(warehouse)]
    if select:
        cmd += ["--select", select]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
        usage = wait_measured(proc)
        wall = time.perf_counter() - started
    return RunMeasure(
        cmd, usage.returncode, wall, usage.peak_rss_mb, str(log), cpu_seconds=usage.cpu_seconds
    )


@dataclass(frozen=True)
class ProcessUsage:
    returncode: int
    peak_rss_mb: float  # the process alone (ru_maxrss), decimal MB
    cpu_seconds: float  # user + system, the process and the children it waited for


def wait_measured(proc: subprocess.Popen) -> ProcessUsage:
    """Wait for ``proc`` and return what the kernel accounted to it (``os.wait4``): its
    peak resident memory (``ru_maxrss``, KiB on Linux) and its CPU time, user and system.
    On Linux the CPU time includes every descendant the process waited for (the reports'
    page workers, the GX worker), so it is all the CPU the run cost."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_kib = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss / 1024
    return ProcessUsage(proc.returncode, rss_kib * 1024 / 1e6, usage.ru_utime + usage.ru_stime)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def all_cores_busy(cpu_seconds: float | None, cores: int, reference_seconds: float) -> dict:
    """The shortest a run could take on ``cores`` cores doing the CPU work it did
    (``cpu_seconds``): every core busy from its start to its end. However its steps are
    scheduled, the run cannot be shorter unless it does less work; ``over_reference``
    sets that against the time a target is quoted on (the floor, the cold run)."""
    if cpu_seconds is None or cores < 1:
        return {"available": False}
    seconds = cpu_seconds / cores
    return {
        "available": True,
        "cpu_seconds": round(cpu_seconds, 1),
        "cores": cores,
        "seconds": round(seconds, 1),
        "over_reference": round(seconds / reference_seconds, 4),
        "method": "user + system CPU of the wlz run subprocess and its waited-for children "
        "(os.wait4), over the usable cores",
    }


@contextmanager
def _instance(dagster_home: Path) -> Iterator:
    """The Dagster instance of ``dagster_home`` (DAGSTER_HOME set only meanwhile)."""
    import dagster as dg

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        with dg.DagsterInstance.get() as instance:
            yield instance
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def read_run(dagster_home: Path, known: set[str] = frozenset()) -> tuple[str | None, list]:
    """The newest run in ``dagster_home`` not in ``known``, and its event log entries."""
    with _instance(dagster_home) as instance:
        runs = [r for r in instance.get_runs() if r.run_id not in known]
        if not runs:
            return None, []
        return runs[0].run_id, list(instance.all_logs(runs[0].run_id))


def run_ids(dagster_home: Path) -> set[str]:
    with _instance(dagster_home) as instance:
        return {r.run_id for r in instance.get_runs()}


def tables_rebuilt(entries: Iterable) -> list[str]:
    """The assets a run materialised with ``rebuilt: true`` in their metadata, from its
    event log entries: the tables it built again (``assets/models.py`` and the Python
    marts record whether their inputs had changed); a table whose inputs had not changed
    is materialised ``rebuilt: false``."""
    from wlz_pipeline.executor import rebuilt_table

    return sorted(
        {
            entry.dagster_event.asset_key.to_user_string()
            for entry in entries
            if entry.dagster_event is not None and rebuilt_table(entry.dagster_event)
        }
    )


def measured_run(
    data_dir: Path, warehouse: Path, dagster_home: Path, log: Path, **kw: object
) -> RunMeasure:
    known = run_ids(dagster_home) if (dagster_home / "storage").exists() else set()
    m = run_wlz(data_dir, warehouse, dagster_home, log, **kw)
    m.run_id, entries = read_run(dagster_home, known)
    events = events_of(entries)
    m.steps = step_times(events)
    m.run_seconds = run_window(events)
    m.tables_rebuilt = tables_rebuilt(entries)
    return m


def table_rows(warehouse: Path) -> dict[str, int]:
    """count(*) of every staging and marts table, the warehouse opened read-only."""
    from wlz_pipeline.warehouse import connect

    con = connect(warehouse, read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                """SELECT schema_name || '.' || table_name FROM duckdb_tables()
                   WHERE schema_name IN ('staging', 'marts') ORDER BY 1"""
            ).fetchall()
        ]
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in names}
    finally:
        con.close()


def file_statuses(warehouse: Path, paths: Iterable[str]) -> dict[str, str | None]:
    from wlz_pipeline.warehouse import connect

    con = connect(warehouse, read_only=True)
    try:
        return {
            p: (
                r[0]
                if (
                    r := con.execute(
                        "SELECT status FROM meta.file_registry WHERE path = ? "
                        "ORDER BY arrived_at DESC LIMIT 1",
                        [p],
                    ).fetchone()
                )
                else None
            )
            for p in paths
        }
    finally:
        con.close()


def copy_landing(src: Path, dst: Path) -> str:
    """A private copy of the landing folder, without the generator's held-back files:
    hard links where the file system allows (the pipeline never writes to landing
    files; new files are new links), else copies."""
    src = Path(src)

    def held_back(folder: str, names: list[str]) -> list[str]:
        return [HELD_BACK_DIR] if Path(folder) == src else []

    try:
        shutil.copytree(src, dst, copy_function=os.link, ignore=held_back)
        return "hard links"
    except OSError:
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, ignore=held_back)
        return "copy"


# -- the report -----------------------------------------------------------------------------
#: The runs each ratio is measured on (``ratios``' ``failed``): a figure of a run that
#: failed part-way measures less work than the pipeline does, so it never meets a target.
RATIO_RUNS = {
    "cold_over_floor": ("cold",),
    "validation_share": ("cold",),
    "incremental_share": ("incremental", "cold"),
    "peak_rss_mb": ("cold",),
    "sample_seconds": ("sample",),
}


def _target(value: float | None, target: float, failed: tuple[str, ...] = ()) -> dict:
    out = {
        "value": None if value is None else round(value, 4),
        "target": target,
        "met": None if value is None else (value < target and not failed),
    }
    if failed and value is not None:
        out["runs_failed"] = list(failed)
    return out


def ratios(
    floor_seconds: float,
    cold_seconds: float,
    validation_seconds: float,
    incremental_seconds: float | None,
    peak_rss_mb: float,
    sample_seconds: float | None = None,
    failed: Iterable[str] = (),
) -> dict:
    """The performance.md ratios beside their targets, and whether each is met; a ratio
    measured on a run named in ``failed`` (cold, incremental, sample) is not met whatever
    its value, and says which (``runs_failed``)."""
    failed = set(failed)
    values = {
        "cold_over_floor": cold_seconds / floor_seconds,
        "validation_share": validation_seconds / cold_seconds,
        "incremental_share": None
        if incremental_seconds is None
        else incremental_seconds / cold_seconds,
        "peak_rss_mb": peak_rss_mb,
        "sample_seconds": sample_seconds,
    }
    return {
        name: _target(value, TARGETS[name], tuple(r for r in RATIO_RUNS[name] if r in failed))
        for name, value in values.items()
    }


def machine() -> dict:
    import dagster
    import duckdb

    from wlz_pipeline.settings import load_settings

    mem = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem = round(int(line.split()[1]) * 1024 / 1e9, 1)
    except OSError:
        pass
    settings = load_settings()
    s = settings.duckdb
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "memory_gb": mem,
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "dagster": dagster.__version__,
        "duckdb_settings": {
            "memory_limit": s.memory_limit,
            "threads": s.threads,
            "temp_directory": s.temp_directory or "<warehouse dir>/duckdb_tmp",
        },
        # steps side by side change every step's time (wlz_pipeline/executor.py)
        "concurrent_steps": settings.run.concurrent_steps,
    }


def run_summary(m: RunMeasure, check_steps: set[str]) -> dict:
    steps = {
        k: {**v, "class": classify_step(k, check_steps), "seconds": v["seconds"]}
        for k, v in sorted(m.steps.items(), key=lambda kv: kv[1]["start"] or 0)
    }
    return {
        "wall_seconds": m.wall_seconds,
        "run_seconds": m.run_seconds,
        "peak_rss_mb": m.peak_rss_mb,
        "cpu_seconds": m.cpu_seconds,
        # average number of cores the run kept busy
        "cores_busy": None if m.cpu_seconds is None else round(m.cpu_seconds / m.wall_seconds, 2),
        "returncode": m.returncode,
        "run_id": m.run_id,
        "command": m.command,
        "log": m.log,
        "steps_run": len(steps),
        "steps_failed": sorted(k for k, v in steps.items() if v["status"] == "failure"),
        "tables_rebuilt": m.tables_rebuilt,
        "seconds_by_class": seconds_by_class(m.steps, check_steps),
        "steps": {
            k: {kk: v[kk] for kk in ("seconds", "status", "class")} for k, v in steps.items()
        },
    }


def quiet_night(summary: dict, cold_seconds: float) -> dict:
    """The incremental night's selection run again with nothing new landed: every table
    is left as it is (``tables_rebuilt`` lists any that was not), yet each selected step
    still runs (start-up, its events, the check that its inputs did not change) and the
    publication and the reports are built whole. ``share_of_cold`` is the least a night of
    this selection can take, set against the cold run as the incremental target is."""
    return {
        **summary,
        "share_of_cold": round(summary["wall_seconds"] / cold_seconds, 4),
        "slowest_steps": dict(
            sorted(
                ((k, round(v["seconds"], 2)) for k, v in summary["steps"].items() if v["seconds"]),
                key=lambda kv: -kv[1],
            )[:5]
        ),
    }


def floor_drift(before_seconds: float, after_seconds: float, cold_seconds: float) -> dict:
    """The floor measured again after the cold run, on the same files: how far the
    machine's speed moved while the cold run ran, and the cold run over that second floor.
    The two bracket the run. The target is quoted on the faster of the two
    (``quoted_seconds``, used by ``ratios`` and ``all_cores_busy``): a floor slowed by
    the machine (a page cache reclaimed under the first one made it 2.2x the second)
    would make the run look nearer the floor than it is."""
    return {
        "after_seconds": round(after_seconds, 3),
        "after_over_before": round(after_seconds / before_seconds, 4),
        "cold_over_floor_after": round(cold_seconds / after_seconds, 4),
        "quoted": "after" if after_seconds < before_seconds else "before",
        "quoted_seconds": round(min(before_seconds, after_seconds), 3),
    }


def human_summary(report: dict) -> str:
    f, c = report["floor"], report["cold"]
    lines = [
        f"floor: {f['seconds']:.1f}s for {f['files']} files, {f['rows']:,} rows "
        f"(DuckDB {f['duckdb_seconds']:.1f}s, workbooks {f['workbook_seconds']:.1f}s)",
        f"cold:  {c['wall_seconds']:.1f}s, peak RSS {c['peak_rss_mb']:.0f} MB, "
        + ", ".join(f"{k} {v:.1f}s" for k, v in c["seconds_by_class"].items()),
    ]
    d = f.get("drift")
    if d:
        first = c["wall_seconds"] / f["seconds"]
        quoted = "second" if d["quoted"] == "after" else "first"
        lines.append(
            f"floor again after the cold run: {d['after_seconds']:.1f}s "
            f"({d['after_over_before']:.2f}x the first): the cold run is "
            f"{first:.2f}x / {d['cold_over_floor_after']:.2f}x the floors "
            f"(the target is quoted on the faster: the {quoted})"
        )
    inc = report.get("incremental")
    if inc:
        lines.append(f"incremental: {inc['wall_seconds']:.1f}s, {inc['steps_run']} steps")
    q = report.get("quiet_night")
    if q:
        slowest = ", ".join(f"{k} {v:.1f}s" for k, v in q["slowest_steps"].items())
        lines.append(
            f"quiet night (the same selection, nothing new): {q['wall_seconds']:.1f}s, "
            f"{q['steps_run']} steps, {len(q['tables_rebuilt'])} tables rebuilt: "
            f"{q['share_of_cold']:.1%} of the cold run, the least a night of this selection "
            f"takes (slowest: {slowest})"
        )
    for name in ("cold", "incremental"):
        b = (report.get(name) or {}).get("side_by_side") or {}
        if b.get("available"):
            lines.append(
                f"{name} steps: {b['one_at_a_time_seconds']:.1f}s one at a time, "
                f"{b['two_at_a_time_seconds']:.1f}s two at a time at best "
                f"(critical path {b['critical_path_seconds']:.1f}s)"
            )
    for name, ref in (("cold", "the floor"), ("incremental", "the cold run")):
        b = (report.get(name) or {}).get("all_cores_busy") or {}
        if b.get("available"):
            lines.append(
                f"{name} CPU: {b['cpu_seconds']:.1f}s, so at least {b['seconds']:.1f}s on "
                f"{b['cores']} cores ({b['over_reference']:.2f}x {ref})"
            )
    s = report.get("sample")
    if s:
        lines.append(f"sample: {s['wall_seconds']:.1f}s")
    for name, r in report["ratios"].items():
        if r["value"] is None:
            continue
        mark = "met" if r["met"] else "NOT met"
        if r.get("runs_failed"):
            mark += f" ({' and '.join(r['runs_failed'])} run failed)"
        v = r["value"]
        shown = f"{v:.3f}" if v < 10 else f"{v:,.1f}"
        lines.append(f"  {name}: {shown} (target < {r['target']:g}) {mark}")
    return "\n".join(lines)


# -- the whole benchmark ----------------------------------------------------------------------
def ensure_zone(data_dir: Path, seed: int, echo=print) -> bool:  # noqa: ANN001
    """Generate the zone into ``data_dir`` unless it has a MANIFEST.json; True if made."""
    if (data_dir / "MANIFEST.json").exists():
        return False
    from wlz_pipeline.generator import generate

    echo(f"generating the zone into {data_dir} (seed {seed}) ...")
    generate(data_dir, scale="zone", seed=seed, overwrite=True)
    return True


def run_bench(
    data_dir: Path,
    work_dir: Path,
    seed: int = 20170901,
    sample: bool = True,
    keep: bool = False,
    echo=print,  # noqa: ANN001
) -> dict:
    """Floor, cold run, incremental night and (optionally) the sample; the report dict."""
    import json

    data_dir = Path(data_dir).resolve()
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    generated = ensure_zone(data_dir, seed, echo)
    manifest = json.loads((data_dir / "MANIFEST.json").read_text(encoding="utf-8"))
    if not returned_templates(data_dir):
        echo(
            f"warning: {data_dir} holds no held-back partner templates (made by an older "
            "generator?): the incremental night gets marks only; regenerate the zone"
        )
    checks = check_step_keys()

    landing = work_dir / "landing"
    if landing.exists():
        shutil.rmtree(landing)
    copied = copy_landing(data_dir, landing)
    files = input_files(landing)
    t0 = time.perf_counter()
    encodings = prepare_files(landing, [f for f, _, _ in files])
    warm = time.perf_counter() - t0
    echo(f"floor: scanning {len(files)} files ...")
    floor = measure_floor(landing, encodings=encodings)
    echo(f"floor: {floor['seconds']:.1f}s")

    wh = work_dir / "warehouse" / "wlz.duckdb"
    home = fresh_dagster_home(work_dir / "dagster_home")
    echo(f"cold run (log {work_dir / 'cold.log'}) ...")
    cold = measured_run(landing, wh, home, work_dir / "cold.log")
    echo(f"cold: {cold.wall_seconds:.1f}s, rc {cold.returncode}")
    rows = table_rows(wh) if wh.exists() else {}
    # the floor again, on the same files (warmed again, untimed): the two bracket the
    # cold run, so the report shows how much the machine's speed moved meanwhile
    prepare_files(landing, [f for f, _, _ in files])
    floor_after = measure_floor(landing, encodings=encodings)
    drift = floor_drift(floor["seconds"], floor_after["seconds"], cold.wall_seconds)
    echo(f"floor again: {floor_after['seconds']:.1f}s")

    # the incremental night: a new week of marks for one anchor + returned templates
    week = derive_new_week(landing)
    templates = returned_templates(data_dir)
    returned = []
    for src, rel in templates:  # held back by the generator: new content
        dst = landing / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
        returned.append(rel)
    sources = ["mis"] + (["partners"] if templates else [])
    select, selected = sensor_selection(sources)
    echo(f"incremental night ({week.path.name}; select {select}) ...")
    inc = measured_run(landing, wh, home, work_dir / "incremental.log", select=select)
    echo(f"incremental: {inc.wall_seconds:.1f}s, rc {inc.returncode}")
    new_rel = week.path.relative_to(landing).as_posix()
    statuses = file_statuses(wh, [new_rel, *returned])
    # the same selection again with nothing new: what a night of it costs however little
    # changed (quiet_night)
    echo("quiet night (nothing new; the same selection) ...")
    quiet = measured_run(landing, wh, home, work_dir / "quiet.log", select=select)
    echo(f"quiet night: {quiet.wall_seconds:.1f}s, rc {quiet.returncode}")

    sample_m = None
    if sample:
        echo("sample run ...")
        sample_m = measured_run(
            REPO_ROOT / "data" / "sample",
            work_dir / "sample" / "warehouse" / "wlz.duckdb",
            fresh_dagster_home(work_dir / "sample" / "dagster_home"),
            work_dir / "sample.log",
            pseudonym_key=None,  # the sample publishes under its documented demo key
        )
        echo(f"sample: {sample_m.wall_seconds:.1f}s, rc {sample_m.returncode}")

    cold_s = run_summary(cold, checks)
    inc_s = run_summary(inc, checks)
    # the measured runs that exited non-zero: their ratios are not met, and wlz bench fails
    runs = {"cold": cold, "incremental": inc, "quiet night": quiet, "sample": sample_m}
    failed = [name for name, m in runs.items() if m is not None and m.returncode != 0]
    deps = step_dependencies()
    cores = usable_cores()
    report = {
        "benchmark": "wlz bench (performance.md)",
        "started_at": started_at,
        "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "work_dir": str(work_dir),
        "machine": machine(),
        "data": {
            "landing": str(data_dir),
            "generated_now": generated,
            "scale": manifest.get("scale"),
            "seed": manifest.get("seed"),
            "copy": f"{landing} ({copied})",
            "files": floor["files"],
            "rows": floor["rows"],
            "by_source": floor["by_source"],
            "by_format": floor["by_format"],
            "partner_workbooks": floor["by_format"].get("workbook", {}).get("files", 0),
        },
        "floor": {k: v for k, v in floor.items() if k not in ("per_file", "by_source")}
        | {"page_cache_warm_up_seconds": warm, "drift": drift, "per_file": floor["per_file"]},
        "cold": {
            **cold_s,
            "peak_rss_method": "os.wait4 ru_maxrss of the wlz run subprocess",
            "rows_per_table": rows,
            "side_by_side": side_by_side_bound(cold_s["steps"], deps),
            # over_reference: over the floor (the cold target is 3x the floor)
            "all_cores_busy": all_cores_busy(cold.cpu_seconds, cores, drift["quoted_seconds"]),
        },
        "incremental": {
            **inc_s,
            "selection": select,
            "assets_selected": selected,
            "new_marks_file": {
                "path": new_rel,
                "derived_from": week.derived_from,
                "anchor_urn": week.anchor_urn,
                "profile": week.profile,
                "rows": week.rows,
                "dates": [week.first_date.isoformat(), week.last_date.isoformat()],
                "status": statuses.get(new_rel),
            },
            "returned_templates": len(templates),
            "returned_template_statuses": {p: statuses.get(p) for p in returned},
            "side_by_side": side_by_side_bound(inc_s["steps"], deps),
            # over_reference: over the cold run (the incremental target is 10 % of it)
            "all_cores_busy": all_cores_busy(inc.cpu_seconds, cores, cold.wall_seconds),
        },
        "quiet_night": quiet_night(run_summary(quiet, checks), cold.wall_seconds),
        "sample": None
        if sample_m is None
        else {
            **{k: v for k, v in run_summary(sample_m, checks).items() if k != "steps"},
            "data_dir": str(REPO_ROOT / "data" / "sample"),
        },
        "ratios": ratios(
            drift["quoted_seconds"],
            cold.wall_seconds,
            cold_s["seconds_by_class"]["validation"],
            inc.wall_seconds,
            cold.peak_rss_mb,
            None if sample_m is None else sample_m.wall_seconds,
            failed=failed,
        ),
        "runs_failed": failed,
        "notes": [
            "ratios use subprocess wall times (Dagster start-up included); run_seconds is "
            "RUN_START to the run's end event",
            "validation_share = sum of asset-check step times / cold wall time",
            "all_cores_busy: the run's CPU time over the usable cores, the shortest it "
            "could take doing the same work however its steps were scheduled",
            "floor: each file scanned once on its own; page cache warmed first (untimed)",
            "floor.drift: the floor measured again after the cold run; the ratios to the "
            "floor use the faster of the two (floor.drift.quoted_seconds)",
            "quiet_night: the incremental night's selection run again with nothing new; "
            "share_of_cold has no target of its own: it is the least the incremental "
            "night of that selection can take",
            "returned templates: the ones the zone generator held back "
            "(MANIFEST.json held_back), new content, so ingestion takes them in",
        ],
    }
    if not keep:
        for p in (landing, wh.parent, work_dir / "sample" / "warehouse"):
            shutil.rmtree(p, ignore_errors=True)
    return report
