"""Ingest assets: one per landing sub-folder. Each registers new files (by content
hash), archives them, appends their rows to the raw layer and records supersedes."""

import dagster as dg

from assets.resources import WarehouseResource
from wlz_pipeline.ingest import Ingestor
from wlz_pipeline.settings import load_settings
from wlz_pipeline.warehouse import load_config_tables

#: Raw asset per landing folder, and the raw tables it fills (used to wire SQL models).
#: ``mis/`` is ingested by two: ``raw/pupils`` takes its pupil registers (and CTF files,
#: which carry the register with the attendance and results that come with it) first,
#: so that what needs only the register (partner templates' names, survey scoring) can
#: go on while ``raw/mis`` reads the other extracts, the zone's ~23 M attendance marks.
RAW_ASSETS: dict[str, tuple[str, ...]] = {
    "reference": ("raw.ref_",),
    "pupils": ("raw.pupils", "raw.attendance_summary", "raw.attainment"),
    "mis": (
        "raw.attendance_marks",
        "raw.attendance_summary",
        "raw.attainment",
        "raw.behaviour",
    ),
    "surveys": ("raw.survey_responses",),
    "interactions": ("raw.interactions",),
    "partners": ("raw.partner_marks", "raw.partner_outcomes", "raw.partner_feedback"),
}

#: Raw asset -> (landing folder, which of its files: None all, True the pupil
#: registers, False the rest; ``Ingestor.ingest_source``).
FOLDERS: dict[str, tuple[str, bool | None]] = {
    "reference": ("reference", None),
    "pupils": ("mis", True),
    "mis": ("mis", False),
    "surveys": ("surveys", None),
    "interactions": ("interactions", None),
    "partners": ("partners", None),
}

DESCRIPTIONS = {
    "reference": "Reference files (anchors, partners, link workers, enrolments, allocations, "
    "calendar, IMD) as received.",
    "pupils": "Pupil registers from the school MIS extracts (each layout's register CSV, and "
    "CTF XML with the attendance and results it carries) mapped to canonical fields, values "
    "as received.",
    "mis": "School MIS extracts other than the pupil registers (attendance marks and "
    "summaries, assessments, behaviour; three CSV layouts) mapped to canonical fields, "
    "values as received.",
    "surveys": "My Voice survey exports as received.",
    "interactions": "Link-worker interaction logs as received (notes: restricted).",
    "partners": "Returned partner attendance templates: marks, outcome scores and feedback "
    "per child, with the sheet and cell each came from; findings per file.",
}


def raw_asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", name])


def raw_assets_for_table(table: str) -> list[dg.AssetKey]:
    """The raw assets that fill ``table`` (two for the tables a CTF file also fills)."""
    return [
        raw_asset_key(name)
        for name, tables in RAW_ASSETS.items()
        if any(table == t or (t.endswith("_") and table.startswith(t)) for t in tables)
    ]


def raw_assets_for_folder(folder: str) -> list[dg.AssetKey]:
    """The raw assets that ingest the landing folder ``folder``."""
    return [raw_asset_key(name) for name, (f, _) in FOLDERS.items() if f == folder]


def _make(name: str, deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    source, registers = FOLDERS[name]

    @dg.asset(
        key=raw_asset_key(name),
        deps=deps,
        group_name="ingest",
        description=DESCRIPTIONS[name],
        kinds={"duckdb"},
    )
    def _ingest(context: dg.AssetExecutionContext, wlz: WarehouseResource) -> dg.MaterializeResult:
        with wlz.connect() as con:
            load_config_tables(con)
            ing = Ingestor(con, wlz.data_path, wlz.archive_dir)
            report = ing.ingest_source(source, registers)
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
    pupils = raw_asset_key("pupils")
    return [
        _make("reference", []),
        # MIS extracts are checked against the anchors and their profiles; the rest of
        # mis/ is read after its registers, so the two never write the registry at once
        _make("pupils", [ref]),
        _make("mis", [ref, pupils]),
        _make("surveys", [ref]),
        _make("interactions", [ref]),
        # templates are checked against allocations, the calendar and pupils' names
        _make("partners", [ref, pupils]),
    ]


defs = dg.Definitions(assets=build_ingest_assets())
