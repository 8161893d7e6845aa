"""The parts of ``wlz bench`` on small data. No test here asserts how long anything takes
(one checks that CPU time is accounted, with processes that spin for a set CPU time)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from wlz_pipeline import bench
from wlz_pipeline.ingest import ingest_all


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise AssertionError("undecodable fixture")


def _data_rows(path: Path) -> int:
    """Data rows counted without DuckDB: CSV records with at least two non-blank fields
    (title lines and blank lines have fewer), less the header."""
    records = csv.reader(io.StringIO(_decode(path.read_bytes())))
    return sum(1 for r in records if sum(1 for v in r if v.strip()) >= 2) - 1


def test_floor_scans_every_file_and_counts_their_rows(landing):
    # a partner workbook too, read by calamine: 1 header + 3 data rows, one blank row
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["child", "sessions"], ["A", 1], ["B", 2], [None, None], ["C", 3]):
        ws.append(row)
    (landing / "partners" / "P01").mkdir(parents=True)
    wb.save(landing / "partners" / "P01" / "returned.xlsx")

    floor = bench.measure_floor(landing)

    csvs = sorted(p for p in landing.rglob("*.csv"))
    xmls = sorted(landing.rglob("*.xml"))
    assert csvs and xmls
    # the fixture's awkward files are among them
    raw = {p.name: p.read_bytes() for p in csvs}
    assert raw["sims_pupils.csv"].startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        raw["arbor_pupils.csv"].decode("utf-8")
    assert not raw["arbor_pupils.csv"].startswith(b"Student UPN")  # a title line first

    per_file = {f["path"]: f for f in floor["per_file"]}
    assert floor["errors"] == []
    assert set(per_file) == {p.relative_to(landing).as_posix() for p in [*csvs, *xmls]} | {
        "partners/P01/returned.xlsx"
    }
    for p in csvs:
        rel = p.relative_to(landing).as_posix()
        assert per_file[rel]["rows"] == _data_rows(p), rel
        assert per_file[rel]["columns"] > 1, rel  # a title line was not taken for a header
    assert per_file["mis/140103/arbor_pupils.csv"]["encoding"] == "latin-1"
    assert per_file["mis/140102/sims_pupils.csv"]["encoding"] == "utf-8"
    for p in xmls:
        assert per_file[p.relative_to(landing).as_posix()]["rows"] == 1  # one document
    assert per_file["partners/P01/returned.xlsx"]["rows"] == 4
    assert floor["by_format"]["csv"]["files"] == len(csvs)
    assert floor["by_format"]["ctf_xml"]["files"] == len(xmls)
    assert floor["by_format"]["workbook"] == {
        "files": 1,
        "rows": 4,
        "bytes": (landing / "partners/P01/returned.xlsx").stat().st_size,
        "seconds": per_file["partners/P01/returned.xlsx"]["seconds"],
    }
    assert floor["rows"] == sum(_data_rows(p) for p in csvs) + len(xmls) + 4
    assert floor["files"] == len(csvs) + len(xmls) + 1


def test_new_week_of_marks_is_ingested_with_shifted_dates(con, landing, archive):
    ingest_all(con, landing, archive)
    original = landing / "mis" / "140102" / "sims_marks.csv"
    rows = list(csv.DictReader(io.StringIO(_decode(original.read_bytes()))))
    dates = [datetime.strptime(r["Date"], "%d/%m/%Y").date() for r in rows]
    last = max(dates)
    expected = sorted(
        (r["UPN"], (d + timedelta(days=7)).strftime("%d/%m/%Y"), r["Session"], r["Mark"])
        for r, d in zip(rows, dates, strict=True)
        if d > last - timedelta(days=7)
    )

    week = bench.derive_new_week(landing)  # the first anchor with CSV marks: 140102 (SIMS)

    assert week.anchor_urn == "140102" and week.profile == "sims"
    assert week.derived_from == "mis/140102/sims_marks.csv"
    assert week.rows == len(expected)
    assert week.last_date == last + timedelta(days=7)
    assert week.path.parent == original.parent
    ingest_all(con, landing, archive)
    rel = week.path.relative_to(landing).as_posix()
    status, kinds, file_hash = con.execute(
        "SELECT status, kinds, file_hash FROM meta.file_registry WHERE path = ?", [rel]
    ).fetchone()
    assert status == "ingested"
    assert kinds == ["attendance_marks"]
    got = con.execute(
        "SELECT upn, date, session, code FROM raw.attendance_marks WHERE _file_hash = ? "
        "ORDER BY ALL",
        [file_hash],
    ).fetchall()
    assert sorted(got) == expected
    # the original is still current: the new week is a new period, not a correction
    (orig_status,) = con.execute(
        "SELECT status FROM meta.file_registry WHERE path = 'mis/140102/sims_marks.csv'"
    ).fetchone()
    assert orig_status == "ingested"


def test_step_times_from_a_real_run_cover_every_step(landing, tmp_path):
    from assets.resources import WarehouseResource
    from wlz_pipeline.definitions import ALL_ASSETS, ALL_CHECKS

    wh = tmp_path / "wh" / "wlz.duckdb"
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [*ALL_ASSETS, *ALL_CHECKS],
            resources={"wlz": WarehouseResource(data_dir=str(landing), warehouse=str(wh))},
            instance=instance,
            selection='key:"raw/reference" or key:"staging/anchors" or key:"staging/calendar"',
            raise_on_error=False,
        )
        events = bench.run_events(instance, result.run_id)
    started = {ev.step_key for ev in result.all_events if ev.is_step_start}
    assert "raw__reference" in started and len(started) >= 3
    steps = bench.step_times(events)
    assert set(steps) == started
    for key, s in steps.items():
        assert s["status"] in ("success", "failure"), key
        assert s["seconds"] is not None and s["seconds"] >= 0, key
    checks = bench.check_step_keys()
    classes = {k: bench.classify_step(k, checks) for k in steps}
    assert classes["raw__reference"] == "ingestion"
    assert classes["staging__anchors"] == "tables"
    assert "validation" in classes.values()  # the selected tables' suites ran
    assert bench.run_window(events) is not None
    by_class = bench.seconds_by_class(steps, checks)
    assert sum(by_class.values()) == pytest.approx(sum(s["seconds"] for s in steps.values()))
    # the plan the side-by-side bound is computed on has every step the run ran, and
    # the anchors wait for the reference files they are built from
    deps = bench.step_dependencies()
    assert deps is not None and set(steps) <= set(deps)
    assert "raw__reference" in deps["staging__anchors"]
    bound = bench.side_by_side_bound(steps, deps)
    assert bound["critical_path"][0] == "raw__reference"
    assert bound["two_at_a_time_seconds"] <= bound["one_at_a_time_seconds"]


def _summary_of(floor_seconds: float, cold_seconds: float, ratios: dict, **parts) -> str:
    """``human_summary`` of a report with a floor of ``floor_seconds`` (one second of it
    the workbooks), a cold run and the other ``parts`` (``drift=`` goes in the floor)."""
    floor = {
        "seconds": floor_seconds,
        "files": 3,
        "rows": 10,
        "duckdb_seconds": floor_seconds - 1.0,
        "workbook_seconds": 1.0,
    }
    if "drift" in parts:
        floor["drift"] = parts.pop("drift")
    cold = {"wall_seconds": cold_seconds, "peak_rss_mb": 3000.0, "seconds_by_class": {}}
    return bench.human_summary({"floor": floor, "cold": cold, "ratios": ratios, **parts})


def test_a_second_run_with_nothing_new_rebuilds_no_table(landing, tmp_path):
    """The quiet night's evidence, as the bench measures it (``wlz run`` in a subprocess,
    its events read back from its DAGSTER_HOME): run the same selection twice and the
    second builds no table again, though it runs every step."""
    home = bench.fresh_dagster_home(tmp_path / "dagster_home")
    wh = tmp_path / "wh" / "wlz.duckdb"
    selection = 'key:"raw/reference" or key:"staging/anchors" or key:"staging/calendar"'
    runs = [
        bench.measured_run(landing, wh, home, tmp_path / f"run{i}.log", select=selection)
        for i in range(2)
    ]
    assert [m.returncode for m in runs] == [0, 0]
    assert runs[0].tables_rebuilt == ["staging/anchors", "staging/calendar"]
    assert runs[1].tables_rebuilt == []  # materialised again, with rebuilt: false
    assert set(runs[1].steps) == set(runs[0].steps) >= {"staging__anchors", "staging__calendar"}
    assert bench.run_summary(runs[1], bench.check_step_keys())["tables_rebuilt"] == []


def test_the_quiet_night_is_set_against_the_cold_run_in_the_summary():
    # quiet night 30 s against a 120 s cold run: 30 / 120 = 25.0 %
    summary = {
        "wall_seconds": 30.0,
        "steps_run": 3,
        "tables_rebuilt": [],
        "steps": {
            "bi__publication": {"seconds": 9.0},
            "reports__html": {"seconds": 6.3},
            "raw__mis": {"seconds": 1.5},
            "never_ended": {"seconds": None},
        },
    }
    q = bench.quiet_night(summary, 120.0)
    assert q["share_of_cold"] == 0.25
    assert list(q["slowest_steps"]) == ["bi__publication", "reports__html", "raw__mis"]
    text = _summary_of(40.0, 120.0, bench.ratios(40.0, 120.0, 30.0, None, 3000.0), quiet_night=q)
    assert (
        "quiet night (the same selection, nothing new): 30.0s, 3 steps, 0 tables rebuilt: "
        "25.0% of the cold run" in text
    )
    assert "slowest: bi__publication 9.0s, reports__html 6.3s, raw__mis 1.5s" in text


def test_step_times_pairs_start_and_end_events():
    events = [
        (None, "RUN_START", 100.0),
        ("raw__mis", "STEP_START", 101.0),
        ("raw__mis", "STEP_SUCCESS", 111.5),
        ("staging_pupils_suite", "STEP_START", 112.0),
        ("staging_pupils_suite", "STEP_FAILURE", 114.0),
        ("marts__alerts", "STEP_START", 115.0),
        (None, "PIPELINE_FAILURE", 120.0),  # how Dagster stores RUN_FAILURE
    ]
    steps = bench.step_times(events)
    assert steps["raw__mis"]["seconds"] == 10.5
    assert steps["staging_pupils_suite"] == {"seconds": 2.0, "status": "failure", "start": 112.0}
    assert steps["marts__alerts"]["status"] == "incomplete"
    assert bench.run_window(events) == 20.0
    assert bench.seconds_by_class(steps) == {"ingestion": 10.5, "validation": 2.0, "tables": 0.0}


def test_side_by_side_bound_of_a_small_plan():
    # a 2 s, then b 3 s and c 1 s (each waits for a), then d 2 s (waits for b and c);
    # e 4 s waits for nothing; c also waits for x, which did not run (counts as done)
    seconds = {"a": 2.0, "b": 3.0, "c": 1.0, "d": 2.0, "e": 4.0}
    deps = {"a": set(), "b": {"a"}, "c": {"a", "x"}, "d": {"b", "c"}, "e": set()}
    # longest chain: a + b + d = 2 + 3 + 2 = 7
    assert bench.critical_path(seconds, deps) == (7.0, ["a", "b", "d"])
    # one at a time: 2 + 3 + 1 + 2 + 4 = 12
    assert bench.side_by_side(seconds, deps, 1) == 12.0
    # two at a time: a and e at 0; b at 2 (after a); c at 4 (after e); both done at 5;
    # d 5-7. Three at a time: b and c both at 2, d 5-7. Neither beats the chain's 7.
    assert bench.side_by_side(seconds, deps, 2) == 7.0
    assert bench.side_by_side(seconds, deps, 3) == 7.0
    # with e 6 s, two at a time: a and e at 0; b (the longer chain after it: 3 + 2) at 2;
    # c waits for a free worker until b ends at 5, runs 5-6; d waits for c and e, 6-8
    assert bench.side_by_side({**seconds, "e": 6.0}, deps, 2) == 8.0
    assert bench.side_by_side({**seconds, "e": 6.0}, deps, 1) == 14.0  # 2+3+1+2+6
    bound = bench.side_by_side_bound({k: {"seconds": v} for k, v in seconds.items()}, deps)
    assert bound["one_at_a_time_seconds"] == 12.0 and bound["two_at_a_time_seconds"] == 7.0
    assert bound["critical_path"] == ["a", "b", "d"]
    assert bench.side_by_side_bound({}, None) == {"available": False}
    with pytest.raises(ValueError, match="cycle"):
        bench.critical_path({"a": 1.0, "b": 1.0}, {"a": {"b"}, "b": {"a"}})


def test_ratios_and_target_flags():
    # floor 100 s; cold 250 s of which validation 50 s; incremental 30 s; 3,500 MB; sample 45 s
    r = bench.ratios(100.0, 250.0, 50.0, 30.0, 3500.0, 45.0)
    assert r["cold_over_floor"] == {"value": 2.5, "target": 3.0, "met": True}  # 250/100
    assert r["validation_share"] == {"value": 0.2, "target": 0.25, "met": True}  # 50/250
    assert r["incremental_share"] == {"value": 0.12, "target": 0.1, "met": False}  # 30/250
    assert r["peak_rss_mb"] == {"value": 3500.0, "target": 4000.0, "met": True}
    assert r["sample_seconds"] == {"value": 45.0, "target": 60.0, "met": True}
    # floor 40 s; cold 200 s (5x); validation 60 s (0.3); incremental 10 s (0.05); 4,100 MB
    r = bench.ratios(40.0, 200.0, 60.0, 10.0, 4100.0)
    assert r["cold_over_floor"]["value"] == 5.0 and r["cold_over_floor"]["met"] is False
    assert r["validation_share"]["value"] == 0.3 and r["validation_share"]["met"] is False
    assert r["incremental_share"]["value"] == 0.05 and r["incremental_share"]["met"] is True
    assert r["peak_rss_mb"]["met"] is False
    assert r["sample_seconds"] == {"value": None, "target": 60.0, "met": None}


def test_a_ratio_of_a_run_that_failed_is_not_met_whatever_its_value():
    # a night that failed part-way measures less work: 13 s of a 130 s cold run is 0.1,
    # 12 s would be 0.0923 and look met; the cold run's own ratios are unaffected
    r = bench.ratios(40.0, 130.0, 26.0, 12.0, 2500.0, 22.0, failed=["incremental"])
    assert r["incremental_share"]["value"] == 0.0923  # 12/130
    assert r["incremental_share"]["met"] is False
    assert r["incremental_share"]["runs_failed"] == ["incremental"]
    assert r["cold_over_floor"] == {"value": 3.25, "target": 3.0, "met": False}  # 130/40
    assert r["validation_share"] == {"value": 0.2, "target": 0.25, "met": True}  # 26/130
    assert r["sample_seconds"] == {"value": 22.0, "target": 60.0, "met": True}
    # a failed cold run spoils every ratio measured on it, the incremental share included
    r = bench.ratios(40.0, 100.0, 20.0, 8.0, 2500.0, 22.0, failed=["cold"])
    assert [n for n, v in r.items() if v["met"] is False] == [
        "cold_over_floor",
        "validation_share",
        "incremental_share",
        "peak_rss_mb",
    ]
    assert r["sample_seconds"]["met"] is True
    text = _summary_of(40.0, 100.0, r)
    assert "validation_share: 0.200 (target < 0.25) NOT met (cold run failed)" in text
    assert "incremental_share: 0.080 (target < 0.1) NOT met (cold run failed)" in text


def test_floor_drift_brackets_the_cold_run_and_the_summary_says_so():
    # floor 40 s before the cold run and 44 s after it (the machine 10 % slower); cold
    # run 150 s: 44 / 40 = 1.1; 150 / 40 = 3.75x the first floor, 150 / 44 = 3.4091x the second
    d = bench.floor_drift(40.0, 44.0, 150.0)
    assert d == {
        "after_seconds": 44.0,
        "after_over_before": 1.1,
        "cold_over_floor_after": pytest.approx(3.4091, abs=1e-4),
        "quoted": "before",  # the faster floor: 40 s
        "quoted_seconds": 40.0,
    }
    text = _summary_of(40.0, 150.0, bench.ratios(40.0, 150.0, 30.0, None, 3000.0), drift=d)
    assert "floor again after the cold run: 44.0s (1.10x the first)" in text
    assert "3.75x / 3.41x the floors (the target is quoted on the faster: the first)" in text
    assert "cold_over_floor: 3.750 (target < 3) NOT met" in text  # quoted on the first


def test_a_floor_slowed_by_the_machine_does_not_make_the_target_look_met():
    """The first floor read from a reclaimed page cache (80 s), the second from memory
    (36 s); cold run 162 s. On the first it would be 162 / 80 = 2.025x, "met"; quoted on
    the faster floor it is 162 / 36 = 4.5x, not met."""
    d = bench.floor_drift(80.0, 36.0, 162.0)
    assert d["quoted"] == "after" and d["quoted_seconds"] == 36.0
    assert d["after_over_before"] == 0.45 and d["cold_over_floor_after"] == 4.5
    r = bench.ratios(d["quoted_seconds"], 162.0, 30.0, None, 3000.0)
    assert r["cold_over_floor"] == {"value": 4.5, "target": 3.0, "met": False}
    busy = bench.all_cores_busy(258.0, 2, d["quoted_seconds"])  # 258 CPU-s / 2 cores = 129 s
    assert busy["seconds"] == 129.0 and busy["over_reference"] == pytest.approx(3.5833, abs=1e-4)
    text = _summary_of(80.0, 162.0, r, drift=d)
    assert "2.02x / 4.50x the floors (the target is quoted on the faster: the second)" in text
    assert "cold_over_floor: 4.500 (target < 3) NOT met" in text


_SPIN = """
import sys, time
while time.process_time() < float(sys.argv[1]):
    pass
"""

_PARENT = """
import subprocess, sys, time
held = bytearray(200 * 1000 * 1000)  # resident: bytearray zero-fills every page
child = subprocess.run([sys.executable, "-c", sys.argv[1], "0.6"])
while time.process_time() < 0.4:
    pass
sys.exit(3)
"""


def test_a_runs_cpu_is_its_own_and_its_childrens_and_its_peak_memory_its_own():
    # the process spins for 0.4 s of its own CPU after a child it waited for spun 0.6 s:
    # at least 1.0 s in all; it held 200 MB itself
    proc = subprocess.Popen([sys.executable, "-c", _PARENT, _SPIN])
    usage = bench.wait_measured(proc)
    assert usage.returncode == 3 and proc.returncode == 3
    assert usage.cpu_seconds >= 0.4 + 0.6
    assert usage.peak_rss_mb >= 200
    # a process that sleeps uses next to no CPU, however long it takes
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.0)"])
    usage = bench.wait_measured(proc)
    assert usage.returncode == 0
    assert usage.cpu_seconds < 0.5


def test_all_cores_busy_bound():
    # 205 s of CPU on 2 cores: at least 205 / 2 = 102.5 s; over a 36.3 s floor,
    # 102.5 / 36.3 = 2.8237x
    b = bench.all_cores_busy(205.0, 2, 36.3)
    assert b["available"] is True
    assert (b["cpu_seconds"], b["cores"], b["seconds"]) == (205.0, 2, 102.5)
    assert b["over_reference"] == pytest.approx(2.8237, abs=1e-4)
    # 30 s of CPU on one core against a 150 s cold run: 30 s, 0.2 of it
    b = bench.all_cores_busy(30.0, 1, 150.0)
    assert (b["seconds"], b["over_reference"]) == (30.0, 0.2)
    assert bench.all_cores_busy(None, 2, 36.3) == {"available": False}
    assert 1 <= bench.usable_cores() <= (os.cpu_count() or 1)


def test_sensor_selection_string_matches_the_sensor():
    text, keys = bench.sensor_selection(["mis"])
    # mis/ is ingested by two assets: its registers and the rest
    assert text == 'key:"raw/pupils"+ or key:"raw/mis"+'
    assert {"raw/pupils", "raw/mis", "staging/attendance_marks"} <= set(keys)
    assert "partners/templates" not in keys  # partitioned: left out, as the sensor does
    assert "raw/surveys" not in keys


def test_held_back_templates_arrive_at_their_landing_path_and_stay_out_of_the_copy(tmp_path):
    import json

    zone = tmp_path / "zone"
    (zone / "partners" / "P01").mkdir(parents=True)
    (zone / "partners" / "P01" / "a.xlsx").write_bytes(b"landed")
    held = zone / "incremental" / "partners" / "P01"
    held.mkdir(parents=True)
    for name in ("b.xlsx", "c.xlsx"):
        (held / name).write_bytes(name.encode())
    files = [
        {"file": f"incremental/partners/P01/{n}", "landing_path": f"partners/P01/{n}"}
        for n in ("b.xlsx", "c.xlsx")
    ]
    (zone / "MANIFEST.json").write_text(json.dumps({"held_back": {"files": files}}))

    got = bench.returned_templates(zone)
    assert [(p.name, rel) for p, rel in got] == [
        ("b.xlsx", "partners/P01/b.xlsx"),
        ("c.xlsx", "partners/P01/c.xlsx"),
    ]
    assert len(bench.returned_templates(zone, limit=1)) == 1
    # without the manifest's list, the folder says the same
    (zone / "MANIFEST.json").write_text("{}")
    assert [rel for _, rel in bench.returned_templates(zone)] == [
        "partners/P01/b.xlsx",
        "partners/P01/c.xlsx",
    ]
    copy = tmp_path / "copy"
    bench.copy_landing(zone, copy)
    assert (copy / "partners" / "P01" / "a.xlsx").read_bytes() == b"landed"
    assert not (copy / "incremental").exists()


def test_the_report_records_the_settings_the_run_used(edit_settings):
    # a report is compared with others by the settings in force, from WLZ_CONFIG_DIR too
    edit_settings(run={"concurrent_steps": 3}, duckdb={"memory_limit": "1GB"})
    m = bench.machine()
    assert m["concurrent_steps"] == 3
    assert m["duckdb_settings"]["memory_limit"] == "1GB"
