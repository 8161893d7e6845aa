"""The GX suites: they load completely or fail loudly, and they validate in DuckDB."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import duckdb
import pytest

from wlz_pipeline.quality.gx_duckdb import (
    SuiteError,
    data_docs_index,
    load_suite,
    suite_files,
    validate_table,
)
from wlz_pipeline.warehouse import create_macros


@pytest.mark.parametrize("name", sorted(suite_files()))
def test_every_suite_loads_with_no_expectation_dropped(name):
    path = suite_files()[name]
    in_file = json.loads(path.read_text())["expectations"]
    suite = load_suite(path)
    assert len(suite.expectations) == len(in_file)
    assert [e.expectation_type for e in suite.expectations] == [e["type"] for e in in_file]


@pytest.mark.parametrize(
    ("expectation", "why"),
    [
        ({"type": "expect_column_values_to_not_be_null", "kwargs": {"colum": "x"}}, "invalid"),
        # GX drops an unknown type silently (conventions.md): the count check catches it
        ({"type": "expect_column_values_to_be_purple", "kwargs": {"column": "x"}}, "only 1 loaded"),
        (
            {
                "type": "unexpected_rows_expectation",
                "kwargs": {"unexpected_rows_query": "select * from {batch} where x ~ '[0-9]{4}'"},
            },
            "does not format",
        ),
    ],
)
def test_a_bad_expectation_fails_loudly(tmp_path, expectation, why):
    path = tmp_path / "bad.json"
    good = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}}
    path.write_text(json.dumps({"name": "bad", "expectations": [good, expectation]}))
    with pytest.raises(SuiteError, match=why):
        load_suite(path)


def _warehouse(tmp_path, rows: list[tuple]) -> str:
    """A warehouse with a small staging table: (upn, n, _file_hash, _row_number)."""
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    create_macros(con)  # persisted macros: the suites' SQL uses them
    con.execute("CREATE SCHEMA staging")
    con.execute(
        "CREATE TABLE staging.t (upn VARCHAR, n INTEGER, _file_hash VARCHAR, _row_number BIGINT)"
    )
    con.executemany("INSERT INTO staging.t VALUES (?, ?, ?, ?)", rows)
    con.close()
    return str(path)


def _suite(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps(
            {
                "name": "t",
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "n", "min_value": 0, "max_value": 5},
                        "severity": "warning",
                    },
                    {
                        "type": "unexpected_rows_expectation",
                        "kwargs": {
                            "unexpected_rows_query": "select _file_hash, _row_number from {batch} "
                            "where not wlz_upn_valid(upn)"
                        },
                        "severity": "critical",
                    },
                ],
            }
        )
    )
    return load_suite(path)


# The UPN test vectors of domain_facts.md §3.
VALID_UPNS = ["H801200001001", "G80120000101A", "B801200005001", "A950000178301"]
INVALID_UPNS = ["R247962919251", "H801200001002", "I801200001001", "H80120000100", "H8012000010011"]


def test_domain_expectation_upn_check_letter_in_duckdb(tmp_path):
    rows = [(u, 1, "f1", i + 2) for i, u in enumerate(VALID_UPNS + INVALID_UPNS)]
    wh = _warehouse(tmp_path, rows)
    outcome = validate_table(wh, "staging.t", _suite(tmp_path))
    (upn,) = [o for o in outcome.outcomes if o.expectation == "unexpected_rows_expectation"]
    assert upn.severity == "ERROR"
    assert not upn.success
    assert upn.failing_rows == len(INVALID_UPNS)
    # located by file and row: the invalid vectors are rows 6-10 (rows start at 2)
    assert upn.examples == [("f1", n) for n in range(6, 11)]
    (between,) = [o for o in outcome.outcomes if o.column == "n"]
    assert between.success and between.severity == "WARN"


def test_map_expectations_count_and_locate_failing_rows(tmp_path):
    # 3 of 6 values out of range; GX must count them (the DuckDB trap made every
    # result empty) and identify them by file and row only
    rows = [(VALID_UPNS[0], n, "f1", i + 2) for i, n in enumerate([0, 9, 3, 7, 5, 6])]
    outcome = validate_table(_warehouse(tmp_path, rows), "staging.t", _suite(tmp_path))
    (between,) = [o for o in outcome.outcomes if o.column == "n"]
    assert not between.success
    assert between.failing_rows == 3
    assert sorted(between.examples) == [("f1", 3), ("f1", 5), ("f1", 7)]
    assert data_docs_index(tmp_path / "wh.duckdb").is_file()


def test_the_duckdb_trap_still_exists_without_the_workaround(tmp_path):
    """Canary: if an upgrade of GX or duckdb_engine fixes the trap, this fails and says
    the workaround in wlz_pipeline/quality/gx_duckdb.py can go."""
    wh = _warehouse(tmp_path, [(VALID_UPNS[0], 9, "f1", 2)])
    script = textwrap.dedent(
        f"""
        import great_expectations as gx
        ctx = gx.get_context(mode="ephemeral")
        ds = ctx.data_sources.add_sql(name="w", connection_string="duckdb:///{wh}")
        asset = ds.add_query_asset(name="t", query="select * from staging.t")
        batch = asset.add_batch_definition_whole_table("all").get_batch()
        res = batch.validate(gx.expectations.ExpectColumnValuesToBeBetween(
            column="n", min_value=0, max_value=5))
        print("COUNT", res.result.get("unexpected_count"))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    ).stdout
    assert "COUNT None" in out, out


def test_gx_keeps_a_bounded_history_of_results_and_pages(tmp_path, monkeypatch):
    """Night after night the stored results (which the Data Docs index re-reads after
    every suite) stay at settings' ``quality.gx_results_kept``, the newest ones."""
    from wlz_pipeline import settings
    from wlz_pipeline.quality import gx_duckdb

    monkeypatch.setattr(
        gx_duckdb,
        "load_settings",
        lambda: settings.Settings(quality=settings.QualitySettings(gx_results_kept=2)),
    )
    wh = _warehouse(tmp_path, [(VALID_UPNS[0], 1, "f1", 2)])
    suite = _suite(tmp_path)
    base = gx_duckdb.gx_root(wh) / "gx" / "uncommitted"
    runs: list[set[str]] = []
    for _ in range(4):
        gx_duckdb.validate_table(wh, "staging.t", suite)
        runs.append({p.name for p in (base / "validations" / "t").glob("*/*")})
    assert [len(r) for r in runs] == [1, 2, 2, 2]
    # the two kept are the last two runs: each run adds one, the oldest goes
    assert runs[3] == (runs[2] - {min(runs[2])}) | (runs[3] - runs[2])
    assert len(runs[3] - runs[2]) == 1 and max(runs[3]) not in runs[2]
    pages = {p.name for p in (base / "data_docs" / "local_site" / "validations" / "t").glob("*/*")}
    assert pages == runs[3]
    # a passing suite renders its own pages; the index is built once per run
    assert not gx_duckdb.data_docs_index(wh).exists()
    assert gx_duckdb.build_data_docs_index(wh) == gx_duckdb.data_docs_index(wh)
    index = gx_duckdb.data_docs_index(wh).read_text(encoding="utf-8")
    assert all(run in index for run in runs[3]) and min(runs[2]) not in index


def test_the_data_docs_index_is_rebuilt_only_when_a_result_has_changed(tmp_path, monkeypatch):
    """The publication asks for the index every run; a night on which no suite validated
    leaves it as it is (without GX), and a new result rebuilds it."""
    from wlz_pipeline.quality import gx_duckdb

    wh = _warehouse(tmp_path, [(VALID_UPNS[0], 1, "f1", 2)])
    suite = _suite(tmp_path)
    assert gx_duckdb.build_data_docs_index(wh) is None  # nothing validated yet
    gx_duckdb.validate_table(wh, "staging.t", suite)
    index = gx_duckdb.build_data_docs_index(wh)
    assert index == gx_duckdb.data_docs_index(wh)
    builds: list = []
    real = gx_duckdb._build_index
    monkeypatch.setattr(gx_duckdb, "_build_index", lambda w: builds.append(w) or real(w))
    before = index.stat().st_mtime_ns
    assert gx_duckdb.build_data_docs_index(wh) == index
    assert builds == [] and index.stat().st_mtime_ns == before
    # a new result: the index lists it
    gx_duckdb.validate_table(wh, "staging.t", suite)
    newest = max(
        p.name for p in (gx_duckdb.gx_root(wh) / "gx/uncommitted/validations/t").glob("*/*")
    )
    assert newest not in index.read_text(encoding="utf-8")
    assert gx_duckdb.build_data_docs_index(wh) == index
    assert len(builds) == 1 and newest in index.read_text(encoding="utf-8")
    # a deleted index is built again
    index.unlink()
    assert gx_duckdb.build_data_docs_index(wh) == index and len(builds) == 2


def test_a_failing_suite_rebuilds_the_data_docs_index_at_once(tmp_path):
    from wlz_pipeline.quality import gx_duckdb

    good = _warehouse(tmp_path, [(VALID_UPNS[0], 1, "f1", 2)])
    gx_duckdb.validate_table(good, "staging.t", _suite(tmp_path))
    assert not gx_duckdb.data_docs_index(good).exists()
    bad = tmp_path / "bad"
    bad.mkdir()
    wh = _warehouse(bad, [(INVALID_UPNS[0], 1, "f1", 2)])
    outcome = gx_duckdb.validate_table(wh, "staging.t", _suite(bad))
    assert not all(o.success for o in outcome.outcomes)
    assert gx_duckdb.data_docs_index(wh).is_file()


def test_data_docs_templates_are_compiled_once_per_process(tmp_path, monkeypatch):
    """Every validation opens a new GX context, whose Data Docs views make new Jinja
    environments; they share one bytecode cache (install_template_cache), so a second
    validation renders its pages without compiling GX's page templates again."""
    import jinja2

    from wlz_pipeline.quality import gx_duckdb

    wh = _warehouse(tmp_path, [(VALID_UPNS[0], 1, "f1", 2)])
    suite = _suite(tmp_path)
    gx_duckdb.validate_table(wh, "staging.t", suite)
    compiled: list[str | None] = []
    original = jinja2.Environment.compile

    def compile(self, source, name=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        compiled.append(name)
        return original(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", compile)
    gx_duckdb.validate_table(wh, "staging.t", suite)
    site = gx_duckdb.gx_root(wh) / "gx" / "uncommitted" / "data_docs" / "local_site"
    assert len(list((site / "validations" / "t").rglob("*.html"))) == 2  # both rendered
    assert [n for n in compiled if n and n.endswith(".j2")] == []
    # what is counted: an environment of its own, on the same templates, compiles them
    from great_expectations.render.view.view import DefaultJinjaPageView

    jinja2.Environment(loader=DefaultJinjaPageView().env.loader).get_template("page.j2")
    assert "page.j2" in compiled


def test_a_gx_project_is_opened_once_per_process_while_it_is_on_disk(tmp_path, monkeypatch):
    import shutil

    import great_expectations as gx

    from wlz_pipeline.quality import gx_duckdb

    opened: list[str] = []
    original = gx.get_context

    def get_context(*args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(kwargs["project_root_dir"])
        return original(*args, **kwargs)

    monkeypatch.setattr(gx, "get_context", get_context)
    wh = _warehouse(tmp_path, [(VALID_UPNS[0], 1, "f1", 2)])
    suite = _suite(tmp_path)
    first = gx_duckdb.validate_table(wh, "staging.t", suite)
    second = gx_duckdb.validate_table(wh, "staging.t", suite)
    assert len(opened) == 1
    assert [o.success for o in second.outcomes] == [o.success for o in first.outcomes]
    # someone removed the GX folder between runs: it is made again, with the new result
    shutil.rmtree(gx_duckdb.gx_root(wh))
    third = gx_duckdb.validate_table(wh, "staging.t", suite)
    assert len(opened) == 2
    assert [o.success for o in third.outcomes] == [o.success for o in first.outcomes]
    site = gx_duckdb.gx_root(wh) / "gx" / "uncommitted" / "data_docs" / "local_site"
    assert len(list((site / "validations" / "t").rglob("*.html"))) == 1


def test_the_warehouse_datasource_is_added_once_and_sees_each_validations_data(
    tmp_path, monkeypatch
):
    import duckdb
    from great_expectations.datasource.fluent.sources import DataSourceManager

    from wlz_pipeline.quality import gx_duckdb

    wh = _warehouse(tmp_path, [(VALID_UPNS[0], 1, "f1", 2)])
    suite = _suite(tmp_path)
    first = gx_duckdb.validate_table(wh, "staging.t", suite)
    added: list[str] = []  # GX makes its add_or_update_<type> methods on demand
    original = DataSourceManager.__getattr__

    def spy(self, name):  # type: ignore[no-untyped-def]
        if name.startswith("add_or_update"):
            added.append(name)
        return original(self, name)

    monkeypatch.setattr(DataSourceManager, "__getattr__", spy)
    assert all(o.success for o in first.outcomes)
    # the next night: an invalid UPN arrives in row 3, and another table is validated
    con = duckdb.connect(wh)
    con.execute("INSERT INTO staging.t VALUES (?, 1, 'f1', 3)", [INVALID_UPNS[0]])
    con.execute("CREATE TABLE staging.u AS SELECT * FROM staging.t WHERE _row_number = 2")
    con.close()
    second = gx_duckdb.validate_table(wh, "staging.t", suite)
    (upn,) = [o for o in second.outcomes if o.expectation == "unexpected_rows_expectation"]
    assert not upn.success and upn.failing_rows == 1 and upn.examples == [("f1", 3)]
    other = gx_duckdb.validate_table(wh, "staging.u", suite)
    assert all(o.success for o in other.outcomes)
    assert added == []  # the datasource of the first validation, reused
