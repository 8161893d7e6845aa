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

    def parents_of(key: str) -> set[str]:
        return {
            p.to_user_string() for p in graph.get(dg.AssetKey.from_user_string(key)).parent_keys
        }

    # mis/'s registers first; the rest of mis/ after them
    assert parents_of("raw/pupils") == {"raw/reference"}
    assert parents_of("raw/mis") == {"raw/reference", "raw/pupils"}
    # the register alone: not the attendance marks
    assert parents_of("staging/pupils") == {"raw/pupils"}
    assert parents_of("raw/partners") == {"raw/reference", "raw/pupils"}
    # a CTF file also fills raw.attainment, so both parts of mis/ feed its staging table
    assert parents_of("staging/attainment") == {"raw/pupils", "raw/mis"}
