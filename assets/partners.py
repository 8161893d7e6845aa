"""Partner templates: the pre-filled workbooks the backbone sends to partners.

Templates are produced per term, so ``partners/templates`` is partitioned by term
(``2017/18-autumn``, the format of ``wlz template --term``): a run of one partition
(re)writes that term's templates only, and a backfill over several terms is one run per
term. The partitions are dynamic (``term``): ``partners/template_terms``, part of the
nightly ``wlz_everything`` job, registers every term of ``staging.calendar`` on the
instance, so a new academic year in the landing calendar becomes launchable after the
next run, without a code reload. Before the calendar is ingested there are simply no
partitions yet.

The templates are not in ``wlz_everything`` (an unpartitioned run cannot carry a
partitioned asset); they run in the job ``wlz_templates``: one process per run, and the
instance runs one run at a time (``config/dagster.yaml``), so a backfill's runs queue
instead of meeting on the DuckDB file.
"""

from collections.abc import Iterator

import dagster as dg

from assets.resources import WarehouseResource, in_process_executor
from wlz_pipeline.partner_templates import calendar_terms, template_specs, write_templates

#: One partition per template term of the calendar, e.g. ``2017/18-autumn``.
TERM_PARTITIONS = dg.DynamicPartitionsDefinition(name="term")

TEMPLATES_KEY = dg.AssetKey(["partners", "templates"])
TERMS_KEY = dg.AssetKey(["partners", "template_terms"])
TEMPLATES_JOB = "wlz_templates"


@dg.asset(
    key=TERMS_KEY,
    deps=[dg.AssetKey(["staging", "calendar"])],
    group_name="partners",
    description="The template terms of the calendar (staging.calendar), registered as the "
    "`term` partitions of partners/templates. Terms are only ever added: a term that left "
    "the calendar keeps its partition and its history.",
    kinds={"duckdb"},
)
def template_terms(
    context: dg.AssetExecutionContext, wlz: WarehouseResource
) -> dg.MaterializeResult:
    with wlz.connect() as con:
        terms = calendar_terms(con)
    name = TERM_PARTITIONS.name
    known = set(context.instance.get_dynamic_partitions(name))
    added = [t for t in terms if t not in known]
    if added:
        context.instance.add_dynamic_partitions(name, added)
        context.log.info(f"new template terms: {', '.join(added)}")
    not_in_calendar = sorted(known - set(terms))
    return dg.MaterializeResult(
        metadata={
            "terms": len(terms),
            "terms_added": len(added),
            "term_keys": dg.MetadataValue.md("\n".join(f"- {t}" for t in terms) or "none"),
            "added": dg.MetadataValue.md("\n".join(f"- {t}" for t in added) or "none"),
            "not_in_calendar": dg.MetadataValue.md(
                "\n".join(f"- {t}" for t in not_in_calendar) or "none"
            ),
        }
    )


@dg.asset(
    key=TEMPLATES_KEY,
    partitions_def=TERM_PARTITIONS,
    # nothing is written by a run without a term (see below)
    output_required=False,
    deps=[
        TERMS_KEY,
        dg.AssetKey(["staging", "allocations"]),
        dg.AssetKey(["staging", "calendar"]),
        dg.AssetKey(["staging", "partners"]),
        dg.AssetKey(["staging", "enrolments"]),
        dg.AssetKey(["staging", "pupils"]),
    ],
    group_name="partners",
    description="One pre-filled attendance template (.xlsx) per partner programme for the "
    "partition's term, written to <warehouse dir>/templates/<partner>/ (restricted: holds "
    "children's names). Partitioned by term: run one term, or backfill several, with the "
    "job wlz_templates.",
    kinds={"excel"},
)
def partner_templates(
    context: dg.AssetExecutionContext, wlz: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    if not context.has_partition_key:
        # an unpartitioned run that selected everything downstream of a landing folder
        # (e.g. the landing sensor's request) reaches this asset without a term
        context.log.warning(
            f"partners/templates: no term in this run, nothing written; launch the job "
            f"{TEMPLATES_JOB} for a term (partition), or backfill several"
        )
        return
    term = context.partition_key
    out = wlz.warehouse_path.parent / "templates"
    with wlz.connect() as con:
        specs = template_specs(con, term=term)
    paths = write_templates(specs, out)
    # counts, ids and paths only: the workbooks hold children's names, the metadata must not
    yield dg.MaterializeResult(
        metadata={
            "term": term,
            "templates_written": len(paths),
            "partners": dg.MetadataValue.json(sorted({s.partner_id for s in specs})),
            "folder": dg.MetadataValue.path(str(out)),
            "files": dg.MetadataValue.md(
                "\n".join(f"- `{p.relative_to(out).as_posix()}`" for p in paths) or "none"
            ),
            "programmes": dg.MetadataValue.md(
                "\n".join(
                    f"- {s.partner_id} {s.programme}: "
                    f"{len(s.children)} children, {len(s.sessions)} sessions"
                    for s in specs
                )
                or "none"
            ),
        }
    )


#: A term's templates, or a backfill over terms (one run per term), from the UI.
templates_job = dg.define_asset_job(
    TEMPLATES_JOB,
    selection=dg.AssetSelection.assets(TEMPLATES_KEY),
    partitions_def=TERM_PARTITIONS,
    executor_def=in_process_executor,
    description="(Re)write the partner attendance templates of the selected term(s); the "
    "terms are the calendar's (partners/template_terms, refreshed by wlz_everything).",
)

defs = dg.Definitions(assets=[template_terms, partner_templates], jobs=[templates_job])
