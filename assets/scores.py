"""Python-computed marts: one asset per table of ``wlz_pipeline.marts.build.python_marts``
(config tables, survey scores, attainment risk, comparison matching and balance), and a
report-only check on ``marts/risk_profile`` that puts a distribution summary (no
identifiers) in its metadata. The SQL marts are assets of assets/models.py; those that
read these tables depend on them through their SQL."""

import dagster as dg

from assets.resources import WarehouseResource
from wlz_pipeline import versions
from wlz_pipeline.marts.build import PythonMart, python_marts
from wlz_pipeline.models import read_partitioned


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


def _metadata_value(value: object) -> object:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return dg.MetadataValue.json(value)


def _make(mart: PythonMart) -> dg.AssetsDefinition:
    @dg.asset(
        key=_key(mart.table),
        deps=[_key(t) for t in mart.inputs if t.split(".")[0] in ("staging", "marts")],
        group_name="marts",
        description=mart.description,
        kinds={"duckdb", "python"},
    )
    def _build(context: dg.AssetExecutionContext, wlz: WarehouseResource) -> dg.MaterializeResult:
        from wlz_pipeline.dictionary import asset_metadata

        schema, name = mart.table.split(".")
        with wlz.connect() as con:
            # rebuilt only when its declared inputs changed (wlz_pipeline/versions.py;
            # tests/marts/test_python_mart_inputs.py proves the declarations complete)
            result, rebuilt, changed = versions.build_versioned(
                con,
                mart.table,
                mart.inputs,
                mart.build,
                force=wlz.rebuild_all,
                # digested per part when a partitioned SQL model reads it (models.py)
                part_column=read_partitioned().get(mart.table),
                rows=mart.rows,
            )
            if not rebuilt:
                context.log.info(f"{mart.table}: inputs unchanged, not rebuilt")
            # row count, column schema with the sidecar's descriptions, aggregate preview
            metadata = asset_metadata(con, schema, name)
        for key, value in (result or {}).items():
            if key != "rows" and value is not None:
                metadata[key] = _metadata_value(value)
        metadata["rebuilt"] = rebuilt
        # False: rebuilt the same as before, so its readers are not (versions.py)
        metadata["content_changed"] = changed
        return dg.MaterializeResult(metadata=metadata)

    return _build


@dg.asset_check(
    asset=dg.AssetKey(["marts", "risk_profile"]),
    name="risk_profile_distribution",
    blocking=False,
    description="Reported only: how many children per wave, the risk_count distribution and "
    "the share of known children at risk on each factor (counts, no identifiers).",
)
def risk_profile_distribution(wlz: WarehouseResource) -> dg.AssetCheckResult:
    from wlz_pipeline.marts.report import risk_distribution

    with wlz.connect() as con:
        summary = risk_distribution(con)
    return dg.AssetCheckResult(
        passed=True,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "children_per_wave": dg.MetadataValue.json(summary["children"]),
            "risk_count_distribution": dg.MetadataValue.json(summary["risk_count"]),
            "factors": dg.MetadataValue.md(summary["factors_md"]),
        },
    )


defs = dg.Definitions(
    assets=[_make(m) for m in python_marts()],
    asset_checks=[risk_profile_distribution],
)
