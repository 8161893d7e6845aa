"""Attainment risk of every distinct assessment result (rules.md §3), for the SQL marts.

The rule is ``scoring.attainment_risk``; this module applies it once per distinct
``(anchor_urn, measure_type, value)`` (a level's meaning can depend on the anchor), so
the wave selection (latest assessment on or before the cut-off) stays in SQL and the
scoring rule stays in Python.
"""

from __future__ import annotations

import duckdb

from wlz_pipeline.scoring.attainment import attainment_risk

TABLE = "marts.attainment_value_risk"
COLUMNS = (
    ("anchor_urn", "VARCHAR"),
    ("measure_type", "VARCHAR"),
    ("value", "VARCHAR"),
    ("at_risk", "BOOLEAN"),
    ("value_used", "DOUBLE"),
    ("value_used_text", "VARCHAR"),
    ("threshold", "DOUBLE"),
    ("threshold_text", "VARCHAR"),
    ("standardised", "DOUBLE"),
    ("rule", "VARCHAR"),
)
ORDER = ("anchor_urn", "measure_type", "value")


def risk_row(anchor_urn: str | None, measure_type: str | None, value: str | None) -> tuple:
    r = attainment_risk(measure_type or "", value, anchor_urn=anchor_urn)
    number = r.value_used if isinstance(r.value_used, int | float) else None
    text = (
        None
        if r.value_used is None
        else (f"{r.value_used:.2f}" if isinstance(r.value_used, float) else str(r.value_used))
    )
    threshold = r.threshold if isinstance(r.threshold, int | float) else None
    threshold_text = None if r.threshold is None else str(r.threshold)
    return (
        anchor_urn,
        measure_type,
        value,
        r.at_risk,
        number,
        text,
        threshold,
        threshold_text,
        r.standardised,
        r.rule,
    )


def build(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    from wlz_pipeline.marts.tables import write_table

    distinct = con.execute(
        "select distinct anchor_urn, measure_type, value from staging.attainment"
    ).fetchall()
    rows = [risk_row(*d) for d in distinct]
    n = write_table(con, TABLE, COLUMNS, rows, ORDER)
    return {
        "rows": n,
        "at_risk": sum(1 for r in rows if r[3] is True),
        "unknown": sum(1 for r in rows if r[3] is None),
    }
