"""The Collective Impact Bond: ``marts/outcomes``, ``marts/payment_ledger`` and
``marts/payment_claims`` (wlz_pipeline/payments), and the ledger's blocking suite.

The ledger also reads the frozen-claims store, which lives outside the warehouse
(``WLZ_CLAIMS_DIR``, default ``claims/`` beside the warehouse folder): submitted lines
are re-emitted unchanged, later differences become adjustments. The suite
``expectations/payments/payment_ledger.json`` runs as a blocking (ERROR) check on the
ledger, so a broken invariant stops ``payment_claims`` and the publication.
"""

from pathlib import Path

import dagster as dg

from assets.resources import WarehouseResource
from wlz_pipeline.config import REPO_ROOT

OUTCOMES_KEY = dg.AssetKey(["marts", "outcomes"])
LEDGER_KEY = dg.AssetKey(["marts", "payment_ledger"])
CLAIMS_KEY = dg.AssetKey(["marts", "payment_claims"])
LEDGER_SUITE = REPO_ROOT / "expectations" / "payments" / "payment_ledger.json"

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


def _ledger_suite_check(path: Path) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                name="suite_errors",
                asset=LEDGER_KEY,
                blocking=True,
                description=f"Blocking ledger invariants of expectations/payments/{path.name} "
                "(parts add up to the price, shares sum to 1, total <= cap, one payment of a "
                "kind per child, at most three outcome payments, outcomes only with "
                "engagement met)",
            )
        ],
        name="marts_payment_ledger_suite",
    )
    def _check(wlz: WarehouseResource):  # noqa: ANN202
        from assets.checks import _results
        from wlz_pipeline.quality.gx_duckdb import load_suite, validate_table

        outcome = validate_table(wlz.warehouse_path, "marts.payment_ledger", load_suite(path))
        yield from _results(outcome, LEDGER_KEY, wlz, {"ERROR"})

    return _check


defs = dg.Definitions(
    assets=[outcomes, payment_ledger, payment_claims],
    asset_checks=[_ledger_suite_check(LEDGER_SUITE)],
)
