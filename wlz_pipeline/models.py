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
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import jinja2
import sqlglot
from pydantic import BaseModel, ConfigDict, Field

from wlz_pipeline import versions
from wlz_pipeline.config import REPO_ROOT, load_yaml
from wlz_pipeline.warehouse import transaction

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


@dataclass(frozen=True)
class Model:
    layer: str
    name: str
    path: Path

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"

    def sql(self) -> str:
        template = jinja2.Template(
            self.path.read_text(encoding="utf-8"), undefined=jinja2.StrictUndefined
        )
        return template.render(**_context())

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
    ctes = {c.alias_or_name for c in tree.find_all(sqlglot.exp.CTE)}
    found = set()
    for t in tree.find_all(sqlglot.exp.Table):
        if t.db and t.name not in ctes:
            found.add(f"{t.db}.{t.name}")
    return sorted(found)


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


def run_model(
    con: duckdb.DuckDBPyConnection, model: Model, version: str | None = None
) -> dict[str, int]:
    """Build one table in one transaction, recording ``version`` as what it was built
    from (wlz_pipeline/versions.py; None: no version); returns row and quarantine
    counts."""
    rules = model.rules()
    cand = f"_cand_{model.name}"
    with transaction(con):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {cand} AS {model.sql()}")
        cols = [r[0] for r in con.execute(f"DESCRIBE {cand}").fetchall()]
        con.execute("DELETE FROM meta.quarantine WHERE table_name = ?", [model.table])
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
                    FROM {cand} AS t WHERE NOT coalesce(({rule.condition}), FALSE)""",
                [model.table, *params, rule.name, rule.severity, rule.message],
            )
        keep = [c for c in cols if not _RAW_SUFFIX.search(c)]
        key_match = f" AND q.column_name = c.{quote_ident(rules.row_key)}" if rules.row_key else ""
        select = ", ".join(f"c.{quote_ident(c)}" for c in keep)
        order = "c._file_hash, c._row_number" if "_row_number" in cols else "ALL"
        if rules.rules:
            con.execute(
                f"""CREATE OR REPLACE TABLE {model.table} AS
                    SELECT {select} FROM {cand} c
                    WHERE NOT EXISTS (
                        SELECT 1 FROM meta.quarantine q
                        WHERE q.table_name = ? AND q.severity = 'error'
                          AND q.file_hash = c._file_hash AND q.row_number = c._row_number
                          {key_match})
                    ORDER BY {order}""",
                [model.table],
            )
        else:
            con.execute(
                f"CREATE OR REPLACE TABLE {model.table} AS SELECT {select} FROM {cand} c "
                f"ORDER BY {order}"
            )
        con.execute(f"DROP TABLE {cand}")
        versions.record(con, model.table, version)
        counts = table_counts(con, model.table)
    return counts


def in_dependency_order(models: list[Model]) -> list[Model]:
    """Models sorted so each comes after the models (same layers) it reads."""
    by_table = {m.table: m for m in models}
    done: list[Model] = []
    seen: set[str] = set()

    def visit(m: Model, stack: tuple[str, ...] = ()) -> None:
        if m.table in seen:
            return
        if m.table in stack:
            raise ValueError(f"SQL models depend on each other in a cycle: {stack + (m.table,)}")
        for t in m.reads():
            if t in by_table:
                visit(by_table[t], stack + (m.table,))
        seen.add(m.table)
        done.append(m)

    for m in models:
        visit(m)
    return done


def build_all(
    con: duckdb.DuckDBPyConnection, layers: tuple[str, ...] = ("staging", "marts")
) -> dict[str, dict[str, int]]:
    """Run every model of ``layers`` in dependency order (tests and offline checks; the
    scheduled pipeline runs the same models as Dagster assets)."""
    models = [m for layer in layers for m in discover(layer)]
    return {m.table: run_model(con, m) for m in in_dependency_order(models)}
