"""SQL model assets: one asset per file in ``sql/<layer>/``; its dependencies are the
tables its SQL (and its row rules) read, parsed with sqlglot. Adding a table is adding
a file."""

import dagster as dg

from assets.ingest import raw_assets_for_table
from assets.resources import WarehouseResource
from wlz_pipeline.dictionary import asset_metadata, table_schema
from wlz_pipeline.models import Model, build_model, discover

LAYERS = ("staging", "marts")


def model_key(model: Model) -> dg.AssetKey:
    return dg.AssetKey([model.layer, model.name])


def _deps(model: Model) -> list[dg.AssetKey]:
    keys: set[dg.AssetKey] = set()
    for table in model.reads():
        schema, name = table.split(".")
        if schema in LAYERS:
            keys.add(dg.AssetKey([schema, name]))
        elif schema == "raw":
            keys.update(raw_assets_for_table(table))
    return sorted(keys, key=lambda k: k.to_user_string())


def _description(model: Model) -> str:
    lines = []
    for line in model.path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        if not line.removeprefix("--").strip().startswith(("incremental:", "partitioned by:")):
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
            # rebuilt only when what it reads changed, and then only the partitions
            # whose files changed when it can (wlz_pipeline/versions.py, models.build_model)
            counts, how = build_model(con, model, force=wlz.rebuild_all)
            if how == "unchanged":
                context.log.info(f"{model.table}: inputs unchanged, not rebuilt")
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
                # False: what it is built from has not changed since it was last built
                "rebuilt": how != "unchanged",
                "build": how,
                # False: rebuilt the same as before, so its readers are not (versions.py)
                "content_changed": bool(counts.get("content_changed", False)),
            }
        )

    return _build


def build_model_assets() -> list[dg.AssetsDefinition]:
    return [_make(m) for layer in LAYERS for m in discover(layer)]


defs = dg.Definitions(assets=build_model_assets())
