"""The SQL model runner: one ``.sql`` file per table under ``sql/<layer>/``; the file
name is the table name. A model is a single SELECT (rendered with Jinja for lists that
come from config, e.g. survey items, always as quoted identifiers).

Row rules (``expectations/rules/<table>.yaml``) keep bad rows out: each rule is a SQL
condition that must hold for a row; an ``error`` rule quarantines the row (file, row,
column, value, rule, message in ``meta.quarantine``) and the good rows of the same file
go through; a ``warn`` rule records the finding and keeps the row. In a condition, the
row under test is ``t`` (for correlated subqueries, e.g. ``t.term``). Columns named
``<col>__raw`` carry the text as received, for quarantine messages; they are dropped from
the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import jinja2
import sqlglot
from pydantic import BaseModel, ConfigDict, Field

from wlz_pipeline import versions
from wlz_pipeline.config import REPO_ROOT, load_yaml
from wlz_pipeline.warehouse import table_exists, transaction

SQL_DIR = REPO_ROOT / "sql"
RULES_DIR = REPO_ROOT / "expectations" / "rules"


class RowRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    column: str | None = None
    condition: str  # SQL boolean; TRUE when the row is fine
    value: str | None = None  # SQL expression shown as the offending value
    severity: str = Field("error", pattern="^(error|warn)$")
    message: str


class TableRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    #: A column that, with file and row, identifies a row (long tables such as answers).
    row_key: str | None = None
    rules: list[RowRule] = []


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _context() -> dict:
    from wlz_pipeline.marts.engagement_settings import sql_values as engagement
    from wlz_pipeline.sources.survey import item_columns

    # ``engagement()``: config/engagement.yaml as SQL literals, loaded only by the models
    # that call it (sql/marts/engagement_settings.sql)
    return {
        "survey_items": [quote_ident(c) for c in item_columns()],
        "q": quote_ident,
        "engagement": engagement,
    }


#: Temporary table of the partitions an incremental build recomputes.
PARTS = "_wlz_parts"

_INCREMENTAL = re.compile(r"^--\s*incremental:\s*(raw\.\w+)\.(\w+)\s*->\s*(\w+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Incremental:
    """A model that can rebuild some partitions only: ``-- incremental: raw.<table>.<column>
    -> <column>`` in its SQL says that its rows for one value of the raw column (e.g. an
    anchor's ``_anchor_urn``) come only from raw rows with that value, and carry it in the
    output column. Its SQL filters raw rows with ``{{ partition('r.<column>') }}``."""

    raw_table: str
    raw_column: str
    column: str


_PARTITIONED = re.compile(r"^--\s*partitioned by:\s*(\w+)\s*$", re.MULTILINE)


def filter_inputs(sql: str, tables: Iterable[str], column: str) -> str:
    """``sql`` with each reference to one of ``tables`` (``schema.table``) replaced by
    its rows whose ``column`` is one of the partitions in ``PARTS`` (the partitioned
    build of a model partitioned by ``column``); a name followed by ``.`` (a column
    qualified by the table's full name) is left alone."""
    names = sorted(set(tables), key=len, reverse=True)
    if not names:
        return sql
    pattern = re.compile(
        r"(?<![\w.\"])(" + "|".join(re.escape(t) for t in names) + r")(?![\w.\"])",
        re.IGNORECASE,
    )
    col = quote_ident(column)
    return pattern.sub(
        lambda m: f"(SELECT * FROM {m.group(1)} WHERE {col} IN (SELECT part FROM {PARTS}))", sql
    )


@dataclass(frozen=True)
class Model:
    layer: str
    name: str
    path: Path

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def incremental(self) -> Incremental | None:
        m = _INCREMENTAL.search(self.path.read_text(encoding="utf-8"))
        return None if m is None else Incremental(*m.groups())

    @property
    def partitioned_by(self) -> str | None:
        """The column a model is local to: ``-- partitioned by: upn`` in its SQL says that
        its rows for one pupil come only from that pupil's rows in every input that has
        the column (and from inputs without it, read whole), and carry it. When only such
        inputs changed, ``build_model`` rebuilds only the pupils whose rows in them
        changed (versions.changed_parts); tests/test_versions.py checks every model that
        says so against a whole build after a new week of marks."""
        m = _PARTITIONED.search(self.path.read_text(encoding="utf-8"))
        return None if m is None else m.group(1)

    def sql(self, partitioned: bool = False, filtered: Iterable[str] = ()) -> str:
        """The model's SELECT; ``partitioned``: only the partitions listed in ``PARTS``
        (an incremental model's raw rows; a model partitioned by a column, its
        ``filtered`` inputs)."""
        template = jinja2.Template(
            self.path.read_text(encoding="utf-8"), undefined=jinja2.StrictUndefined
        )

        def partition(column: str) -> str:
            return f"{column} IN (SELECT part FROM {PARTS})" if partitioned else "TRUE"

        sql = template.render(**_context(), partition=partition)
        if partitioned and self.partitioned_by:
            sql = filter_inputs(sql, filtered, self.partitioned_by)
        return sql

    def rules(self) -> TableRules:
        path = RULES_DIR / f"{self.name}.yaml"
        if self.layer != "staging" or not path.is_file():
            return TableRules()
        return TableRules.model_validate(load_yaml(path.name, base=RULES_DIR))

    def inputs(self) -> list[str]:
        """Tables the model reads (``schema.table``), parsed from its SQL."""
        return _inputs(self.sql())

    def reads(self) -> list[str]:
        """Tables the model's SQL and its row rules read."""
        found = set(self.inputs())
        for rule in self.rules().rules:
            found |= set(_inputs(f"SELECT 1 WHERE {rule.condition}"))
        return sorted(found)


@cache
def _inputs(sql: str) -> list[str]:
    tree = sqlglot.parse_one(sql, read="duckdb")
    # a CTE is named without a schema, so every schema-qualified name is a table, also
    # one named like a CTE (risk_factors' behaviour_coverage reads marts.behaviour_coverage)
    return sorted({f"{t.db}.{t.name}" for t in tree.find_all(sqlglot.exp.Table) if t.db})


def discover(layer: str) -> list[Model]:
    return [Model(layer, p.stem, p) for p in sorted((SQL_DIR / layer).glob("*.sql"))]


_RAW_SUFFIX = re.compile(r"__raw$")


def table_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    """A built table's rows, and its rows quarantined (errors) and flagged (warnings)."""
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    q = con.execute(
        "SELECT count(*) FILTER (severity = 'error'), count(*) FILTER (severity = 'warn') "
        "FROM meta.quarantine WHERE table_name = ?",
        [table],
    ).fetchone()
    return {"rows": rows, "quarantined": q[0], "warnings": q[1]}


@cache
def _condition(condition: str) -> sqlglot.exp.Where:
    """A row rule's condition, parsed once (every build of its table asks about it)."""
    return sqlglot.parse_one(f"SELECT 1 FROM t WHERE {condition}", read="duckdb").args["where"]


def rule_columns(condition: str) -> list[str] | None:
    """The columns a row rule's condition reads, when it reads nothing but columns of
    the row under test (no subquery, no other table); None otherwise."""
    where = _condition(condition)
    if where.find(sqlglot.exp.Select, sqlglot.exp.Subquery, sqlglot.exp.Star) is not None:
        return None
    if any(c.table not in ("", "t") for c in where.find_all(sqlglot.exp.Column)):
        return None
    return sorted({c.name for c in where.find_all(sqlglot.exp.Column)}) or None


def _costly(condition: str) -> bool:
    """Whether a condition calls a macro (``wlz_upn_valid``) or a regular expression:
    worth testing once per distinct value. Comparisons and NULL tests cost less per row
    than finding the distinct values."""
    return any(
        isinstance(f, sqlglot.exp.Anonymous) or type(f).__name__.startswith("Regexp")
        for f in _condition(condition).find_all(sqlglot.exp.Func)
    )


#: Temporary table of the distinct values a row rule is tested on (``_failing_rows``).
RULE_VALUES = "_wlz_rule_values"


def _failing_rows(
    con: duckdb.DuckDBPyConnection, cand: str, condition: str, cols: list[str]
) -> str:
    """``FROM`` clause of the rows of ``cand`` (as ``t``) that break ``condition``.

    A costly condition (``_costly``) of the row's own columns is evaluated once per
    distinct combination of them (kept in ``RULE_VALUES``), not once per row: the UPN
    check letter on the zone's 22.8 million marks takes under a tenth of a second on
    their 60,000 UPNs and about 17 s row by row. The values are tested in a statement
    of their own: in the same statement, even through a MATERIALIZED CTE, the optimiser
    pushes the condition below the DISTINCT, back onto every row. Rows are then matched
    on those columns, NULLs matching NULLs, so the same rows are found either way
    (tests/test_models.py)."""
    refs = rule_columns(condition)
    if refs is None or not set(refs) <= set(cols) or not _costly(condition):
        return f"{cand} AS t WHERE NOT coalesce(({condition}), FALSE)"
    r = ", ".join(quote_ident(c) for c in refs)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {RULE_VALUES} AS SELECT DISTINCT {r} FROM {cand}")
    con.execute(f"DELETE FROM {RULE_VALUES} AS t WHERE coalesce(({condition}), FALSE)")
    on = " AND ".join(f"t.{quote_ident(c)} IS NOT DISTINCT FROM b.{quote_ident(c)}" for c in refs)
    return f"{cand} AS t SEMI JOIN {RULE_VALUES} AS b ON {on}"


def _quarantine(
    con: duckdb.DuckDBPyConnection, model: Model, rules: TableRules, rows: str, cols: list[str]
) -> None:
    """Test every row rule on the table ``rows`` (columns ``cols``), each failing row
    recorded in ``meta.quarantine`` with the value as received (``<col>__raw``)."""
    for rule in rules.rules:
        column = rule.column
        if rule.value is not None:
            value = rule.value
        elif column and f"{column}__raw" in cols:
            value = quote_ident(f"{column}__raw")
        elif column and column in cols:
            value = quote_ident(column)
        else:
            value = "NULL"
        col_expr = quote_ident(rules.row_key) if rules.row_key else "?"
        params = [] if rules.row_key else [column]
        con.execute(
            f"""INSERT INTO meta.quarantine
                SELECT ?, _file_hash, _row_number, {col_expr}, CAST({value} AS VARCHAR),
                       ?, ?, ?
                FROM {_failing_rows(con, rows, rule.condition, cols)}""",
            [model.table, *params, rule.name, rule.severity, rule.message],
        )
    con.execute(f"DROP TABLE IF EXISTS {RULE_VALUES}")


def _quarantined(rules: TableRules) -> str:
    """The condition that the row ``c`` was quarantined by an error rule (one parameter:
    the table's name)."""
    key_match = f" AND q.column_name = c.{quote_ident(rules.row_key)}" if rules.row_key else ""
    return f"""EXISTS (
                SELECT 1 FROM meta.quarantine q
                WHERE q.table_name = ? AND q.severity = 'error'
                  AND q.file_hash = c._file_hash AND q.row_number = c._row_number
                  {key_match})"""


def _order(cols: list[str], keep: list[str], part_column: str | None) -> str:
    """How a built table's rows are stored: sorted (file and row, else every kept
    column), so a table built twice from the same inputs is the same file for file;
    except a partitioned (incremental, or partitioned by a column) model's, which
    rebuilding a partition appends at the end anyway: its readers never rely on order,
    and sorting cost ~5 s on the zone's 22.8 million marks and ~4 s on its 5.7 million
    risk factors."""
    if part_column is not None:
        return ""
    if "_row_number" in cols:
        return "ORDER BY _file_hash, _row_number"
    return "ORDER BY " + ", ".join(quote_ident(c) for c in keep)


def _finish(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    version: str | None,
    built_from: versions.Inputs | None,
    before: str | None,
) -> dict[str, int]:
    """Record the version of the table just built; its counts, and whether its content
    changed from ``before`` (the content recorded before the build)."""
    content = versions.record(
        con, model.table, version, built_from, part_column=read_partitioned().get(model.table)
    )
    counts = table_counts(con, model.table)
    # False: rebuilt and the same as before, so its readers need not be (versions.py)
    counts["content_changed"] = content is None or content != before
    return counts


def run_model(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    version: str | None = None,
    built_from: versions.Inputs | None = None,
    partitions: list[str] | None = None,
) -> dict[str, int]:
    """Build one table, recording ``version`` (and ``built_from``) as what it was built
    from (wlz_pipeline/versions.py; None: no version); returns row and quarantine
    counts, and whether the table's content changed (``content_changed``). With
    ``partitions`` (an incremental model's), only their rows and quarantine entries are
    rebuilt; every other row stays as it is.

    A build is one transaction, except a whole build of a table with row rules
    (``_build_in_place``), which is two, and leaves no version recorded between them."""
    rules = model.rules()
    inc = model.incremental
    local = model.partitioned_by
    if partitions is not None and inc is None and local is None:
        raise ValueError(f"{model.table} is not an incremental model")
    if local is not None and rules.rules:
        raise ValueError(f"{model.table}: a partitioned model cannot have row rules")
    part_column = inc.column if inc is not None else local
    before = versions.content_of(con, model.table)
    if partitions is None:
        sql = model.sql()
        cols = list(con.sql(sql).columns)  # bound, not run
        keep = [c for c in cols if not _RAW_SUFFIX.search(c)]
        order = _order(cols, keep, part_column)
        if rules.rules:
            return _build_in_place(con, model, rules, sql, version, built_from, before, cols, order)
        # Without row rules the table is written straight from its SQL
        with transaction(con):
            con.execute("DELETE FROM meta.quarantine WHERE table_name = ?", [model.table])
            select = ", ".join(quote_ident(c) for c in keep)
            con.execute(
                f"CREATE OR REPLACE TABLE {model.table} AS SELECT {select} FROM ({sql}) {order}"
            )
            return _finish(con, model, version, built_from, before)
    # a partition's rows: built aside, tested, then swapped for the partition's old rows
    cand = f"_cand_{model.name}"
    with transaction(con):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {PARTS} (part VARCHAR)")
        for part in partitions:
            con.execute(f"INSERT INTO {PARTS} VALUES (?)", [part])
        filtered = [] if local is None else tables_with_column(con, model.inputs(), local)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {cand} AS "
            f"{model.sql(partitioned=True, filtered=filtered)}"
        )
        if inc is not None:
            con.execute(
                f"""DELETE FROM meta.quarantine WHERE table_name = ? AND file_hash IN (
                        SELECT DISTINCT _file_hash FROM {inc.raw_table}
                        WHERE {quote_ident(inc.raw_column)} IN (SELECT part FROM {PARTS}))""",
                [model.table],
            )
        cols = [r[0] for r in con.execute(f"DESCRIBE {cand}").fetchall()]
        keep = [c for c in cols if not _RAW_SUFFIX.search(c)]
        _quarantine(con, model, rules, cand, cols)
        kept, params = "", []
        if rules.rules:
            kept, params = f"WHERE NOT {_quarantined(rules)}", [model.table]
        select = ", ".join(f"c.{quote_ident(c)}" for c in keep)
        con.execute(
            f"DELETE FROM {model.table} "
            f"WHERE {quote_ident(part_column)} IN (SELECT part FROM {PARTS})"
        )
        con.execute(
            f"INSERT INTO {model.table} BY NAME SELECT {select} FROM {cand} c {kept} "
            f"{_order(cols, keep, part_column)}",
            params,
        )
        con.execute(f"DROP TABLE {PARTS}")
        con.execute(f"DROP TABLE IF EXISTS {cand}")
        return _finish(con, model, version, built_from, before)


def _build_in_place(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    rules: TableRules,
    sql: str,
    version: str | None,
    built_from: versions.Inputs | None,
    before: str | None,
    cols: list[str],
    order: str,
) -> dict[str, int]:
    """A whole build of a table with row rules, written once: the rows are written as
    the table itself (with the ``__raw`` columns), the rules tested on it and the
    ``__raw`` columns dropped, in one transaction; the quarantined rows are deleted in a
    second, which records the version. Building the rows aside first and then copying
    the good ones cost one more write of every row: 8.7 of the 20 s the zone's 22.8
    million marks took (issue 9). A delete in the first transaction would cost as much
    again: DuckDB rewrites, at commit, rows written in a transaction that deleted some
    of them.

    Between the two transactions the table holds its quarantined rows, and no version
    is recorded for it, so if the second fails (the step fails with it) the next run
    builds the table again; no step reads a table before the step building it ends."""
    with transaction(con):
        con.execute("DELETE FROM meta.quarantine WHERE table_name = ?", [model.table])
        con.execute(f"CREATE OR REPLACE TABLE {model.table} AS SELECT * FROM ({sql}) {order}")
        _quarantine(con, model, rules, model.table, cols)
        for c in cols:
            if _RAW_SUFFIX.search(c):
                con.execute(f"ALTER TABLE {model.table} DROP COLUMN {quote_ident(c)}")
        versions.forget(con, model.table)
    with transaction(con):
        con.execute(f"DELETE FROM {model.table} AS c WHERE {_quarantined(rules)}", [model.table])
        return _finish(con, model, version, built_from, before)


def build_model(
    con: duckdb.DuckDBPyConnection, model: Model, force: bool = False
) -> tuple[dict[str, int], str]:
    """Build ``model`` as little as is needed (wlz_pipeline/versions.py): not at all when
    nothing it reads changed ("unchanged"); only the partitions whose raw files changed
    when that is all that changed and the model is incremental ("incremental: ..."); else
    whole ("full"). ``force`` (or WLZ_REBUILD_ALL) builds it whole. Returns the counts and
    how it was built."""
    local = model.partitioned_by
    built_from = versions.inputs(con, model.reads(), model.sql())
    version = None if built_from is None else built_from.fingerprint
    force = force or versions.rebuild_all()
    if not force and versions.current(con, model.table, version):
        return table_counts(con, model.table), "unchanged"
    if local is not None and not force and built_from is not None:
        before = versions.previous(con, model.table)
        parts = None
        if before is not None and table_exists(con, model.table):
            parts = versions.changed_parts(con, before, built_from, local)
        if parts:  # empty: inputs changed but no part did (cannot be): build it whole
            counts = run_model(con, model, version, built_from, sorted(parts))
            return counts, f"partitioned: {len(parts)} {local} value(s)"
    inc = model.incremental
    before = versions.previous(con, model.table) if inc and not force else None
    if (
        inc is not None
        and before is not None
        and built_from is not None
        and table_exists(con, model.table)
        and built_from.changed_since(before) == {inc.raw_table}
    ):
        files = sorted(built_from.files_changed_since(before, inc.raw_table))
        parts = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT {quote_ident(inc.raw_column)} FROM {inc.raw_table} "
                "WHERE list_contains(?, _file_hash)",
                [files],
            ).fetchall()
        ]
        if None not in parts:
            counts = run_model(con, model, version, built_from, sorted(parts))
            return counts, f"incremental: {len(parts)} {inc.raw_column.strip('_')} value(s)"
    return run_model(con, model, version, built_from), "full"


@cache
def read_partitioned() -> dict[str, str]:
    """``{table: column}``: the staging and mart tables that a model partitioned by
    ``column`` reads, which therefore keep per-part digests (versions.content_version)."""
    found: dict[str, str] = {}
    for layer in ("staging", "marts"):
        for m in discover(layer):
            column = m.partitioned_by
            if column is None:
                continue
            for t in m.reads():
                if found.setdefault(t, column) != column:
                    raise ValueError(f"{t} is read by models partitioned by different columns")
    return found


def tables_with_column(
    con: duckdb.DuckDBPyConnection, tables: Iterable[str], column: str
) -> list[str]:
    """Those of ``tables`` (``schema.table``) that have ``column``."""
    return [
        r[0]
        for r in con.execute(
            """SELECT DISTINCT schema_name || '.' || table_name FROM duckdb_columns()
               WHERE column_name = ? AND list_contains(?, schema_name || '.' || table_name)
               ORDER BY 1""",
            [column, sorted(set(tables))],
        ).fetchall()
    ]


def dependency_order(
    keys: Iterable[str], reads: Callable[[str], Iterable[str]], what: str
) -> list[str]:
    """``keys`` sorted so that each comes after those of ``keys`` it reads (``reads(key)``,
    taken in that order, as ``keys`` are in theirs; anything else it reads is ignored).
    Raises ValueError naming the cycle when ``what`` (e.g. "SQL models") read each other.
    The one ordering of the SQL models, of the marts with the Python ones among them, and
    of a run's steps (bench.critical_path)."""
    keys = list(keys)
    known = set(keys)
    done: list[str] = []
    seen: set[str] = set()

    def visit(key: str, stack: tuple[str, ...] = ()) -> None:
        if key in seen:
            return
        if key in stack:
            raise ValueError(f"{what} depend on each other in a cycle: {stack + (key,)}")
        for t in reads(key):
            if t in known:
                visit(t, stack + (key,))
        seen.add(key)
        done.append(key)

    for key in keys:
        visit(key)
    return done


def dependents(keys: Iterable[str], reads: Callable[[str], Iterable[str]]) -> dict[str, set[str]]:
    """For each of ``keys``, those of ``keys`` that read it (``reads``, as in
    ``dependency_order``)."""
    keys = list(keys)
    after: dict[str, set[str]] = {k: set() for k in keys}
    for key in keys:
        for t in reads(key):
            if t in after:
                after[t].add(key)
    return after


def longest_chains(
    keys: Iterable[str], reads: Callable[[str], Iterable[str]], weight: Callable[[str], float]
) -> dict[str, float]:
    """For each of ``keys``, the total ``weight`` of the heaviest chain of keys that starts
    with it (itself included) and goes on through what reads it: the time, or the number
    of steps, left after a step starts. What a run starts first (executor.chain_lengths)
    and what the bench's schedule does (bench.side_by_side)."""
    keys = sorted(keys)
    after = dependents(keys, reads)
    tail: dict[str, float] = {}
    for key in reversed(dependency_order(keys, lambda k: sorted(reads(k)), "steps")):
        tail[key] = weight(key) + max((tail[c] for c in after[key]), default=0)
    return tail


def in_dependency_order(models: list[Model]) -> list[Model]:
    """Models sorted so each comes after the models (same layers) it reads."""
    by_table = {m.table: m for m in models}
    order = dependency_order((m.table for m in models), lambda t: by_table[t].reads(), "SQL models")
    return [by_table[t] for t in order]


def build_all(
    con: duckdb.DuckDBPyConnection, layers: tuple[str, ...] = ("staging", "marts")
) -> dict[str, dict[str, int]]:
    """Run every model of ``layers`` in dependency order (tests and offline checks; the
    scheduled pipeline runs the same models as Dagster assets)."""
    models = [m for layer in layers for m in discover(layer)]
    return {m.table: run_model(con, m) for m in in_dependency_order(models)}
