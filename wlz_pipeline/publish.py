"""The BI publication (contract.md): a separate, pseudonymised DuckDB file built from the
restricted warehouse, plus one Parquet file per table, swapped in atomically.

How a publication is made (``publish``):

1. Resolve the pseudonym key first: a run that is not the synthetic sample and has no
   ``WLZ_PSEUDONYM_KEY`` stops here, before anything is written.
2. Take an exclusive ``flock`` on ``.<name>.lock`` beside the publication (one publisher
   at a time) and remove temporary files a crashed publisher left behind.
3. In an in-memory DuckDB, ``ATTACH`` the warehouse ``READ_ONLY`` and a new file
   ``.<name>.<random>.tmp`` in the publication's directory with
   ``STORAGE_VERSION 'v1.0.0'`` (readable by DuckDB 1.x and the BI drivers that bundle
   it). Build schema ``bi``: every table of ``config/publication.yaml`` whose source
   exists (pseudonymised, identifying columns dropped, small numbers suppressed where the
   table leaves the organisation; planned one after another, then created as many at a
   time as DuckDB has threads, each on a cursor of its own), then ``data_quality``,
   ``check_results``, ``data_dictionary`` and ``publication``. A privacy scan of every
   text column against the restricted identifiers must find nothing.
4. Export each table (several at a time) to
   ``<stem>_parquet.versions/.<version>.part/<table>.parquet``;
   detach and close (DuckDB checkpoints: no WAL may remain); ``fsync`` every file; rename
   the ``.part`` folder to its version name; ``fsync`` the directories.
5. Swap: point a new symlink at the version folder and ``os.replace`` it over
   ``<stem>_parquet``; then ``os.replace`` the temporary file over the publication;
   ``fsync`` the directory. ``rename(2)`` is atomic within a file system: a reader sees
   the old file or the new one, never a mixture. A reader holding the old file open keeps
   reading the old inode (its directory entry is gone, its data is not) until it
   reconnects; DuckDB's lock on the old file does not stand in the way of a rename.
6. Remove Parquet versions beyond ``parquet_versions_kept``.

Anything that fails before step 5 removes the temporary files and leaves the previous
publication (file and Parquet folder) byte-identical. The two renames of step 5 are not
one atomic step: for an instant the Parquet folder may be newer than the DuckDB file
(each has its own ``publication`` table, with the run id, to tell).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import sqlglot
from pydantic import BaseModel, ConfigDict, Field

from wlz_pipeline.config import REPO_ROOT, load_yaml
from wlz_pipeline.dictionary import (
    SENSITIVE_COLUMN,
    describe_query,
    is_integer,
    is_numeric,
    quote_ident,
    table_doc,
)
from wlz_pipeline.pseudonym import PseudonymKey, normalise_upn, resolve_key

log = logging.getLogger(__name__)

BI_SQL_DIR = REPO_ROOT / "sql" / "bi"
ORDER_COLUMN = "__wlz_order"
#: Tables the publisher builds itself, after the configured ones.
META_TABLES = ("data_quality", "check_results", "data_dictionary", "publication")


# -- configuration -------------------------------------------------------------------------
class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None
    parquet: bool = True
    parquet_versions_kept: int = Field(3, ge=1)
    storage_version: str = "v1.0.0"


class ScheduleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cron: str = "0 2 * * *"
    timezone: str = "Europe/London"
    default_status: Literal["running", "stopped"] = "running"


class SensorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interval_seconds: int = Field(30, ge=5)
    ignore: list[str] = []


class SuppressionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: int = Field(5, ge=1)
    suppress_zero: bool = False


class TableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str | None = None
    sql: str | None = None
    keys: dict[str, dict[str, str]] | None = None
    columns: list[str] | None = None
    exclude: list[str] = []
    allow: list[str] = []
    leaves_organisation: bool = False
    dimensions: list[str] = []
    groups: list[list[str]] = []
    not_counts: list[str] = []
    contract: bool = True

    def model_post_init(self, _: Any) -> None:
        if (self.source is None) == (self.sql is None):
            raise ValueError("a published table needs exactly one of source: or sql:")
        if self.source is not None and not re.fullmatch(
            r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*", self.source
        ):
            raise ValueError(f"source must be schema.table, got {self.source!r}")


class PublicationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    output: OutputConfig = OutputConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    sensor: SensorConfig = SensorConfig()
    pseudonym: dict[str, Any]
    suppression: SuppressionConfig = SuppressionConfig()
    link_worker_names: bool = True
    standard_columns: dict[str, str] = {}
    tables: dict[str, TableSpec]

    def model_post_init(self, _: Any) -> None:
        for name in self.tables:
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in META_TABLES:
                raise ValueError(f"tables: {name!r} is not a valid published table name")


def load_config() -> PublicationConfig:
    """``config/publication.yaml``, validated (a bad edit fails here, naming the field)."""
    return PublicationConfig.model_validate(load_yaml("publication.yaml"))


# -- results -------------------------------------------------------------------------------
class PublicationError(RuntimeError):
    """Nothing was published; the previous publication is unchanged."""


class PrivacyViolation(PublicationError):
    """A published column holds a restricted value (name, UPN, date of birth ...)."""


@dataclass(frozen=True)
class CheckResult:
    """The latest evaluation of one Dagster asset check (from the Dagster instance)."""

    asset: str
    check_name: str
    severity: str
    passed: bool
    blocking: bool = False
    failing_rows: int | None = None
    evaluated_at: datetime | None = None
    run_id: str | None = None


@dataclass
class PublicationReport:
    path: Path
    parquet_dir: Path | None
    run_id: str
    published_at: datetime
    as_of_date: date | None
    tables: dict[str, int] = field(default_factory=dict)  # bi table -> rows
    skipped: dict[str, str] = field(default_factory=dict)  # contract table -> reason
    suppressed_rows: dict[str, int] = field(default_factory=dict)
    undescribed: list[str] = field(default_factory=list)  # table.column without description
    key_source: str = ""
    key_id: str = ""


# -- paths -----------------------------------------------------------------------------
def publication_path(warehouse_file: str | Path, explicit: str | Path | None = None) -> Path:
    """Where the publication goes: the option, else ``WLZ_PUBLICATION``, else
    ``output.path`` (relative to the warehouse's folder), else ``wlz_bi.duckdb`` there."""
    base = Path(warehouse_file).resolve().parent
    value = explicit or os.environ.get("WLZ_PUBLICATION") or load_config().output.path
    if not value:
        return base / "wlz_bi.duckdb"
    p = Path(value)
    return (p if p.is_absolute() else base / p).resolve()


def parquet_link(publication: Path) -> Path:
    """The Parquet folder BI tools read: a symlink to the current version."""
    return publication.parent / f"{publication.stem}_parquet"


def parquet_versions(publication: Path) -> Path:
    return publication.parent / f"{publication.stem}_parquet.versions"


def _sql_literal(value: str) -> str:
    """A SQL string literal for a path we chose (never for file content)."""
    return "'" + value.replace("'", "''") + "'"


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _exclusive(publication: Path) -> Iterator[None]:
    lock = publication.parent / f".{publication.name}.lock"
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise PublicationError(
                f"another publication of {publication} is being written; try again when it ends"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _remove_leftovers(publication: Path) -> None:
    """Temporary files of a publisher that crashed (we hold the lock: none is in use)."""
    for p in publication.parent.glob(f".{publication.name}.*.tmp*"):
        p.unlink(missing_ok=True)
    versions = parquet_versions(publication)
    if versions.is_dir():
        for p in versions.glob(".*.part"):
            shutil.rmtree(p, ignore_errors=True)
    stray = parquet_link(publication).with_name(parquet_link(publication).name + ".tmp-link")
    if stray.is_symlink():
        stray.unlink()


# -- building ------------------------------------------------------------------------------
def _exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return bool(
        con.execute(
            """SELECT count(*) FROM (
                   SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'wh'
                   UNION ALL
                   SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = 'wh')
               WHERE schema_name = ? AND table_name = ?""",
            [schema, name],
        ).fetchall()[0][0]
    )


def _inputs(sql: str) -> list[str]:
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {c.alias_or_name for c in tree.find_all(sqlglot.exp.CTE)}
    return sorted(
        {
            f"{t.db}.{t.name}"
            for t in tree.find_all(sqlglot.exp.Table)
            if t.db and t.name not in ctes
        }
    )


#: (key table column, identity role): how a source row is matched to its key
_IDENTITY_ROLES = (("w", "wlz_id"), ("u", "upn"), ("a", "anchor_urn"))


class _Keys:
    """child_key (and other key columns) for the identity tuples of the published tables.

    One table, ``memory.main._wlz_keys`` (``w``, ``u``, ``a`` -> ``k``: wlz_id, upn and
    anchor_urn as text, and the key), holds every identity tuple seen so far in this
    publication. ``register`` adds the tuples of one more source that are not in it yet:
    the same children are in most tables, so at zone scale about 75,000 tuples cross into
    Python once, instead of every table's distinct tuples (390,000) each time. The key
    itself is still computed in Python by ``PseudonymKey.child_key``: one definition of
    a key, shared with ``reidentify``. The table is in the in-memory database (where the
    cursors that create the tables see it), never in the publication, and goes when the
    connection closes."""

    TABLE = "memory.main._wlz_keys"

    def __init__(self, con: duckdb.DuckDBPyConnection, key: PseudonymKey) -> None:
        self.con = con
        self.key = key
        self.by_upn: dict[str, str] = {}
        con.execute(
            f"CREATE OR REPLACE TABLE {self.TABLE} (w VARCHAR, u VARCHAR, a VARCHAR, k VARCHAR)"
        )
        if _exists(con, "staging.enrolments"):
            # a screened child who is in the register is keyed by their WLZ ID everywhere
            for wlz, upn in con.execute(
                """SELECT wlz_id, upn FROM wh.staging.enrolments
                   WHERE wlz_id IS NOT NULL AND upn IS NOT NULL ORDER BY wlz_id"""
            ).fetchall():
                self.by_upn.setdefault(normalise_upn(upn), wlz)

    def register(self, source_sql: str, ident: dict[str, str | None]) -> str:
        """Make sure every distinct identity tuple of ``source_sql`` (``ident`` names its
        wlz_id, upn and anchor_urn columns) has its key in the key table; returns the
        table's name (columns w, u, a, k; one row per tuple, NULLs included)."""
        exprs = [
            f"CAST({quote_ident(ident[r])} AS VARCHAR)" if ident.get(r) else "NULL::VARCHAR"
            for _, r in _IDENTITY_ROLES
        ]
        # EXCEPT compares NULLs as equal, as the join in _plan_table does
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _wlz_new_ids AS
                SELECT row_number() OVER () AS i, w, u, a FROM (
                    SELECT {exprs[0]} AS w, {exprs[1]} AS u, {exprs[2]} AS a
                    FROM ({source_sql}) AS s
                    EXCEPT SELECT w, u, a FROM {self.TABLE})"""
        )
        new = self.con.execute("SELECT w, u, a FROM _wlz_new_ids ORDER BY i").fetchall()
        if new:
            keys = [self._child_key(wlz, upn, anchor) for wlz, upn, anchor in new]
            # only the keys go back, as one list parameter matched on the row's number
            # (a parameter per value costs a microsecond each; Arrow would import pandas)
            self.con.execute(
                f"""INSERT INTO {self.TABLE}
                    SELECT n.w, n.u, n.a, k.k FROM _wlz_new_ids AS n
                    JOIN (SELECT generate_subscripts($1::VARCHAR[], 1) AS i,
                                 unnest($1::VARCHAR[]) AS k) AS k USING (i)""",
                [keys],
            )
        self.con.execute("DROP TABLE _wlz_new_ids")
        return self.TABLE

    def _child_key(self, wlz: str | None, upn: str | None, anchor: str | None) -> str | None:
        effective = wlz
        if not (wlz and wlz.strip()) and upn:
            effective = self.by_upn.get(normalise_upn(upn))
        return self.key.child_key(effective, upn, anchor)


@dataclass
class _Built:
    name: str
    doc_layer: str
    doc_table: str
    key_columns: list[str]
    suppressed: list[str]  # columns that may be suppressed
    leaves: bool


class _Skip(Exception):
    pass


def _source_sql(con: duckdb.DuckDBPyConnection, name: str, spec: TableSpec) -> tuple[str, str, str]:
    """``(query, doc layer, doc table)``; raises ``_Skip`` with the reason when missing."""
    if spec.source:
        if not _exists(con, spec.source):
            raise _Skip(f"{spec.source} does not exist in the warehouse yet")
        schema, table = spec.source.split(".")
        return f"SELECT * FROM wh.{quote_ident(schema)}.{quote_ident(table)}", schema, table
    path = BI_SQL_DIR / f"{spec.sql}.sql"
    if not path.is_file():
        raise _Skip(f"sql/bi/{spec.sql}.sql not found")
    sql = path.read_text(encoding="utf-8").strip().rstrip(";")
    missing = [t for t in _inputs(sql) if not _exists(con, t)]
    if missing:
        raise _Skip(f"needs {', '.join(missing)}, not in the warehouse yet")
    return sql, "bi", spec.sql or name


def _key_specs(spec: TableSpec, columns: list[str]) -> dict[str, dict[str, str | None]]:
    present = set(columns)
    if spec.keys is None:
        if "wlz_id" not in present and "upn" not in present:
            return {}
        wanted = {"child_key": {"wlz_id": "wlz_id", "upn": "upn", "anchor_urn": "anchor_urn"}}
    else:
        wanted = spec.keys
    out: dict[str, dict[str, str | None]] = {}
    for key_col, roles in wanted.items():
        ident = {r: (c if c in present else None) for r, c in roles.items()}
        if not ident.get("wlz_id") and not ident.get("upn"):
            raise _Skip(
                f"{key_col}: none of its identity columns "
                f"({', '.join(c for r, c in roles.items() if r != 'anchor_urn')}) is in the source"
            )
        out[key_col] = ident
    return out


def _publishable(name: str, spec: TableSpec, columns: list[str], identity: set[str]) -> list[str]:
    allowed = set(spec.allow)
    if spec.columns is not None:
        missing = [c for c in spec.columns if c not in columns]
        if missing:
            raise _Skip(f"columns {', '.join(missing)} are not in the source")
        bad = [c for c in spec.columns if SENSITIVE_COLUMN.search(c) and c not in allowed]
        if bad:
            raise PublicationError(
                f"publication.yaml lists identifying columns for bi.{name}: {', '.join(bad)}"
            )
        return list(spec.columns)
    keep = []
    for c in columns:
        if c in identity or c.startswith("_") or c.endswith("__raw") or c in spec.exclude:
            continue
        if SENSITIVE_COLUMN.search(c) and c not in allowed:
            log.warning("bi.%s: column %s looks identifying and is not published", name, c)
            continue
        keep.append(c)
    return keep


@dataclass
class _Planned:
    """A published table, ready to be created: ``sql`` creates it, ``weight`` (source rows
    times columns) orders the work largest first, ``scratch`` is a materialised source to
    drop once the table exists."""

    built: _Built
    sql: str
    weight: int
    scratch: str | None = None


def _plan_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    spec: TableSpec,
    cfg: PublicationConfig,
    keys: _Keys,
) -> _Planned:
    """Everything about one published table but creating it: its columns, the keys of its
    identities (in the key table) and the statement that creates it, keyed, identifying
    columns dropped, suppressed where it leaves the organisation, in its source's order."""
    source, doc_layer, doc_table = _source_sql(con, name, spec)
    src_cols = [c for c, _ in describe_query(con, source)]
    key_specs = _key_specs(spec, src_cols)
    identity = {
        c for ident in key_specs.values() for r, c in ident.items() if c and r in ("wlz_id", "upn")
    }
    columns = _publishable(name, spec, src_cols, identity)
    scratch, scratch_name = None, f"_wlz_src_{name}"
    if spec.sql and key_specs:
        # a query source is read twice (its identity tuples, then its rows): run it once
        # (dim_child: a third of a second at zone scale), in its own order, into the
        # in-memory database (not temp: the table is created on another connection)
        scratch = f"memory.main.{quote_ident(scratch_name)}"
        con.execute(
            f"""CREATE OR REPLACE TABLE {scratch} AS
                SELECT *, row_number() OVER () AS {ORDER_COLUMN} FROM ({source}) AS src"""
        )
        source = f"SELECT * EXCLUDE ({ORDER_COLUMN}) FROM {scratch}"
        base = f"SELECT * FROM {scratch}"
    else:
        base = f"SELECT *, row_number() OVER () AS {ORDER_COLUMN} FROM ({source}) AS src"
    try:
        joins, selects = [], []
        for i, (key_col, ident) in enumerate(key_specs.items()):
            table = keys.register(source, ident)
            alias = f"k{i}"
            conds = [
                f"{alias}.{r} IS NOT DISTINCT FROM "
                + (f"CAST(s.{quote_ident(ident[role])} AS VARCHAR)" if ident.get(role) else "NULL")
                for r, role in _IDENTITY_ROLES
            ]
            joins.append(f"LEFT JOIN {table} AS {alias} ON {' AND '.join(conds)}")
            selects.append(f"{alias}.k AS {quote_ident(key_col)}")
        for c in columns:
            if name == "dim_link_worker" and c == "name" and not cfg.link_worker_names:
                selects.append(f"s.lw_id AS {quote_ident(c)}")
            else:
                selects.append(f"s.{quote_ident(c)}")
        projected = (
            f"SELECT {', '.join(selects)}, s.{ORDER_COLUMN} FROM ({base}) AS s {' '.join(joins)}"
        )
        suppressible: list[str] = []
        if spec.leaves_organisation:
            final, suppressible = _suppressed_select(
                con, name, spec, cfg, projected, list(key_specs)
            )
        else:
            out_cols = ", ".join(quote_ident(c) for c in [*key_specs, *columns])
            final = f"SELECT {out_cols} FROM ({projected}) AS p ORDER BY {ORDER_COLUMN}"
    except BaseException:
        if scratch:
            con.execute(f"DROP TABLE IF EXISTS {scratch}")
        raise
    built = _Built(
        name, doc_layer, doc_table, list(key_specs), suppressible, spec.leaves_organisation
    )
    sql = f"CREATE TABLE pub.bi.{quote_ident(name)} AS {final}"
    if scratch:
        rows = _estimated_rows(con, "memory", "main", scratch_name)
    elif spec.source:
        rows = _estimated_rows(con, "wh", *spec.source.split("."))
    else:
        rows = 0  # a query: the dimensions, small
    return _Planned(built, sql, rows * len(src_cols), scratch)


def _estimated_rows(con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str) -> int:
    """DuckDB's estimate of a table's rows (0 for a view)."""
    rows = con.execute(
        """SELECT estimated_size FROM duckdb_tables()
           WHERE database_name = ? AND schema_name = ? AND table_name = ?""",
        [database, schema, table],
    ).fetchall()
    return int(rows[0][0] or 0) if rows else 0


def _suppressed_select(
    con: duckdb.DuckDBPyConnection,
    name: str,
    spec: TableSpec,
    cfg: PublicationConfig,
    projected: str,
    key_cols: list[str],
) -> tuple[str, list[str]]:
    """Small-number suppression for a table that leaves the organisation.

    Every integer column that is not a dimension is a count (``not_counts`` exempts
    integers that count no one, e.g. sessions run). Numeric columns are grouped: each
    configured ``groups`` entry lists the columns describing one set of children (its n,
    its counts, its percentages and means); the numeric columns in no group form one more
    group. In each row, a group with a count below the threshold is published as NULL as a
    whole (the small count and everything a reader could work it back from), and
    ``suppressed`` / ``suppressed_columns`` say so. A table with no count at all is not
    published (fail closed)."""
    sup = cfg.suppression
    typed = [(c, t) for c, t in describe_query(con, projected) if c != ORDER_COLUMN]
    dims = set(spec.dimensions) | set(key_cols) | {c for c, t in typed if not is_numeric(t)}
    numeric = [c for c, _ in typed if c not in dims]
    counts = [c for c, t in typed if c in numeric and is_integer(t) and c not in spec.not_counts]
    if not counts:
        raise _Skip("leaves the organisation but has no count column to suppress small numbers on")
    groups = [[c for c in g if c in numeric] for g in spec.groups]
    grouped = {c for g in groups for c in g}
    groups.append([c for c in numeric if c not in grouped])
    low = (
        "({c} IS NOT NULL AND {c} < {t})"
        if sup.suppress_zero
        else "({c} IS NOT NULL AND {c} > 0 AND {c} < {t})"
    )
    small = {c: low.format(c=quote_ident(c), t=int(sup.threshold)) for c in counts}
    conditions: dict[str, list[str]] = {}
    for g in groups:
        triggers = [small[c] for c in g if c in small]
        if not triggers:
            continue
        for c in g:
            conditions.setdefault(c, []).extend(triggers)
    cond = {c: "(" + " OR ".join(dict.fromkeys(v)) + ")" for c, v in conditions.items()}
    selects = []
    for c, _ in typed:
        q = quote_ident(c)
        selects.append(f"CASE WHEN {cond[c]} THEN NULL ELSE {q} END AS {q}" if c in cond else q)
    flags = ", ".join(
        f"CASE WHEN {cond[c]} THEN {_sql_literal(c)} END" for c, _ in typed if c in cond
    )
    selects.append(f"coalesce({' OR '.join(small.values())}, FALSE) AS suppressed")
    selects.append(f"nullif(concat_ws(', ', {flags}), '') AS suppressed_columns")
    sql = f"SELECT {', '.join(selects)} FROM ({projected}) AS p ORDER BY {ORDER_COLUMN}"
    return sql, list(cond)


# -- privacy -------------------------------------------------------------------------------
#: Column names in raw and staging whose values must never appear in the publication.
_RESTRICTED_COLUMNS = re.compile(
    r"^(upn|forename|surname|first_name|last_name|full_name|child_name|date_of_birth|dob|"
    r"postcode|notes?)$"
)
_TOKEN_PATTERNS = {
    "a UPN": r"(^|[^A-Za-z0-9])[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]($|[^A-Za-z0-9])",
    "a WLZ ID": r"WLZ[0-9]{9}",
    "a postcode": (
        r"(^|[^A-Za-z0-9])[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][ABD-HJLNP-UW-Z]{2}($|[^A-Za-z0-9])"
    ),
}


def restricted_values_sql(con: duckdb.DuckDBPyConnection, database: str = "wh") -> str | None:
    """A query of every restricted value in the warehouse's raw and staging layers: UPNs,
    names (and full names), dates of birth (as received, ISO and dd/mm/yyyy), postcodes
    (as received and without spaces) and interaction notes.

    Each column's distinct values are taken first and only those are spelled out (a UPN
    column of the attendance marks has tens of millions of rows but a few thousand
    values): the set is the same as spelling out every row, at a fraction of the cost."""
    cols = con.execute(
        """SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns()
           WHERE database_name = ? AND schema_name IN ('raw', 'staging')""",
        [database],
    ).fetchall()
    by_table: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, column, dtype in cols:
        if _RESTRICTED_COLUMNS.match(column):
            by_table.setdefault((schema, table), {})[column] = str(dtype)
    parts = []
    for (schema, table), found in sorted(by_table.items()):
        t = f"{database}.{quote_ident(schema)}.{quote_ident(table)}"
        for c, dtype in found.items():
            spellings = ["CAST(x AS VARCHAR)"]
            if dtype.upper() == "DATE":
                spellings.append("strftime(x, '%d/%m/%Y')")
            if c == "postcode" or c == "upn":
                spellings.append("replace(CAST(x AS VARCHAR), ' ', '')")
            parts.append(
                f"SELECT unnest([{', '.join(spellings)}]) AS v "
                f"FROM (SELECT DISTINCT {quote_ident(c)} AS x FROM {t})"
            )
        if "forename" in found and "surname" in found:
            parts.append(
                "SELECT unnest([forename || ' ' || surname, surname || ', ' || forename]) AS v "
                f"FROM (SELECT DISTINCT forename, surname FROM {t})"
            )
    if not parts:
        return None
    return (
        "SELECT DISTINCT trim(v) AS v FROM (" + " UNION ALL ".join(parts) + ") "
        "WHERE v IS NOT NULL AND length(trim(v)) >= 2"
    )


#: A character that is not part of a word (words are letters, digits, ' ’ and -).
_WORD_SEPARATOR = r"[^\pL\pN'’-]"
_WORD_SPLIT = _WORD_SEPARATOR + "+"
#: ``trim(v)`` of a cell without trimming (copying) the long texts it cannot change: a
#: text that starts and ends with printable ASCII other than a space (whitespace in no
#: definition trim() may use) is its own trim, any other is trimmed. Texts of evidence
#: JSON run to kilobytes each, and trimming them was most of the whole-value comparison.
_TRIMMED_CELL = (
    "CASE WHEN ascii(v) BETWEEN 33 AND 126 "
    "AND encode(v)[-1:] BETWEEN '\\x21'::BLOB AND '\\x7E'::BLOB THEN v ELSE trim(v) END"
)


def restricted_names_sql(con: duckdb.DuckDBPyConnection, database: str = "wh") -> str | None:
    """(forename, surname) word pairs of every child in raw and staging (the first word of
    the forename, the last of the surname), to find a full name inside free text."""
    tables = con.execute(
        """SELECT schema_name, table_name FROM duckdb_columns()
           WHERE database_name = ? AND schema_name IN ('raw', 'staging')
             AND column_name IN ('forename', 'surname')
           GROUP BY ALL HAVING count(*) = 2 ORDER BY ALL""",
        [database],
    ).fetchall()
    if not tables:
        return None
    parts = [
        f"SELECT trim(forename) AS f, trim(surname) AS s "
        f"FROM {database}.{quote_ident(schema)}.{quote_ident(table)}"
        for schema, table in tables
    ]
    return (
        "SELECT DISTINCT regexp_split_to_array(f, ?)[1] AS forename, "
        "regexp_split_to_array(s, ?)[-1] AS surname FROM (" + " UNION ALL ".join(parts) + ") "
        "WHERE length(f) >= 2 AND length(s) >= 2"
    ).replace("?", _sql_literal(_WORD_SPLIT))


def privacy_scan(con: duckdb.DuckDBPyConnection, allowed: dict[str, set[str]]) -> list[str]:
    """Every text cell of ``pub.bi``: whole values equal to a restricted value, text that
    holds a child's forename and surname, and UPN-, WLZ ID- or postcode-shaped text.
    Returns ``bi.table.column: what`` findings (never the values). ``allowed`` columns
    (staff and school names) skip the name comparisons, not the shape checks. Each element
    of a list of text (``VARCHAR[]``: factor names, source files) is a cell of its own.

    The distinct cells of all text columns are gathered once (each column's distinct
    values), then checked with a handful of set-based queries, so the cost grows with the
    distinct text published, not with the number of columns."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _wlz_cells (tbl VARCHAR, col VARCHAR, v VARCHAR, "
        "allowed BOOLEAN)"
    )
    text_cols: dict[str, list[tuple[str, bool]]] = {}
    for table, column, data_type in con.execute(
        """SELECT table_name, column_name, data_type FROM duckdb_columns()
           WHERE database_name = 'pub' AND schema_name = 'bi'
             AND data_type IN ('VARCHAR', 'VARCHAR[]')
           ORDER BY table_name, column_index"""
    ).fetchall():
        text_cols.setdefault(table, []).append((column, data_type != "VARCHAR"))
    for table, columns in text_cols.items():
        ok = allowed.get(table, set())
        # each column's distinct values on their own: half the time of one DISTINCT over
        # the UNPIVOT of them all (every (column, value) pair hashed as one wide key)
        per_column = []
        for c, is_list in columns:
            cells = f"pub.bi.{quote_ident(table)}"
            value = quote_ident(c)
            if is_list:  # one cell per element
                cells = f"(SELECT unnest({value}) AS v FROM {cells})"
                value = "v"
            per_column.append(
                f"SELECT DISTINCT {_sql_literal(c)} AS col, {value} AS v, "
                f"{'TRUE' if c in ok else 'FALSE'} AS allowed "
                f"FROM {cells} WHERE {value} IS NOT NULL"
            )
        union = " UNION ALL ".join(per_column)
        con.execute(f"INSERT INTO _wlz_cells SELECT ?, col, v, allowed FROM ({union})", [table])
    findings: list[str] = []

    def report(sql: str, what: str, params: list | None = None) -> None:
        for tbl, col, n in con.execute(sql, params or []).fetchall():
            findings.append(f"bi.{tbl}.{col}: {n} values {what}")

    restricted = restricted_values_sql(con)
    if restricted:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _wlz_restricted AS {restricted}")
        report(
            f"""SELECT tbl, col, count(*) FROM _wlz_cells
                WHERE NOT allowed AND ({_TRIMMED_CELL}) IN (SELECT v FROM _wlz_restricted)
                GROUP BY ALL ORDER BY ALL""",
            "equal to restricted values (names, UPNs, dates of birth, postcodes, notes)",
        )
    names = restricted_names_sql(con)
    if names:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _wlz_names AS {names}")
        # Only the words that are some child's forename or surname are kept, once per
        # cell, before the pairs are looked for: joining every word of a cell with every
        # other word of it grows with the square of its length (evidence JSON has hundreds).
        # A cell is not split by the regex itself (millions of words, most of the scan's
        # time): it is cut at its spaces and double quotes, both separators, without one,
        # and only the distinct pieces (a few thousand: the same JSON keys, rules and
        # dates recur in every cell) are split into words. A cell's words are its pieces'
        # words, but for the empty word: regexp_split_to_array gives it when the text
        # starts or ends with a separator, so that is asked of the cell itself (a name
        # word only when a forename starts, or a surname ends, with a separator). A cell
        # without a separator is one word, so it is not asked; one with no space but
        # another separator ("Chloé_Okafor.xlsx") is a single piece that splits into words.
        report(
            """WITH cells AS (
                   SELECT rowid AS id, tbl, col, v FROM _wlz_cells
                   WHERE NOT allowed AND regexp_matches(v, $4)),
               name_words AS (
                   SELECT forename AS w FROM _wlz_names UNION SELECT surname FROM _wlz_names),
               pieces AS MATERIALIZED (
                   SELECT id, unnest(string_split(replace(v, '"', ' '), ' ')) AS piece
                   FROM cells),
               piece_words AS (
                   SELECT piece, w
                   FROM (SELECT piece, unnest(regexp_split_to_array(piece, $1)) AS w
                         FROM (SELECT DISTINCT piece FROM pieces))
                   WHERE w <> '' AND w IN (SELECT w FROM name_words)),
               words AS (
                   SELECT DISTINCT id, w FROM (
                       SELECT p.id, x.w FROM pieces AS p JOIN piece_words AS x USING (piece)
                       UNION ALL
                       SELECT id, '' FROM cells
                       WHERE '' IN (SELECT w FROM name_words)
                         AND (regexp_matches(v, $2) OR regexp_matches(v, $3)))),
               hits AS (
                   SELECT DISTINCT a.id FROM words AS a
                   JOIN _wlz_names AS n ON a.w = n.surname
                   JOIN words AS b ON b.id = a.id AND b.w = n.forename)
               SELECT c.tbl, c.col, count(*) FROM hits JOIN cells AS c USING (id)
               GROUP BY ALL ORDER BY ALL""",
            "containing a child's full name",
            [_WORD_SPLIT, f"^{_WORD_SEPARATOR}", f"{_WORD_SEPARATOR}$", _WORD_SEPARATOR],
        )
    # One pass finds the cells of any of the shapes (a cell matches one of the patterns
    # exactly when it matches their alternation); each is then counted on those alone
    # (none, in a publication that goes out), not with a pass of its own over every cell.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _wlz_shaped AS
           SELECT tbl, col, v FROM _wlz_cells WHERE regexp_matches(v, ?)""",
        ["|".join(f"(?:{p})" for p in _TOKEN_PATTERNS.values())],
    )
    for what, pattern in _TOKEN_PATTERNS.items():
        report(
            """SELECT tbl, col, count(*) FROM _wlz_shaped WHERE regexp_matches(v, ?)
               GROUP BY ALL ORDER BY ALL""",
            f"containing {what}",
            [pattern],
        )
    return findings


# -- meta tables -----------------------------------------------------------------------------
def _build_data_quality(
    con: duckdb.DuckDBPyConnection, published_at: datetime, built_at: dict[str, datetime]
) -> None:
    from wlz_pipeline.models import discover

    con.execute(
        """CREATE TABLE pub.bi.data_quality (file VARCHAR, source VARCHAR, "check" VARCHAR,
           severity VARCHAR, passed BOOLEAN, failing_rows BIGINT, checked_at TIMESTAMP)"""
    )
    if not _exists(con, "meta.file_registry"):
        return
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _wlz_files AS
           SELECT file_hash, arg_min(path, arrived_at::VARCHAR || path) AS path,
                  arg_min(source, arrived_at::VARCHAR || path) AS source,
                  min(arrived_at) AS arrived_at,
                  bool_or(status = 'quarantined') AS quarantined
           FROM wh.meta.file_registry WHERE status <> 'duplicate' GROUP BY file_hash"""
    )
    con.execute(
        """INSERT INTO pub.bi.data_quality
           SELECT path, source, 'file_readable', 'error', NOT quarantined, NULL, arrived_at
           FROM _wlz_files"""
    )
    if _exists(con, "meta.file_findings"):
        con.execute(
            """INSERT INTO pub.bi.data_quality
               SELECT f.path, f.source, 'file_findings', x.severity, FALSE, count(*),
                      f.arrived_at
               FROM wh.meta.file_findings AS x JOIN _wlz_files AS f USING (file_hash)
               WHERE x.severity IN ('error', 'warn')
               GROUP BY ALL"""
        )
    rules, feeds = [], []
    for model in discover("staging"):
        table_rules = model.rules().rules
        if not table_rules:
            continue
        for r in table_rules:
            rules.append((model.table, r.name, r.severity, built_at.get(model.table, published_at)))
        if _exists(con, model.table):
            cols = {c for c, _ in describe_query(con, f"wh.{model.table}")}
            if "_file_hash" in cols:
                feeds.append(
                    f"SELECT DISTINCT {_sql_literal(model.table)} AS table_name, _file_hash "
                    f"AS file_hash FROM wh.{model.table}"
                )
    if not rules or not _exists(con, "meta.quarantine"):
        return
    # a temp table, not a registered Arrow table: building one imports pandas (seconds)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _wlz_rules (table_name VARCHAR, rule VARCHAR,
           severity VARCHAR, checked_at TIMESTAMP)"""
    )
    _insert_rows(con, "_wlz_rules", [(*r[:3], _naive_utc(r[3])) for r in rules], 4)
    feeds.append("SELECT DISTINCT table_name, file_hash FROM wh.meta.quarantine")
    con.execute(
        f"""INSERT INTO pub.bi.data_quality
            WITH feeds AS ({" UNION ".join(feeds)}),
            fails AS (SELECT table_name, file_hash, rule, count(*) AS n
                      FROM wh.meta.quarantine GROUP BY ALL)
            SELECT f.path, f.source,
                   regexp_replace(r.table_name, '^staging\\.', '') || ': ' || r.rule,
                   r.severity, coalesce(x.n, 0) = 0, coalesce(x.n, 0), r.checked_at
            FROM feeds AS d
            JOIN _wlz_rules AS r USING (table_name)
            JOIN _wlz_files AS f USING (file_hash)
            LEFT JOIN fails AS x USING (table_name, file_hash, rule)"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _wlz_dq AS
           SELECT * FROM pub.bi.data_quality ORDER BY file, "check", severity"""
    )
    con.execute("DELETE FROM pub.bi.data_quality")
    con.execute("INSERT INTO pub.bi.data_quality SELECT * FROM _wlz_dq")


def _naive_utc(value: datetime) -> datetime:
    """A TIMESTAMP value: an aware datetime in UTC without its zone (as Arrow stores it)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple], width: int) -> None:
    """Insert rows in one statement (``executemany`` runs one statement per row)."""
    if not rows:
        return
    columns = [[r[i] for r in rows] for i in range(width)]
    unnests = ", ".join(f"unnest(${i + 1})" for i in range(width))
    con.execute(f"INSERT INTO {table} SELECT {unnests}", columns)


def _build_check_results(con: duckdb.DuckDBPyConnection, checks: list[CheckResult] | None) -> None:
    con.execute(
        """CREATE TABLE pub.bi.check_results (asset VARCHAR, check_name VARCHAR,
           severity VARCHAR, passed BOOLEAN, failing_rows BIGINT, evaluated_at TIMESTAMP,
           run_id VARCHAR)"""
    )
    if checks:
        rows = sorted(checks, key=lambda c: (c.asset, c.check_name))
        _insert_rows(
            con,
            "pub.bi.check_results",
            [
                (
                    c.asset,
                    c.check_name,
                    c.severity,
                    c.passed,
                    c.failing_rows,
                    c.evaluated_at,
                    c.run_id,
                )
                for c in rows
            ],
            7,
        )


def _build_dictionary(
    con: duckdb.DuckDBPyConnection,
    cfg: PublicationConfig,
    built: list[_Built],
    threshold: int,
) -> list[str]:
    """bi.data_dictionary; returns the published columns that have no description."""
    con.execute(
        """CREATE TABLE pub.bi.data_dictionary (table_name VARCHAR, table_description VARCHAR,
           column_name VARCHAR, type VARCHAR, description VARCHAR)"""
    )
    docs = [(b.name, b.doc_layer, b.doc_table, b) for b in built]
    docs += [(m, "bi", m, None) for m in META_TABLES]
    rows, missing = [], []
    for name, layer, table, b in docs:
        table_description, columns = table_doc(layer, table)
        if b is not None and b.leaves:
            table_description = (
                f"{table_description} Leaves the organisation: counts of children below "
                f"{threshold} are suppressed (see suppressed)."
            ).strip()
        for column, dtype in describe_query(con, f"pub.bi.{quote_ident(name)}"):
            text = (
                cfg.standard_columns.get(column)
                if (
                    column in ("suppressed", "suppressed_columns")
                    or (b and column in b.key_columns)
                )
                else columns.get(column)
            )
            if text and b is not None and column in b.suppressed:
                text = f"{text} NULL when suppressed (see suppressed)."
            if not text:
                missing.append(f"{name}.{column}")
            rows.append((name, table_description or None, column, dtype, text or None))
    _insert_rows(con, "pub.bi.data_dictionary", rows, 5)
    return missing


# -- the whole publication -------------------------------------------------------------------
@contextlib.contextmanager
def _attached(
    warehouse_file: Path, tmp: Path, storage_version: str
) -> Iterator[duckdb.DuckDBPyConnection]:
    from wlz_pipeline.warehouse import duckdb_config, release, temp_directory

    release(warehouse_file)  # attached read-only below: not also held open read-write
    con = duckdb.connect(":memory:", config=duckdb_config())
    try:
        con.execute("SET temp_directory = ?", [temp_directory(warehouse_file)])
        try:
            con.execute("ATTACH ? AS wh (READ_ONLY)", [str(warehouse_file)])
        except duckdb.IOException as exc:
            raise PublicationError(
                f"cannot open the warehouse {warehouse_file} read-only ({exc}); is a run "
                "writing it? Nothing was published."
            ) from exc
        if not re.fullmatch(r"v[0-9]+\.[0-9]+\.[0-9]+", storage_version):
            raise PublicationError(f"output.storage_version {storage_version!r} is not vX.Y.Z")
        con.execute(f"ATTACH ? AS pub (STORAGE_VERSION '{storage_version}')", [str(tmp)])
        con.execute("USE wh")
        yield con
    finally:
        con.close()


def _as_of(con: duckdb.DuckDBPyConnection) -> tuple[date | None, int]:
    if not _exists(con, "meta.file_registry"):
        return None, 0
    return con.execute(
        """SELECT max(as_of), count(*) FROM wh.meta.file_registry WHERE status = 'ingested'"""
    ).fetchall()[0]


def publish(
    warehouse_file: str | Path,
    *,
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    run_id: str | None = None,
    demo_key: bool = False,
    checks: list[CheckResult] | None = None,
    built_at: dict[str, datetime] | None = None,
    now: datetime | None = None,
) -> PublicationReport:
    """Build a new publication from the restricted warehouse and swap it in atomically.

    ``checks``: the latest evaluation of each asset check on the inputs (from Dagster), for
    ``bi.publication`` and ``bi.check_results``; ``None`` outside Dagster. ``built_at``:
    when each staging table was last built (``checked_at`` of its row rules). Raises
    ``PublicationError`` (the previous publication is then unchanged)."""
    cfg = load_config()
    key = resolve_key(data_dir, demo=demo_key)  # no key, no publication: before any write
    warehouse_file = Path(warehouse_file).resolve()
    if not warehouse_file.is_file():
        raise PublicationError(f"no warehouse at {warehouse_file}: run the pipeline first")
    target = publication_path(warehouse_file, out)
    target.parent.mkdir(parents=True, exist_ok=True)
    run_id = run_id or f"manual-{uuid.uuid4().hex[:12]}"
    published_at = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None, microsecond=0)
    link, versions = parquet_link(target), parquet_versions(target)
    version = (
        f"{published_at:%Y%m%dT%H%M%S}-{re.sub(r'[^A-Za-z0-9]', '', run_id)[:12]}-"
        f"{uuid.uuid4().hex[:6]}"
    )
    report = PublicationReport(
        path=target,
        parquet_dir=link if cfg.output.parquet else None,
        run_id=run_id,
        published_at=published_at,
        as_of_date=None,
        key_source=key.source,
        key_id=key.key_id,
    )
    with _exclusive(target):
        _remove_leftovers(target)
        tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
        part = versions / f".{version}.part"
        final_version = versions / version
        swapped = False
        try:
            with _attached(warehouse_file, tmp, cfg.output.storage_version) as con:
                _build_all(con, cfg, key, report, checks, built_at or {}, published_at)
                if cfg.output.parquet:
                    part.mkdir(parents=True, exist_ok=True)
                    _export_parquet(con, [*report.tables], part)
                con.execute("USE memory")
                con.execute("DETACH pub")
            if Path(f"{tmp}.wal").exists():
                raise PublicationError("the new publication was not checkpointed (WAL left)")
            _fsync_path(tmp)
            if cfg.output.parquet:
                for f in part.iterdir():
                    _fsync_path(f)
                _fsync_path(part)
                part.rename(final_version)
                _fsync_path(versions)
                new_link = link.with_name(link.name + ".tmp-link")
                new_link.unlink(missing_ok=True)
                os.symlink(Path(versions.name) / version, new_link)
                if link.exists() and not link.is_symlink():
                    raise PublicationError(
                        f"{link} is a folder, not the symlink this publisher maintains: "
                        "move it away once"
                    )
                os.replace(new_link, link)
            os.replace(tmp, target)
            swapped = True
            _fsync_path(target.parent)
        except BaseException:
            if not swapped:
                tmp.unlink(missing_ok=True)
                Path(f"{tmp}.wal").unlink(missing_ok=True)
                shutil.rmtree(part, ignore_errors=True)
                if final_version.exists() and not (
                    link.is_symlink() and os.readlink(link).endswith(version)
                ):
                    shutil.rmtree(final_version, ignore_errors=True)
            raise
        if cfg.output.parquet:
            _prune_versions(versions, version, cfg.output.parquet_versions_kept)
    log.info("published %s (%d tables) for run %s", target, len(report.tables), run_id)
    return report


def _export_parquet(con: duckdb.DuckDBPyConnection, tables: list[str], folder: Path) -> None:
    """One zstd Parquet file per table in ``folder``, several tables at a time, the largest
    first (``_concurrently``): DuckDB writes a Parquet file on about one core (at zone scale
    bi.risk_profile takes the same time with 1, 2 or 4 threads). Each file is
    byte-identical to one exported alone."""
    sizes = dict(
        con.execute(
            """SELECT table_name, estimated_size * column_count FROM duckdb_tables()
               WHERE database_name = 'pub' AND schema_name = 'bi'"""
        ).fetchall()
    )
    _concurrently(
        con,
        [
            f"COPY pub.bi.{quote_ident(t)} TO {_sql_literal(str(folder / f'{t}.parquet'))} "
            "(FORMAT parquet, COMPRESSION zstd)"
            for t in sorted(tables, key=lambda t: -sizes.get(t, 0))
        ],
    )


def _concurrently(con: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
    """Run independent statements, each on its own cursor of ``con`` (a connection to the
    same database, default catalog ``wh``; each statement its own transaction), as many at
    a time as DuckDB has threads, in the order given.

    Writing a table, to the publication or to Parquet, keeps about one core busy whatever
    DuckDB's threads (compressing its columns); two at once use the 2-core machine's
    second core (at zone scale the tables are created in 5 s instead of 7, the Parquet
    files written in 1.3 s instead of 1.7). The first failure is raised once the running
    statements have stopped; queued ones do not start."""
    threads = int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])
    failed = threading.Event()

    def run(cur: duckdb.DuckDBPyConnection, sql: str) -> None:
        try:
            if failed.is_set():  # a worker takes the next statement before it is cancelled
                return
            cur.execute("USE wh")
            cur.execute(sql)
        except BaseException:
            failed.set()
            raise
        finally:
            cur.close()

    # the cursors are made here, one per statement: only this thread touches ``con``
    cursors = [con.cursor() for _ in statements]
    futures: list[Future[None]] = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(statements)))) as pool:
            futures = [pool.submit(run, c, sql) for c, sql in zip(cursors, statements, strict=True)]
            _, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for f in pending:
                f.cancel()
    finally:
        for c in cursors:
            c.close()  # those of cancelled statements (closing twice is harmless)
    for f in futures:
        if not f.cancelled():
            f.result()


def _prune_versions(versions: Path, current: str, keep: int) -> None:
    names = sorted(
        (p.name for p in versions.iterdir() if p.is_dir() and not p.name.startswith(".")),
        reverse=True,
    )
    kept = [current] + [n for n in names if n != current][: keep - 1]
    for n in names:
        if n not in kept:
            shutil.rmtree(versions / n, ignore_errors=True)


def _build_all(
    con: duckdb.DuckDBPyConnection,
    cfg: PublicationConfig,
    key: PseudonymKey,
    report: PublicationReport,
    checks: list[CheckResult] | None,
    built_at: dict[str, datetime],
    published_at: datetime,
) -> None:
    con.execute("CREATE SCHEMA pub.bi")
    keys = _Keys(con, key)
    planned: list[_Planned] = []
    try:
        for name, spec in cfg.tables.items():
            try:
                planned.append(_plan_table(con, name, spec, cfg, keys))
            except _Skip as why:
                if spec.contract:
                    report.skipped[name] = str(why)
                log.info("bi.%s not published: %s", name, why)
        # each table is created in a transaction of its own, several at a time: nothing
        # of the file is published before the swap, whatever state a failure leaves it in
        _concurrently(con, [p.sql for p in sorted(planned, key=lambda p: -p.weight)])
    finally:
        for p in planned:
            if p.scratch:
                con.execute(f"DROP TABLE IF EXISTS {p.scratch}")
    built = [p.built for p in planned]
    # the rest in one transaction: a commit per small table would write the file each time
    con.execute("BEGIN TRANSACTION")
    _build_data_quality(con, published_at, built_at)
    _build_check_results(con, checks)
    as_of, files = _as_of(con)
    report.as_of_date = as_of
    con.execute(
        """CREATE TABLE pub.bi.publication (run_id VARCHAR, published_at TIMESTAMP,
           as_of_date DATE, source_files BIGINT, checks_passed BIGINT, checks_failed BIGINT,
           tables_published VARCHAR, tables_skipped VARCHAR, suppression_threshold INTEGER,
           key_source VARCHAR, key_id VARCHAR)"""
    )
    names = [b.name for b in built] + list(META_TABLES)
    report.undescribed = _build_dictionary(con, cfg, built, cfg.suppression.threshold)
    con.execute(
        "INSERT INTO pub.bi.publication VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            report.run_id,
            published_at,
            as_of,
            files,
            None if checks is None else sum(c.passed for c in checks),
            None if checks is None else sum(not c.passed for c in checks),
            ", ".join(names),
            "; ".join(f"{n} ({why})" for n, why in report.skipped.items()) or None,
            cfg.suppression.threshold,
            key.source,
            key.key_id,
        ],
    )
    allowed = {b.name: set(cfg.tables[b.name].allow) for b in built}
    findings = privacy_scan(con, allowed)
    if findings:
        raise PrivacyViolation(
            "the publication would hold restricted values, so nothing was published: "
            + "; ".join(findings)
        )
    for n in names:
        report.tables[n] = con.execute(f"SELECT count(*) FROM pub.bi.{quote_ident(n)}").fetchall()[
            0
        ][0]
    for b in built:
        if b.leaves:
            report.suppressed_rows[b.name] = con.execute(
                f"SELECT count(*) FROM pub.bi.{quote_ident(b.name)} WHERE suppressed"
            ).fetchall()[0][0]
    con.execute("COMMIT")
    if report.undescribed:
        log.warning(
            "%d published columns have no description (add them to the tables' .yml sidecars): %s",
            len(report.undescribed),
            ", ".join(report.undescribed[:10]) + (" ..." if len(report.undescribed) > 10 else ""),
        )


# -- re-identification (restricted: the data team only) ---------------------------------------
@dataclass(frozen=True)
class Identity:
    child_key: str
    wlz_id: str | None
    upn: str | None
    anchor_urn: str | None
    forename: str | None
    surname: str | None
    found_in: str


def reidentify(
    warehouse_file: str | Path,
    child_key: str,
    *,
    data_dir: str | Path | None = None,
    demo_key: bool = False,
) -> list[Identity]:
    """The restricted identity behind a ``child_key``, recomputed with the same key from the
    warehouse (the key is not stored anywhere; nothing maps keys to children on disk)."""
    key = resolve_key(data_dir, demo=demo_key)
    wanted = child_key.strip().lower()
    con = duckdb.connect(":memory:")
    try:
        con.execute("ATTACH ? AS wh (READ_ONLY)", [str(Path(warehouse_file).resolve())])
        con.execute("USE wh")
        names: dict[str, tuple[str | None, str | None, str | None]] = {}
        if _exists(con, "staging.pupils"):
            for upn, anchor, fn, sn in con.execute(
                """SELECT upn, anchor_urn, forename, surname FROM wh.staging.pupils
                   WHERE upn IS NOT NULL ORDER BY extract_date DESC"""
            ).fetchall():
                names.setdefault(upn, (anchor, fn, sn))
        found: list[Identity] = []
        if wanted.startswith("s"):
            if _exists(con, "staging.pupils"):
                for upn, anchor, fn, sn in con.execute(
                    """SELECT DISTINCT upn, anchor_urn, forename, surname FROM wh.staging.pupils
                       WHERE upn IS NOT NULL"""
                ).fetchall():
                    if key.screened(anchor, upn) == wanted:
                        found.append(Identity(wanted, None, upn, anchor, fn, sn, "staging.pupils"))
            return _unique(found)
        sources = [
            (
                "staging.enrolments",
                "SELECT DISTINCT wlz_id, upn, anchor_urn FROM wh.staging.enrolments",
            ),
            (
                "staging.survey_responses",
                "SELECT DISTINCT wlz_id, upn, anchor_urn FROM wh.staging.survey_responses",
            ),
            (
                "staging.interactions",
                "SELECT DISTINCT wlz_id, NULL, NULL FROM wh.staging.interactions",
            ),
        ]
        for table, sql in sources:
            if not _exists(con, table):
                continue
            for wlz, upn, anchor in con.execute(sql).fetchall():
                if wlz and key.enrolled(wlz) == wanted:
                    a, fn, sn = names.get(upn or "", (anchor, None, None))
                    found.append(Identity(wanted, wlz, upn, anchor or a, fn, sn, table))
            if found:
                break
        return _unique(found)
    finally:
        con.close()


def _unique(items: list[Identity]) -> list[Identity]:
    seen, out = set(), []
    for i in items:
        k = (i.wlz_id, i.upn, i.anchor_urn)
        if k not in seen:
            seen.add(k)
            out.append(i)
    return out
