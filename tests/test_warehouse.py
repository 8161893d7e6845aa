"""Opening the warehouse: ``bootstrap`` creates what the pipeline needs, skips the work
when the file already has it, and still catches up when the code or config asks for
more (a survey item added to config/ gives its raw column)."""

from __future__ import annotations

import duckdb

from wlz_pipeline import warehouse


def _columns(con, table: str) -> list[str]:
    schema, name = table.split(".")
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
    ]


def test_bootstrap_creates_everything_once_and_then_only_checks(tmp_path, monkeypatch):
    con = warehouse.connect(tmp_path / "wlz.duckdb")
    warehouse.bootstrap(con)
    tables = {
        r[0]
        for r in con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables()"
        ).fetchall()
    }
    assert {"meta.file_registry", "meta.quarantine", "raw.attendance_marks"} <= tables
    assert con.execute("SELECT wlz_upn_valid('H801200001001')").fetchone()[0] is True

    statements: list[str] = []

    class Spy:
        def execute(self, sql, params=None):
            statements.append(sql)
            return con.execute(sql, params) if params is not None else con.execute(sql)

    warehouse.bootstrap(Spy())
    assert len(statements) == 1  # already there: one look at the fingerprint

    # a new survey item in config: the fingerprint changes and the column is added
    from wlz_pipeline.sources import survey

    items = survey.item_columns()
    monkeypatch.setattr(survey, "item_columns", lambda: [*items, "zz_new_item"])
    statements.clear()
    warehouse.bootstrap(Spy())
    assert len(statements) > 1
    assert "zz_new_item" in _columns(con, "raw.survey_responses")
    statements.clear()
    warehouse.bootstrap(Spy())
    assert len(statements) == 1
    con.close()


def test_a_warehouse_made_before_the_fingerprint_is_brought_up_to_date(tmp_path):
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute("CREATE SCHEMA meta")
    old.execute("CREATE TABLE meta.table_versions (table_name VARCHAR, version VARCHAR)")
    old.close()
    con = warehouse.connect(path)
    warehouse.bootstrap(con)
    assert "inputs" in _columns(con, "meta.table_versions")
    assert _columns(con, "raw.attendance_marks")
    con.close()
