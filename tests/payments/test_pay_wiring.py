"""The payment marts are in the Dagster graph with their blocking check, and every column
they write is described in its sidecar (the data dictionary and the Dagster UI)."""

from __future__ import annotations

import dagster as dg
import yaml

from wlz_pipeline.config import REPO_ROOT
from wlz_pipeline.definitions import defs
from wlz_pipeline.payments.build import OUTCOME_COLUMNS
from wlz_pipeline.payments.ledger import CLAIMS_COLUMNS, LEDGER_COLUMNS
from wlz_pipeline.payments.store import claims_dir


def test_assets_and_the_blocking_ledger_check_are_in_the_graph():
    graph = defs.resolve_asset_graph()
    ledger = dg.AssetKey(["marts", "payment_ledger"])
    claims = dg.AssetKey(["marts", "payment_claims"])
    outcomes = dg.AssetKey(["marts", "outcomes"])
    assert outcomes in graph.get(ledger).parent_keys
    assert ledger in graph.get(claims).parent_keys
    assert dg.AssetKey(["marts", "risk_factors"]) in graph.get(outcomes).parent_keys
    checks = {
        (k.asset_key, k.name): graph.get_check_spec(k)
        for k in graph.get_check_keys_for_assets([ledger])
    }
    spec = checks[(ledger, "suite_errors")]
    assert spec.blocking


def test_every_column_has_a_description():
    for name, cols in (
        ("payment_ledger", LEDGER_COLUMNS),
        ("payment_claims", CLAIMS_COLUMNS),
        ("outcomes", OUTCOME_COLUMNS),
    ):
        doc = yaml.safe_load((REPO_ROOT / "sql" / "marts" / f"{name}.yml").read_text())
        assert doc["description"]
        assert set(doc["columns"]) == {c for c, _ in cols}, name


def test_the_claims_store_lives_outside_the_warehouse_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("WLZ_CLAIMS_DIR", raising=False)
    wh = tmp_path / "data" / "warehouse" / "wlz.duckdb"
    assert claims_dir(warehouse=wh) == (tmp_path / "data" / "claims").resolve()
    monkeypatch.setenv("WLZ_CLAIMS_DIR", str(tmp_path / "elsewhere"))
    assert claims_dir(warehouse=wh) == (tmp_path / "elsewhere").resolve()
