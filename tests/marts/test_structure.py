"""The marts as a whole: every mart builds on an empty warehouse and on the fixture
landing folder, every column is described in its sidecar, the SQL dependencies are
complete, and the generated risk_profile suite matches config."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.marts.conftest import new_warehouse
from wlz_pipeline.dictionary import load_doc
from wlz_pipeline.marts.build import RISK_MARTS, build_everything, closure, python_marts
from wlz_pipeline.models import discover

ROOT = Path(__file__).resolve().parents[2]
LANDING = ROOT / "tests" / "data" / "landing"


def _my_marts() -> list[str]:
    nodes = [*discover("marts"), *python_marts()]
    return sorted(n.table for n in closure(nodes, RISK_MARTS) if n.table.startswith("marts."))


@pytest.fixture(scope="module")
def empty(tmp_path_factory):
    con = new_warehouse(tmp_path_factory.mktemp("empty") / "wlz.duckdb")
    from wlz_pipeline import warehouse

    warehouse.load_config_tables(con)
    build_everything(con, RISK_MARTS)
    yield con
    con.close()


def test_every_mart_builds_on_an_empty_warehouse(empty):
    for table in _my_marts():
        assert empty.execute(f"select count(*) from {table}").fetchone()[0] >= 0
    # only the config tables have rows
    assert empty.execute("select count(*) from marts.risk_profile").fetchone()[0] == 0
    assert empty.execute("select count(*) from marts.risk_rules").fetchone()[0] > 0


def test_every_column_has_a_description(empty):
    for table in _my_marts():
        name = table.split(".")[1]
        doc = load_doc("marts", name)
        assert doc.description, f"sql/marts/{name}.yml: no description"
        documented = set(doc.columns)
        actual = {r[0] for r in empty.execute(f"describe {table}").fetchall()}
        assert actual - documented == set(), f"{name}: undocumented {actual - documented}"
        assert documented - actual == set(), f"{name}: documented but absent {documented - actual}"


def test_sidecars_have_only_description_and_columns():
    for path in sorted((ROOT / "sql" / "marts").glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(doc) <= {"description", "columns"}, path.name


def test_sql_dependencies_are_complete():
    # every table the text names must be a parsed input (models._inputs once dropped a
    # table named like a CTE, e.g. staging.imd beside a CTE `imd`)
    mine = set(_my_marts())
    for model in discover("marts"):
        if model.table not in mine:
            continue
        named = set(re.findall(r"\b((?:staging|marts|meta)\.\w+)", model.path.read_text()))
        assert named - {t for t in named if t.startswith("meta.")} <= set(model.inputs()), (
            model.name
        )


def test_generated_suite_matches_the_config():
    from wlz_pipeline.marts.suites import render

    assert (ROOT / "expectations" / "risk_profile.json").read_text(encoding="utf-8") == render(), (
        "regenerate: python -m wlz_pipeline.marts.suites > expectations/risk_profile.json"
    )


def test_builds_on_the_fixture_landing_folder(tmp_path):
    from wlz_pipeline.ingest import ingest_all

    landing = tmp_path / "landing"
    shutil.copytree(LANDING, landing)
    con = new_warehouse(tmp_path / "wh" / "wlz.duckdb")
    try:
        ingest_all(con, landing, tmp_path / "wh" / "archive")
        build_everything(con, RISK_MARTS)
        waves = con.execute(
            "select wave, count(*) from marts.risk_profile group by all order by all"
        ).fetchall()
        pupils = con.execute("select count(*) from staging.pupils").fetchone()[0]
        assert waves == [("autumn", pupils), ("summer", pupils)]
        # the enrolled primary child (WLZ000000001) has the parent's SDQ (3 items: unknown)
        row = con.execute(
            "select sdq_informant, wlz_id, enrolled from marts.risk_profile "
            "where wlz_id = 'WLZ000000001' and wave = 'autumn'"
        ).fetchone()
        assert row == ("parent", "WLZ000000001", True)
    finally:
        con.close()


def test_dagster_assets_for_the_python_marts():
    import dagster as dg

    import assets.scores as scores

    keys = {a.key.to_user_string(): a for a in scores.defs.assets}
    assert set(keys) == {f"marts/{m.name}" for m in python_marts()}
    deps = {k.to_user_string() for k in keys["marts/comparison_matches"].dependency_keys}
    assert {"marts/risk_profile", "marts/identification", "staging/enrolments"} <= deps
    assert [c.name for c in scores.defs.asset_checks[0].check_specs] == [
        "risk_profile_distribution"
    ]
    assert isinstance(scores.defs, dg.Definitions)
