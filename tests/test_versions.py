"""Tables are rebuilt when what they are built from changed, and only then; a skipped
table is never stale (wlz_pipeline/versions.py)."""

from __future__ import annotations

import re
import shutil
from datetime import date

import dagster as dg
import duckdb
import pytest

from assets.resources import WarehouseResource
from tests.conftest import SAMPLE
from wlz_pipeline import versions, warehouse
from wlz_pipeline.bench import derive_new_week
from wlz_pipeline.definitions import ALL_ASSETS, ALL_CHECKS
from wlz_pipeline.ingest import ingest_all
from wlz_pipeline.models import build_model


def _run(
    landing,
    wh,
    rebuild_all: bool = False,
    checks: dict | None = None,
    builds: dict | None = None,
    with_checks: bool = True,
) -> dict[str, bool]:
    """Materialise the graph and (unless ``with_checks`` is false) its checks;
    ``{asset: rebuilt}`` of the assets that keep versions, in ``checks`` ``{suite check:
    validated_now}`` and in ``builds`` how each SQL model was built."""
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [*ALL_ASSETS, *(ALL_CHECKS if with_checks else ())],
            resources={
                "wlz": WarehouseResource(
                    data_dir=str(landing), warehouse=str(wh), rebuild_all=rebuild_all
                )
            },
            instance=instance,
            raise_on_error=False,
        )
    # the fixture landing's deliberate faults fail checks, never a step
    assert not [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    out = {}
    for ev in result.get_asset_materialization_events():
        meta = ev.materialization.metadata
        if "rebuilt" in meta:
            out[ev.materialization.asset_key.to_user_string()] = meta["rebuilt"].value
            if builds is not None and "build" in meta:
                builds[ev.materialization.asset_key.to_user_string()] = meta["build"].value
    if checks is not None:
        for ev in result.get_asset_check_evaluations():
            if "validated_now" in ev.metadata:
                name = f"{ev.asset_key.to_user_string()}:{ev.check_name}"
                checks[name] = ev.metadata["validated_now"].value
    return out


def _snapshot(wh, tables) -> dict[str, list[tuple]]:
    """Every table's rows, and the rows quarantined from it."""
    con = duckdb.connect(str(wh), read_only=True)
    try:
        out = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
        out["meta.quarantine"] = con.execute(
            "SELECT * FROM meta.quarantine ORDER BY ALL"
        ).fetchall()
        return out
    finally:
        con.close()


#: The marts partitioned by pupil (-- partitioned by: upn) that a new week of marks reaches.
PARTITIONED_BY_UPN = (
    "marts/attendance_marks_half_term",
    "marts/school_attendance",
    "marts/school_attendance_year",
    "marts/wave_attendance",
    "marts/risk_factors",
    "marts/risk_profile",
)


def test_a_new_week_of_marks_rebuilds_what_reads_marks_and_nothing_else(
    landing, tmp_path, monkeypatch
):
    monkeypatch.setenv("WLZ_PSEUDONYM_KEY", "test-only-pseudonym-key-0123456789")
    wh = tmp_path / "wh" / "wlz.duckdb"
    first = _run(landing, wh)
    assert len(first) > 30 and all(first.values())

    # nothing new landed: nothing is rebuilt, no versioned table is validated again
    suites: dict[str, bool] = {}
    second = _run(landing, wh, checks=suites)
    assert second.keys() == first.keys()
    assert not [k for k, rebuilt in second.items() if rebuilt]
    versioned = {k for k in suites if k.split(":")[0] in second}
    assert len(versioned) > 10 and not [k for k in versioned if suites[k]]

    # the same night: one anchor's next week of register marks, and a corrected re-send of
    # its earlier marks extract (its first mark, "/" present, becomes "N" unauthorised)
    week = derive_new_week(landing)
    original = landing / "mis/140102/sims_marks.csv"
    lines = original.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    assert ",/" in lines[1]
    corrected_upn = lines[1].split(",")[0]
    lines[1] = lines[1].replace(",/", ",N")
    original.with_name("sims_marks (corrected).csv").write_text("".join(lines), encoding="utf-8")
    suites, builds = {}, {}
    third = _run(landing, wh, checks=suites, builds=builds)
    rebuilt = {k for k, r in third.items() if r}
    assert {"staging/attendance_marks", "marts/school_attendance", "marts/risk_factors"} <= (
        rebuilt
    )
    # built from the register, surveys, reference files: left as they were
    for key in ("staging/pupils", "staging/survey_answers", "staging/enrolments"):
        assert not third[key], key
    assert not third["marts/attainment_value_risk"]
    # the marks table recomputes that anchor only, from the correction (the superseded
    # file's rows leave); the marts partitioned by pupil recompute the pupils with new or
    # corrected marks only (the full rebuild below proves them right: it changes no table)
    assert week.anchor_urn == "140102"
    assert builds["staging/attendance_marks"] == "incremental: 1 anchor_urn value(s)"
    con = duckdb.connect(str(wh), read_only=True)
    try:
        (status,) = con.execute(
            "SELECT status FROM meta.file_registry WHERE path = 'mis/140102/sims_marks.csv'"
        ).fetchone()
        pupils, changed_pupils, corrected = con.execute(
            """SELECT count(DISTINCT upn),
                      count(DISTINCT upn) FILTER (upn = ? OR
                          (anchor_urn = ? AND date BETWEEN ? AND ?)),
                      count(*) FILTER (upn = ? AND code = 'N')
               FROM staging.attendance_marks""",
            [corrected_upn, week.anchor_urn, week.first_date, week.last_date, corrected_upn],
        ).fetchone()
    finally:
        con.close()
    assert status == "superseded"
    assert corrected >= 1
    assert 0 < changed_pupils <= pupils  # this landing's register is tiny
    for key in PARTITIONED_BY_UPN:
        assert builds[key] == f"partitioned: {changed_pupils} upn value(s)", key
    assert suites["staging/attendance_marks:suite_errors"]
    assert not suites["staging/pupils:suite_errors"]

    # nothing skipped or built in part is stale: rebuilding everything changes no table
    _assert_a_full_rebuild_changes_nothing(landing, wh, list(third))


def test_a_new_week_rebuilds_only_its_pupils_in_the_marts_partitioned_by_pupil(
    sample_run, tmp_path
):
    from wlz_pipeline.models import discover, run_model

    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE, landing)
    wh = tmp_path / "wlz.duckdb"
    shutil.copy(sample_run.warehouse, wh)
    week = derive_new_week(landing)
    models = {m.table: m for layer in ("staging", "marts") for m in discover(layer)}
    local = [k.replace("/", ".") for k in PARTITIONED_BY_UPN]
    assert [t for t in models if models[t].partitioned_by == "upn"] == sorted(local)
    chain = ["staging.attendance_marks", *local]
    con = warehouse.connect(wh)
    try:
        original = {t: _rows(con, t) for t in chain}
        ingest_all(con, landing, tmp_path / "archive", sources=("mis",))
        built = {t: build_model(con, models[t])[1] for t in chain}
        (new_week_pupils,) = con.execute(
            """SELECT count(DISTINCT upn) FROM staging.attendance_marks
               WHERE anchor_urn = ? AND date BETWEEN ? AND ?""",
            [week.anchor_urn, week.first_date, week.last_date],
        ).fetchone()
        (screened,) = con.execute("SELECT count(DISTINCT upn) FROM marts.risk_factors").fetchone()
        assert 0 < new_week_pupils < screened / 2
        assert built["staging.attendance_marks"] == "incremental: 1 anchor_urn value(s)"
        # the half-term marts: exactly the pupils with new marks; each later table, those
        # of them whose rows in its inputs changed
        assert built[chain[1]] == f"partitioned: {new_week_pupils} upn value(s)"
        for t in local[1:]:
            found = re.fullmatch(r"partitioned: (\d+) upn value\(s\)", built[t])
            assert found and 0 < int(found.group(1)) <= new_week_pupils, (t, built[t])
        partial = {t: _rows(con, t) for t in chain}
        # the new week reached every table of the chain
        assert [t for t in chain if partial[t] == original[t]] == []
        # and a whole build of each, in the same order, gives the same rows
        for t in chain:
            run_model(con, models[t])
        assert [t for t in chain if _rows(con, t) != partial[t]] == []
    finally:
        con.close()


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def _assert_a_full_rebuild_changes_nothing(landing, wh, keys) -> None:
    """Nothing skipped or built in part is stale: rebuilding everything changes no
    table and no quarantine entry. (The checks are left out: what is compared is what
    the assets write.)"""
    tables = [k.replace("/", ".") for k in keys]
    before = _snapshot(wh, tables)
    forced = _run(landing, wh, rebuild_all=True, with_checks=False)
    assert all(forced.values())
    after = _snapshot(wh, tables)
    assert [t for t in before if before[t] != after[t]] == []


@pytest.fixture
def ingested(con, landing, archive):
    ingest_all(con, landing, archive)
    return con


def test_a_superseded_extract_changes_the_raw_version(ingested, landing, archive):
    before = versions.fingerprint(ingested, ["raw.pupils"])
    interactions = versions.fingerprint(ingested, ["raw.interactions"])
    assert before == versions.fingerprint(ingested, ["raw.pupils"])
    # a corrected register for the same period: the older file becomes superseded
    src = landing / "mis/140102/sims_pupils.csv"
    src.with_name("sims_pupils (corrected).csv").write_bytes(src.read_bytes() + b"\n\n")
    ingest_all(ingested, landing, archive)
    assert (
        ingested.execute(
            "SELECT count(*) FROM meta.file_registry WHERE status = 'superseded'"
        ).fetchone()[0]
        == 1
    )
    assert versions.fingerprint(ingested, ["raw.pupils"]) != before
    # a raw table no new file went into keeps its version
    assert versions.fingerprint(ingested, ["raw.interactions"]) == interactions


def test_an_input_without_a_version_forces_a_rebuild(ingested):
    ingested.execute("CREATE TABLE marts.made_by_hand AS SELECT 1 AS x")
    assert versions.fingerprint(ingested, ["marts.made_by_hand"]) is None
    assert not versions.current(ingested, "marts.anything", None)


def test_sql_that_reads_the_clock_is_rebuilt_on_a_new_day(ingested, monkeypatch):
    clock = "SELECT current_date AS d FROM staging.x"
    plain = "SELECT 1 AS d FROM staging.x"
    today = versions.fingerprint(ingested, [], clock)
    plain_today = versions.fingerprint(ingested, [], plain)

    class Tomorrow(date):
        @classmethod
        def today(cls) -> date:
            return date(2099, 1, 2)

    monkeypatch.setattr(versions, "date", Tomorrow)
    assert versions.fingerprint(ingested, [], clock) != today
    # SQL that does not read the clock is not rebuilt just because a day passed
    assert versions.fingerprint(ingested, [], plain) == plain_today


def test_rebuild_all_from_the_environment(ingested, monkeypatch):
    warehouse.bootstrap(ingested)
    ingested.execute("CREATE TABLE staging.t AS SELECT 1 AS x")
    versions.record(ingested, "staging.t", "v1")
    assert versions.current(ingested, "staging.t", "v1")
    assert not versions.current(ingested, "staging.t", "v2")
    monkeypatch.setenv("WLZ_REBUILD_ALL", "1")
    assert not versions.current(ingested, "staging.t", "v1")
    monkeypatch.delenv("WLZ_REBUILD_ALL")
    # a dropped table is rebuilt whatever its recorded version says
    ingested.execute("DROP TABLE staging.t")
    assert not versions.current(ingested, "staging.t", "v1")


def test_only_a_model_that_says_so_is_built_by_partition(ingested):
    from assets.models import _description
    from wlz_pipeline.models import discover, run_model

    models = {m.table: m for m in discover("staging")}
    marks = models["staging.attendance_marks"]
    assert (marks.incremental.raw_table, marks.incremental.column) == (
        "raw.attendance_marks",
        "anchor_urn",
    )
    # the directive is for the runner, not part of the asset's description in the UI
    assert "incremental:" not in _description(marks)
    pupils = models["staging.pupils"]
    assert pupils.incremental is None
    with pytest.raises(ValueError, match="not an incremental model"):
        run_model(ingested, pupils, partitions=["140102"])


# -- early cut-off: readers see what a table holds, not what it was built from ----------
def _table(con, name: str, values: list[int]) -> None:
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT unnest(?::INTEGER[]) AS x", [values])


def test_the_content_version_is_what_the_table_holds(con):
    warehouse.bootstrap(con)
    _table(con, "staging.t", [1, 2, 3])
    first = versions.content_version(con, "staging.t")
    _table(con, "staging.t", [3, 1, 2])  # same rows, another order
    assert versions.content_version(con, "staging.t") == first
    _table(con, "staging.t", [1, 2, 4])  # one value differs
    assert versions.content_version(con, "staging.t") != first
    _table(con, "staging.t", [1, 2, 3, 3])  # a duplicated row is a change
    assert versions.content_version(con, "staging.t") != first
    con.execute("CREATE OR REPLACE TABLE staging.t AS SELECT unnest([1, 2, 3]) AS y")
    assert versions.content_version(con, "staging.t") != first  # renamed column
    con.execute("CREATE OR REPLACE TABLE staging.t AS SELECT unnest([1, 2, 3])::BIGINT AS x")
    assert versions.content_version(con, "staging.t") != first  # another type


def test_a_mart_that_reads_some_rows_is_rebuilt_only_when_those_rows_change(con):
    """``rows`` (PythonMart.rows): a build that reads only the autumn rows of a table is
    left as it is when only other rows change; one that reads the whole table is not."""
    warehouse.bootstrap(con)
    built: list[str] = []

    def reader(table: str, where: str):
        def build(c):
            built.append(table)
            c.execute(
                f"CREATE OR REPLACE TABLE {table} AS "
                f"SELECT count(*) AS n, sum(x) AS s FROM staging.waves_t WHERE {where}"
            )

        return build

    autumn = {"staging.waves_t": "wave = 'autumn'"}

    def night(version: str, rows: list[tuple[str | None, int]]) -> tuple[bool, bool]:
        con.execute("CREATE OR REPLACE TABLE staging.waves_t (wave VARCHAR, x INTEGER)")
        con.executemany("INSERT INTO staging.waves_t VALUES (?, ?)", rows)
        versions.record(con, "staging.waves_t", version)
        some = versions.build_versioned(
            con,
            "marts.autumn_reader",
            ["staging.waves_t"],
            reader("marts.autumn_reader", "wave = 'autumn'"),
            rows=autumn,
        )
        whole = versions.build_versioned(
            con, "marts.all_reader", ["staging.waves_t"], reader("marts.all_reader", "true")
        )
        return some[1], whole[1]

    assert night("v1", [("autumn", 1), ("autumn", 2), ("summer", 10)]) == (True, True)
    # a summer row changes and a row without a wave arrives: the autumn rows are the same
    assert night("v2", [("autumn", 1), ("autumn", 2), ("summer", 11), (None, 5)]) == (False, True)
    assert con.execute("SELECT n, s FROM marts.autumn_reader").fetchall() == [(2, 3)]
    # the same rows in another order: neither reads anything new
    assert night("v3", [("summer", 11), (None, 5), ("autumn", 2), ("autumn", 1)]) == (
        False,
        False,
    )
    # an autumn row changes: it is rebuilt, and right (1 + 4 = 5)
    assert night("v4", [("autumn", 1), ("autumn", 4), ("summer", 11), (None, 5)]) == (True, True)
    assert con.execute("SELECT n, s FROM marts.autumn_reader").fetchall() == [(2, 5)]
    assert built.count("marts.autumn_reader") == 2 and built.count("marts.all_reader") == 3
    # an input without a version of its own still forces a rebuild, rows or not
    versions.forget(con, "staging.waves_t")
    assert versions.inputs(con, ["staging.waves_t"], rows=autumn) is None


def test_a_rebuilt_table_that_comes_out_the_same_leaves_its_readers(con, tmp_path):
    from wlz_pipeline.models import Model, build_model

    warehouse.bootstrap(con)
    (tmp_path / "cutoff_parity.sql").write_text(
        "SELECT x % 2 AS parity, count(*) AS n FROM staging.cutoff_t GROUP BY ALL"
    )
    (tmp_path / "cutoff_reader.sql").write_text("SELECT sum(n) AS n FROM marts.cutoff_parity")
    parity = Model("marts", "cutoff_parity", tmp_path / "cutoff_parity.sql")
    reader = Model("marts", "cutoff_reader", tmp_path / "cutoff_reader.sql")

    _table(con, "staging.cutoff_t", [1, 2, 3])  # parities 1, 0, 1
    assert versions.record(con, "staging.cutoff_t", "v1") == versions.content_version(
        con, "staging.cutoff_t"
    )
    assert build_model(con, parity)[1] == "full"
    assert build_model(con, reader)[1] == "full"

    # a new input whose parities are the same: parity is rebuilt, and comes out the same
    _table(con, "staging.cutoff_t", [5, 4, 7])
    before = versions.content_of(con, "staging.cutoff_t")
    assert versions.record(con, "staging.cutoff_t", "v2") != before
    counts, how = build_model(con, parity)
    assert how == "full" and counts["content_changed"] is False
    assert build_model(con, reader)[1] == "unchanged"

    # parities that differ: both are rebuilt, and the reader is right
    _table(con, "staging.cutoff_t", [2, 2, 2, 2])
    before = versions.content_of(con, "staging.cutoff_t")
    assert versions.record(con, "staging.cutoff_t", "v3") != before
    counts, how = build_model(con, parity)
    assert how == "full" and counts["content_changed"] is True
    assert build_model(con, reader)[1] == "full"
    assert con.execute("SELECT n FROM marts.cutoff_reader").fetchall() == [(4,)]

    # a table recorded again with the same rows reports no change
    before = versions.content_of(con, "staging.cutoff_t")
    assert versions.record(con, "staging.cutoff_t", "v4") == before


def test_a_suite_is_run_again_when_a_table_it_joins_to_changes(sample_run, tmp_path):
    import shutil

    from wlz_pipeline.quality.gx_duckdb import suite_files, suite_tables, validate_versioned

    wh = tmp_path / "wlz.duckdb"
    shutil.copy(sample_run.warehouse, wh)
    suite = suite_files()["enrolments"]
    assert suite_tables(suite) == ["staging.anchors", "staging.enrolments", "staging.link_workers"]
    validate_versioned(wh, "staging.enrolments", suite, force=True)
    assert validate_versioned(wh, "staging.enrolments", suite)[1] is False
    # the link workers change (the enrolments do not): the suite's join may now fail
    con = warehouse.connect(wh)
    try:
        con.execute(
            "DELETE FROM staging.link_workers "
            "WHERE lw_id = (SELECT min(lw_id) FROM staging.enrolments)"
        )
        before = versions.content_of(con, "staging.link_workers")
        assert versions.record(con, "staging.link_workers", "edited") != before
    finally:
        con.close()
    outcome, validated_now = validate_versioned(wh, "staging.enrolments", suite)
    assert validated_now is True
    # an enrolment now names a link worker who is not there
    assert [o for o in outcome.outcomes if not o.success]
    assert validate_versioned(wh, "staging.enrolments", suite)[1] is False


# -- builds in part: per-part digests ---------------------------------------------------
def _parts_table(con, name: str, rows: list[tuple[str | None, int]]) -> str:
    con.execute(f"CREATE OR REPLACE TABLE {name} (upn VARCHAR, x INTEGER)")
    if rows:
        con.executemany(f"INSERT INTO {name} VALUES (?, ?)", rows)
    return versions.content_version(con, name, "upn")


def test_changed_parts_are_the_values_whose_rows_changed(con):
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    v1 = _parts_table(con, "marts.t", [("A", 1), ("B", 2), ("C", 3)])
    # B's row changed, C's left, D's arrived; A's rows are the same in another order
    v2 = _parts_table(con, "marts.t", [("D", 4), ("B", 5), ("A", 1)])
    before = versions.Inputs({"code": "c", "marts.t": v1}, {})
    now = versions.Inputs({"code": "c", "marts.t": v2}, {})
    assert versions.changed_parts(con, before, now, "upn") == {"B", "C", "D"}
    # the code changed too: nothing says which parts that touches
    assert (
        versions.changed_parts(
            con, before, versions.Inputs({**now.versions, "code": "d"}, {}), "upn"
        )
        is None
    )
    # digests by another column were never kept
    assert versions.changed_parts(con, before, now, "anchor_urn") is None


def test_changed_parts_build_whole_when_a_null_part_changed_or_a_version_is_gone(con):
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    v1 = _parts_table(con, "marts.t", [("A", 1), (None, 2)])
    v2 = _parts_table(con, "marts.t", [("A", 1), (None, 3)])
    before = versions.Inputs({"marts.t": v1}, {})
    assert versions.changed_parts(con, before, versions.Inputs({"marts.t": v2}, {}), "upn") is None
    # only the last PARTS_KEPT versions keep their digests
    latest = v2
    for i in range(versions.PARTS_KEPT):
        latest = _parts_table(con, "marts.t", [("A", 10 + i)])
    assert (
        versions.changed_parts(con, before, versions.Inputs({"marts.t": latest}, {}), "upn") is None
    )
    kept = con.execute("SELECT count(DISTINCT content) FROM meta.table_parts").fetchone()[0]
    assert kept == versions.PARTS_KEPT


def test_the_content_version_is_the_same_with_or_without_part_digests(con):
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    with_parts = _parts_table(con, "marts.t", [("A", 1), ("B", 2), (None, 3)])
    assert versions.content_version(con, "marts.t") == with_parts


def test_a_partitioned_build_reads_only_the_partitions_rows_of_inputs_with_the_column():
    from wlz_pipeline.models import PARTS, filter_inputs

    sql = (
        "select p.upn, staging.pupils.upn, c.x from staging.pupils as p "
        "join marts.calendar c on true join staging.pupils_extra e using (upn)"
    )
    got = filter_inputs(sql, ["staging.pupils", "marts.calendar"], "upn")
    sub = f'WHERE "upn" IN (SELECT part FROM {PARTS}))'
    assert got == (
        f"select p.upn, staging.pupils.upn, c.x from (SELECT * FROM staging.pupils {sub} as p "
        f"join (SELECT * FROM marts.calendar {sub} c on true "
        "join staging.pupils_extra e using (upn)"
    )
