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

OUTCOMES_KEY = dg.AssetKey(["marts", "outcomes"])
LEDGER_KEY = dg.AssetKey(["marts", "payment_ledger"])
CLAIMS_KEY = dg.AssetKey(["marts", "payment_claims"])

_STAGING = ["enrolments", "pupils", "anchors", "calendar"]


def _keys(*names: str) -> list[dg.AssetKey]:
    return [dg.AssetKey(n.split("/")) for n in names]


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
    deps=_keys(*(f"staging/{t}" for t in _STAGING), "marts/risk_factors", "marts/risk_parameters"),
    group_name="marts",
    kinds={"duckdb", "python"},
    description="One row per enrolled child and rate-card outcome (rules.md §14): the measure "
    "for the child's phase, baseline (autumn wave of the cohort year) and endpoint (summer "
    "wave of the next year) values and risk, the change, and the status not_eligible / "
    "achieved / not_achieved / no_evidence with its reason and evidence.",
)
def outcomes(wlz: WarehouseResource) -> dg.MaterializeResult:
    from wlz_pipeline.payments.build import OUTCOMES_TABLE, build_outcomes

    with wlz.connect() as con:
        result = build_outcomes(con)
        meta = _metadata(con, OUTCOMES_TABLE, result)
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    key=LEDGER_KEY,
    deps=[
        OUTCOMES_KEY,
        *_keys(*(f"staging/{t}" for t in [*_STAGING, "interactions", "partner_marks"])),
    ],
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
    from wlz_pipeline.payments.build import LEDGER_TABLE, build_ledger

    store = _store(wlz)
    with wlz.connect() as con:
        result = build_ledger(con, store)
        meta = _metadata(con, LEDGER_TABLE, result)
    context.log.info(
        f"payment ledger: {result['rows']} lines, {result['amount_pence']} pence; "
        f"submitted periods {result['periods_submitted']} (store {result['store_dir']})"
    )
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    key=CLAIMS_KEY,
    deps=[LEDGER_KEY],
    group_name="marts",
    kinds={"duckdb", "python"},
    description="One row per claim period and commissioner: lines, amount in pence and whether "
    "the period was submitted, reconciled to marts.payment_ledger.",
)
def payment_claims(wlz: WarehouseResource) -> dg.MaterializeResult:
    from wlz_pipeline.payments.build import CLAIMS_TABLE, build_claims

    with wlz.connect() as con:
        result = build_claims(con)
        meta = _metadata(con, CLAIMS_TABLE, result)
    return dg.MaterializeResult(metadata=meta)


defs = dg.Definitions(assets=[outcomes, payment_ledger, payment_claims])
