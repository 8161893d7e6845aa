"""Every staging and mart table of the graph, by table name (``marts.payment_ledger``):
the SQL models of ``sql/<layer>/`` and the tables the Python assets build (survey
scores, comparison group, outcomes, payments). One list for the asset checks (a suite in
``expectations/<table>.json`` guards whichever asset builds the table) and for the
publication (which depends on every one of them)."""

import importlib
import pkgutil

import dagster as dg

import assets as assets_package
from assets.models import LAYERS
from wlz_pipeline.models import discover

#: Modules that build no table (and would import this one while being defined).
_NO_TABLES = ("checks", "publish", "automation", "tables")


def table_keys() -> dict[str, dg.AssetKey]:
    """``{"<layer>.<table>": asset key}`` for every staging and mart table."""
    keys = {m.table: dg.AssetKey([m.layer, m.name]) for layer in LAYERS for m in discover(layer)}
    for info in pkgutil.iter_modules(assets_package.__path__):
        if info.name in _NO_TABLES:
            continue
        defs = getattr(importlib.import_module(f"assets.{info.name}"), "defs", None)
        if not isinstance(defs, dg.Definitions):
            continue
        for a in defs.assets or []:
            for key in getattr(a, "keys", None) or [getattr(a, "key", None)]:
                if isinstance(key, dg.AssetKey) and key.path[0] in LAYERS:
                    keys[".".join(key.path)] = key
    return dict(sorted(keys.items()))
