"""The status of each rate-card outcome for each enrolled child (rules.md §14).

For a child of cohort Y, the baseline is the autumn wave of Y and the endpoint the
summer wave of Y+1 (rules.md §1). The measure of each outcome depends on the child's
phase (config/rate_card.yaml ``outcome_measures``: a risk-profile factor, the direction
that is better, and the minimum change).

- ``not_eligible``: not at risk on the measure at baseline (or the baseline is unknown,
  or the phase has no measure for the outcome) - success is only counted for children
  at risk at the start; ``status_reason`` says which;
- ``achieved``: at risk at baseline and, at the endpoint, no longer at risk or improved
  by at least the minimum change in the better direction;
- ``no_evidence``: at risk at baseline and the endpoint is missing;
- ``not_achieved``: otherwise.

Changes are computed in exact decimals (a float from the warehouse is read through its
shortest representation), so 0.95 - 0.93 is 0.02 and meets a minimum change of 0.02.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from wlz_pipeline.payments.eligibility import decimal_of, decimal_text
from wlz_pipeline.payments.rate_card import OutcomeMeasure

STATUSES = ("not_eligible", "achieved", "not_achieved", "no_evidence")


@dataclass(frozen=True)
class Reading:
    """A child's measure at one wave: the factor, whether it is at risk (None =
    unknown), the comparable number and the scale it is on (attainment: standardised,
    scaled, gcse; None for measures with one scale)."""

    factor: str
    at_risk: bool | None
    value: float | None
    scale: str | None = None


@dataclass(frozen=True)
class OutcomeStatus:
    status: str
    reason: str
    change: Decimal | None
    min_change: Decimal | None


def evaluate(
    measure: OutcomeMeasure | None, baseline: Reading | None, end: Reading | None
) -> OutcomeStatus:
    """rules.md §14 for one child and outcome. ``baseline`` / ``end`` are None when the
    child has no reading at that wave."""
    change = min_change = None
    if (
        measure is not None
        and baseline is not None
        and end is not None
        and baseline.factor == end.factor
        and baseline.scale == end.scale
        and baseline.value is not None
        and end.value is not None
    ):
        min_change = measure.min_change_for(baseline.scale)
        if min_change is not None:
            change = decimal_of(end.value) - decimal_of(baseline.value)  # type: ignore[operator]
    if measure is None:
        return OutcomeStatus("not_eligible", "no measure for phase", change, min_change)
    if baseline is None or baseline.at_risk is None:
        return OutcomeStatus("not_eligible", "baseline unknown", change, min_change)
    if not baseline.at_risk:
        return OutcomeStatus("not_eligible", "not at risk at baseline", change, min_change)
    if end is None or (end.at_risk is None and end.value is None):
        return OutcomeStatus("no_evidence", "endpoint missing", change, min_change)
    if end.at_risk is False:
        return OutcomeStatus("achieved", "no longer at risk at endpoint", change, min_change)
    if change is None:
        return OutcomeStatus(
            "not_achieved",
            "still at risk; change not measurable (no comparable values)",
            change,
            min_change,
        )
    improvement = change if measure.better == "higher" else -change
    if improvement >= min_change:  # type: ignore[operator]
        return OutcomeStatus(
            "achieved",
            f"improved by {decimal_text(improvement)} >= {decimal_text(min_change)}",
            change,
            min_change,
        )
    return OutcomeStatus(
        "not_achieved",
        f"still at risk; improved by {decimal_text(improvement)} < {decimal_text(min_change)}",
        change,
        min_change,
    )
