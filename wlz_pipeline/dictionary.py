"""Table and column descriptions: the one source for the published data dictionary
(``bi.data_dictionary``) and for the column schemas Dagster shows on each asset.

Each SQL model ``sql/<layer>/<table>.sql`` may have a sidecar ``sql/<layer>/<table>.yml``::

    description: One row per child and wave ...
    columns:
      child_key: ...
      risk_count: number of true outcome factors

Tables the publisher builds itself (``bi.publication``, ``bi.data_dictionary``, the
dimensions) have their sidecars in ``sql/bi/``. Columns the publisher adds to every table
(``child_key``, ``suppressed`` ...) are described once, in ``config/publication.yaml``
(``standard_columns``).

Also here: the Dagster metadata helpers for marts (``asset_metadata``: row count, column
schema with descriptions, and a Markdown preview of aggregates that never shows an
identifier value).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from wlz_pipeline.config import REPO_ROOT
from wlz_pipeline.models import quote_ident

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

SQL_DIR = REPO_ROOT / "sql"

#: Column names that hold a direct identifier or case notes. Never published (whatever a
#: configuration says) and never shown as values in Dagster metadata.
SENSITIVE_COLUMN = re.compile(
    r"(^|_)(upn|wlz_id|forename|surname|first_name|last_name|full_name|name|postcode|"
    r"postcode_key|date_of_birth|dob|notes?|lsoa_code)($|_)",
    re.IGNORECASE,
)
#: Column names whose values are free text (a name or a value could hide in them):
#: previews show counts only.
FREE_TEXT_COLUMN = re.compile(
    r"(note|evidence|comment|reason|message|text|description|problem|answer|value)",
    re.IGNORECASE,
)


class TableDoc(BaseModel):
    """A sidecar file: the table's description and one description per column (other keys
    a sidecar may carry are ignored here)."""

    model_config = ConfigDict(extra="ignore")
    description: str = ""
    columns: dict[str, Any] = Field(default_factory=dict)


class DictionaryError(ValueError):
    """A sidecar file is not valid."""


def sidecar_path(layer: str, table: str) -> Path:
    return SQL_DIR / layer / f"{table}.yml"


@lru_cache(maxsize=256)
def _load(path: str, mtime_ns: int) -> TableDoc:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        doc = TableDoc.model_validate(raw)
        doc.columns = {str(k): "" if v is None else str(v) for k, v in (doc.columns or {}).items()}
    except (yaml.YAMLError, ValueError) as exc:
        raise DictionaryError(f"{path}: not a valid table description: {exc}") from exc
    return TableDoc(
        description=" ".join(doc.description.split()),
        columns={k: " ".join(str(v).split()) for k, v in doc.columns.items()},
    )


def load_doc(layer: str, table: str) -> TableDoc:
    path = sidecar_path(layer, table)
    if not path.is_file():
        return TableDoc()
    return _load(str(path), path.stat().st_mtime_ns)


def table_doc(layer: str, table: str) -> tuple[str, dict[str, str]]:
    """``(description, {column: description})`` from ``sql/<layer>/<table>.yml``; empty
    when the table has no sidecar yet."""
    doc = load_doc(layer, table)
    return doc.description, dict(doc.columns)


def _split(qualified: str) -> tuple[str, str]:
    schema, _, name = qualified.rpartition(".")
    return schema, name


def describe_query(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple[str, str]]:
    """``[(column, type)]`` of what ``query`` (a quoted table name or a subquery) returns."""
    return [(r[0], str(r[1])) for r in con.execute(f"DESCRIBE {query}").fetchall()]


def describe(con: duckdb.DuckDBPyConnection, qualified: str) -> list[tuple[str, str]]:
    """``[(column, type)]`` of a table (``schema.table``), in order."""
    return describe_query(con, _qualified_sql(qualified))


def _qualified_sql(qualified: str) -> str:
    return ".".join(quote_ident(p) for p in qualified.split("."))


def table_schema(con: duckdb.DuckDBPyConnection, layer: str, table: str):
    """A ``dagster.TableSchema`` of ``<layer>.<table>`` with each column's description
    from the sidecar (for the ``dagster/column_schema`` metadata key)."""
    import dagster as dg

    _, columns = table_doc(layer, table)
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=c, type=t, description=columns.get(c))
            for c, t in describe(con, f"{layer}.{table}")
        ]
    )


INTEGER_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)
NUMERIC_TYPES = (*INTEGER_TYPES, "FLOAT", "DOUBLE", "DECIMAL", "REAL")


def is_integer(t: str) -> bool:
    return t.upper() in INTEGER_TYPES


def is_numeric(t: str) -> bool:
    """Any DuckDB number type, ``DECIMAL(18,3)`` included."""
    return t.upper().split("(")[0] in NUMERIC_TYPES


def _is_temporal(t: str) -> bool:
    return t.upper().startswith(("DATE", "TIMESTAMP", "TIME"))


def _md_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_preview(
    con: duckdb.DuckDBPyConnection, table: str, max_columns: int = 40, max_values: int = 8
) -> str:
    """A small Markdown summary of ``table`` (``schema.table``) made of aggregates only.

    Per column: type, non-null and distinct counts; numbers get min / mean / max; dates
    min / max; low-cardinality codes (booleans, short categories) their value counts.
    Identifier and free-text columns (``SENSITIVE_COLUMN``, ``FREE_TEXT_COLUMN``, ids and
    keys) show counts only, so the preview never shows a name, UPN, date of birth,
    postcode or note (quality.md: Dagster metadata stays pseudonymous)."""
    q = _qualified_sql(table)
    all_cols = describe(con, table)
    cols = all_cols[:max_columns]
    aggs = ["count(*)"]
    for name, typ in cols:
        c = quote_ident(name)
        aggs += [f"count({c})", f"approx_count_distinct({c})"]
        if is_numeric(typ):
            aggs += [f"min({c})::DOUBLE", f"avg({c})::DOUBLE", f"max({c})::DOUBLE"]
        elif _is_temporal(typ):
            aggs += [f"min({c})::VARCHAR", "NULL", f"max({c})::VARCHAR"]
        else:
            aggs += ["NULL", "NULL", "NULL"]
    row = con.execute(f"SELECT {', '.join(aggs)} FROM {q}").fetchall()[0]
    total = row[0]
    n_cols = len(all_cols)
    lines = [
        f"**{total:,} rows**, {n_cols} columns",
        "",
        "| column | type | non-null | distinct | summary |",
        "|---|---|---|---|---|",
    ]
    for i, (name, typ) in enumerate(cols):
        non_null, distinct, lo, mean, hi = row[1 + 5 * i : 6 + 5 * i]
        c = quote_ident(name)
        summary = ""
        identifying = (
            SENSITIVE_COLUMN.search(name)
            or name.startswith("_")
            or name.endswith(("_id", "_key", "_hash", "urn"))
            or name in ("id", "key")
        )
        if identifying or non_null == 0:
            summary = ""
        elif is_numeric(typ):
            summary = f"min {lo:g} · mean {mean:.3g} · max {hi:g}"
        elif _is_temporal(typ) and "birth" not in name.lower():
            summary = f"{lo} … {hi}"
        elif typ.upper() == "BOOLEAN" or (
            typ.upper() == "VARCHAR"
            and distinct <= max_values
            and not FREE_TEXT_COLUMN.search(name)
        ):
            values = con.execute(
                f"SELECT {c}, count(*) FROM {q} GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT ?",
                [max_values],
            ).fetchall()
            if typ.upper() == "BOOLEAN" or all(len(str(v)) <= 32 for v, _ in values):
                summary = ", ".join(f"{v}: {n:,}" for v, n in values)
        lines.append(
            f"| {_md_cell(name)} | {_md_cell(typ)} | {non_null:,} | ~{distinct:,} | "
            f"{_md_cell(summary)} |"
        )
    if n_cols > max_columns:
        lines.append(f"| … {n_cols - max_columns} more columns | | | | |")
    return "\n".join(lines)


def cached_preview(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """``markdown_preview`` of ``table``, kept in ``meta.table_previews`` under the content
    version the table has (wlz_pipeline/versions.py: code, columns, rows and their hash),
    so a table left as it was, or rebuilt the same, is not scanned again for it: on a
    night with nothing new the previews of the marts took about 1.6 s of the run's
    Python (issue 9). A table without a content version is previewed every time."""
    from wlz_pipeline import versions

    content = versions.content_of(con, table)
    if content is not None:
        row = con.execute(
            "SELECT preview FROM meta.table_previews WHERE table_name = ? AND content = ?",
            [table, content],
        ).fetchone()
        if row is not None:
            return row[0]
    preview = markdown_preview(con, table)
    if content is not None:
        con.execute(
            "INSERT OR REPLACE INTO meta.table_previews VALUES (?, ?, ?)",
            [table, content, preview],
        )
    return preview


def asset_metadata(con: duckdb.DuckDBPyConnection, layer: str, table: str) -> dict[str, Any]:
    """Everything a mart asset shows in the Dagster UI: ``dagster/row_count``,
    ``dagster/column_schema`` (with descriptions) and a ``preview`` of aggregates."""
    import dagster as dg

    qualified = f"{layer}.{table}"
    rows = con.execute(f"SELECT count(*) FROM {_qualified_sql(qualified)}").fetchall()[0][0]
    description, _ = table_doc(layer, table)
    meta: dict[str, Any] = {
        "dagster/row_count": rows,
        "dagster/column_schema": table_schema(con, layer, table),
        "preview": dg.MetadataValue.md(cached_preview(con, qualified)),
    }
    if description:
        meta["table_description"] = description
    return meta


def dictionary_markdown(con: duckdb.DuckDBPyConnection, schema: str = "bi") -> str:
    """The published data dictionary as a Markdown document (``docs/data_dictionary.md``):
    a list of the tables, then each table's columns with type and description. Made from
    ``<schema>.data_dictionary`` of a publication, the same rows BI tools read."""
    rows = con.execute(
        f"SELECT table_name, table_description, column_name, type, description "
        f"FROM {quote_ident(schema)}.data_dictionary"
    ).fetchall()
    tables: dict[str, tuple[str, list[tuple[str, str, str]]]] = {}
    for table, table_description, column, dtype, description in rows:
        entry = tables.setdefault(table, (table_description or "", []))
        entry[1].append((column, dtype, description or ""))
    lines = [
        "# The published BI database: data dictionary",
        "",
        "Generated from `bi.data_dictionary` of the sample's publication by "
        "`make docs`; the descriptions come from the sidecars `sql/<layer>/<table>.yml` "
        "and `config/publication.yaml` (`standard_columns`). Every table is in schema "
        "`bi` of the published file, and in `<table>.parquet` of the Parquet folder.",
        "",
        "| table | what one row is |",
        "|---|---|",
    ]
    lines += [f"| [{t}](#{t}) | {_md_cell(d)} |" for t, (d, _) in sorted(tables.items())]
    for table, (description, columns) in sorted(tables.items()):
        lines += ["", f"## {table}", ""]
        if description:
            lines += [description, ""]
        lines += ["| column | type | description |", "|---|---|---|"]
        lines += [f"| `{c}` | {_md_cell(t)} | {_md_cell(d)} |" for c, t, d in columns]
    return "\n".join(lines) + "\n"
