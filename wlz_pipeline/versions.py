"""Table versions: a table is rebuilt only when what it is built from has changed.

Every night the sensor or the schedule runs everything downstream of the landing
folders, but a new week of attendance marks changes nothing that is built from surveys,
the register or the reference files. Each table built from inputs it names (the SQL
models, whose inputs are parsed from their SQL, and the Python marts, which declare
theirs) records in ``meta.table_versions`` the fingerprint of those inputs; when the
fingerprint is the same on the next run, the table is left as it is and its asset
reports ``rebuilt: false``.

A fingerprint is a hash of

- the code and configuration version: every file under ``wlz_pipeline/``, ``sql/``,
  ``config/`` and ``expectations/`` (so any change of code, mapping, threshold or
  suite rebuilds everything);
- the version of each input: for a raw table, the files that hold its rows (hash,
  status, path, as-of date, arrival: a superseded or newly current file changes it);
  for a staging or mart table, the fingerprint it was last built with (a table without
  one, e.g. built by an asset that keeps no version, makes its readers always rebuild);
  for ``meta.current_files`` / ``meta.file_registry`` read beside raw tables, nothing
  more (the raw versions already say which files count), and read alone, the whole
  registry; the configuration tables of ``meta`` are the configuration version; any
  other table, its content;
- today's date, for SQL that reads the clock (``current_date``, ``now()``, ...).

What a reader sees as a staging or mart table's version is its **content version**
(``content_version``: the code version, the columns and their types, the row count and
the sum of a 64-bit hash of every row), recorded when the table is built; the
fingerprint of its inputs is what decides whether the table itself is rebuilt. So a
table that is rebuilt and comes out the same (a new week of marks that changes no
identification) leaves its readers as they were: they are not rebuilt, and their suites
are not run again (early cut-off). The hash sum is over rows, so it does not depend on
row order; a changed table keeps its sum by chance with a probability of about 2^-64.
Hashing the zone's 22.8 million marks takes about half a second.

A Python mart that reads only some rows of a table declares them (``PythonMart.rows``:
table -> condition); that input's version is then the version of those rows alone
(``rows_version``), so the comparison matching, which reads the autumn risk profiles,
is not rebuilt by a night whose new marks change only the summer ones.

A model declared local to a column (``-- partitioned by: upn``, wlz_pipeline/models.py)
can be rebuilt in part. Each table it reads that has the column records, per content
version, each value's row count and hash sum (``meta.table_parts``; the last
``PARTS_KEPT`` versions of each table). When only such inputs changed since the model
was built, ``changed_parts`` compares the digests of the versions it was built from with
today's, and only the values whose rows differ are rebuilt: a new week of one school's
marks rebuilds its pupils' attendance and risk factors, not the Zone's.

Versions live in ``meta.table_versions`` (warehouse.META_DDL). A version is written
in the same transaction as the table (SQL models), or removed
before and written after the build (Python marts), so a failed build never leaves a
stale version that would let its readers skip. ``WLZ_REBUILD_ALL=1`` (or the warehouse
resource's ``rebuild_all``) rebuilds regardless.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import TypeVar

import duckdb

from wlz_pipeline.config import REPO_ROOT

#: What the code and configuration version covers (relative to the repository).
CODE_DIRS = ("wlz_pipeline", "sql", "config", "expectations")

#: ``meta`` tables reloaded from config/ on every run (warehouse.load_config_tables):
#: their content is the configuration version.
CONFIG_TABLES = frozenset(
    {"meta.attendance_codes", "meta.value_map", "meta.survey_answer_map", "meta.survey_item_scale"}
)
REGISTRY_TABLES = frozenset({"meta.current_files", "meta.file_registry"})

#: Content versions of a table whose per-part digests are kept (``meta.table_parts``): a
#: reader built from an older version is rebuilt whole. 4 = a few nights on which a
#: reader failed or was left out of a run while its inputs kept changing.
PARTS_KEPT = 4
#: The part under which a table's rows with a NULL part column are digested.
NULL_PART = "\x00null"

_CLOCK = re.compile(
    r"\b(current_date|current_timestamp|now\s*\(|today\s*\(|get_current_\w+)", re.IGNORECASE
)

T = TypeVar("T")

#: The raw tables of the partner templates share one file kind.
_PARTNER_KIND = "partner_template"


@cache
def code_version() -> str:
    """A hash of every file that decides what the pipeline computes (read once per
    process: a deployment changes code by restarting)."""
    h = hashlib.sha256()
    for folder in CODE_DIRS:
        for path in sorted((REPO_ROOT / folder).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            h.update(path.relative_to(REPO_ROOT).as_posix().encode())
            h.update(b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def rebuild_all() -> bool:
    return os.environ.get("WLZ_REBUILD_ALL", "").strip().lower() in ("1", "true", "yes")


def raw_kind(table: str) -> str:
    """The file kind (``meta.file_registry.kinds``) whose files fill a raw table."""
    name = table.removeprefix("raw.")
    if name.startswith("partner_"):
        return _PARTNER_KIND
    return name.removeprefix("ref_")


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> str:
    (value,) = con.execute(sql, params or []).fetchone()
    return value or ""


def raw_files(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The files that hold a raw table's rows, one receipt line each (hash, status, path,
    as-of date, arrival): a new, superseded or again-current file changes the list."""
    return [
        r[0]
        for r in con.execute(
            """SELECT concat_ws('|', file_hash, status, path, as_of, arrived_at)
               FROM meta.file_registry WHERE list_contains(kinds, ?)
               ORDER BY file_hash, path""",
            [raw_kind(table)],
        ).fetchall()
    ]


def _digest(parts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def table_version(con: duckdb.DuckDBPyConnection, table: str, with_raw: bool) -> str | None:
    """The version of one input (module docstring); None when it has none."""
    schema = table.split(".")[0]
    if schema == "raw":
        return _digest(raw_files(con, table))
    if table in REGISTRY_TABLES:
        if with_raw:
            return "per raw table"
        return _one(
            con,
            """SELECT md5(string_agg(
                   concat_ws('|', receipt_id, status, as_of, arrived_at, superseded_by), ','
                   ORDER BY receipt_id))
               FROM meta.file_registry""",
        )
    if table in CONFIG_TABLES:
        return "config"
    if schema in ("staging", "marts", "bi"):
        # what it holds when that was recorded, else what it was built from
        row = con.execute(
            "SELECT coalesce(content, version) FROM meta.table_versions WHERE table_name = ?",
            [table],
        ).fetchone()
        return row[0] if row else None
    # anything else: its content (small tables only are read this way)
    return _one(
        con, f"SELECT md5(string_agg(t::VARCHAR, chr(10) ORDER BY t::VARCHAR)) FROM {table} t"
    )


@dataclass(frozen=True)
class Inputs:
    """What a build is made from: each input's version (``code`` and, for SQL reading
    the clock, ``today`` among them) and the file receipts of each raw input."""

    versions: dict[str, str]
    files: dict[str, list[str]]

    @property
    def fingerprint(self) -> str:
        return _digest(f"{k}={v}" for k, v in sorted(self.versions.items()))

    def to_json(self) -> str:
        return json.dumps({"versions": self.versions, "files": self.files}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Inputs:
        d = json.loads(text)
        return cls(versions=d["versions"], files=d["files"])

    def changed_since(self, before: Inputs) -> set[str]:
        """The inputs whose version differs from ``before`` (added or gone included)."""
        keys = set(self.versions) | set(before.versions)
        return {k for k in keys if self.versions.get(k) != before.versions.get(k)}

    def files_changed_since(self, before: Inputs, table: str) -> set[str]:
        """Hashes of the files of raw ``table`` that arrived, left or changed status."""
        diff = set(self.files.get(table, [])) ^ set(before.files.get(table, []))
        return {receipt.split("|", 1)[0] for receipt in diff}


def inputs(
    con: duckdb.DuckDBPyConnection,
    tables: Iterable[str],
    sql: str | None = None,
    rows: Mapping[str, str] | None = None,
) -> Inputs | None:
    """The inputs of a build from ``tables`` (and ``sql``, when it is SQL); None when one
    of them has no version, so the table must be rebuilt and records none. ``rows``:
    tables of which the build reads only the rows a condition keeps (``rows_version``)."""
    tables = sorted(set(tables))
    rows = rows or {}
    with_raw = any(t.startswith("raw.") for t in tables)
    found: dict[str, str] = {"code": code_version()}
    files: dict[str, list[str]] = {}
    for table in tables:
        if table.startswith("raw."):
            files[table] = raw_files(con, table)
            found[table] = _digest(files[table])
            continue
        v = table_version(con, table, with_raw)
        if v is None:
            return None
        if table in rows:
            v = rows_version(con, table, rows[table])
        found[table] = v
    if sql is not None and _CLOCK.search(sql):
        found["today"] = date.today().isoformat()
    return Inputs(found, files)


def fingerprint(
    con: duckdb.DuckDBPyConnection, tables: Iterable[str], sql: str | None = None
) -> str | None:
    """The fingerprint of a build from ``tables`` (``inputs``); None without a version."""
    found = inputs(con, tables, sql)
    return None if found is None else found.fingerprint


def previous(con: duckdb.DuckDBPyConnection, table: str) -> Inputs | None:
    """What ``table`` was last built from, if it recorded it."""
    row = con.execute(
        "SELECT inputs FROM meta.table_versions WHERE table_name = ?", [table]
    ).fetchone()
    return Inputs.from_json(row[0]) if row and row[0] else None


def current(con: duckdb.DuckDBPyConnection, table: str, version: str | None) -> bool:
    """True when ``table`` exists and was last built with ``version`` (and rebuilding
    everything was not asked for)."""
    if version is None or rebuild_all():
        return False
    row = con.execute(
        """SELECT v.version FROM meta.table_versions v
           JOIN duckdb_tables() t ON t.schema_name || '.' || t.table_name = v.table_name
           WHERE v.table_name = ?""",
        [table],
    ).fetchone()
    return row is not None and row[0] == version


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    schema, name = table.split(".")
    return con.execute(
        """SELECT column_name, data_type FROM duckdb_columns()
           WHERE schema_name = ? AND table_name = ? ORDER BY column_index""",
        [schema, name],
    ).fetchall()


def _rows_digest(columns: list[tuple[str, str]], rows: int, hashed: str | None, *what: str) -> str:
    """Rows' version: the code version, the columns, the row count and hash sum."""
    return _digest([code_version(), json.dumps(columns), str(rows), hashed or "", *what])


def rows_version(con: duckdb.DuckDBPyConnection, table: str, where: str) -> str:
    """The version of the rows of ``table`` that the condition ``where`` keeps, as
    ``content_version`` is of all of them: a build that reads only those rows (e.g. the
    comparison matching, autumn risk profiles only) is not rebuilt when the table
    changed elsewhere. One filtered scan of the table: on the zone's incremental night
    the balance's two (5.7 million risk factors among them) and its skip took 0.27 s."""
    ((rows, hashed),) = con.execute(
        f"SELECT count(*), sum(hash(t))::VARCHAR FROM {table} t WHERE {where}"
    ).fetchall()
    return _rows_digest(_columns(con, table), rows, hashed, "rows", where)


def content_version(
    con: duckdb.DuckDBPyConnection, table: str, part_column: str | None = None
) -> str:
    """The version of what ``table`` holds (module docstring): equal for two builds
    with the same columns and rows, in any order, under the same code. With a
    ``part_column`` the table has, each part's digest is kept in ``meta.table_parts``
    under that version too (the same scan: the version sums the parts' sums)."""
    columns = _columns(con, table)

    def digest(rows: int, hashed: str | None) -> str:
        return _rows_digest(columns, rows, hashed, "content")

    if part_column is None or part_column not in {c for c, _ in columns}:
        # fetchall: DuckDB keeps a half-read result open on the connection
        ((rows, hashed),) = con.execute(
            f"SELECT count(*), sum(hash(t))::VARCHAR FROM {table} t"
        ).fetchall()
        return digest(rows, hashed)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _wlz_table_parts AS
            SELECT coalesce({part_column}::VARCHAR, ?) AS part, count(*) AS n,
                   sum(hash(t)) AS h
            FROM {table} t GROUP BY 1""",
        [NULL_PART],
    )
    ((rows, hashed),) = con.execute(
        "SELECT coalesce(sum(n), 0), sum(h)::VARCHAR FROM _wlz_table_parts"
    ).fetchall()
    content = digest(rows, hashed)
    con.execute(
        "DELETE FROM meta.table_parts WHERE table_name = ? AND content = ?", [table, content]
    )
    con.execute(
        """INSERT INTO meta.table_parts
           SELECT ?, ?, ?, now()::TIMESTAMP, part, n::VARCHAR || ':' || h::VARCHAR
           FROM _wlz_table_parts""",
        [table, content, part_column],
    )
    con.execute("DROP TABLE _wlz_table_parts")
    con.execute(
        """DELETE FROM meta.table_parts WHERE table_name = ? AND content NOT IN (
               SELECT content FROM meta.table_parts WHERE table_name = ?
               GROUP BY content ORDER BY max(recorded_at) DESC LIMIT ?)""",
        [table, table, PARTS_KEPT],
    )
    return content


def changed_parts(
    con: duckdb.DuckDBPyConnection, before: Inputs, now: Inputs, part_column: str
) -> set[str] | None:
    """The values of ``part_column`` whose rows differ, in some input that changed,
    between what a build was made from (``before``) and ``now``; None when that cannot
    be told: an input changed that kept no digests by that column for both versions (the
    code, a table without the column, a version older than ``PARTS_KEPT``), or rows with
    a NULL part changed. Then the build must be whole."""
    found: set[str] = set()
    for table in sorted(now.changed_since(before)):
        old, new = before.versions.get(table), now.versions.get(table)
        kept = con.execute(
            """SELECT count(DISTINCT content) FROM meta.table_parts
               WHERE table_name = ? AND part_column = ? AND content IN (?, ?)""",
            [table, part_column, old, new],
        ).fetchone()[0]
        if old is None or new is None or kept != 2:
            return None
        found |= {
            r[0]
            for r in con.execute(
                """SELECT coalesce(o.part, n.part) FROM
                       (SELECT part, digest FROM meta.table_parts
                        WHERE table_name = ? AND content = ?) AS o
                   FULL JOIN
                       (SELECT part, digest FROM meta.table_parts
                        WHERE table_name = ? AND content = ?) AS n
                   ON o.part = n.part
                   WHERE o.digest IS DISTINCT FROM n.digest""",
                [table, old, table, new],
            ).fetchall()
        }
    if NULL_PART in found:
        return None
    return found


def content_of(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The content version recorded for ``table`` (None: none recorded)."""
    row = con.execute(
        "SELECT content FROM meta.table_versions WHERE table_name = ?", [table]
    ).fetchone()
    return row[0] if row else None


def forget(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Remove a table's version (before a build that cannot record it atomically)."""
    con.execute("DELETE FROM meta.table_versions WHERE table_name = ?", [table])


def record(
    con: duckdb.DuckDBPyConnection,
    table: str,
    version: str | None,
    built_from: Inputs | None = None,
    part_column: str | None = None,
) -> str | None:
    """Store the version a table was just built with (none: it has no version), what it
    was built from when given (for an incremental build next time), and the version of
    what it now holds, which it returns (None without a version: nothing is recorded);
    with ``part_column``, its per-part digests too (``content_version``)."""
    forget(con, table)
    if version is None:
        return None
    content = content_version(con, table, part_column)
    con.execute(
        "INSERT INTO meta.table_versions (table_name, version, built_at, inputs, content) "
        "VALUES (?, ?, now()::TIMESTAMP, ?, ?)",
        [table, version, None if built_from is None else built_from.to_json(), content],
    )
    return content


def build_versioned(
    con: duckdb.DuckDBPyConnection,
    table: str,
    tables: Iterable[str],
    build: Callable[[duckdb.DuckDBPyConnection], T],
    force: bool = False,
    extra: dict[str, str] | None = None,
    part_column: str | None = None,
    rows: Mapping[str, str] | None = None,
) -> tuple[T | None, bool, bool]:
    """Build ``table`` with ``build(con)`` (a Python-computed table that reads ``tables``,
    of some only the ``rows`` a condition keeps, and ``extra``: versions of inputs
    outside the warehouse) unless it was last built from the same; returns ``build``'s
    result (None when skipped), whether it was built and whether its content changed.
    Its version is removed before the build and recorded after, so a failed build
    leaves none (its readers then rebuild)."""
    found = inputs(con, tables, rows=rows)
    if found is not None and extra:
        found = Inputs({**found.versions, **extra}, found.files)
    version = None if found is None else found.fingerprint
    if not force and current(con, table, version):
        return None, False, False
    before = content_of(con, table)
    forget(con, table)
    result = build(con)
    content = record(con, table, version, part_column=part_column)
    return result, True, content is None or content != before
