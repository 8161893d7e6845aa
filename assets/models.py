"""SQL model assets: one asset per file in ``sql/<layer>/``; its dependencies are the
tables its SQL (and its row rules) read, parsed with sqlglot. Adding a table is adding
a file."""

import dagster as dg
import sqlglot

from assets.ingest import raw_asset_for_table
from assets.resources import WarehouseResource
from wlz_pipeline.dictionary import asset_metadata, table_schema
from wlz_pipeline.models import Model, discover, run_model

LAYERS = ("staging", "marts")


def model_key(model: Model) -> dg.AssetKey:
    return dg.AssetKey([model.layer, model.name])


def _rule_inputs(model: Model) -> set[str]:
    found = set()
    for rule in model.rules().rules:
        tree = sqlglot.parse_one(f"SELECT 1 WHERE {rule.condition}", read="duckdb")
        found |= {f"{t.db}.{t.name}" for t in tree.find_all(sqlglot.exp.Table) if t.db}
    return found


def _deps(model: Model) -> list[dg.AssetKey]:
    keys: set[dg.AssetKey] = set()
    for table in set(model.inputs()) | _rule_inputs(model):
        schema, name = table.split(".")
        if schema in LAYERS:
            keys.add(dg.AssetKey([schema, name]))
        elif schema == "raw":
            key = raw_asset_for_table(table)
            if key is not None:
                keys.add(key)
    return sorted(keys, key=lambda k: k.to_user_string())


def _description(model: Model) -> str:
    lines = []
    for line in model.path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        lines.append(line.removeprefix("--").strip())
    return " ".join(lines) or model.table


def _make(model: Model) -> dg.AssetsDefinition:
    @dg.asset(
        key=model_key(model),
        deps=_deps(model),
        group_name=model.layer,
        description=_description(model),
        kinds={"duckdb", "sql"},
    )
    def _build(context: dg.AssetExecutionContext, wlz: WarehouseResource) -> dg.MaterializeResult:
        with wlz.connect() as con:
            counts = run_model(con, model)
            if model.layer == "marts":
                # row count, columns with their sidecar descriptions, a preview of
                # aggregates (never an identifier value)
                metadata = asset_metadata(con, model.layer, model.name)
            else:
                metadata = {"dagster/column_schema": table_schema(con, model.layer, model.name)}
        return dg.MaterializeResult(
            metadata={
                **metadata,
                "dagster/row_count": counts["rows"],
                "rows_quarantined": counts["quarantined"],
                "rows_with_warnings": counts["warnings"],
                "sql_file": dg.MetadataValue.path(str(model.path)),
            }
        )

    return _build


def build_model_assets() -> list[dg.AssetsDefinition]:
    return [_make(m) for layer in LAYERS for m in discover(layer)]


defs = dg.Definitions(assets=build_model_assets())
