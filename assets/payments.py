"""The Collective Impact Bond: ``marts/outcomes``, ``marts/payment_ledger`` and
``marts/payment_claims`` (wlz_pipeline/payments).

The ledger also reads the frozen-claims store, which lives outside the warehouse
(``WLZ_CLAIMS_DIR``, default ``claims/`` beside the warehouse folder): submitted lines
are re-emitted unchanged, later differences become adjustments. The ledger's invariants
are the suite ``expectations/payment_ledger.json``, a blocking (ERROR) check like every
suite (assets/checks.py), so a broken invariant stops ``payment_claims`` and the
publication.
"""

import dagster as dg

from assets.resources import WarehouseResource
from wlz_pipeline.payments.build import (
    CLAIMS_INPUTS,
    CLAIMS_TABLE,
    LEDGER_INPUTS,
    LEDGER_TABLE,
    OUTCOMES_INPUTS,
    OUTCOMES_TABLE,
)

OUTCOMES_KEY = dg.AssetKey(["marts", "outcomes"])
LEDGER_KEY = dg.AssetKey(["marts", "payment_ledger"])
CLAIMS_KEY = dg.AssetKey(["marts", "payment_claims"])


def _deps(tables: tuple[str, ...]) -> list[dg.AssetKey]:
    """The staging and mart assets among a table's inputs (payments/build.py)."""
    return [dg.AssetKey(t.split(".")) for t in tables if t.split(".")[0] in ("staging", "marts")]


def _build(context, wlz: WarehouseResource, table: str, tables, build, extra=None) -> dict:  # noqa: ANN001
    """Build ``table`` unless what it is built from is unchanged (wlz_pipeline/versions.py);
    its metadata, with ``rebuilt`` and ``content_changed``."""
    from wlz_pipeline import versions

    with wlz.connect() as con:
        result, rebuilt, changed = versions.build_versioned(
            con, table, tables, build, force=wlz.rebuild_all, extra=extra
        )
        if not rebuilt:
            context.log.info(f"{table}: inputs unchanged, not rebuilt")
        meta = _metadata(con, table, result or {})
    meta["rebuilt"] = rebuilt
    # False: rebuilt the same as before, so its readers are not (versions.py)
    meta["content_changed"] = changed
    return meta


def _metadata(con, table: str, result: dict) -> dict:  # noqa: ANN001
    from wlz_pipeline.dictionary import asset_metadata

    layer, name = table.split(".")
    meta = dict(asset_metadata(con, layer, name))
    for k, v in result.items():
        if k == "rows":
            continue
        if isinstance(v, bool | int | float | str) or v is None:
            meta[k] = v
        else:
            meta[k] = dg.MetadataValue.json(v)
    return meta


def _store(wlz: WarehouseResource):  # noqa: ANN202
    from wlz_pipeline.payments.store import ClaimsStore, claims_dir

    return ClaimsStore(claims_dir(warehouse=wlz.warehouse_path))


@dg.asset(
    key=OUTCOMES_KEY,
    deps=_deps(OUTCOMES_INPUTS),
    group_name="marts",
    kinds={"duckdb", "python"},
    description="One row per enrolled child and rate-card outcome (rules.md §14): the measure "
    "for the child's phase, baseline (autumn wave of the cohort year) and endpoint (summer "
    "wave of the next year) values and risk, the change, and the status not_eligible / "
    "achieved / not_achieved / no_evidence with its reason and evidence.",
)
def outcomes(context: dg.AssetExecutionContext, wlz: WarehouseResource) -> dg.MaterializeResult:
    from wlz_pipeline.payments.build import build_outcomes

    meta = _build(context, wlz, OUTCOMES_TABLE, OUTCOMES_INPUTS, build_outcomes)
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    key=LEDGER_KEY,
    deps=_deps(LEDGER_INPUTS),
    group_name="marts",
    kinds={"duckdb", "python"},
    description="The Collective Impact Bond ledger (rules.md §15): one line per payment and "
    "commissioner (sign-up, engagement years 1 and 2, up to three outcomes), in integer pence "
    "split by the largest remainder, with claim period, status (claimable / submitted / "
    "adjustment / capped), the original line an adjustment corrects, and evidence. Submitted "
    "periods come unchanged from the frozen-claims store.",
)
def payment_ledger(
    context: dg.AssetExecutionContext, wlz: WarehouseResource
) -> dg.MaterializeResult:
    from wlz_pipeline.payments.build import build_ledger

    store = _store(wlz)
    # the store lives outside the warehouse: its submissions are an input of their own
    extra = {"claims_store": f"{store.root}|{store.fingerprint()}"}
    meta = _build(
        context, wlz, LEDGER_TABLE, LEDGER_INPUTS, lambda con: build_ledger(con, store), extra
    )
    context.log.info(
        f"payment ledger: {meta.get('dagster/row_count', '?')} lines; "
        f"{'rebuilt' if meta['rebuilt'] else 'unchanged'} (store {store.root})"
    )
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    key=CLAIMS_KEY,
    deps=_deps(CLAIMS_INPUTS),
    group_name="marts",
    kinds={"duckdb", "python"},
    description="One row per claim period and commissioner: lines, amount in pence and whether "
    "the period was submitted, reconciled to marts.payment_ledger.",
)
def payment_claims(
    context: dg.AssetExecutionContext, wlz: WarehouseResource
) -> dg.MaterializeResult:
    from wlz_pipeline.payments.build import build_claims

    meta = _build(context, wlz, CLAIMS_TABLE, CLAIMS_INPUTS, build_claims)
    return dg.MaterializeResult(metadata=meta)


defs = dg.Definitions(assets=[outcomes, payment_ledger, payment_claims])
