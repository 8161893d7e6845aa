"""The HTML reports (``wlz_pipeline/reports``): rendered after the publication, from the
published BI file (partner report cards, the WLZ summary, the index) and the restricted
warehouse (child profiles and claim packs, under ``reports/restricted/``).

Metadata carries page counts and paths only: never a child's name or identifier."""

import dagster as dg

from assets.resources import WarehouseResource
from wlz_pipeline.executor import EXCLUSIVE
from wlz_pipeline.reports import ReportError, render_reports

REPORTS_KEY = dg.AssetKey(["reports", "html"])
#: The publication asset (assets/publish.py); named here, not imported: assets/publish.py
#: imports every asset module while it is being defined.
PUBLICATION_KEY = dg.AssetKey(["bi", "publication"])


@dg.asset(
    key=REPORTS_KEY,
    deps=[PUBLICATION_KEY],
    group_name="reports",
    # opens the warehouse read-only: runs alone (wlz_pipeline/executor.py)
    op_tags=EXCLUSIVE,
    kinds={"html"},
    description="Static HTML reports (inline CSS and SVG, printable on A4): the WLZ summary "
    "and partner report cards from the published BI file (no child identifiers, small "
    "numbers suppressed), and, under reports/restricted/, child profiles and claim packs "
    "from the restricted warehouse; an index with the publication's as-of date.",
)
def html_reports(context: dg.AssetExecutionContext, wlz: WarehouseResource) -> dg.MaterializeResult:
    try:
        result = render_reports(wlz.warehouse_path)
    except ReportError as exc:
        raise dg.Failure(description=str(exc)) from exc
    pages = dict(sorted(result.pages.items()))
    context.log.info(f"reports: {sum(pages.values())} pages in {result.out_dir}")
    return dg.MaterializeResult(
        metadata={
            "index": dg.MetadataValue.path(str(result.index)),
            "restricted_index": dg.MetadataValue.path(str(result.restricted_index or "")),
            "out_dir": dg.MetadataValue.path(str(result.out_dir)),
            "pages": dg.MetadataValue.json(pages),
            **{f"pages_{kind}": n for kind, n in pages.items()},
            "pages_removed": result.removed,
            "as_of_date": str(result.as_of_date or ""),
        }
    )


defs = dg.Definitions(assets=[html_reports])
