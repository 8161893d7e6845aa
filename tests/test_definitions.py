"""The Dagster definitions load, and the graph is wired from the SQL files."""

from __future__ import annotations

import dagster as dg

from wlz_pipeline.definitions import defs
from wlz_pipeline.models import discover


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_every_sql_file_is_an_asset_with_its_inputs_as_dependencies():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for model in discover("staging"):
        assert f"staging/{model.name}" in keys
    parents = {
        p.to_user_string() for p in graph.get(dg.AssetKey(["staging", "interactions"])).parent_keys
    }
    # its SQL reads raw.interactions; its row rules read the enrolment and LW registers
    assert parents == {"raw/interactions", "staging/enrolments", "staging/link_workers"}
    assert {p.to_user_string() for p in graph.get(dg.AssetKey(["raw", "mis"])).parent_keys} == {
        "raw/reference"
    }
