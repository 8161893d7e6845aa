"""What the data team relies on when files land: idempotency, supersede, quarantine."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from wlz_pipeline.ingest import Ingestor, ingest_all
from wlz_pipeline.models import build_all
from wlz_pipeline.sources.duck_csv import SCRATCH


def _counts(con) -> dict[str, int]:
    # not meta.landing_stats: which files' stats are kept depends on how long ago the
    # landing fixture copied them (ingest settings: settled_seconds)
    tables = [
        r[0]
        for r in con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
            "WHERE schema_name IN ('raw', 'staging', 'meta') "
            "AND schema_name || '.' || table_name <> 'meta.landing_stats' ORDER BY 1"
        ).fetchall()
    ]
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def _status(con) -> dict[str, tuple[str, str | None]]:
    return {
        path: (status, reason)
        for path, status, reason in con.execute(
            "SELECT path, status, reason FROM meta.file_registry"
        ).fetchall()
    }


def test_same_files_twice_change_nothing(con, landing, archive):
    ingest_all(con, landing, archive)
    build_all(con, ("staging",))
    before = _counts(con)
    reports = ingest_all(con, landing, archive)
    build_all(con, ("staging",))
    assert _counts(con) == before
    assert all(r.ingested == 0 and r.unchanged == r.seen for r in reports.values())


def test_renamed_copy_is_a_duplicate_and_adds_no_rows(con, landing, archive):
    ingest_all(con, landing, archive)
    build_all(con, ("staging",))
    pupils = con.execute("SELECT count(*) FROM raw.pupils").fetchone()[0]
    shutil.copy(landing / "mis/140102/sims_pupils.csv", landing / "mis/140102/copy of pupils.csv")
    ingest_all(con, landing, archive)
    build_all(con, ("staging",))
    status, reason = _status(con)["mis/140102/copy of pupils.csv"]
    assert status == "duplicate"
    assert reason == "same content as mis/140102/sims_pupils.csv"
    assert con.execute("SELECT count(*) FROM raw.pupils").fetchone()[0] == pupils


def test_newer_extract_for_the_same_period_supersedes_the_older(con, landing, archive):
    ingest_all(con, landing, archive)
    build_all(con, ("staging",))
    old = (landing / "mis/140102/sims_pupils.csv").read_text(encoding="utf-8-sig")
    # the school re-sends its October register a week later: Zara's SEN status corrected,
    # Tomasz has left (his row is gone)
    new = "\n".join(
        line.replace("13/10/2017", "20/10/2017").replace("EHC Plan", "SEN Support")
        for line in old.splitlines()
        if "Tomasz" not in line
    )
    (landing / "mis/140102/sims_pupils_resend.csv").write_text(new, encoding="utf-8-sig")
    ingest_all(con, landing, archive)
    build_all(con, ("staging",))
    status = _status(con)
    assert status["mis/140102/sims_pupils.csv"][0] == "superseded"
    assert status["mis/140102/sims_pupils_resend.csv"] == ("ingested", None)
    rows = dict(
        con.execute("SELECT upn, sen FROM staging.pupils WHERE anchor_urn = '140102'").fetchall()
    )
    assert rows["C205200116004"] == "K"
    assert "Z205200116002" not in rows  # left: gone with the superseded file
    # the old file's rows stay in raw, with their lineage
    assert (
        con.execute(
            "SELECT count(DISTINCT _file_hash) FROM raw.pupils WHERE _anchor_urn = '140102'"
        ).fetchone()[0]
        == 2
    )


def test_corrupt_and_misplaced_files_are_quarantined_and_the_rest_goes_through(
    con, landing, archive
):
    (landing / "mis/140102/broken.csv").write_bytes(os.urandom(64) + b"\x00\x01")
    (landing / "mis/140101/odd_layout.csv").write_text("Child,Shoe size\nA,5\n")
    (landing / "mis/999999").mkdir()
    (landing / "mis/999999/marks.csv").write_text(
        "UPN,Date,Session,Mark\nK205200116001,04/10/2017,AM,/\n"
    )
    (landing / "surveys/empty.csv").write_bytes(b"")
    (landing / "reference/notes.csv").write_text("a,b\n1,2\n")
    reports = ingest_all(con, landing, archive)
    counts = build_all(con, ("staging",))
    status = _status(con)
    assert status["mis/140102/broken.csv"][0] == "quarantined"
    assert "binary" in status["mis/140102/broken.csv"][1]
    assert status["mis/140101/odd_layout.csv"][0] == "quarantined"
    assert "unknown MIS layout" in status["mis/140101/odd_layout.csv"][1]
    assert "bromcom" in status["mis/140101/odd_layout.csv"][1]
    assert status["mis/999999/marks.csv"][0] == "quarantined"
    assert "not an anchor in reference/anchors.csv" in status["mis/999999/marks.csv"][1]
    assert status["surveys/empty.csv"] == ("quarantined", "the survey export is empty")
    assert "unknown reference file" in status["reference/notes.csv"][1]
    # every other file still went through
    assert reports["mis"].ingested == 5
    assert counts["staging.pupils"]["rows"] == 6
    assert counts["staging.attendance_marks"]["rows"] == 5
    # quarantined files are kept too (nothing is lost)
    archived = {p.name for p in archive.rglob("*") if p.is_file()}
    assert len(archived) == len(
        {
            r[0]
            for r in con.execute(
                "SELECT file_hash FROM meta.file_registry WHERE status <> 'duplicate'"
            ).fetchall()
        }
    )


def test_bad_rows_are_quarantined_with_file_row_column_value_and_reason(con, landing, archive):
    ingest_all(con, landing, archive)
    build_all(con, ("staging",))
    rows = con.execute(
        """SELECT f.path, q.row_number, q.column_name, q.value, q.rule
           FROM meta.quarantine q JOIN meta.file_registry f USING (file_hash)
           WHERE q.severity = 'error' ORDER BY ALL"""
    ).fetchall()
    assert rows == [
        ("interactions/case_log_2017-11.csv", 3, "duration_minutes", "600", "duration_1_to_480"),
        ("interactions/case_log_2017-11.csv", 4, "wlz_id", "WLZ999999999", "child_known"),
        ("interactions/case_log_2017-11.csv", 5, "lw_id", "LW09", "link_worker_known"),
        (
            "mis/140101/bromcom_attendance.csv",
            3,
            "attended_sessions",
            "90%",
            "attended_within_possible",
        ),
        (
            "mis/140101/bromcom_attendance.csv",
            3,
            "possible_sessions",
            "-4",
            "possible_sessions_valid",
        ),
        ("mis/140102/sims_marks.csv", 7, "code", "? on 2017-10-02", "dfe_code_valid_on_date"),
        ("mis/140102/sims_pupils.csv", 4, "upn", "A205200116001", "upn_check_letter"),
        ("surveys/my_voice_2017-10-20.csv", 3, "sdq_3", "maybe", "answer_in_coding"),
        ("surveys/my_voice_2017-10-20.csv", 4, "wlz_id", "(blank)", "child_identified"),
    ]
    # the good rows of the same files went through
    assert con.execute("SELECT count(*) FROM staging.interactions").fetchone()[0] == 1
    assert (
        con.execute(
            "SELECT count(*) FROM staging.survey_answers WHERE response_id = 'R2'"
        ).fetchone()[0]
        == 4
    )  # sdq_1, sdq_2, bully_victim, active_days; sdq_3 held back


def test_conformed_staging_values(con, landing, archive):
    ingest_all(con, landing, archive)
    build_all(con, ("staging",))
    pupils = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT upn, academic_year, year_group, gender, fsm, sen, eal FROM staging.pupils"
        ).fetchall()
    }
    assert pupils["C205200116004"] == ("2017/18", "R", "F", True, "E", False)  # Reception, Y/N
    assert pupils["N205200116003"] == ("2017/18", "7", "M", True, "N", False)  # Y7, TRUE/FALSE
    assert pupils["J205200116008"] == ("2017/18", "7", "M", True, "K", True)  # from the CTF
    # 95.7% of 140 possible sessions = 133.98 -> 134 attended
    att = con.execute(
        "SELECT possible_sessions, attended_sessions, attended_from_percentage "
        "FROM staging.attendance_summary WHERE upn = 'F205200116006'"
    ).fetchone()
    assert att == (140, 134, True)
    # a later export of response R1 corrected sdq_2 from "somewhat true" (1) to "Not true" (0)
    assert (
        con.execute(
            "SELECT code FROM staging.survey_answers WHERE response_id = 'R1' AND item = 'sdq_2'"
        ).fetchone()[0]
        == 0
    )
    codes = dict(con.execute("SELECT code, code_category FROM staging.attendance_marks").fetchall())
    assert codes == {
        "/": "present",
        "\\": "present",
        "L": "present",
        "I": "authorised",
        "N": "unauthorised",
    }


def test_a_fourth_mis_layout_needs_only_a_mapping_file(
    con, landing, archive, tmp_path, monkeypatch
):
    config = tmp_path / "config"
    shutil.copytree(Path(__file__).parent.parent / "config", config)
    (config / "mis_profiles" / "scholarpack.yaml").write_text(
        """
name: scholarpack
description: an invented fourth layout (pipe-free, semicolon-free, just new headers)
encodings: [utf-8-sig]
date_formats: ["%d.%m.%Y"]
extracts:
  pupils:
    columns:
      upn: [Pupil Number]
      forename: [Given Name]
      surname: [Family Name]
      date_of_birth: [Born]
      gender: [M/F]
      year_group: [Class Year]
      fsm: [Free Meals]
      sen: [SEN Code]
      eal: [Other Language]
      postcode: [Post Code]
      extract_date: [As At]
    values:
      gender: {Boy: M, Girl: F}
      sen: {"-": N, "SEN-K": K, "SEN-E": E}
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("WLZ_CONFIG_DIR", str(config))
    anchors = landing / "reference/anchors.csv"
    anchors.write_text(
        anchors.read_text() + "140104,Test Academy,primary,Westminster,scholarpack\n"
    )
    (landing / "mis/140104").mkdir()
    (landing / "mis/140104/export.csv").write_text(
        "Pupil Number,Given Name,Family Name,Born,M/F,Class Year,Free Meals,SEN Code,"
        "Other Language,Post Code,As At\n"
        "K205200116001,Ada,Lovell,14.02.2009,Girl,Year 3,Yes,SEN-K,No,W6 9AA,16.10.2017\n"
        "Z205200116002,Ben,Stone,02.11.2008,Boy,Y4,No,-,Yes,W12 7BB,16.10.2017\n",
        encoding="utf-8",
    )
    ingest_all(con, landing, archive)
    build_all(con, ("staging",))
    rows = con.execute(
        "SELECT upn, date_of_birth::VARCHAR, gender, year_group, fsm, sen, eal, academic_year "
        "FROM staging.pupils WHERE anchor_urn = '140104' ORDER BY upn"
    ).fetchall()
    assert rows == [
        ("K205200116001", "2009-02-14", "F", "3", True, "K", False, "2017/18"),
        ("Z205200116002", "2008-11-02", "M", "4", False, "N", True, "2017/18"),
    ]


@pytest.mark.parametrize("name", ["anchors", "calendar", "enrolments"])
def test_a_replaced_reference_file_supersedes_the_old_version(con, landing, archive, name):
    ingest_all(con, landing, archive)
    path = landing / f"reference/{name}.csv"
    before = path.read_text()
    path.write_text(before + "\n")  # new bytes, same rows: a new version arrives
    ingest_all(con, landing, archive)
    statuses = sorted(
        r[0]
        for r in con.execute(
            "SELECT status FROM meta.file_registry WHERE path = ?", [f"reference/{name}.csv"]
        ).fetchall()
    )
    assert statuses == ["ingested", "superseded"]


def test_a_transfer_ctf_adds_results_but_no_register_rows(con, landing, archive):
    ctf = landing / "mis/140103/transfer.xml"
    # the Year 7 intake's CTF comes from the primary (URN 140102), not from this school
    ctf.write_text(
        ctf.read_text().replace(
            "<SourceSchool><LEA>205</LEA>", "<SourceSchool><URN>140102</URN><LEA>205</LEA>"
        )
    )
    ingest_all(con, landing, archive)
    build_all(con, ("staging",))
    upn = "J205200116008"
    assert (
        con.execute("SELECT count(*) FROM staging.pupils WHERE upn = ?", [upn]).fetchone()[0] == 0
    )
    assert (
        con.execute("SELECT count(*) FROM staging.attainment WHERE upn = ?", [upn]).fetchone()[0]
        == 2
    )
    assert (
        con.execute(
            "SELECT count(*) FROM staging.attendance_summary WHERE upn = ?", [upn]
        ).fetchone()[0]
        == 1
    )
    (code,) = con.execute(
        """SELECT ff.code FROM meta.file_findings ff JOIN meta.file_registry f USING (file_hash)
           WHERE f.path = 'mis/140103/transfer.xml'"""
    ).fetchone()
    assert code == "ctf_transfer_in"


def _scratch_left(con) -> list[tuple]:
    """Scanned files still held by the warehouse's DuckDB instance."""
    return (
        con.execute(
            f"""SELECT database_name, table_name FROM duckdb_tables()
            WHERE database_name LIKE '{SCRATCH}%' OR table_name LIKE '_wlz_scan%'"""
        ).fetchall()
        + con.execute(
            f"SELECT database_name FROM duckdb_databases() WHERE database_name LIKE '{SCRATCH}%'"
        ).fetchall()
    )


def _ingest_settings(monkeypatch, **values) -> None:
    """Ingestion reads these ``ingest`` settings (config/settings.yaml) from now on."""
    from wlz_pipeline import ingest, settings

    chosen = settings.Settings(ingest=settings.IngestSettings(**values))
    monkeypatch.setattr(ingest, "load_settings", lambda: chosen)


def test_files_read_on_threads_ingest_exactly_what_one_thread_ingests(tmp_path, monkeypatch):
    """ingest.parse_workers reads MIS, survey and interaction files on several threads;
    what lands (rows with their file and line, registry statuses, supersede and
    duplicate decisions, findings) is the same as reading them one by one. The sample's
    planted files (duplicates, a binary file, an unknown layout, Latin-1, files DuckDB
    cannot read line for line) are among them, with batches of two files."""
    import threading

    from wlz_pipeline import ingest, warehouse
    from wlz_pipeline.sources import duck_csv

    threads: set[str] = set()
    real_scan = duck_csv.scan_body

    def scan(*args, **kwargs):
        threads.add(threading.current_thread().name)
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(ingest, "scan_body", scan)
    sample = Path(__file__).parent.parent / "data" / "sample"
    landed = {}
    for workers in (1, 2):
        _ingest_settings(monkeypatch, commit_files=2, parse_workers=workers)
        threads.clear()
        wh = warehouse.connect(tmp_path / f"w{workers}" / "wlz.duckdb")
        warehouse.bootstrap(wh)
        reports = ingest_all(
            wh,
            sample,
            tmp_path / f"w{workers}" / "archive",
            sources=("reference", "mis", "surveys", "interactions"),
        )
        assert not _scratch_left(wh)
        landed[workers] = (
            _raw_rows(wh),
            wh.execute(
                """SELECT path, status, reason, profile, kinds, period, as_of, rows_read,
                          superseded_by, archived_as
                   FROM meta.file_registry ORDER BY ALL"""
            ).fetchall(),
            wh.execute("SELECT * FROM meta.file_findings ORDER BY ALL").fetchall(),
            {s: r.as_metadata() for s, r in reports.items()},
        )
        wh.close()
        on_threads = {t for t in threads if t.startswith("wlz-ingest")}
        assert bool(on_threads) == (workers > 1), threads
    assert landed[2] == landed[1]
    registry = landed[1][1]
    assert {r[1] for r in registry} >= {"ingested", "duplicate", "quarantined", "superseded"}
    assert landed[1][3]["mis"]["files_read_by_duckdb"] > 10


def test_a_batch_of_scanned_files_keeps_each_file_whole_and_in_line_order(tmp_path, monkeypatch):
    """The files DuckDB reads are inserted a batch at a time (one statement per table):
    each raw table still holds every file's rows together and in line order, and the
    same rows whether a batch is one file or many."""
    from wlz_pipeline import warehouse

    sample = Path(__file__).parent.parent / "data" / "sample"
    stored = {}
    for files in (1, 64):
        _ingest_settings(monkeypatch, commit_files=files)
        wh = warehouse.connect(tmp_path / f"b{files}" / "wlz.duckdb")
        warehouse.bootstrap(wh)
        reports = ingest_all(
            wh, sample, tmp_path / f"b{files}" / "archive", sources=("reference", "mis")
        )
        assert reports["mis"].read_by_duckdb > 10
        tables = [
            t
            for (t,) in wh.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' ORDER BY 1"
            ).fetchall()
        ]
        for table in tables:
            # stored order: a file's rows in line order, and a file never met again once
            # another file's rows have started
            (back, runs, table_files) = wh.execute(
                f"""SELECT count(*) FILTER (WHERE same AND prev_row >= _row_number),
                           count(*) FILTER (WHERE NOT coalesce(same, false)),
                           count(DISTINCT _file_hash)
                    FROM (SELECT _file_hash, _row_number,
                                 lag(_file_hash) OVER w = _file_hash AS same,
                                 lag(_row_number) OVER w AS prev_row
                          FROM raw.{table} WINDOW w AS (ORDER BY rowid))"""
            ).fetchone()
            assert (back, runs) == (0, table_files), table
        stored[files] = {
            t: wh.execute(
                f"SELECT * EXCLUDE (_ingested_at) FROM raw.{t} ORDER BY _file_hash, _row_number"
            ).fetchall()
            for t in tables
        }
        wh.close()
    assert stored[64] == stored[1]
    assert len(stored[1]["attendance_marks"]) > 1000


def test_scanned_files_mapping_different_fields_land_in_their_own_columns(tmp_path):
    """Two files of one batch, of layouts that map different fields of the same raw
    table, are inserted in one statement: each value lands in its field's column (by
    name, not position), a field a file lacks is NULL, and the rows keep their order."""
    from wlz_pipeline import warehouse
    from wlz_pipeline.sources.duck_csv import ScannedBody

    con = warehouse.connect(tmp_path / "wlz.duckdb")
    warehouse.bootstrap(con)
    con.execute(
        """CREATE TABLE raw.two_layouts (_file_hash VARCHAR, _row_number BIGINT,
           _profile VARCHAR, _anchor_urn VARCHAR, _ingested_at TIMESTAMP,
           session_date VARCHAR, mark VARCHAR)"""
    )
    # scan tables as duck_csv leaves them: a column per mapped field, and _blank
    con.execute(
        "CREATE TEMP TABLE scan_a AS SELECT * FROM (VALUES ('2017-09-04', false), "
        "(NULL, true), ('2017-09-05', false)) t(session_date, _blank)"
    )
    con.execute(
        "CREATE TEMP TABLE scan_b AS SELECT * FROM (VALUES ('/', false), ('L', false)) "
        "t(mark, _blank)"
    )
    ing = Ingestor(con, tmp_path / "landing", tmp_path / "archive")
    with warehouse.transaction(con):
        ing._insert(
            "raw.two_layouts", ScannedBody("scan_a", 2, ("session_date",), 2), "A", "p1", "1"
        )
        ing._insert("raw.two_layouts", ScannedBody("scan_b", 2, ("mark",), 5), "B", "p2", "2")
        ing._flush()
    rows = con.execute(
        "SELECT _file_hash, _row_number, _profile, session_date, mark "
        "FROM raw.two_layouts ORDER BY rowid"
    ).fetchall()
    # scan_a's rowids 0 and 2 (1 is blank) + first line 2; scan_b's rowids 0, 1 + 5
    assert rows == [
        ("A", 2, "p1", "2017-09-04", None),
        ("A", 4, "p1", "2017-09-05", None),
        ("B", 5, "p2", None, "/"),
        ("B", 6, "p2", None, "L"),
    ]


def _raw_rows(con) -> dict[str, list[tuple]]:
    """Every raw table's rows, lineage included, without the ingestion time."""
    out = {}
    for (table,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' ORDER BY 1"
    ).fetchall():
        cols = [
            r[0] for r in con.execute(f"DESCRIBE raw.{table}").fetchall() if r[0] != "_ingested_at"
        ]
        select = ", ".join(f'"{c}"' for c in cols)
        out[table] = con.execute(f"SELECT {select} FROM raw.{table} ORDER BY ALL").fetchall()
    return out


def test_a_failure_mid_scan_keeps_whole_files_and_a_rerun_takes_in_the_rest(
    con, landing, archive, tmp_path, monkeypatch
):
    """Files commit a batch at a time (config/settings.yaml ingest.commit_files): a file
    that fails to load takes its batch with it, never part of a file, and the next run
    ends where a run without the failure would have."""
    from wlz_pipeline import ingest, warehouse

    _ingest_settings(monkeypatch, commit_files=2)
    ingest_all(con, landing, archive, sources=("reference",))
    real_load = ingest.Ingestor._load
    loaded: list[str] = []

    def failing_load(self, parsed, file_hash, base, archived_as):
        loaded.append(base["path"])
        if len(loaded) == 4:  # the second file of the second batch
            raise RuntimeError("disk full")
        return real_load(self, parsed, file_hash, base, archived_as)

    monkeypatch.setattr(ingest.Ingestor, "_load", failing_load)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_all(con, landing, archive, sources=("mis",))
    mis = con.execute(
        "SELECT path, status FROM meta.file_registry WHERE source = 'mis' ORDER BY path"
    ).fetchall()
    # the first batch (two files) committed; the failing batch left nothing, not even
    # its first file, which had loaded before the failure
    assert sorted(p for p, _ in mis) == sorted(loaded[:2])
    assert {s for _, s in mis} == {"ingested"}
    hashes = {
        r[0]
        for r in con.execute(
            "SELECT file_hash FROM meta.file_registry WHERE source = 'mis'"
        ).fetchall()
    }
    for table, rows in _raw_rows(con).items():
        if not table.startswith("ref_") and rows:
            found = {
                r[0] for r in con.execute(f"SELECT DISTINCT _file_hash FROM raw.{table}").fetchall()
            }
            assert found <= hashes, table
    # no file's scan is left behind: the scans' database is gone with its tables
    assert not _scratch_left(con)

    monkeypatch.setattr(ingest.Ingestor, "_load", real_load)
    reports = ingest_all(con, landing, archive)
    assert reports["mis"].ingested == reports["mis"].seen - 2
    clean = warehouse.connect(tmp_path / "clean" / "wlz.duckdb")
    warehouse.bootstrap(clean)
    ingest_all(clean, landing, tmp_path / "clean" / "archive")
    assert _raw_rows(con) == _raw_rows(clean)
    assert (
        con.execute(
            "SELECT path, status, rows_read FROM meta.file_registry ORDER BY ALL"
        ).fetchall()
        == clean.execute(
            "SELECT path, status, rows_read FROM meta.file_registry ORDER BY ALL"
        ).fetchall()
    )
    clean.close()


# -- files known by their stat, not read again (meta.landing_stats) -------------------------
def _stats(con) -> dict[str, str]:
    return dict(con.execute("SELECT path, file_hash FROM meta.landing_stats").fetchall())


PUPILS = "mis/140102/sims_pupils.csv"


def _landing_reads(monkeypatch, landing: Path) -> list[str]:
    """The names of the landing files read whole (``Path.read_bytes``) from now on."""
    opened: list[str] = []
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if landing in self.parents:
            opened.append(self.name)
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return opened


def test_an_unchanged_folder_is_known_without_reading_a_file(
    con, landing, archive, edit_settings, monkeypatch
):
    edit_settings(ingest={"settled_seconds": 0})
    first = ingest_all(con, landing, archive)
    files = sum(r.seen for r in first.values())
    # every file's stat is kept with the hash of its bytes
    stats = _stats(con)
    assert len(stats) == files
    assert stats[PUPILS] == hashlib.sha256((landing / PUPILS).read_bytes()).hexdigest()
    # a second scan opens no landing file
    opened = _landing_reads(monkeypatch, landing)
    again = ingest_all(con, landing, archive)
    assert opened == []
    assert all(r.unread == r.unchanged == r.seen and r.ingested == 0 for r in again.values())


def test_a_file_rewritten_with_its_old_size_and_time_is_read_again(
    con, landing, archive, edit_settings
):
    edit_settings(ingest={"settled_seconds": 0})
    ingest_all(con, landing, archive)
    path = landing / PUPILS
    text = path.read_text(encoding="utf-8")
    st = path.stat()
    # the same number of bytes, one UPN's digits swapped, and the old modification time
    # put back: only the change time (set by the write) says the file changed
    i = next(
        i
        for i in range(len(text) - 1)
        if text[i].isdigit() and text[i + 1].isdigit() and text[i] != text[i + 1]
    )
    changed = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    path.write_text(changed, encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    report = ingest_all(con, landing, archive)["mis"]
    assert report.ingested == 1 and report.unread == report.seen - 1
    assert _status(con)[PUPILS] == ("ingested", None)
    # the new content is what the registry and the stats now know
    new_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    assert _stats(con)[PUPILS] == new_hash
    assert con.execute(
        "SELECT count(*) FROM meta.file_registry WHERE path = ? AND file_hash = ?",
        [PUPILS, new_hash],
    ).fetchone() == (1,)


def test_a_touched_file_is_hashed_again_and_still_known(con, landing, archive, edit_settings):
    edit_settings(ingest={"settled_seconds": 0})
    ingest_all(con, landing, archive)
    os.utime(landing / PUPILS)  # new times, same bytes
    report = ingest_all(con, landing, archive)["mis"]
    assert (report.ingested, report.unchanged, report.unread) == (0, report.seen, report.seen - 1)
    assert ingest_all(con, landing, archive)["mis"].unread == report.seen


def test_files_changed_just_before_a_scan_are_hashed_again_next_run(
    con, landing, archive, edit_settings
):
    # the landing fixture copied every file moments ago: none has settled for an hour
    edit_settings(ingest={"settled_seconds": 3600})
    ingest_all(con, landing, archive)
    assert _stats(con) == {}
    again = ingest_all(con, landing, archive)
    assert all(r.unread == 0 and r.unchanged == r.seen for r in again.values())


def test_without_trusting_stats_every_file_is_hashed(con, landing, archive, edit_settings):
    edit_settings(ingest={"settled_seconds": 0, "trust_file_stats": False})
    ingest_all(con, landing, archive)
    again = ingest_all(con, landing, archive)
    assert _stats(con) == {}
    assert all(r.unread == 0 and r.unchanged == r.seen for r in again.values())


def test_a_removed_file_is_forgotten_by_the_stats(con, landing, archive, edit_settings):
    edit_settings(ingest={"settled_seconds": 0})
    ingest_all(con, landing, archive)
    (landing / PUPILS).unlink()
    ingest_all(con, landing, archive)
    assert PUPILS not in _stats(con)
    assert any(p.startswith("mis/") for p in _stats(con))


def _mis_in_parts(con, landing, archive) -> tuple:
    """mis/ ingested as the Dagster assets do: its registers, then the rest
    (``raw/pupils``, then ``raw/mis``) -> (the two reports, the paths the first took)."""
    ingest_all(con, landing, archive, sources=("reference",))
    registers = Ingestor(con, landing, archive).ingest_source("mis", registers=True)
    paths = con.execute("SELECT path FROM meta.file_registry WHERE source = 'mis'").fetchall()
    rest = Ingestor(con, landing, archive).ingest_source("mis", registers=False)
    return registers, rest, {p for (p,) in paths}


def test_mis_in_two_parts_takes_in_what_one_scan_does(con, landing, archive, tmp_path):
    """raw/pupils takes the registers (CSV and CTF) and nothing else; raw/mis every other
    file, the ones to quarantine included; together they leave the warehouse as one
    scan of the whole folder does."""
    from wlz_pipeline import warehouse

    registers, rest, taken = _mis_in_parts(con, landing, archive)
    # the fixture's mis/: two register CSVs (SIMS and Arbor layouts) and a CTF file,
    # then the SIMS marks and the Bromcom attendance summary
    assert taken == {
        "mis/140102/sims_pupils.csv",
        "mis/140103/arbor_pupils.csv",
        "mis/140103/transfer.xml",
    }
    assert (registers.seen, registers.ingested) == (3, 3)
    assert (rest.seen, rest.ingested) == (2, 2)
    whole = warehouse.connect(tmp_path / "whole" / "wlz.duckdb")
    warehouse.bootstrap(whole)
    ingest_all(whole, landing, tmp_path / "whole" / "archive", sources=("reference", "mis"))
    assert _raw_rows(con) == _raw_rows(whole)
    assert _status(con) == _status(whole)
    # a file that is no register (here: in a folder that is not an anchor) is left to
    # raw/mis, which quarantines it with the reason
    stray = landing / "mis" / "999999" / "sims_pupils.csv"
    stray.parent.mkdir()
    shutil.copy(landing / "mis" / "140102" / "sims_pupils.csv", stray)
    stray.write_bytes(stray.read_bytes() + b"\n")  # not a duplicate of the real one
    again = Ingestor(con, landing, archive).ingest_source("mis", registers=True)
    assert (again.seen, again.ingested, again.quarantined) == (3, 0, 0)
    again = Ingestor(con, landing, archive).ingest_source("mis", registers=False)
    assert (again.seen, again.quarantined) == (3, 1)
    assert "not an anchor" in _status(con)["mis/999999/sims_pupils.csv"][1]


def test_a_register_is_told_from_its_header_however_little_is_peeked(
    con, landing, archive, monkeypatch
):
    """Which part of mis/ a file belongs to is decided on its first bytes; when the
    header is not within them (a long title line, or a peek shorter than the header),
    on the whole file: the answer is the same either way."""
    from wlz_pipeline import ingest

    ingest_all(con, landing, archive, sources=("reference",))
    arbor = landing / "mis" / "140103" / "arbor_pupils.csv"
    # a title line longer than the peek below, before Arbor's title and header
    arbor.write_bytes(b"Exported by the MIS " + b"=" * 300 + b"\r\n" + arbor.read_bytes())
    files = ingest.landing_files(landing, "mis")

    def registers() -> set[str]:
        ing = ingest.Ingestor(con, landing, archive)
        return {p.name for p in files if ing.is_register(p, p.relative_to(landing))}

    expected = {"sims_pupils.csv", "arbor_pupils.csv", "transfer.xml"}
    assert registers() == expected
    for peek in (16, 200):  # shorter than every header; shorter than arbor's title line
        monkeypatch.setattr(ingest, "REGISTER_PEEK_BYTES", peek)
        assert registers() == expected


def test_an_unchanged_mis_folder_is_known_in_both_parts_without_reading_a_file(
    con, landing, archive, edit_settings, monkeypatch
):
    """Telling registers from the rest reads nothing for a file known by its stat: what
    it was loaded as decides. Only a new file is peeked at, by each part."""
    from wlz_pipeline import ingest

    edit_settings(ingest={"settled_seconds": 0})
    _mis_in_parts(con, landing, archive)
    marks = (landing / "mis" / "140102" / "sims_marks.csv").read_bytes()
    opened = _landing_reads(monkeypatch, landing)
    real_peek = ingest.Ingestor.is_register

    def is_register(self, path: Path, rel: Path) -> bool:
        opened.append(f"peek {path.name}")
        return real_peek(self, path, rel)

    monkeypatch.setattr(ingest.Ingestor, "is_register", is_register)
    registers, rest, _ = _mis_in_parts(con, landing, archive)
    assert opened == []  # reference/ is known by its stats too
    assert (registers.seen, registers.unread) == (3, 3)
    assert (rest.seen, rest.unread) == (2, 2)
    new = landing / "mis" / "140102" / "sims_marks_week2.csv"
    new.write_bytes(marks + b"\n")
    _mis_in_parts(con, landing, archive)
    # peeked by each part, read whole by the one it belongs to
    assert opened == ["peek sims_marks_week2.csv"] * 2 + ["sims_marks_week2.csv"]
