"""Attainment: national percentiles, level bands and the at-risk rule per measure type.

Rules: spec rules.md §3 and domain_facts.md §6; thresholds and code tables in
``config/attainment.yaml``. Every result says what produced it (the value used, the
threshold and the rule in words); a result that cannot be judged is ``at_risk=None``,
never "not at risk".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from pydantic import Field, field_validator, model_validator

from wlz_pipeline.scoring._config import StrictModel, load_settings

CONFIG_FILE = "attainment.yaml"

MEASURE_TYPES: tuple[str, ...] = (
    "standardised",
    "scaled",
    "teacher_assessment",
    "level",
    "gcse",
    "eyfs",
)

_SEPARATORS = re.compile(r"[\s_\-]+")


def _norm(code: object) -> str:
    """Case-insensitive code key; runs of spaces, ``_`` and ``-`` count as one ``-``."""
    return _SEPARATORS.sub("-", str(code).strip().casefold())


# ---------------------------------------------------------------------------- config


class _Standardised(StrictModel):
    mean: float
    sd: float = Field(gt=0)
    at_risk_percentile_below: float = Field(gt=0, lt=100)
    plausible_range: tuple[float, float]


class _Scaled(StrictModel):
    at_risk_below: float
    plausible_range: tuple[float, float]


def _str_keys(value: Any) -> Any:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


class _LevelTable(StrictModel):
    bands: dict[str, tuple[float, float]]

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, value: Any) -> Any:
        return {"bands": _str_keys(value)}

    @model_validator(mode="after")
    def _check(self) -> _LevelTable:
        if not self.bands:
            raise ValueError("a level table needs at least one level")
        keys = [_norm(k) for k in self.bands]
        if len(set(keys)) != len(keys):
            raise ValueError("two levels differ only in case or separators")
        previous_high = -math.inf
        for level, (low, high) in self.bands.items():
            if low >= high:
                raise ValueError(f"level {level}: low {low} must be below high {high}")
            if low < previous_high:
                raise ValueError(f"level {level}: overlaps the level before it (list low to high)")
            previous_high = high
        return self


class _Level(StrictModel):
    default: _LevelTable
    anchors: dict[str, _LevelTable] = Field(default_factory=dict)

    @field_validator("anchors", mode="before")
    @classmethod
    def _urns(cls, value: Any) -> Any:
        return _str_keys(value) if value is not None else {}


class _TaCode(StrictModel):
    code: str
    at_risk: bool
    meaning: str


class _TeacherAssessment(StrictModel):
    codes: list[_TaCode] = Field(min_length=1)
    aliases: dict[str, str] = Field(default_factory=dict)
    no_result: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> _TeacherAssessment:
        keys = [_norm(c.code) for c in self.codes]
        if len(set(keys)) != len(keys):
            raise ValueError("teacher_assessment.codes lists a code twice")
        seen_not_at_risk = False
        for c in self.codes:
            if not c.at_risk:
                seen_not_at_risk = True
            elif seen_not_at_risk:
                raise ValueError(
                    f"teacher_assessment code {c.code} is at risk but listed above a code "
                    "that is not (list codes from lowest to highest)"
                )
        for alias, target in self.aliases.items():
            if _norm(target) not in keys:
                raise ValueError(f"alias {alias!r} points to unknown code {target!r}")
        clash = {_norm(k) for k in self.no_result} & (set(keys) | {_norm(a) for a in self.aliases})
        if clash:
            raise ValueError(f"no_result codes {sorted(clash)} are also result codes")
        return self


class _Gcse(StrictModel):
    at_risk_below: float
    at_risk_codes: list[str] = Field(default_factory=list)
    legacy_letter_grades: dict[str, bool] = Field(default_factory=dict)


class _Eyfs(StrictModel):
    codes: dict[str, bool] = Field(min_length=1)


class _AttainmentConfig(StrictModel):
    standardised: _Standardised
    scaled: _Scaled
    level: _Level
    teacher_assessment: _TeacherAssessment
    gcse: _Gcse
    eyfs: _Eyfs


def _config() -> _AttainmentConfig:
    return load_settings(CONFIG_FILE, _AttainmentConfig)


# ---------------------------------------------------------------------- percentiles


def national_percentile(standardised: float) -> float:
    """The national percentile (0-100) of a standardised score.

    ``NormalDist(mean, sd).cdf(score) x 100`` with mean 100 and sd 15 from config:
    100 -> 50.0, 85 (one sd below) -> 15.87, 115 -> 84.13.
    """
    cfg = _config().standardised
    return NormalDist(cfg.mean, cfg.sd).cdf(float(standardised)) * 100


def level_band(level: str, anchor_urn: str | None = None) -> tuple[float, float] | None:
    """The ``(low, high)`` standardised-score band of a school level, or ``None``.

    Uses the anchor's own table when config has one for ``anchor_urn``, otherwise the
    default table.
    """
    cfg = _config().level
    table = cfg.anchors.get(str(anchor_urn).strip(), cfg.default) if anchor_urn else cfg.default
    wanted = _norm(level)
    for name, band in table.bands.items():
        if _norm(name) == wanted:
            return band
    return None


def level_to_standardised(level: str, anchor_urn: str | None = None) -> float:
    """The midpoint of a school level's standardised-score band (rules.md §3).

    Raises ``KeyError`` for a level the anchor's table (or the default) does not list.
    """
    band = level_band(level, anchor_urn)
    if band is None:
        where = f"anchor {anchor_urn}" if anchor_urn else "the default table"
        raise KeyError(f"level {level!r} is not in the level bands of {where}")
    low, high = band
    return (low + high) / 2


# ------------------------------------------------------------------------ risk rules


@dataclass(frozen=True)
class AttainmentRisk:
    """Whether one assessment result is at risk, and what produced the answer.

    ``value_used`` is what was compared with ``threshold``: the percentile for
    ``standardised`` and ``level``, the score for ``scaled``, the grade for ``gcse``, the
    normalised code for ``teacher_assessment`` and ``eyfs``. ``standardised`` is the
    standardised score behind a percentile (the score itself, or a level's midpoint).
    """

    at_risk: bool | None
    value_used: float | str | None
    threshold: float | str | None
    rule: str
    measure_type: str
    standardised: float | None = None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _percentile_rule(mt: str, score: float, shown: str) -> AttainmentRisk:
    cut = _config().standardised.at_risk_percentile_below
    pct = national_percentile(score)
    at_risk = pct < cut
    verdict = "at risk" if at_risk else "not at risk"
    rule = f"{shown} -> national percentile {pct:.2f} {'<' if at_risk else '>='} {cut:g}: {verdict}"
    return AttainmentRisk(at_risk, pct, cut, rule, mt, score)


def _unknown(
    mt: str, value: object, why: str, threshold: float | str | None = None
) -> AttainmentRisk:
    return AttainmentRisk(None, None, threshold, f"{mt} {value!r}: {why}", mt)


def _standardised(value: object) -> AttainmentRisk:
    cfg = _config().standardised
    score = _number(value)
    if score is None:
        return _unknown("standardised", value, "not a number", cfg.at_risk_percentile_below)
    low, high = cfg.plausible_range
    if not low <= score <= high:
        return _unknown(
            "standardised",
            value,
            f"outside the plausible range {low:g}-{high:g}",
            cfg.at_risk_percentile_below,
        )
    return _percentile_rule("standardised", score, f"standardised {score:g}")


def _scaled(value: object) -> AttainmentRisk:
    cfg = _config().scaled
    score = _number(value)
    cut = cfg.at_risk_below
    if score is None:
        return _unknown("scaled", value, "not a number", cut)
    low, high = cfg.plausible_range
    if not low <= score <= high:
        return _unknown("scaled", value, f"outside the scaled-score range {low:g}-{high:g}", cut)
    at_risk = score < cut
    rule = (
        f"scaled {score:g} < {cut:g}: at risk (below the expected standard)"
        if at_risk
        else f"scaled {score:g} >= {cut:g}: not at risk"
    )
    return AttainmentRisk(at_risk, score, cut, rule, "scaled")


def _level(value: object, anchor_urn: str | None) -> AttainmentRisk:
    cut = _config().standardised.at_risk_percentile_below
    band = level_band(str(value), anchor_urn)
    if band is None:
        where = f"anchor {anchor_urn}" if anchor_urn else "the default table"
        return _unknown("level", value, f"not a level in the level bands of {where}", cut)
    mid = (band[0] + band[1]) / 2
    shown = f"level {str(value).strip()} -> band {band[0]:g}-{band[1]:g}, midpoint {mid:g}"
    return _percentile_rule("level", mid, shown)


def _teacher_assessment(value: object) -> AttainmentRisk:
    cfg = _config().teacher_assessment
    key = _norm(value)
    for name, why in cfg.no_result.items():
        if _norm(name) == key:
            return _unknown("teacher_assessment", value, f"no result ({why})", "expected")
    for alias, target in cfg.aliases.items():
        if _norm(alias) == key:
            key = _norm(target)
            break
    for c in cfg.codes:
        if _norm(c.code) == key:
            verdict = (
                "below the age-related expectation: at risk"
                if c.at_risk
                else "at or above the age-related expectation: not at risk"
            )
            rule = f"teacher assessment {c.code} ({c.meaning}) is {verdict}"
            return AttainmentRisk(c.at_risk, c.code, "expected", rule, "teacher_assessment")
    return _unknown("teacher_assessment", value, "unknown teacher assessment code", "expected")


def _gcse(value: object) -> AttainmentRisk:
    cfg = _config().gcse
    cut = cfg.at_risk_below
    text = str(value).strip().upper()
    if text in {c.strip().upper() for c in cfg.at_risk_codes}:
        return AttainmentRisk(True, text, cut, f"gcse {text}: ungraded, at risk", "gcse")
    for letter, at_risk in cfg.legacy_letter_grades.items():
        if letter.strip().upper() == text:
            verdict = "at risk" if at_risk else "not at risk"
            rule = f"gcse letter grade {text} (pre-2017 scale, C aligned with 4): {verdict}"
            return AttainmentRisk(at_risk, text, cut, rule, "gcse")
    grade = _number(value)
    if grade is None or grade != int(grade) or not 1 <= grade <= 9:
        return _unknown("gcse", value, "not a GCSE grade 9-1 or U", cut)
    at_risk = grade < cut
    rule = f"gcse grade {grade:g} {'<' if at_risk else '>='} {cut:g}: " + (
        "at risk" if at_risk else "not at risk"
    )
    return AttainmentRisk(at_risk, grade, cut, rule, "gcse")


def _eyfs(value: object) -> AttainmentRisk:
    key = _norm(value)
    for code, at_risk in _config().eyfs.codes.items():
        if _norm(code) == key:
            rule = f"eyfs {code}: " + ("at risk" if at_risk else "not at risk")
            return AttainmentRisk(at_risk, code, "expected", rule, "eyfs")
    return _unknown("eyfs", value, "unknown EYFS outcome", "expected")


def attainment_risk(
    measure_type: str,
    value: str | float | int | None,
    *,
    anchor_urn: str | None = None,
) -> AttainmentRisk:
    """Is one assessment result at risk (rules.md §3)?

    - ``standardised``: national percentile < 20;
    - ``scaled``: score < 100;
    - ``teacher_assessment``: a code below the age-related expectation (config list);
    - ``level``: the level's band midpoint (per anchor, config) as a standardised score;
    - ``gcse``: grade < 4, or U;
    - ``eyfs``: ``emerging``.

    A blank value, an unknown code or measure type, or a "no result" code (absent,
    left, …) gives ``at_risk=None`` with the reason in ``rule``.
    """
    mt = str(measure_type).strip().casefold()
    if mt not in MEASURE_TYPES:
        return AttainmentRisk(None, None, None, f"unknown measure type {measure_type!r}", mt)
    if value is None or (isinstance(value, str) and not value.strip()):
        return AttainmentRisk(None, None, None, f"{mt}: no value", mt)
    if isinstance(value, float) and math.isnan(value):
        return AttainmentRisk(None, None, None, f"{mt}: no value", mt)
    if mt == "standardised":
        return _standardised(value)
    if mt == "scaled":
        return _scaled(value)
    if mt == "level":
        return _level(value, anchor_urn)
    if mt == "teacher_assessment":
        return _teacher_assessment(value)
    if mt == "gcse":
        return _gcse(value)
    return _eyfs(value)
