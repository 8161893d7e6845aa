"""WEMWBS scoring: the total of 14 items (1-5) and the low-wellbeing flag.

Rules: spec rules.md §5, domain_facts.md §2; settings in ``config/wellbeing.yaml``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field, model_validator

from wlz_pipeline.scoring._config import StrictModel, load_settings

CONFIG_FILE = "wellbeing.yaml"


class _Wemwbs(StrictModel):
    n_items: int = Field(ge=1)
    item_min: int
    item_max: int
    min_answered: int = Field(ge=1)
    low_wellbeing_max: float

    @model_validator(mode="after")
    def _check(self) -> _Wemwbs:
        if self.item_min >= self.item_max:
            raise ValueError("item_min must be below item_max")
        if self.min_answered != self.n_items:
            # A partial total is not comparable with the threshold; prorating would need
            # its own documented rule, so refuse rather than silently sum fewer items.
            raise ValueError("min_answered must equal n_items (only complete responses)")
        return self


class _WellbeingConfig(StrictModel):
    wemwbs: _Wemwbs


def _config() -> _Wemwbs:
    return load_settings(CONFIG_FILE, _WellbeingConfig).wemwbs


@dataclass(frozen=True)
class WemwbsScore:
    """WEMWBS total (``None`` unless every item was answered) and low-wellbeing flag."""

    total: int | None
    at_risk: bool | None
    n_answered: int
    threshold: float
    op: str = "<="


def score_wemwbs(answers: Mapping[int, int | None]) -> WemwbsScore:
    """Score one WEMWBS response: item number (1-14) -> code 1-5 or ``None``.

    Raises ``ValueError`` on an item number or code outside the scale.
    """
    cfg = _config()
    given: dict[int, int] = {}
    for item, code in answers.items():
        if (
            isinstance(item, bool)
            or not isinstance(item, numbers.Integral)
            or not 1 <= item <= cfg.n_items
        ):
            raise ValueError(f"WEMWBS item number must be 1..{cfg.n_items}, got {item!r}")
        if code is None:
            continue
        if isinstance(code, bool) or code not in range(cfg.item_min, cfg.item_max + 1):
            raise ValueError(
                f"WEMWBS item {item}: code must be {cfg.item_min}..{cfg.item_max}, got {code!r}"
            )
        given[int(item)] = int(code)
    n = len(given)
    if n < cfg.min_answered:
        return WemwbsScore(None, None, n, cfg.low_wellbeing_max)
    total = sum(given.values())
    return WemwbsScore(total, total <= cfg.low_wellbeing_max, n, cfg.low_wellbeing_max)
