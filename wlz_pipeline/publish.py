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
   table leaves the organisation), then ``data_quality``, ``check_results``,
   ``data_dictionary`` and ``publication``. A privacy scan of every text column against
   the restricted identifiers must find nothing.
4. Export each table to ``<stem>_parquet.versions/.<version>.part/<table>.parquet``;
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
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
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
from wlz_pipeline.pseudonym import PseudonymKey, resolve_key

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


class _Keys:
    """child_key (and other key columns) for the identity tuples of a source."""

    def __init__(self, con: duckdb.DuckDBPyConnection, key: PseudonymKey) -> None:
        self.con = con
        self.key = key
        self.n = 0
        self.by_upn: dict[str, str] = {}
        # the same child is in many tables: its key is computed once per publication
        self._computed: dict[tuple[str | None, str | None, str | None], str | None] = {}
        if _exists(con, "staging.enrolments"):
            # a screened child who is in the register is keyed by their WLZ ID everywhere
            for wlz, upn in con.execute(
                """SELECT wlz_id, upn FROM wh.staging.enrolments
                   WHERE wlz_id IS NOT NULL AND upn IS NOT NULL ORDER BY wlz_id"""
            ).fetchall():
                self.by_upn.setdefault(upn.replace(" ", "").strip().upper(), wlz)

    def register(self, source_sql: str, ident: dict[str, str | None]) -> str:
        """Register a mapping view for the distinct identity tuples of ``source_sql``;
        returns its name (columns w, u, a, k)."""
        exprs = [
            f"CAST({quote_ident(ident[r])} AS VARCHAR)" if ident.get(r) else "NULL::VARCHAR"
            for r in ("wlz_id", "upn", "anchor_urn")
        ]
        rows = self.con.execute(
            f"SELECT DISTINCT {', '.join(exprs)} FROM ({source_sql}) AS s"
        ).fetchall()
        w, u, a, k = [], [], [], []
        for wlz, upn, anchor in rows:
            effective = wlz
            if not (wlz and wlz.strip()) and upn:
                effective = self.by_upn.get(upn.replace(" ", "").strip().upper())
            w.append(wlz)
            u.append(upn)
            a.append(anchor)
            ident = (effective, upn, anchor)
            if ident not in self._computed:
                self._computed[ident] = self.key.child_key(effective, upn, anchor)
            k.append(self._computed[ident])
        name = f"_wlz_keys_{self.n}"
        self.n += 1
        self.con.register(
            name,
            pa.table(
                {
                    "w": pa.array(w, pa.string()),
                    "u": pa.array(u, pa.string()),
                    "a": pa.array(a, pa.string()),
                    "k": pa.array(k, pa.string()),
                }
            ),
        )
        return name


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


def _build_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    spec: TableSpec,
    cfg: PublicationConfig,
    keys: _Keys,
) -> _Built:
    source, doc_layer, doc_table = _source_sql(con, name, spec)
    base = f"SELECT *, row_number() OVER () AS {ORDER_COLUMN} FROM ({source}) AS src"
    src_cols = [c for c, _ in describe_query(con, source)]
    key_specs = _key_specs(spec, src_cols)
    identity = {
        c for ident in key_specs.values() for r, c in ident.items() if c and r in ("wlz_id", "upn")
    }
    columns = _publishable(name, spec, src_cols, identity)

    joins, selects = [], []
    for i, (key_col, ident) in enumerate(key_specs.items()):
        view = keys.register(source, ident)
        alias = f"k{i}"
        conds = [
            f"{alias}.{r} IS NOT DISTINCT FROM "
            + (f"CAST(s.{quote_ident(ident[role])} AS VARCHAR)" if ident.get(role) else "NULL")
            for r, role in (("w", "wlz_id"), ("u", "upn"), ("a", "anchor_urn"))
        ]
        joins.append(f"LEFT JOIN {view} AS {alias} ON {' AND '.join(conds)}")
        selects.append(f"{alias}.k AS {quote_ident(key_col)}")
    for c in columns:
        if name == "dim_link_worker" and c == "name" and not cfg.link_worker_names:
            selects.append(f"s.lw_id AS {quote_ident(c)}")
        else:
            selects.append(f"s.{quote_ident(c)}")
    projected = (
        f"SELECT {', '.join(selects)}, s.{ORDER_COLUMN} FROM ({base}) AS s {' '.join(joins)}"
    )
    target = f"pub.bi.{quote_ident(name)}"
    suppressible: list[str] = []
    if spec.leaves_organisation:
        final, suppressible = _suppressed_select(con, name, spec, cfg, projected, list(key_specs))
    else:
        out_cols = ", ".join(quote_ident(c) for c in [*key_specs, *columns])
        final = f"SELECT {out_cols} FROM ({projected}) AS p ORDER BY {ORDER_COLUMN}"
    con.execute(f"CREATE TABLE {target} AS {final}")
    return _Built(
        name, doc_layer, doc_table, list(key_specs), suppressible, spec.leaves_organisation
    )


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


_WORD_SPLIT = r"[^\pL\pN'’-]+"


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
    (staff and school names) skip the name comparisons, not the shape checks.

    The distinct cells of all text columns are gathered once (UNPIVOT), then checked with
    a handful of set-based queries, so the cost grows with the distinct text published,
    not with the number of columns."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _wlz_cells (tbl VARCHAR, col VARCHAR, v VARCHAR, "
        "allowed BOOLEAN)"
    )
    text_cols: dict[str, list[str]] = {}
    for table, column in con.execute(
        """SELECT table_name, column_name FROM duckdb_columns()
           WHERE database_name = 'pub' AND schema_name = 'bi' AND data_type = 'VARCHAR'
           ORDER BY table_name, column_index"""
    ).fetchall():
        text_cols.setdefault(table, []).append(column)
    for table, columns in text_cols.items():
        cols = ", ".join(quote_ident(c) for c in columns)
        ok = sorted(allowed.get(table, set()) & set(columns))
        con.execute(
            f"""INSERT INTO _wlz_cells
                SELECT DISTINCT ?, col, v, list_contains(?::VARCHAR[], col)
                FROM (UNPIVOT (SELECT {cols} FROM pub.bi.{quote_ident(table)})
                      ON COLUMNS(*) INTO NAME col VALUE v)
                WHERE v IS NOT NULL""",
            [table, ok],
        )
    findings: list[str] = []

    def report(sql: str, what: str, params: list | None = None) -> None:
        for tbl, col, n in con.execute(sql, params or []).fetchall():
            findings.append(f"bi.{tbl}.{col}: {n} values {what}")

    restricted = restricted_values_sql(con)
    if restricted:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _wlz_restricted AS {restricted}")
        report(
            """SELECT tbl, col, count(*) FROM _wlz_cells
               WHERE NOT allowed AND trim(v) IN (SELECT v FROM _wlz_restricted)
               GROUP BY ALL ORDER BY ALL""",
            "equal to restricted values (names, UPNs, dates of birth, postcodes, notes)",
        )
    names = restricted_names_sql(con)
    if names:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _wlz_names AS {names}")
        # Only the words that are some child's forename or surname are kept, once per
        # cell, before the pairs are looked for: joining every word of a cell with every
        # other word of it grows with the square of its length (evidence JSON has hundreds).
        report(
            """WITH cells AS (
                   SELECT rowid AS id, tbl, col, v FROM _wlz_cells
                   WHERE NOT allowed AND contains(v, ' ')),
               words AS (
                   SELECT DISTINCT id, w
                   FROM (SELECT id, unnest(regexp_split_to_array(v, ?)) AS w FROM cells)
                   WHERE w IN (SELECT forename FROM _wlz_names
                               UNION ALL SELECT surname FROM _wlz_names)),
               hits AS (
                   SELECT DISTINCT a.id FROM words AS a
                   JOIN _wlz_names AS n ON a.w = n.surname
                   JOIN words AS b ON b.id = a.id AND b.w = n.forename)
               SELECT c.tbl, c.col, count(*) FROM hits JOIN cells AS c USING (id)
               GROUP BY ALL ORDER BY ALL""",
            "containing a child's full name",
            [_WORD_SPLIT],
        )
    for what, pattern in _TOKEN_PATTERNS.items():
        report(
            """SELECT tbl, col, count(*) FROM _wlz_cells WHERE regexp_matches(v, ?)
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
    con.register(
        "_wlz_rules",
        pa.table(
            {
                "table_name": [r[0] for r in rules],
                "rule": [r[1] for r in rules],
                "severity": [r[2] for r in rules],
                "checked_at": pa.array([r[3] for r in rules], pa.timestamp("us")),
            }
        ),
    )
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
    from wlz_pipeline.settings import load_settings
    from wlz_pipeline.warehouse import duckdb_config

    con = duckdb.connect(":memory:", config=duckdb_config())
    try:
        temp = load_settings().duckdb.temp_directory or str(warehouse_file.parent / "duckdb_tmp")
        con.execute("SET temp_directory = ?", [temp])
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
                # one transaction: a commit per table would write the new file many times
                con.execute("BEGIN TRANSACTION")
                _build_all(con, cfg, key, report, checks, built_at or {}, published_at)
                con.execute("COMMIT")
                if cfg.output.parquet:
                    part.mkdir(parents=True, exist_ok=True)
                    for table in [*report.tables]:
                        dest = part / f"{table}.parquet"
                        con.execute(
                            f"COPY pub.bi.{quote_ident(table)} TO {_sql_literal(str(dest))} "
                            "(FORMAT parquet, COMPRESSION zstd)"
                        )
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
    built: list[_Built] = []
    for name, spec in cfg.tables.items():
        try:
            built.append(_build_table(con, name, spec, cfg, keys))
        except _Skip as why:
            con.execute(f"DROP TABLE IF EXISTS pub.bi.{quote_ident(name)}")
            if spec.contract:
                report.skipped[name] = str(why)
            log.info("bi.%s not published: %s", name, why)
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
