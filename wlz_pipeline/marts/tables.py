"""Writing a Python-computed table to the warehouse in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


def arrow_table(columns: Columns, rows: Sequence[Sequence[object]]):  # noqa: ANN201
    """``rows`` as an Arrow table typed by ``columns`` (what ``write_table`` writes)."""
    import pyarrow as pa

    schema = pa.schema([(name, _arrow_type(t)) for name, t in columns])
    data = {name: [r[i] for r in rows] for i, (name, _) in enumerate(columns)}
    return pa.table(data, schema=schema)


def write_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Columns,
    rows: Sequence[Sequence[object]],
    order_by: Sequence[str] = (),
) -> int:
    """Replace ``table`` (``schema.name``) with ``rows``, typed by ``columns``, sorted by
    ``order_by`` so that the same input gives the same bytes. Returns the row count."""
    arrow = arrow_table(columns, rows)
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


def write_select(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Columns,
    select: str,
    inputs: Mapping[str, object],
    order_by: Sequence[str] = (),
) -> int:
    """Replace ``table`` with the rows of ``select``, a query over the Arrow tables
    ``inputs`` (by the names it uses), typed by ``columns`` and sorted by ``order_by``
    as ``write_table`` does. For a table of many rows built from fewer Python objects
    (e.g. scores shared by many responses): the rows are put together in DuckDB, not
    one Python tuple at a time. Returns the row count."""
    cols = ", ".join(f"CAST({quote_ident(n)} AS {t}) AS {quote_ident(n)}" for n, t in columns)
    order = f" ORDER BY {', '.join(quote_ident(c) for c in order_by)}" if order_by else ""
    views = {name: f"_wlz_input_{name}" for name in inputs}
    for name, data in inputs.items():
        con.register(views[name], data)
    ctes = ", ".join(f"{quote_ident(name)} AS (SELECT * FROM {views[name]})" for name in inputs)
    try:
        with transaction(con):
            con.execute(
                f"CREATE OR REPLACE TABLE {table} AS "
                f"WITH {ctes} SELECT {cols} FROM ({select}) AS _rows{order}"
            )
            n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    finally:
        for view in views.values():
            con.unregister(view)
    return n
