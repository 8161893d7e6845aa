"""The publisher's bulk keys, concurrent builds and concurrent Parquet export publish
what a row-by-row publisher would: every key recomputed from its source row with
``PseudonymKey.child_key``; every Parquet file the same columns and rows, in the same
order, as its DuckDB table; a rule row checked when its table was built.

(Before the speed-ups were committed, the zone publication was compared with the one the
previous publisher made, table by table and Parquet file by file: identical. No recording
of that is kept here: a test must not expect what the code under test once printed.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb

from wlz_pipeline.pseudonym import PseudonymKey, normalise_upn, resolve_key
from wlz_pipeline.publish import load_config, parquet_link, publish

NOW = datetime(2026, 1, 1, tzinfo=UTC)
RUN_ID = "digest"
#: not content: when each file was ingested
VARYING = {"data_quality": ["checked_at"]}


def table_digest(con: duckdb.DuckDBPyConnection, relation: str, exclude: list[str]) -> dict:
    """Columns, row count and md5 of the rows (as text, in the order they are read)."""
    rel = f"(SELECT * EXCLUDE ({', '.join(exclude)}) FROM {relation})" if exclude else relation
    columns = [[c, str(t)] for c, t, *_ in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]
    rows, md5 = con.execute(
        f"""SELECT count(*), md5(coalesce(string_agg(CAST(x AS VARCHAR), chr(10) ORDER BY rn), ''))
            FROM (SELECT row_number() OVER () AS rn, x FROM {rel} AS x)"""
    ).fetchone()
    return {"columns": columns, "rows": rows, "md5": md5}


def publication_digest(publication: Path) -> dict[str, dict]:
    """``table_digest`` of every table of the DuckDB file (``duckdb``) and of every Parquet
    file (``parquet``), each column read as the DuckDB table's type: Parquet has no HUGEINT,
    so such a column is a DOUBLE there, equal in value but not in text. ``parquet_columns``:
    the Parquet files' own column names."""
    con = duckdb.connect(str(publication), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'bi' ORDER BY 1"
            ).fetchall()
        ]
        out: dict[str, dict] = {"duckdb": {}, "parquet": {}, "parquet_columns": {}}
        for t in tables:
            out["duckdb"][t] = table_digest(con, f'bi."{t}"', VARYING.get(t, []))
        for f in sorted(parquet_link(publication).iterdir()):
            parquet = "read_parquet('" + str(f).replace("'", "''") + "')"
            out["parquet_columns"][f.stem] = [
                c for c, *_ in con.execute(f"DESCRIBE SELECT * FROM {parquet}").fetchall()
            ]
            typed = ", ".join(
                f'CAST("{c}" AS {t}) AS "{c}"' for c, t in out["duckdb"][f.stem]["columns"]
            )
            out["parquet"][f.stem] = table_digest(con, f"(SELECT {typed} FROM {parquet})", [])
        return out
    finally:
        con.close()


def _publish(warehouse: Path, landing: Path, out: Path, **kwargs) -> Path:
    report = publish(
        warehouse, data_dir=landing, demo_key=True, run_id=RUN_ID, now=NOW, out=out, **kwargs
    )
    return report.path


def test_each_parquet_file_holds_its_tables_columns_and_rows_in_order(published, tmp_path):
    path = _publish(published.warehouse, published.landing, tmp_path / "b.db")
    got = publication_digest(path)
    # one file per table, exported concurrently: none missing, none extra
    assert sorted(got["parquet"]) == sorted(got["duckdb"])
    con = duckdb.connect(str(path), read_only=True)
    try:
        for table, want in got["duckdb"].items():
            columns = [c for c, *_ in con.execute(f'DESCRIBE bi."{table}"').fetchall()]
            assert got["parquet_columns"][table] == columns, table
            parquet = got["parquet"][table]
            if table in VARYING:  # the Parquet digest keeps every column
                assert parquet["rows"] == want["rows"], table
            else:
                assert parquet == want, f"{table}.parquet differs from bi.{table}"
    finally:
        con.close()
    # the keyed tables and their rows are really compared
    assert all(got["duckdb"][t]["rows"] > 0 for t in ("dim_child", "risk_profile"))


def test_rule_rows_are_checked_when_their_table_was_built(published, tmp_path):
    """A staging table's rule rows carry when it was built (``built_at``, stored in UTC
    without its zone), else the publication's time."""
    built = datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=1)))
    path = _publish(
        published.warehouse,
        published.landing,
        tmp_path / "b.db",
        built_at={"staging.pupils": built},
    )
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            """SELECT "check", checked_at FROM bi.data_quality
               WHERE "check" NOT IN ('file_readable', 'file_findings')"""
        ).fetchall()
    finally:
        con.close()
    pupils = {t for c, t in rows if c.startswith("pupils: ")}
    others = {t for c, t in rows if not c.startswith("pupils: ")}
    assert pupils == {datetime(2026, 3, 29, 1, 30)}
    assert others == {NOW.replace(tzinfo=None)}


def _expected_keys(con: duckdb.DuckDBPyConnection, key: PseudonymKey, sql: str) -> list:
    """child_key of every row of ``sql`` (columns wlz_id, upn, anchor_urn), in its order."""
    register: dict[str, str] = {}
    for wlz, upn in con.execute(
        "SELECT wlz_id, upn FROM staging.enrolments WHERE wlz_id IS NOT NULL "
        "AND upn IS NOT NULL ORDER BY wlz_id"
    ).fetchall():
        register.setdefault(normalise_upn(upn), wlz)
    out = []
    for wlz, upn, anchor in con.execute(sql).fetchall():
        if not (wlz and wlz.strip()) and upn:
            wlz = register.get(normalise_upn(upn))  # a screened child who enrolled
        out.append(key.child_key(wlz, upn, anchor))
    return out


def test_every_key_follows_its_source_row(published):
    """Row i of a keyed table is row i of its mart: its keys are the definition's keys of
    that row's identity, so the keys are right and the mart's order is kept."""
    cfg = load_config()
    key = resolve_key(None, demo=True)
    wh = duckdb.connect(str(published.warehouse), read_only=True)
    bi = duckdb.connect(str(published.report.path), read_only=True)
    compared = {}
    try:
        for name, spec in cfg.tables.items():
            if spec.source is None or name not in published.report.tables:
                continue
            cols = {c for c, *_ in wh.execute(f"DESCRIBE {spec.source}").fetchall()}
            keys = spec.keys or {
                "child_key": {"wlz_id": "wlz_id", "upn": "upn", "anchor_urn": "anchor_urn"}
            }
            for key_col, roles in keys.items():
                if not ({roles["wlz_id"], roles["upn"]} & cols):
                    continue
                exprs = [
                    f"CAST({roles[r]} AS VARCHAR)" if roles.get(r) in cols else "NULL"
                    for r in ("wlz_id", "upn", "anchor_urn")
                ]
                want = _expected_keys(wh, key, f"SELECT {', '.join(exprs)} FROM {spec.source}")
                got = [k for (k,) in bi.execute(f'SELECT {key_col} FROM bi."{name}"').fetchall()]
                assert got == want, f"bi.{name}.{key_col}"
                compared[f"{name}.{key_col}"] = len(got)
    finally:
        wh.close()
        bi.close()
    assert "comparison_matches.comparison_child_key" in compared
    assert compared["risk_profile.child_key"] > 0 and compared["school_attendance.child_key"] > 0
