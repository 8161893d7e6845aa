"""Ingest assets: one per landing sub-folder. Each registers new files (by content
hash), archives them, appends their rows to the raw layer and records supersedes."""

import dagster as dg

from assets.resources import WarehouseResource
from wlz_pipeline.ingest import Ingestor
from wlz_pipeline.settings import load_settings
from wlz_pipeline.warehouse import load_config_tables

#: Raw asset per landing folder, and the raw tables it fills (used to wire SQL models).
RAW_ASSETS: dict[str, tuple[str, ...]] = {
    "reference": ("raw.ref_",),
    "mis": (
        "raw.pupils",
        "raw.attendance_marks",
        "raw.attendance_summary",
        "raw.attainment",
        "raw.behaviour",
    ),
    "surveys": ("raw.survey_responses",),
    "interactions": ("raw.interactions",),
    "partners": ("raw.partner_marks", "raw.partner_outcomes", "raw.partner_feedback"),
}

DESCRIPTIONS = {
    "reference": "Reference files (anchors, partners, link workers, enrolments, allocations, "
    "calendar, IMD) as received.",
    "mis": "School MIS extracts (three CSV layouts and CTF XML) mapped to canonical fields, "
    "values as received.",
    "surveys": "My Voice survey exports as received.",
    "interactions": "Link-worker interaction logs as received (notes: restricted).",
    "partners": "Returned partner attendance templates: marks, outcome scores and feedback "
    "per child, with the sheet and cell each came from; findings per file.",
}


def raw_asset_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source])


def raw_asset_for_table(table: str) -> dg.AssetKey | None:
    for source, tables in RAW_ASSETS.items():
        if any(table == t or (t.endswith("_") and table.startswith(t)) for t in tables):
            return raw_asset_key(source)
    return None


def _make(source: str, deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_asset_key(source),
        deps=deps,
        group_name="ingest",
        description=DESCRIPTIONS[source],
        kinds={"duckdb"},
    )
    def _ingest(context: dg.AssetExecutionContext, wlz: WarehouseResource) -> dg.MaterializeResult:
        with wlz.connect() as con:
            load_config_tables(con)
            ing = Ingestor(con, wlz.data_path, wlz.archive_dir)
            report = ing.ingest_source(source)
            meta: dict = dict(report.as_metadata())
            if source == "reference":
                strays = ing.register_strays(load_settings().landing_ignore)
                meta["stray_files"] = len(strays)
                for note in strays:
                    context.log.warning(note)
            for path, reason in report.quarantine_reasons:
                context.log.warning(f"quarantined file {path}: {reason}")
            meta["files_quarantined_list"] = dg.MetadataValue.md(
                "\n".join(f"- `{p}`: {r}" for p, r in report.quarantine_reasons) or "none"
            )
        return dg.MaterializeResult(metadata=meta)

    return _ingest


def build_ingest_assets() -> list[dg.AssetsDefinition]:
    ref = raw_asset_key("reference")
    return [
        _make("reference", []),
        # MIS extracts are checked against the anchors and their profiles.
        _make("mis", [ref]),
        _make("surveys", [ref]),
        _make("interactions", [ref]),
        # templates are checked against allocations, the calendar and pupils' names
        _make("partners", [ref, raw_asset_key("mis")]),
    ]


defs = dg.Definitions(assets=build_ingest_assets())
