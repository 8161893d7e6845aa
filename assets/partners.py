"""Partner templates: the pre-filled workbooks the backbone sends to partners."""

import dagster as dg

from assets.resources import WarehouseResource
from wlz_pipeline.partner_templates import template_specs, write_templates


@dg.asset(
    key=dg.AssetKey(["partners", "templates"]),
    deps=[
        dg.AssetKey(["staging", "allocations"]),
        dg.AssetKey(["staging", "calendar"]),
        dg.AssetKey(["staging", "partners"]),
        dg.AssetKey(["staging", "enrolments"]),
        dg.AssetKey(["staging", "pupils"]),
    ],
    group_name="partners",
    description="One pre-filled attendance template (.xlsx) per partner programme and term, "
    "written to <warehouse dir>/templates/<partner>/ (restricted: holds children's names).",
    kinds={"excel"},
)
def partner_templates(wlz: WarehouseResource) -> dg.MaterializeResult:
    out = wlz.warehouse_path.parent / "templates"
    with wlz.connect() as con:
        specs = template_specs(con)
    paths = write_templates(specs, out)
    return dg.MaterializeResult(
        metadata={
            "templates_written": len(paths),
            "folder": dg.MetadataValue.path(str(out)),
            "programme_terms": dg.MetadataValue.md(
                "\n".join(
                    f"- {s.partner_id} {s.programme} {s.academic_year} {s.term}: "
                    f"{len(s.children)} children, {len(s.sessions)} sessions"
                    for s in specs
                )
                or "none"
            ),
        }
    )


defs = dg.Definitions(assets=[partner_templates])
