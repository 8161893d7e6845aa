"""SDQ scoring: reverse scoring, prorated subscales, totals, four-band banding.

Rules: spec rules.md §5 and domain_facts.md §1. Item structure, prorating and the band
cut-offs come from ``config/sdq_bands.yaml``.

Answers are item number (1-25) -> code 0/1/2 as printed on the form ("Not true" = 0,
"Somewhat true" = 1, "Certainly true" = 2), *before* reverse scoring; ``score_sdq``
reverses items 7, 11, 14, 21 and 25 itself. ``None`` (or an absent key) is a missing
answer.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from wlz_pipeline.scoring._config import StrictModel, load_settings

CONFIG_FILE = "sdq_bands.yaml"

N_ITEMS = 25
ITEM_CODES = (0, 1, 2)
SUBSCALE_MAX = 10
TOTAL_MAX = 40

Informant = Literal["self", "parent", "teacher"]
INFORMANTS: tuple[str, ...] = ("self", "parent", "teacher")
DIFFICULTY_SCALES: tuple[str, ...] = ("emotional", "conduct", "hyperactivity", "peer")
SUBSCALES: tuple[str, ...] = (*DIFFICULTY_SCALES, "prosocial")
BANDED_SCALES: tuple[str, ...] = (*SUBSCALES, "total")

DIFFICULTY_BANDS: tuple[str, ...] = ("close_to_average", "slightly_raised", "high", "very_high")
PROSOCIAL_BANDS: tuple[str, ...] = ("close_to_average", "slightly_lowered", "low", "very_low")
NOT_AT_RISK_BAND = "close_to_average"


# ---------------------------------------------------------------------------- config


class _Scoring(StrictModel):
    min_answered: int = Field(ge=1, le=5)
    reverse_items: list[int]
    subscales: dict[str, list[int]]

    @model_validator(mode="after")
    def _check(self) -> _Scoring:
        if set(self.subscales) != set(SUBSCALES):
            raise ValueError(f"subscales must be exactly {list(SUBSCALES)}")
        seen: list[int] = []
        for name, items in self.subscales.items():
            if len(items) != 5:
                raise ValueError(f"subscale {name} must have 5 items, has {len(items)}")
            seen.extend(items)
        if sorted(seen) != list(range(1, N_ITEMS + 1)):
            raise ValueError("subscales must use each item 1..25 exactly once")
        if not set(self.reverse_items) <= set(range(1, N_ITEMS + 1)):
            raise ValueError("reverse_items must be item numbers 1..25")
        return self


class _SdqConfig(StrictModel):
    informant_order: list[Informant]
    self_report_min_age: int = Field(ge=0, le=25)
    scoring: _Scoring
    bands: dict[Informant, dict[str, dict[str, tuple[int, int]]]]

    @model_validator(mode="after")
    def _check(self) -> _SdqConfig:
        if len(set(self.informant_order)) != len(self.informant_order):
            raise ValueError("informant_order lists an informant twice")
        missing = set(INFORMANTS) - set(self.bands)
        if missing:
            raise ValueError(f"bands: no table for informant(s) {sorted(missing)}")
        for informant, table in self.bands.items():
            if set(table) != set(BANDED_SCALES):
                raise ValueError(f"bands.{informant}: scales must be exactly {list(BANDED_SCALES)}")
            for scale, bands in table.items():
                _check_band_table(f"bands.{informant}.{scale}", scale, bands)
        return self


def _check_band_table(where: str, scale: str, bands: Mapping[str, tuple[int, int]]) -> None:
    names = PROSOCIAL_BANDS if scale == "prosocial" else DIFFICULTY_BANDS
    if list(bands) != list(names):
        raise ValueError(f"{where}: bands must be, in this order, {list(names)}")
    top = TOTAL_MAX if scale == "total" else SUBSCALE_MAX
    ranges = [bands[n] for n in names]
    for name, (lo, hi) in zip(names, ranges, strict=True):
        if lo > hi:
            raise ValueError(f"{where}.{name}: low {lo} is above high {hi}")
    # Difficulty bands ascend from 0; prosocial bands descend from the maximum.
    ordered = ranges if scale != "prosocial" else list(reversed(ranges))
    if ordered[0][0] != 0 or ordered[-1][1] != top:
        raise ValueError(f"{where}: bands must cover 0-{top}")
    for (_, hi), (lo, _) in zip(ordered, ordered[1:], strict=False):
        if lo != hi + 1:
            raise ValueError(f"{where}: bands must be contiguous (gap or overlap at {hi}/{lo})")


def _config() -> _SdqConfig:
    return load_settings(CONFIG_FILE, _SdqConfig)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ScaleScore:
    """One SDQ scale for one response.

    ``score``, ``band`` and ``at_risk`` are ``None`` when the scale could not be scored
    (too few answers). ``threshold``/``op`` say what "at risk" meant: difficulty scales
    are at risk when ``score >= threshold`` (the first slightly-raised score), prosocial
    when ``score <= threshold`` (the last slightly-lowered score).
    """

    score: int | None
    band: str | None
    at_risk: bool | None
    n_answered: int
    threshold: int
    op: str


@dataclass(frozen=True)
class SdqScore:
    """Every SDQ scale of one response, scored for one informant's norms."""

    informant: str
    emotional: ScaleScore
    conduct: ScaleScore
    hyperactivity: ScaleScore
    peer: ScaleScore
    prosocial: ScaleScore
    total: ScaleScore
    externalising: int | None
    internalising: int | None

    def scales(self) -> dict[str, ScaleScore]:
        """The banded scales by name (the four difficulty subscales, prosocial, total)."""
        return {name: getattr(self, name) for name in BANDED_SCALES}

    def as_row(self, prefix: str = "sdq_") -> dict[str, object]:
        """A flat dict (``sdq_emotional``, ``sdq_emotional_band``, ``..._at_risk``, ...)."""
        row: dict[str, object] = {f"{prefix}informant": self.informant}
        for name, scale in self.scales().items():
            row[f"{prefix}{name}"] = scale.score
            row[f"{prefix}{name}_band"] = scale.band
            row[f"{prefix}{name}_at_risk"] = scale.at_risk
            row[f"{prefix}{name}_threshold"] = scale.threshold
        row[f"{prefix}externalising"] = self.externalising
        row[f"{prefix}internalising"] = self.internalising
        return row


# --------------------------------------------------------------------------- scoring


def subscale_items() -> dict[str, tuple[int, ...]]:
    """The items (1-25) of each subscale, in ``SUBSCALES`` order (config). A subscale's
    score, band and risk flag depend on its own items' answers only."""
    subscales = _config().scoring.subscales
    return {name: tuple(subscales[name]) for name in SUBSCALES}


def round_half_up(x: float) -> int:
    """Round to the nearest integer, halves up (``floor(x + 0.5)``), as SDQ syntax does.

    Python's ``round`` rounds halves to even (``round(2.5) == 2``); the SDQ rule gives 3.
    """
    return math.floor(x + 0.5)


def item_score(item: int, code: int) -> int:
    """The scored value of one answered item: ``code``, or ``2 - code`` if reversed."""
    return _item_score(_config(), item, code)


def _item_score(cfg: _SdqConfig, item: int, code: int) -> int:
    return ITEM_CODES[-1] - code if item in cfg.scoring.reverse_items else code


def _check_answers(answers: Mapping[int, int | None]) -> dict[int, int]:
    given: dict[int, int] = {}
    for item, code in answers.items():
        is_int = type(item) is int or (
            isinstance(item, numbers.Integral) and not isinstance(item, bool)
        )
        if not is_int or not 1 <= item <= N_ITEMS:
            raise ValueError(f"SDQ item number must be 1..{N_ITEMS}, got {item!r}")
        if code is None:
            continue
        if isinstance(code, bool) or code not in ITEM_CODES:
            raise ValueError(f"SDQ item {item}: answer code must be 0, 1 or 2, got {code!r}")
        given[int(item)] = int(code)
    return given


def _normalise_informant(informant: str) -> str:
    key = str(informant).strip().casefold()
    if key not in INFORMANTS:
        raise ValueError(f"SDQ informant must be one of {list(INFORMANTS)}, got {informant!r}")
    return key


def band_for(scale: str, score: int, informant: str) -> str:
    """The four-band label of ``score`` on ``scale`` under ``informant``'s norms."""
    return _band_for(_config(), scale, score, _normalise_informant(informant))


def _band_for(cfg: _SdqConfig, scale: str, score: int, informant: str) -> str:
    table = cfg.bands[informant][scale]  # type: ignore[index]
    for name, (lo, hi) in table.items():
        if lo <= score <= hi:
            return name
    raise ValueError(f"SDQ {scale} score {score} is outside the band table")


def _threshold(cfg: _SdqConfig, scale: str, informant: str) -> tuple[int, str]:
    table = cfg.bands[informant][scale]  # type: ignore[index]
    if scale == "prosocial":
        return table["slightly_lowered"][1], "<="
    return table["slightly_raised"][0], ">="


#: ``_scale``'s results, with the config they were computed from: scoring a survey's
#: responses asks for a few hundred distinct (scale, score, answered, informant) only.
_scale_memo: tuple[_SdqConfig | None, dict[tuple, ScaleScore]] = (None, {})


def _scale(
    cfg: _SdqConfig, scale: str, score: int | None, n_answered: int, informant: str
) -> ScaleScore:
    global _scale_memo
    memo_cfg, memo = _scale_memo
    if memo_cfg is not cfg:  # another (or an edited) config: start again
        memo = {}
        _scale_memo = (cfg, memo)
    key = (scale, score, n_answered, informant)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = _scale_of(cfg, scale, score, n_answered, informant)
    return hit


def _scale_of(
    cfg: _SdqConfig, scale: str, score: int | None, n_answered: int, informant: str
) -> ScaleScore:
    threshold, op = _threshold(cfg, scale, informant)
    if score is None:
        return ScaleScore(None, None, None, n_answered, threshold, op)
    band = _band_for(cfg, scale, score, informant)
    return ScaleScore(score, band, band != NOT_AT_RISK_BAND, n_answered, threshold, op)


def subscale_score(scored_values: Iterable[int], min_answered: int | None = None) -> int | None:
    """Prorated subscale score from the *already reverse-scored* answered items.

    ``None`` when fewer than ``min_answered`` (config: 3) items were answered; otherwise
    ``floor(mean x 5 + 0.5)``.
    """
    values = list(scored_values)
    need = _config().scoring.min_answered if min_answered is None else min_answered
    if len(values) < need or not values:
        return None
    return round_half_up(sum(values) / len(values) * 5)


def score_sdq(answers: Mapping[int, int | None], informant: str) -> SdqScore:
    """Score one SDQ response (items 1-25 -> code 0/1/2, unreversed) for ``informant``.

    Raises ``ValueError`` on an item number outside 1-25, a code other than 0/1/2 or
    ``None``, or an unknown informant.
    """
    cfg = _config()
    who = _normalise_informant(informant)
    given = _check_answers(answers)

    scores: dict[str, int | None] = {}
    answered: dict[str, int] = {}
    for name in SUBSCALES:
        items = cfg.scoring.subscales[name]
        values = [_item_score(cfg, i, given[i]) for i in items if i in given]
        answered[name] = len(values)
        scores[name] = subscale_score(values, cfg.scoring.min_answered)

    diff = [scores[n] for n in DIFFICULTY_SCALES]
    total = sum(d for d in diff if d is not None) if all(d is not None for d in diff) else None

    def pair(a: str, b: str) -> int | None:
        sa, sb = scores[a], scores[b]
        return None if sa is None or sb is None else sa + sb

    return SdqScore(
        informant=who,
        **{n: _scale(cfg, n, scores[n], answered[n], who) for n in SUBSCALES},
        total=_scale(cfg, "total", total, sum(answered[n] for n in DIFFICULTY_SCALES), who),
        externalising=pair("conduct", "hyperactivity"),
        internalising=pair("emotional", "peer"),
    )


# ------------------------------------------------------------------------ informants


def informant_priority(age: int | None) -> tuple[str, ...]:
    """Informants whose SDQ may count for a child of ``age``, most preferred first.

    The order comes from ``informant_order`` in config (default self, parent, teacher);
    ``self`` is dropped when the child is younger than ``self_report_min_age`` (11).
    With an unknown age ``self`` is kept: a self-report exists only when the child
    filled one in, and the survey offers it to secondary pupils.
    """
    cfg = _config()
    order = tuple(cfg.informant_order)
    if age is not None and age < cfg.self_report_min_age:
        return tuple(i for i in order if i != "self")
    return order


def choose_informant(available: Iterable[str], age: int | None) -> str | None:
    """The informant whose SDQ counts, among those with a response; ``None`` if none."""
    have = {_normalise_informant(a) for a in available}
    for informant in informant_priority(age):
        if informant in have:
            return informant
    return None
