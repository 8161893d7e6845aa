"""The restricted DuckDB warehouse: connections, schema bootstrap, transactions, and
the runner for the SQL model files in ``sql/``.

Layers are schemas: ``meta`` (file registry, quarantine, findings), ``raw`` (rows as
received, with lineage), ``staging`` (typed, conformed, one grain each) and ``marts``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from wlz_pipeline.canonical import (
    INTERACTION_FIELDS,
    MIS_KINDS,
    PARTNER_TABLES,
    REFERENCE_FILES,
    SURVEY_FIXED_FIELDS,
)
from wlz_pipeline.settings import load_settings

SCHEMAS = ("meta", "raw", "staging", "marts")

META_DDL = """
CREATE TABLE IF NOT EXISTS meta.file_registry (
    receipt_id     VARCHAR PRIMARY KEY,   -- file_hash || ':' || path
    file_hash      VARCHAR NOT NULL,      -- sha256 of the bytes
    path           VARCHAR NOT NULL,      -- relative to the landing folder
    size_bytes     BIGINT NOT NULL,
    arrived_at     TIMESTAMP NOT NULL,    -- when the pipeline first saw this file here
    source         VARCHAR NOT NULL,      -- mis | survey | interactions | reference | partner
    anchor_urn     VARCHAR,
    profile        VARCHAR,
    kinds          VARCHAR[],             -- canonical kinds found in the file
    period         VARCHAR,               -- what the file covers (supersede key)
    as_of          DATE,                  -- the newest date the file speaks for
    rows_read      BIGINT,
    status         VARCHAR NOT NULL,      -- ingested | duplicate | superseded | quarantined
    reason         VARCHAR,               -- why (quarantined/duplicate/superseded)
    superseded_by  VARCHAR,
    archived_as    VARCHAR                -- content-addressed copy under the archive
);
CREATE TABLE IF NOT EXISTS meta.landing_stats (  -- ingest.Ingestor: files known unread
    path         VARCHAR PRIMARY KEY,     -- relative to the landing folder
    size_bytes   BIGINT NOT NULL,         -- the file's os.stat when it was last hashed:
    mtime_ns     BIGINT NOT NULL,
    ctime_ns     BIGINT NOT NULL,         -- (set by every write; no user can set it back)
    inode        BIGINT NOT NULL,
    device       BIGINT NOT NULL,
    file_hash    VARCHAR NOT NULL         -- the sha256 its bytes had then
);
CREATE TABLE IF NOT EXISTS meta.quarantine (
    table_name   VARCHAR NOT NULL,
    file_hash    VARCHAR NOT NULL,
    row_number   BIGINT,
    column_name  VARCHAR,
    value        VARCHAR,
    rule         VARCHAR NOT NULL,
    severity     VARCHAR NOT NULL,        -- error (row kept out) | warn (row kept, flagged)
    message      VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS meta.file_findings (
    file_hash    VARCHAR NOT NULL,
    location     VARCHAR,                 -- row, or sheet!cell
    column_name  VARCHAR,
    severity     VARCHAR NOT NULL,        -- error | warn | info
    problem      VARCHAR NOT NULL,        -- never quotes the value (safe for logs)
    expected     VARCHAR,
    code         VARCHAR,                 -- stable rule name, e.g. mark_invalid
    value        VARCHAR                  -- what was typed (restricted: may be personal)
);
CREATE TABLE IF NOT EXISTS meta.table_versions (  -- wlz_pipeline/versions.py
    table_name   VARCHAR PRIMARY KEY,     -- schema.table
    version      VARCHAR NOT NULL,        -- fingerprint of what it was last built from
    built_at     TIMESTAMP NOT NULL,
    inputs       VARCHAR,                 -- JSON: each input's version, raw file receipts
    content      VARCHAR                  -- version of what it holds (readers see this)
);
CREATE TABLE IF NOT EXISTS meta.table_parts (  -- wlz_pipeline/versions.py
    table_name   VARCHAR NOT NULL,
    content      VARCHAR NOT NULL,        -- the table's content version
    part_column  VARCHAR NOT NULL,        -- the column it is digested by (e.g. upn)
    recorded_at  TIMESTAMP NOT NULL,
    part         VARCHAR NOT NULL,        -- a value of that column
    digest       VARCHAR NOT NULL         -- its rows: count and hash sum
);
CREATE TABLE IF NOT EXISTS meta.suite_outcomes (  -- quality/gx_duckdb.validate_versioned
    table_name   VARCHAR PRIMARY KEY,
    version      VARCHAR NOT NULL,        -- the table's version when it was validated
    outcomes     VARCHAR NOT NULL,        -- JSON: per expectation, result and row examples
    validated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS meta.table_previews (  -- dictionary.cached_preview
    table_name   VARCHAR PRIMARY KEY,
    content      VARCHAR NOT NULL,        -- the table's content version it was made from
    preview      VARCHAR NOT NULL         -- Markdown of aggregates (never an identifier)
);
CREATE TABLE IF NOT EXISTS meta.value_map (
    profile      VARCHAR NOT NULL,
    field        VARCHAR NOT NULL,
    source_value VARCHAR NOT NULL,        -- normalised: lower-case, trimmed
    canonical    VARCHAR NOT NULL
);
"""


def _raw_ddl(table: str, fields: tuple[str, ...]) -> str:
    cols = ",\n    ".join(f'"{f}" VARCHAR' for f in fields)
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (\n"
        "    _file_hash VARCHAR NOT NULL, _row_number BIGINT NOT NULL,\n"
        "    _profile VARCHAR, _anchor_urn VARCHAR, _ingested_at TIMESTAMP NOT NULL,\n"
        f"    {cols}\n)"
    )


def raw_tables(survey_items: list[str]) -> dict[str, tuple[str, ...]]:
    """Every raw table and its canonical text columns."""
    tables: dict[str, tuple[str, ...]] = {f"raw.{k}": v for k, v in MIS_KINDS.items()}
    tables["raw.interactions"] = INTERACTION_FIELDS
    tables["raw.survey_responses"] = SURVEY_FIXED_FIELDS + tuple(survey_items)
    for name, cols in REFERENCE_FILES.items():
        tables[f"raw.ref_{name}"] = cols
    for name, cols in PARTNER_TABLES.items():
        tables[f"raw.{name}"] = cols
    return tables


def date_formats() -> list[str]:
    """Every date format any MIS profile declares (the union, most specific first)."""
    from wlz_pipeline.sources.mis import load_profiles

    seen: list[str] = ["%Y-%m-%d"]
    for p in load_profiles().values():
        for f in p.date_formats:
            if f not in seen:
                seen.append(f)
    return seen


def _sql_str(value: str) -> str:
    """A SQL string literal for a value from our own config (never from data files)."""
    return "'" + value.replace("'", "''") + "'"


#: sum(position x value of character, positions 2..13) of a UPN ``u``, for wlz_upn_valid
_UPN_WEIGHTED_SUM = " + ".join(f"{i} * wlz_upn_char(substr(u, {i}, 1))" for i in range(2, 14))


def macro_sql() -> list[str]:
    """The SQL that creates the parsing helpers used by the staging SQL (date formats come
    from the profiles): run by ``create_macros``, hashed by ``bootstrap``'s fingerprint."""
    fmts = ", ".join(_sql_str(f) for f in date_formats())
    return [
        f"""
        CREATE OR REPLACE MACRO wlz_date(v) AS
            CAST(try_strptime(trim(v), [{fmts}]) AS DATE);
        """,
        """
        CREATE OR REPLACE MACRO wlz_timestamp(v) AS
            try_strptime(trim(v), ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M', '%d/%m/%Y %H:%M',
                                   '%d/%m/%Y %H:%M:%S', '%Y-%m-%dT%H:%M:%S']);
        CREATE OR REPLACE MACRO wlz_flag(v) AS
            CASE WHEN lower(trim(v)) IN ('y', 'yes', 'true', 't', '1') THEN TRUE
                 WHEN lower(trim(v)) IN ('n', 'no', 'false', 'f', '0') THEN FALSE END;
        CREATE OR REPLACE MACRO wlz_int(v) AS TRY_CAST(trim(v) AS BIGINT);
        CREATE OR REPLACE MACRO wlz_pct(v) AS
            TRY_CAST(trim(replace(v, '%', '')) AS DOUBLE) / 100.0;
        -- Year groups: 'Year 5', 'Y5', '5', 'Reception', 'R', 'Nursery 1', 'N1' ...
        CREATE OR REPLACE MACRO wlz_year_group(v) AS (
            WITH t AS (SELECT regexp_replace(upper(trim(v)), '[^A-Z0-9]', '', 'g') AS s)
            SELECT CASE
                WHEN s IN ('R', 'REC', 'RECEPTION', 'YR', 'YEARR') THEN 'R'
                WHEN regexp_full_match(s, '(NURSERY|N|NUR)([12])')
                    THEN 'N' || regexp_extract(s, '([12])$')
                WHEN regexp_full_match(s, '(YEAR|Y|NC|NCY)?([0-9]{1,2})')
                     AND TRY_CAST(regexp_extract(s, '([0-9]{1,2})$') AS INT) BETWEEN 1 AND 13
                    THEN CAST(TRY_CAST(regexp_extract(s, '([0-9]{1,2})$') AS INT) AS VARCHAR)
            END FROM t);
        -- UPN check letter (domain_facts §3): weights 2..13 on characters 2..13, mod 23,
        -- alphabet without I, O, S; a temporary UPN's 13th character is a letter. The sum
        -- is written out term by term (_UPN_WEIGHTED_SUM): a list comprehension over the
        -- positions captures ``u`` in a lambda, which DuckDB runs row by row, about
        -- 0.3 ms a value (20 s on the zone's 22.8 million marks).
        CREATE OR REPLACE MACRO wlz_upn_char(c) AS
            CASE WHEN c BETWEEN '0' AND '9' THEN CAST(c AS INTEGER)
                 ELSE instr('ABCDEFGHJKLMNPQRTUVWXYZ', c) - 1 END;
        CREATE OR REPLACE MACRO wlz_upn_valid(u) AS
            regexp_full_match(u, '[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]')
            AND substr('ABCDEFGHJKLMNPQRTUVWXYZ',
                       CAST(1 + (__UPN_WEIGHTED_SUM__) % 23 AS BIGINT), 1) = substr(u, 1, 1);
        -- Age on 31 August before the academic year ('2017/18' -> 2017-08-31).
        CREATE OR REPLACE MACRO wlz_age_on_31_august(dob, ay) AS
            date_sub('year', dob, make_date(CAST(left(ay, 4) AS INTEGER), 8, 31));
        -- The age on that 31 August of a child in a year group (England): Year N is N+4,
        -- Reception 4, Nursery 2 (FS1 older) 3, Nursery 1 2.
        CREATE OR REPLACE MACRO wlz_year_group_age(yg) AS
            CASE yg WHEN 'N1' THEN 2 WHEN 'N2' THEN 3 WHEN 'R' THEN 4
                    ELSE TRY_CAST(yg AS INTEGER) + 4 END;
        CREATE OR REPLACE MACRO wlz_academic_year(d) AS
            CASE WHEN d IS NULL THEN NULL
                 WHEN month(d) >= 9
                     THEN year(d) || '/' || lpad(((year(d) + 1) % 100)::VARCHAR, 2, '0')
                 ELSE (year(d) - 1) || '/' || lpad((year(d) % 100)::VARCHAR, 2, '0') END;
        """.replace("__UPN_WEIGHTED_SUM__", _UPN_WEIGHTED_SUM),
    ]


def create_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the parsing helpers (``macro_sql``)."""
    for sql in macro_sql():
        con.execute(sql)


def duckdb_config() -> dict[str, str | int]:
    """The DuckDB settings every connection to the warehouse uses (config/settings.yaml).

    DuckDB refuses a second connection to an open file with a different configuration,
    so GX's SQLAlchemy engine is given the same one."""
    s = load_settings().duckdb
    return {"threads": s.threads, "memory_limit": s.memory_limit}


# -- holding the warehouse open between the steps of a run ---------------------------------
#: The warehouses this process keeps open (resolved path -> the connection that keeps the
#: database open), and how many ``held_open`` blocks are active.
_held: dict[Path, duckdb.DuckDBPyConnection] = {}
_holding = 0
#: Guards ``_held``: the steps of a run may open connections from several threads
#: (wlz_pipeline/executor.py).
_held_lock = threading.Lock()
#: How many ``shared_between_steps`` blocks are active.
_sharing = 0
#: Held while the schemas, macros and config tables are (re)created: steps running side
#: by side each do it first, and DuckDB refuses two open transactions that replace the
#: same catalog entry ("write-write conflict"), so they take turns.
_catalog_lock = threading.RLock()


@contextmanager
def shared_between_steps() -> Iterator[None]:
    """Within the block, several steps of a run may hold connections to the warehouse at
    once, from their own threads (wlz_pipeline/executor.py): nothing may release it to
    another process meanwhile, so GX validates in this process (quality/gx_worker.run),
    and what opens it read-only runs alone (``executor.EXCLUSIVE``)."""
    global _sharing
    _sharing += 1
    try:
        yield
    finally:
        _sharing -= 1


def shared() -> bool:
    """True while steps running side by side may hold the warehouse open."""
    return _sharing > 0


@contextmanager
def held_open() -> Iterator[None]:
    """Within the block, a warehouse opened read-write stays open in this process between
    connections, so the next ``connect`` is a new connection to the open database (0.1 ms)
    instead of a new database (25-40 ms, most of it DuckDB building its catalog of built-in
    functions, whatever the file). A run opens the warehouse two to four times a step; at
    the end of the block every held warehouse is closed (checkpointed).

    Only a run holds the warehouse (``wlz run``, and the runs of the code location's
    executor, ``assets.resources.in_process_executor``), never a long-lived process (the
    code server, whose sensors must not keep the file from the runs). What needs the file
    from elsewhere releases it first: the GX worker's calls (``quality/gx_worker.run``, runs
    of one step at a time only), a read-only ``connect`` (the reports), the publication's
    read-only ``ATTACH`` (steps that run alone: ``executor.EXCLUSIVE``). Connections may be
    opened from several threads (``shared_between_steps``). ``duckdb.hold_between_steps:
    false`` in config/settings.yaml turns holding off."""
    global _holding
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
        if not _holding:
            release()


def release(path: str | Path | None = None) -> None:
    """Close the connection that holds ``path`` (every held warehouse: ``None``) open. The
    database closes (and checkpoints) once its other connections have closed too, so the
    caller closes its own first."""
    with _held_lock:
        keys = list(_held) if path is None else [Path(path).resolve()]
        closing = [c for c in (_held.pop(k, None) for k in keys) if c is not None]
    for con in closing:
        con.close()


def temp_directory(warehouse_file: str | Path) -> str:
    """Where DuckDB spills for this warehouse: ``duckdb.temp_directory`` (config/settings.yaml),
    by default ``duckdb_tmp`` beside the warehouse file."""
    return load_settings().duckdb.temp_directory or str(Path(warehouse_file).parent / "duckdb_tmp")


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), read_only=read_only, config=duckdb_config())
    con.execute("SET temp_directory = ?", [temp_directory(path)])
    return con


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with the configured memory, threads and spill directory (a new
    connection to it when this process holds it open: ``held_open``)."""
    path = Path(path)
    if read_only:
        release(path)  # DuckDB opens a file one way per process
        return _open(path, read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = path.resolve()
    with _held_lock:
        if _holding and key not in _held and load_settings().duckdb.hold_between_steps:
            _held[key] = _open(path, read_only=False)
        if key in _held:
            # the held database has its temp directory; once it has spilled there, DuckDB
            # refuses to set it again, even to the same folder
            return duckdb.connect(str(path), config=duckdb_config())
    return _open(path, read_only=False)


def _schema_fingerprint(tables: dict[str, tuple[str, ...]]) -> str:
    """What ``bootstrap`` would create: schemas, meta and raw tables, macros (their SQL)."""
    import hashlib

    parts = [*SCHEMAS, META_DDL, *(_raw_ddl(t, f) for t, f in tables.items()), *macro_sql()]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def bootstrap(con: duckdb.DuckDBPyConnection) -> None:
    """Create the schemas, meta tables, raw tables and macros if missing (idempotent).

    Every step of a run opens the warehouse and calls this; when the warehouse already
    has exactly what this code would create (``meta.schema_fingerprint``), it is one
    query instead of some forty statements (about 30 ms a step at zone scale)."""
    with _catalog_lock:
        _bootstrap(con)


def _bootstrap(con: duckdb.DuckDBPyConnection) -> None:
    from wlz_pipeline.sources.survey import item_columns

    tables = raw_tables(item_columns())
    fingerprint = _schema_fingerprint(tables)
    try:
        ((done,),) = con.execute("SELECT max(fingerprint) FROM meta.schema_fingerprint").fetchall()
    except duckdb.CatalogException:
        done = None
    if done == fingerprint:
        return
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(META_DDL)
    # added after the table's first version
    con.execute("ALTER TABLE meta.table_versions ADD COLUMN IF NOT EXISTS inputs VARCHAR")
    con.execute("ALTER TABLE meta.table_versions ADD COLUMN IF NOT EXISTS content VARCHAR")
    for table, fields in tables.items():
        con.execute(_raw_ddl(table, fields))
        existing = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                table.split("."),
            ).fetchall()
        }
        for f in fields:  # a survey item added to config later: add its column
            if f not in existing:
                con.execute(f'ALTER TABLE {table} ADD COLUMN "{f}" VARCHAR')
    create_macros(con)
    con.execute("CREATE TABLE IF NOT EXISTS meta.schema_fingerprint (fingerprint VARCHAR)")
    con.execute("DELETE FROM meta.schema_fingerprint")
    # fetched: DuckDB refuses some later calls (register) while a result is pending
    con.execute("INSERT INTO meta.schema_fingerprint VALUES (?)", [fingerprint]).fetchall()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All-or-nothing: a failure half-way leaves the warehouse as it was."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema=? AND table_name=?",
            [schema, name],
        ).fetchone()[0]
    )


def load_config_tables(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)load the lookup tables the staging SQL joins to, from config/ (every run, so
    an edited mapping file takes effect on the next run), and the current-files view."""
    with _catalog_lock:
        _load_config_tables(con)


def _load_config_tables(con: duckdb.DuckDBPyConnection) -> None:
    from wlz_pipeline.config import load_yaml
    from wlz_pipeline.sources.mis import load_profiles

    value_rows = []
    for profile in load_profiles().values():
        for mapping in profile.extracts.values():
            for field, values in mapping.values.items():
                for source, canonical in values.items():
                    value_rows.append(
                        (profile.name, field, str(source).strip().lower(), str(canonical))
                    )
    survey = load_yaml("survey.yaml")
    answer_rows, scale_rows = [], []
    for name, spec in survey["items"].items():
        items = (
            [f"{spec['prefix']}{i}" for i in range(1, int(spec["count"]) + 1)]
            if "prefix" in spec
            else [name]
        )
        scale = survey["scales"][spec["scale"]]
        numeric = scale.get("numeric") if isinstance(scale, dict) else None
        for item in items:
            if numeric:
                scale_rows.append((item, float(numeric["min"]), float(numeric["max"])))
                continue
            for label, code in scale.items():
                answer_rows.append((item, str(label).strip().lower(), float(code)))
                answer_rows.append((item, str(code), float(code)))  # the code itself
    from wlz_pipeline.scoring.attendance_codes import code_table_rows

    code_rows = [
        (r["code"], r["category"], r["valid_from"], r["valid_to"], r["description"])
        for r in code_table_rows()
    ]
    create_macros(con)  # date formats come from the profiles
    with transaction(con):
        con.execute(
            "CREATE OR REPLACE TABLE meta.attendance_codes (code VARCHAR, category VARCHAR, "
            "valid_from DATE, valid_to DATE, description VARCHAR)"
        )
        con.executemany("INSERT INTO meta.attendance_codes VALUES (?, ?, ?, ?, ?)", code_rows)
        con.execute(
            """CREATE OR REPLACE VIEW meta.current_files AS
               SELECT file_hash, path, arrived_at, as_of
               FROM meta.file_registry WHERE status = 'ingested'"""
        )
        con.execute("DELETE FROM meta.value_map")
        if value_rows:
            con.executemany("INSERT INTO meta.value_map VALUES (?, ?, ?, ?)", value_rows)
        con.execute(
            "CREATE OR REPLACE TABLE meta.survey_answer_map "
            "(item VARCHAR, label VARCHAR, code DOUBLE)"
        )
        con.executemany("INSERT INTO meta.survey_answer_map VALUES (?, ?, ?)", answer_rows)
        con.execute(
            "CREATE OR REPLACE TABLE meta.survey_item_scale "
            "(item VARCHAR, numeric_min DOUBLE, numeric_max DOUBLE)"
        )
        if scale_rows:
            con.executemany("INSERT INTO meta.survey_item_scale VALUES (?, ?, ?)", scale_rows)
