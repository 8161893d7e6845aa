"""DuckDB's CSV reader gives exactly the rows the Python reader gives, or declines.

The Python reader (``text.canonical_rows``) defines what a file means: physical line
numbers, stripped cells, empty cells as None, blank rows skipped. ``duck_csv.scan_body``
is the fast way to the same rows for large regular exports; whenever it cannot be sure,
it returns None and ingestion reads the file in Python. These tests compare the two on
the committed sample's files, on generated awkward files, and through ingestion.
"""

from __future__ import annotations

import codecs
import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conftest import LANDING, SAMPLE
from wlz_pipeline.bench import _anchor_profiles
from wlz_pipeline.ingest import ingest_all
from wlz_pipeline.sources.duck_csv import scan_body
from wlz_pipeline.sources.mis import load_profiles, mis_layout
from wlz_pipeline.sources.survey import survey_layout
from wlz_pipeline.sources.text import HeaderAt, UnreadableFile, canonical_rows, locate_header

PROFILES = load_profiles()


def _duck_rows(con, body, fields) -> list[tuple[int, dict]]:
    # no ORDER BY: the rows must come in the file's order, as ingestion inserts them
    got = con.execute(body.select()).fetchall()
    return [(r[0], dict(zip(fields, r[1:], strict=True))) for r in got]


def _both(con, path: Path, text, encoding, at, index, fields):
    python = canonical_rows(text, at, index, fields)
    body = scan_body(con, path, text, encoding, at, index, tuple(fields))
    if body is None:
        return python, None
    try:
        duck = _duck_rows(con, body, fields)
        assert body.rows == len(duck)
    finally:
        body.drop(con)
    return python, duck


def _sample_csvs() -> list[tuple[Path, object]]:
    """Every MIS and survey CSV of the committed sample with its layout."""
    out = []
    anchors = _anchor_profiles(SAMPLE)
    for path in sorted((SAMPLE / "mis").rglob("*.csv")):
        profile = PROFILES.get(anchors.get(path.parent.name, ""))
        if profile is None or profile.ctf is not None:
            continue
        try:
            out.append((path, mis_layout(path.read_bytes(), profile)))
        except UnreadableFile:
            continue  # the sample's deliberately unreadable files
    for path in sorted((SAMPLE / "surveys").glob("*.csv")):
        try:
            out.append((path, survey_layout(path.read_bytes())))
        except UnreadableFile:
            continue
    return out


def test_every_sample_csv_reads_the_same_through_duckdb_as_in_python():
    con = duckdb.connect()
    files = _sample_csvs()
    scanned = []
    for path, lay in files:
        python, duck = _both(con, path, lay.text, lay.encoding, lay.at, lay.index, lay.fields)
        if duck is not None:
            assert duck == python, path
            scanned.append(path)
    # the fast path is really taken: every attendance-marks extract (the big files) and
    # the Windows-1252 ones (re-encoded for DuckDB) go through it
    marks = [p for p, lay in files if getattr(lay, "kind", None) == "attendance_marks"]
    assert marks and set(marks) <= set(scanned)
    assert any(lay.encoding == "cp1252" for p, lay in files if p in scanned)


def _layout_of(text: str) -> HeaderAt:
    return locate_header(text, lambda rec: bool(rec) and rec[0] == "K")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("1,a\n\n2,b\n", "blank line inside the table: DuckDB would skip it"),
        ('1,"two\nlines"\n2,b\n', "a quoted line break: records are not lines"),
        ("1,a,extra\n2,b\n", "a row wider than the header"),
        ("1,a\r2,b\r\n", "a carriage return that ends no line"),
        ("1,a\r\n2,b\n", "mixed line endings (DuckDB's strict mode refuses them)"),
    ],
)
def test_irregular_bodies_are_left_to_python(tmp_path, body, why):
    text = "K,V\n" + body
    path = tmp_path / "f.csv"
    path.write_text(text, encoding="utf-8", newline="")
    at = _layout_of(text)
    assert (
        scan_body(duckdb.connect(), path, text, "utf-8", at, {"k": 0, "v": 1}, ("k", "v")) is None
    )


def test_windows_1252_file_is_re_encoded_beside_the_archive_and_removed(tmp_path):
    text = "Export of 01/09/2017\r\nK,V\r\n1, Zoë \r\n2,\u20ac5\r\n,\r\n3,\xa0x\xa0\r\n"
    path = tmp_path / "cp.csv"
    path.write_bytes(text.encode("cp1252"))
    con = duckdb.connect()
    at = _layout_of(text)
    python, duck = _both(con, path, text, "cp1252", at, {"k": 0, "v": 1}, ("k", "v"))
    assert (
        duck
        == python
        == [
            (3, {"k": "1", "v": "Zoë"}),
            (4, {"k": "2", "v": "€5"}),
            # line 5 is blank (only a comma); the no-break spaces are stripped, as str.strip
            (6, {"k": "3", "v": "x"}),
        ]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.csv"]


# -- generated files ---------------------------------------------------------------------
CELL = st.text(
    alphabet=st.sampled_from(["a", "Z", "7", " ", "\t", "\xa0", "\u3000", ",", '"', "é", "€"]),
    max_size=6,
)


def _render(cell: str) -> str:
    if any(c in cell for c in ',"') or cell != cell.strip(" "):
        return '"' + cell.replace('"', '""') + '"'
    return cell


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    titles=st.lists(st.sampled_from(["Pupil list", '"Quoted, title"', ""]), max_size=2),
    width=st.integers(1, 4),
    mapped=st.integers(1, 4),
    rows=st.lists(st.lists(CELL, min_size=0, max_size=5), max_size=12),
    eol=st.sampled_from(["\n", "\r\n"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    trailing=st.integers(0, 2),
)
def test_generated_files_read_the_same_or_are_left_to_python(
    tmp_path, titles, width, mapped, rows, eol, encoding, trailing
):
    header = ["K"] + [f"C{i}" for i in range(1, width)]
    lines = [*titles, ",".join(header)]
    lines += [",".join(_render(c) for c in row) for row in rows]
    text = eol.join(lines) + eol * (1 + trailing)
    try:
        data = codecs.encode(text, encoding)
    except UnicodeEncodeError:
        assume(False)  # a character Windows-1252 does not have
    path = tmp_path / "g.csv"
    path.write_bytes(data)
    decoded = data.decode(encoding)
    at = _layout_of(decoded)
    # the first ``mapped`` columns are read; a row with text only in the others is
    # still not blank
    fields = tuple(f"f{i}" for i in range(min(mapped, width)))
    index = {f: i for i, f in enumerate(fields)}
    python, duck = _both(duckdb.connect(), path, decoded, encoding, at, index, fields)
    if duck is not None:
        assert duck == python
    regular = rows and all(0 < len(r) <= width and ",".join(map(_render, r)) for r in rows)
    if regular and (width > 1 or not trailing):
        # nothing here is irregular (blank lines, wide rows, quoted line breaks; for one
        # column DuckDB takes a trailing blank line for an empty cell), so the fast path
        # must have been taken
        assert duck is not None


# -- through ingestion -------------------------------------------------------------------
def _raw_snapshot(con) -> dict[str, list[tuple]]:
    out = {}
    for (table,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' ORDER BY 1"
    ).fetchall():
        cols = [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'raw' "
                "AND table_name = ? AND column_name <> '_ingested_at' ORDER BY column_index",
                [table],
            ).fetchall()
        ]
        sel = ", ".join(f'"{c}"' for c in cols)
        out[table] = con.execute(f"SELECT {sel} FROM raw.{table} ORDER BY ALL").fetchall()
    out["registry"] = con.execute(
        "SELECT path, status, profile, kinds, period, as_of, rows_read, reason "
        "FROM meta.file_registry ORDER BY path"
    ).fetchall()
    out["findings"] = con.execute("SELECT * FROM meta.file_findings ORDER BY ALL").fetchall()
    return out


def test_ingestion_through_duckdb_stores_what_the_python_reader_stores(tmp_path, monkeypatch):
    from wlz_pipeline import warehouse

    landing = tmp_path / "landing"
    shutil.copytree(LANDING, landing)
    # one awkward extract the fast path must decline: a blank line inside the table
    marks = landing / "mis/140102/sims_marks.csv"
    lines = marks.read_bytes().split(b"\n")
    marks.write_bytes(b"\n".join([*lines[:3], b"", *lines[3:]]))

    def ingest(name: str):
        con = warehouse.connect(tmp_path / f"{name}.duckdb")
        warehouse.bootstrap(con)
        reports = ingest_all(con, landing, tmp_path / f"{name}-archive")
        return con, reports

    fast, fast_reports = ingest("fast")
    monkeypatch.setattr("wlz_pipeline.ingest.scan_body", lambda *a, **k: None)
    slow, slow_reports = ingest("slow")
    assert fast_reports["mis"].read_by_duckdb > 0
    assert fast_reports["surveys"].read_by_duckdb > 0
    assert slow_reports["mis"].read_by_duckdb == 0
    assert _raw_snapshot(fast) == _raw_snapshot(slow)
    # the declined file kept its physical line numbers (the blank line is line 4)
    (numbers,) = fast.execute(
        "SELECT list(_row_number ORDER BY _row_number) FROM raw.attendance_marks r "
        "JOIN meta.file_registry f ON f.file_hash = r._file_hash "
        "WHERE f.path = 'mis/140102/sims_marks.csv'"
    ).fetchone()
    assert numbers[:3] == [2, 3, 5]
    # no scan table is left behind in the ingesting connection
    assert not fast.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab," \t\x0b\x0c\x1c\x1f\r\n', max_size=30) | st.text(max_size=60))
def test_the_ascii_shortcut_finds_the_same_whitespace_as_the_full_pattern(text):
    from wlz_pipeline.sources.duck_csv import _other_space, _patterns

    assert _other_space(text) == (_patterns()[0].search(text) is not None)
