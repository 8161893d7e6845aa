"""An unexpected-rows expectation runs its query once, and brings at most GX's 200 rows
into Python however many rows fail (wlz_pipeline/quality/gx_duckdb.UnexpectedRows)."""

from __future__ import annotations

import json

import duckdb
import pytest
from great_expectations.constants import MAX_RESULT_RECORDS
from great_expectations.execution_engine import sqlalchemy_execution_engine as sae

from wlz_pipeline.quality import gx_duckdb
from wlz_pipeline.quality.gx_duckdb import (
    UnexpectedRows,
    formatted_query_pattern,
    load_suite,
    validate_table,
)

#: n > 5 fails; the second {batch} and the doubled braces are what GX formats
QUERY = (
    "select _file_hash, _row_number from {batch} where n > 5 and upn in "
    "(select upn from {batch} where regexp_full_match(upn, '[A-Z][0-9]{{3}}'))"
)


def _warehouse(tmp_path, rows: int) -> str:
    """staging.t with ``rows`` rows: n = i % 10, so the rows with n in 6..9 fail QUERY
    (4 in every 10), and every upn (U000..U999) matches [A-Z][0-9]{3}."""
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA staging")
    con.execute(
        """CREATE TABLE staging.t AS
           SELECT 'U' || lpad((i % 1000)::VARCHAR, 3, '0') AS upn, (i % 10)::INTEGER AS n,
                  'f' || (i // 1000)::VARCHAR AS _file_hash, (i % 1000 + 2)::BIGINT AS _row_number
           FROM range(?) r(i)""",
        [rows],
    )
    con.close()
    return str(path)


def _suite(tmp_path, query: str = QUERY):
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps(
            {
                "name": "t",
                "expectations": [
                    {
                        "type": "unexpected_rows_expectation",
                        "kwargs": {"unexpected_rows_query": query},
                        "severity": "critical",
                    }
                ],
            }
        )
    )
    return load_suite(path)


@pytest.fixture
def statements(monkeypatch):
    """Every SQL statement GX's engine sends to DuckDB, as text."""
    seen: list[str] = []
    original = sae.SqlAlchemyExecutionEngine._execute_query_with_recovery

    def recording(connection, query):
        seen.append(getattr(query, "text", str(query)))
        return original(connection, query)

    monkeypatch.setattr(
        sae.SqlAlchemyExecutionEngine, "_execute_query_with_recovery", staticmethod(recording)
    )
    return seen


def _runs_of_query(statements: list[str]) -> int:
    return sum("and upn in (select upn from" in s for s in statements)


@pytest.mark.parametrize(
    ("rows", "failing"),
    [
        (1_000, 400),  # 4 in every 10 rows fail: 1,000 * 4 / 10
        (12_000, 4_800),  # 12,000 * 4 / 10, far more than GX keeps (200)
    ],
)
def test_the_query_runs_once_and_counts_every_failing_row(tmp_path, statements, rows, failing):
    wh = _warehouse(tmp_path, rows)
    outcome = validate_table(wh, "staging.t", _suite(tmp_path))
    (check,) = outcome.outcomes
    assert not check.success
    assert check.failing_rows == failing
    # GX asked for the rows and for their count: one run of the query answered both
    assert _runs_of_query(statements) == 1
    # the rows reported are rows that do fail, by file and row
    con = duckdb.connect(wh, read_only=True)
    failing_rows = set(
        con.execute("SELECT _file_hash, _row_number FROM staging.t WHERE n > 5").fetchall()
    )
    con.close()
    assert len(check.examples) == gx_duckdb.MAX_EXAMPLES
    assert set(check.examples) <= failing_rows


def test_a_passing_query_runs_once_and_counts_nothing(tmp_path, statements):
    wh = _warehouse(tmp_path, 1_000)
    outcome = validate_table(
        wh, "staging.t", _suite(tmp_path, QUERY.replace("n > 5", "n > 5 and n > 100"))
    )
    (check,) = outcome.outcomes
    assert check.success and check.failing_rows == 0
    assert _runs_of_query(statements) == 1


def _engine(tmp_path):
    """The GX execution engine validate_table uses for the warehouse."""
    root = gx_duckdb.gx_root(tmp_path / "wh.duckdb")
    root.mkdir(parents=True, exist_ok=True)
    ctx = gx_duckdb._context(root)
    return gx_duckdb._datasource(ctx, root, tmp_path / "wh.duckdb").get_execution_engine()


@pytest.mark.parametrize("count_first", [True, False])
def test_either_metric_first_runs_the_query_once(tmp_path, statements, count_first):
    """GX resolves the two metrics in either order (both occur on the zone's suites)."""
    _warehouse(tmp_path, 12_000)
    engine = _engine(tmp_path)
    rows_sql = QUERY.format(batch="(select * from staging.t) AS subselect")
    count_sql = (
        f"SELECT COUNT(*) as unexpected_row_count FROM ({rows_sql}) AS substituted_batch_subquery"
    )
    known = UnexpectedRows([QUERY])
    first, second = (count_sql, rows_sql) if count_first else (rows_sql, count_sql)
    answers = {sql: known.answer(engine, sql) for sql in (first, second)}
    assert answers[count_sql].fetchone()[0] == 4_800  # 12,000 * 4 / 10
    rows = answers[rows_sql].fetchall()
    # at most what GX keeps came into Python, with the query's two columns
    assert len(rows) == MAX_RESULT_RECORDS
    assert all(len(r) == 2 for r in rows)
    assert _runs_of_query(statements) == 1
    engine.engine.dispose()


def test_other_queries_go_to_duckdb_as_before(tmp_path, statements):
    _warehouse(tmp_path, 10)
    engine = _engine(tmp_path)
    known = UnexpectedRows([QUERY])
    assert known.answer(engine, "SELECT count(*) FROM staging.t") is None
    assert statements == []  # not answered, nor run: GX's engine runs it as before
    engine.engine.dispose()


def test_the_pattern_matches_the_query_as_gx_formats_it():
    pattern = formatted_query_pattern(QUERY)
    batch = "(SELECT a, b FROM staging.t) AS subselect"
    # as DuckDB receives it: the doubled braces single ({3}), both {batch} filled
    assert pattern.fullmatch(QUERY.format(batch=batch))
    # both {batch} must be the same table
    other = QUERY.replace("{batch}", batch, 1).replace("{batch}", "(SELECT 1) AS x")
    assert not pattern.fullmatch(other.replace("{{", "{").replace("}}", "}"))
    assert not pattern.fullmatch(QUERY.format(batch=batch) + " and true")
    # a query GX fills from other parameters is not recognised
    assert formatted_query_pattern("select * from {batch} where n > {threshold}") is None
