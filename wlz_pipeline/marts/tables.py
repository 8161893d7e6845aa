"""Writing a Python-computed table to the warehouse in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from wlz_pipeline.models import quote_ident
from wlz_pipeline.warehouse import transaction

Columns = Sequence[tuple[str, str]]


def _arrow_type(sql_type: str):  # noqa: ANN202
    import pyarrow as pa

    types = {
        "VARCHAR": pa.string(),
        "DOUBLE": pa.float64(),
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
        "BOOLEAN": pa.bool_(),
        "DATE": pa.date32(),
        "TIMESTAMP": pa.timestamp("us"),
        "VARCHAR[]": pa.list_(pa.string()),
    }
    return types[sql_type]


def write_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Columns,
    rows: Sequence[Sequence[object]],
    order_by: Sequence[str] = (),
) -> int:
    """Replace ``table`` (``schema.name``) with ``rows``, typed by ``columns``, sorted by
    ``order_by`` so that the same input gives the same bytes. Returns the row count."""
    import pyarrow as pa

    schema = pa.schema([(name, _arrow_type(t)) for name, t in columns])
    data = {name: [r[i] for r in rows] for i, (name, _) in enumerate(columns)}
    arrow = pa.table(data, schema=schema)
    view = f"_wlz_write_{table.replace('.', '_')}"
    select = ", ".join(f"CAST({quote_ident(n)} AS {t}) AS {quote_ident(n)}" for n, t in columns)
    order = f" ORDER BY {', '.join(quote_ident(c) for c in order_by)}" if order_by else ""
    con.register(view, arrow)
    try:
        with transaction(con):
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM {view}{order}")
    finally:
        con.unregister(view)
    return len(rows)
