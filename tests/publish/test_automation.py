"""The landing sensor and the nightly schedule, evaluated the way the daemon does
(``build_sensor_context`` with a cursor; ``build_schedule_context``)."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

import assets.automation as automation
from assets.resources import WarehouseResource, in_process_executor
from wlz_pipeline.config import load_yaml
from wlz_pipeline.definitions import defs
from wlz_pipeline.settings import load_settings

STABLE = load_settings().sensor_stable_seconds
REPO = defs.get_repository_def()
SENSOR = defs.resolve_sensor_def("wlz_landing_files")
T0 = 1_900_000_000.0  # a fixed "now" for the sensor's clock


@pytest.fixture
def tick(tmp_path, monkeypatch):
    """Evaluate the sensor at a given time with a given cursor -> (result, new cursor)."""
    landing = tmp_path / "landing"
    landing.mkdir()
    resource = WarehouseResource(data_dir=str(landing), warehouse=str(tmp_path / "wh.duckdb"))

    instance = dg.DagsterInstance.ephemeral()

    def _tick(now: float, cursor: str | None):
        monkeypatch.setattr(automation, "_clock", lambda: now)
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, repository_def=REPO, resources={"wlz": resource}
        )
        result = SENSOR(context)
        return result, result.cursor

    _tick.landing = landing
    return _tick


def write(path, data: bytes, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def test_a_half_written_file_waits_until_stable_and_the_same_file_triggers_once(tick):
    landing = tick.landing
    upload = landing / "surveys" / "my_voice_2018-01-12.csv"
    # being copied: its mtime is a second ago
    write(upload, b"response_id,submitted_at\nR1,2018-01-12 09:00:00\n", T0 - 1)
    result, cursor = tick(T0, None)
    assert result.run_requests == [] and "still being written" in result.skip_reason.skip_message
    # still growing 20 s later
    write(upload, upload.read_bytes() + b"R2,2018-01-12 09:05:00\n", T0 + 20)
    result, cursor = tick(T0 + 30, cursor)
    assert result.run_requests == []
    # unchanged, but not yet quiet for the settle time
    result, cursor = tick(T0 + 20 + STABLE - 1, cursor)
    assert result.run_requests == []
    # quiet for long enough, and the same size and mtime as last time: ingest it
    result, cursor = tick(T0 + 20 + STABLE + 5, cursor)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    keys = {k.to_user_string() for k in request.asset_selection}
    assert "raw/surveys" in keys and "bi/publication" in keys
    assert "raw/mis" not in keys  # only what the new file feeds
    assert request.tags["wlz/trigger"] == "landing_sensor"
    assert request.run_key.startswith("landing-")
    first_key = request.run_key
    # later looks: nothing new
    result, cursor = tick(T0 + 500, cursor)
    assert result.run_requests == []
    # the same content dropped again under another name, or in another folder: never again
    shutil.copy2(upload, landing / "surveys" / "copy_of_my_voice.csv")
    (landing / "interactions").mkdir()
    shutil.copy2(upload, landing / "interactions" / "misfiled.csv")
    for t in (T0 + 600, T0 + 700, T0 + 800):
        result, cursor = tick(t, cursor)
        assert result.run_requests == []
    # a new file (new content) triggers a new run with a different key
    write(landing / "surveys" / "my_voice_2018-01-19.csv", b"response_id\nR9\n", T0 - 3600)
    result, cursor = tick(T0 + 900, cursor)
    assert result.run_requests == []  # first look: noted
    result, cursor = tick(T0 + 930, cursor)
    assert len(result.run_requests) == 1 and result.run_requests[0].run_key != first_key


def test_a_reference_file_requests_everything_downstream_but_the_term_partitioned_templates(
    tick,
):
    """A new calendar feeds the templates too, but a sensor run has no term: the templates
    (partitioned by term) are left to their own job; the terms are refreshed."""
    write(tick.landing / "reference" / "calendar.csv", b"academic_year,term\n", T0)
    _, cursor = tick(T0 + STABLE + 5, None)  # first look: noted
    result, _ = tick(T0 + STABLE + 10, cursor)
    assert len(result.run_requests) == 1
    keys = {k.to_user_string() for k in result.run_requests[0].asset_selection}
    assert {"raw/reference", "staging/calendar", "partners/template_terms"} <= keys
    assert "partners/templates" not in keys


def test_a_new_mis_extract_requests_both_assets_that_ingest_mis(tick):
    """mis/ is ingested by raw/pupils (its registers) and raw/mis (the rest): the sensor
    cannot tell which a new file is for without reading it, so it asks for both."""
    write(tick.landing / "mis" / "140101" / "marks.csv", b"UPN,Date\n", T0 - 3600)
    _, cursor = tick(T0, None)
    result, _ = tick(T0 + 60, cursor)
    (request,) = result.run_requests
    keys = {k.to_user_string() for k in request.asset_selection}
    assert {"raw/pupils", "raw/mis", "staging/pupils", "staging/attendance_marks"} <= keys
    assert "raw/surveys" not in keys


def test_lock_files_and_partial_downloads_never_trigger(tick):
    landing = tick.landing
    write(landing / "partners" / "P01" / "~$template.xlsx", b"lock", T0 - 3600)
    write(landing / "mis" / "140101" / "extract.csv.part", b"half", T0 - 3600)
    write(landing / "mis" / "140101" / ".hidden.csv", b"x", T0 - 3600)
    cursor = None
    for t in (T0, T0 + 60, T0 + 120):
        result, cursor = tick(t, cursor)
        assert result.run_requests == []
    assert json.loads(cursor)["known"] == {}


def _enrolments_taken_in(tick):
    """reference/enrolments.csv dropped an hour ago and taken in (a run requested) by the
    second look -> (its path, the sensor's result and cursor after that look)."""
    ref = tick.landing / "reference" / "enrolments.csv"
    write(ref, b"wlz_id\nWLZ000000001\n", T0 - 3600)
    _, cursor = tick(T0, None)
    result, cursor = tick(T0 + 60, cursor)
    assert len(result.run_requests) == 1
    return ref, result, cursor


def test_a_changed_file_in_place_triggers_again(tick):
    ref, result, cursor = _enrolments_taken_in(tick)
    assert {k.to_user_string() for k in result.run_requests[0].asset_selection} >= {
        "raw/reference",
        "raw/mis",
        "staging/enrolments",
        "bi/publication",
    }
    write(ref, b"wlz_id\nWLZ000000001\nWLZ000000002\n", T0 + 100)
    result, cursor = tick(T0 + 110, cursor)
    assert result.run_requests == []
    result, cursor = tick(T0 + 100 + STABLE + 1, cursor)
    assert len(result.run_requests) == 1


def test_nightly_schedule_runs_everything_at_two_in_london():
    cfg = load_yaml("publication.yaml")["schedule"]
    schedule = defs.resolve_schedule_def("wlz_nightly")
    assert (schedule.cron_schedule, schedule.execution_timezone) == (cfg["cron"], cfg["timezone"])
    assert (cfg["cron"], cfg["timezone"]) == ("0 2 * * *", "Europe/London")
    assert schedule.job_name == "wlz_everything"
    job = defs.resolve_job_def("wlz_everything")
    # one writer per run: Dagster's in-process executor, holding the warehouse open
    assert job.executor_def is in_process_executor
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey(["bi", "publication"]) in graph.get_all_asset_keys()
    # at the summer-time change (last Sunday of March) the tick is still 02:00 local
    ticks = cron_string_iterator(
        datetime(2026, 3, 28, 12, 0, tzinfo=ZoneInfo("Europe/London")).timestamp(),
        schedule.cron_schedule,
        schedule.execution_timezone,
    )
    first, second = next(ticks), next(ticks)
    assert (first.hour, first.day, second.hour, second.day) == (2, 29, 2, 30)
    context = dg.build_schedule_context(
        instance=dg.DagsterInstance.ephemeral(), scheduled_execution_time=first
    )
    data = schedule.evaluate_tick(context)
    assert len(data.run_requests) == 1 and data.run_requests[0].tags["wlz/trigger"] == "nightly"


def test_publication_depends_on_every_staging_and_mart_table():
    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey(["bi", "publication"])).parent_keys
    tables = {k for k in graph.get_all_asset_keys() if k.path[0] in ("staging", "marts")}
    assert tables and tables <= parents


def test_a_rewrite_that_keeps_the_size_and_puts_the_old_mtime_back_triggers_again(tick):
    """Same size, same mtime, new content (a corrected extract copied with its old
    timestamp): the change time and the inode give it away."""
    ref, _, cursor = _enrolments_taken_in(tick)
    before = ref.stat()
    replacement = ref.with_name(".enrolments.new")
    write(replacement, b"wlz_id\nWLZ000000009\n", T0 - 3600)  # the same 21 bytes
    os.replace(replacement, ref)
    after = ref.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    result, cursor = tick(T0 + 120, cursor)
    assert result.run_requests == []  # first look at the new signature: noted
    result, cursor = tick(T0 + 180, cursor)
    assert len(result.run_requests) == 1
    assert "raw/reference" in {k.to_user_string() for k in result.run_requests[0].asset_selection}
    # and then it is known: no further run, no further read
    result, cursor = tick(T0 + 240, cursor)
    assert result.run_requests == []


def test_a_version_1_cursor_is_upgraded_without_reading_or_requesting_known_files(
    tick, monkeypatch
):
    """A cursor written before the stat signature ([size, mtime_ns, hash] per file) keeps
    what it knew: no file is hashed again and no run is requested for content seen; a file
    it did not know is still found."""
    landing = tick.landing
    ref = landing / "reference" / "enrolments.csv"
    write(ref, b"wlz_id\nWLZ000000001\n", T0 - 3600)
    digest = automation.sha256_file(ref)
    st = ref.stat()
    v1 = json.dumps(
        {
            "v": 1,
            "known": {"reference/enrolments.csv": [st.st_size, st.st_mtime_ns, digest]},
            "pending": {},
            "seen": [digest],
        }
    )
    hashed: list = []
    real_sha = automation.sha256_file
    monkeypatch.setattr(automation, "sha256_file", lambda p: hashed.append(p) or real_sha(p))
    result, cursor = tick(T0, v1)
    assert result.run_requests == [] and hashed == []
    state = json.loads(cursor)
    assert state["v"] == automation.CURSOR_VERSION == 2
    assert state["known"]["reference/enrolments.csv"] == [
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
        st.st_dev,
        digest,
    ]
    assert state["seen"] == [digest]
    # later looks: still nothing read; a new file is found as before
    result, cursor = tick(T0 + 60, cursor)
    assert result.run_requests == [] and hashed == []
    write(landing / "surveys" / "my_voice.csv", b"response_id\nR1\n", T0 - 3600)
    _, cursor = tick(T0 + 120, cursor)
    result, cursor = tick(T0 + 180, cursor)
    assert len(result.run_requests) == 1 and len(hashed) == 1


def test_a_file_copied_with_its_old_timestamps_waits_until_its_change_time_settles(tick):
    """``cp -p`` or ``rsync -t`` keep a file's old mtime while it is still being copied:
    the change time, which no copy can set, is what must have been quiet."""
    now = time.time()
    upload = tick.landing / "surveys" / "my_voice.csv"
    write(upload, b"response_id\nR1\n", now - 86_400)  # mtime: yesterday; ctime: now
    result, cursor = tick(now, None)
    assert result.run_requests == []  # first look: noted
    result, cursor = tick(now + 1, cursor)
    assert result.run_requests == [] and "still being written" in result.skip_reason.skip_message
    result, cursor = tick(now + STABLE + 1, cursor)
    assert len(result.run_requests) == 1
