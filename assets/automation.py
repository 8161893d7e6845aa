"""Automation: the nightly schedule and the landing-folder sensor (README "Orchestration").

- ``wlz_nightly`` runs the job ``wlz_everything`` at 02:00 Europe/London (``schedule`` in
  ``config/publication.yaml``): ingestion picks up only files it has not seen (files are
  identified by content), every table is rebuilt and checked (marts depend on the run date:
  alerts, terms in progress), and the publication is swapped in unless a blocking check
  failed.
- ``wlz_landing_files`` looks at the landing folder every ``sensor.interval_seconds``. A
  file counts as complete once its stat was the same at two looks and it was last
  modified or changed at least ``sensor_stable_seconds`` (``config/settings.yaml``) ago; files
  still being written, editors' lock files and partial downloads are ignored. Each batch of
  new files requests one run of the raw assets of their folders and everything downstream
  (so the publication is refreshed), with a run key made from the files' content hashes:
  the same content never triggers twice, under any name. The cursor keeps, per file, the
  stat signature ingestion keeps (``wlz_pipeline.ingest.file_signature``: size, modification
  and change times, inode, device) and the hash, so a file is hashed again whenever any of
  them changes (a rewrite that keeps the size and puts the old mtime back still changes
  the change time), and every hash seen.

Writers never collide: every run executes in one process
(``assets.resources.in_process_executor``), and the instance runs one run at a time
(``config/dagster.yaml``: ``max_concurrent_runs: 1``); runs queue instead of meeting on
the DuckDB file.
"""

import fnmatch
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from assets.ingest import raw_assets_for_folder
from assets.resources import WarehouseResource
from wlz_pipeline.ingest import (
    SIGNATURE_COLUMNS,
    SOURCES,
    file_signature,
    landing_files,
    last_changed_ns,
    sha256_file,
)
from wlz_pipeline.publish import load_config
from wlz_pipeline.settings import load_settings

JOB_NAME = "wlz_everything"  # defined in wlz_pipeline/definitions.py: every asset, in-process
#: 2: a file's entry is its whole stat signature and hash (1: size, mtime and hash only;
#: read once, see ``_load_cursor``)
CURSOR_VERSION = 2
_SIG = len(SIGNATURE_COLUMNS)  # the width of a file's signature in the cursor

#: The sensor's clock (tests replace it).
_clock = time.time


def _default_status(kind: type) -> object:
    value = os.environ.get("WLZ_AUTOMATION_DEFAULT") or load_config().schedule.default_status
    running = value.strip().lower() == "running"
    return kind.RUNNING if running else kind.STOPPED


# -- the landing scan (no Dagster in here: tested directly) -----------------------------------
@dataclass
class LandingScan:
    new_files: list[tuple[str, str, str]] = field(default_factory=list)  # (source, path, sha)
    waiting: list[str] = field(default_factory=list)  # paths not yet stable
    cursor: str = ""

    @property
    def sources(self) -> list[str]:
        return sorted({s for s, _, _ in self.new_files})

    @property
    def run_key(self) -> str:
        digest = hashlib.sha256("\n".join(sorted(h for _, _, h in self.new_files)).encode())
        return f"landing-{digest.hexdigest()[:32]}"


def _load_cursor(cursor: str | None) -> dict:
    """The cursor's state. A version 1 cursor (``[size, mtime_ns, hash]`` per file) keeps
    its hashes seen, and its files go to ``legacy``: each is taken as known, with its
    full signature, while its size and mtime are unchanged, so upgrading neither hashes
    the whole landing folder again nor requests a run for content already seen."""
    state = {"v": CURSOR_VERSION, "known": {}, "pending": {}, "seen": [], "legacy": {}}
    if cursor:
        try:
            loaded = json.loads(cursor)
        except json.JSONDecodeError:
            return state
        if isinstance(loaded, dict) and loaded.get("v") == CURSOR_VERSION:
            state.update({k: loaded.get(k, state[k]) for k in ("known", "pending", "seen")})
        elif isinstance(loaded, dict) and loaded.get("v") == 1:
            state["seen"] = loaded.get("seen", [])
            state["legacy"] = loaded.get("known", {})
    return state


def scan_landing(
    data_dir: Path,
    cursor: str | None,
    now: float,
    stable_seconds: float,
    ignore: list[str] | tuple[str, ...] = (),
) -> LandingScan:
    """New, completely written files in the landing folder since ``cursor``."""
    state = _load_cursor(cursor)
    known: dict[str, list] = state["known"]
    legacy: dict[str, list] = state["legacy"]
    pending: dict[str, list] = state["pending"]
    seen: set[str] = set(state["seen"])
    new_known: dict[str, list] = {}
    new_pending: dict[str, list] = {}
    scan = LandingScan()
    for source in SOURCES:
        for path in landing_files(data_dir, source):
            if any(fnmatch.fnmatch(path.name, p) for p in ignore):
                continue
            rel = path.relative_to(data_dir).as_posix()
            try:
                st = path.stat()
            except FileNotFoundError:  # removed while we looked
                continue
            sig = list(file_signature(st))
            previous = known.get(rel)
            if previous and previous[:_SIG] == sig:
                new_known[rel] = previous
                continue
            old = legacy.get(rel)
            if old and old[:2] == sig[:2]:  # a version 1 entry: size and mtime (ns)
                new_known[rel] = [*sig, old[2]]
                continue
            quiet_for = now - last_changed_ns(sig) / 1e9
            if pending.get(rel) != sig or quiet_for < stable_seconds:
                new_pending[rel] = sig
                scan.waiting.append(rel)
                continue
            digest = sha256_file(path)
            new_known[rel] = [*sig, digest]
            if digest in seen:
                continue
            seen.add(digest)
            scan.new_files.append((source, rel, digest))
    scan.cursor = json.dumps(
        {"v": CURSOR_VERSION, "known": new_known, "pending": new_pending, "seen": sorted(seen)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return scan


# -- Dagster wiring -------------------------------------------------------------------------
def landing_selection(graph, sources) -> list[dg.AssetKey]:  # noqa: ANN001
    """What new files in the landing folders ``sources`` request: the raw assets of those
    folders (``mis/`` has two: its registers and the rest) and everything downstream,
    without the partitioned assets (partners/templates, by term), which run in their own
    jobs: an unpartitioned run has no partition key for them. Empty when no asset
    ingests those folders."""
    roots = [k for s in sorted(set(sources)) for k in raw_assets_for_folder(s) if graph.has(k)]
    if not roots:
        return []
    selection = dg.AssetSelection.assets(*roots).downstream().resolve(graph)
    return sorted(
        (k for k in selection if graph.get(k).partitions_def is None),
        key=lambda k: k.to_user_string(),
    )


def _sensor() -> dg.SensorDefinition:
    cfg = load_config()

    @dg.sensor(
        name="wlz_landing_files",
        job_name=JOB_NAME,
        minimum_interval_seconds=cfg.sensor.interval_seconds,
        default_status=_default_status(dg.DefaultSensorStatus),
        description="New files in the landing folder (once fully written) -> ingest them, "
        "rebuild what depends on them and publish. The same content never triggers twice.",
    )
    def wlz_landing_files(
        context: dg.SensorEvaluationContext, wlz: WarehouseResource
    ) -> dg.SensorResult:
        scan = scan_landing(
            wlz.data_path,
            context.cursor,
            now=_clock(),
            stable_seconds=load_settings().sensor_stable_seconds,
            ignore=load_config().sensor.ignore,
        )
        if not scan.new_files:
            reason = (
                f"{len(scan.waiting)} file(s) still being written or settling: "
                + ", ".join(scan.waiting[:5])
                if scan.waiting
                else "no new files in the landing folder"
            )
            return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=scan.cursor)
        selection = landing_selection(context.repository_def.asset_graph, scan.sources)
        if not selection:
            return dg.SensorResult(
                skip_reason=dg.SkipReason(
                    f"new files in {', '.join(scan.sources)}, which no asset ingests"
                ),
                cursor=scan.cursor,
            )
        for _, path, digest in scan.new_files:
            context.log.info(f"new file {path} ({digest[:12]})")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=scan.run_key,
                    asset_selection=selection,
                    tags={
                        "wlz/trigger": "landing_sensor",
                        "wlz/new_files": str(len(scan.new_files)),
                        "wlz/sources": ",".join(scan.sources),
                    },
                )
            ],
            cursor=scan.cursor,
        )

    return wlz_landing_files


def _schedule() -> dg.ScheduleDefinition:
    cfg = load_config().schedule
    return dg.ScheduleDefinition(
        name="wlz_nightly",
        job_name=JOB_NAME,
        cron_schedule=cfg.cron,
        execution_timezone=cfg.timezone,
        default_status=_default_status(dg.DefaultScheduleStatus),
        tags={"wlz/trigger": "nightly"},
        description="Nightly: ingest what arrived, rebuild and check every table, publish "
        "(config/publication.yaml schedule).",
    )


landing_sensor = _sensor()
nightly_schedule = _schedule()

defs = dg.Definitions(schedules=[nightly_schedule], sensors=[landing_sensor])
