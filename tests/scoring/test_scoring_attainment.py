"""Attainment: percentiles, level bands, and the at-risk rule on both sides of each threshold.

Normal-table values used below (Phi = standard normal CDF):
  Phi(0) = 0.5; Phi(1) = 0.84134; Phi(2) = 0.97725; Phi(0.8) = 0.78814;
  Phi(0.84) = 0.79955; Phi(0.85) = 0.80234; Phi(1.07) = 0.85769.
"""

from __future__ import annotations

import pytest

from wlz_pipeline.config import ConfigError
from wlz_pipeline.scoring.attainment import (
    attainment_risk,
    level_to_standardised,
    national_percentile,
)

# ----------------------------------------------------------------------- percentiles


@pytest.mark.parametrize(
    ("score", "percentile"),
    [
        (100, 50.0),  # z = 0
        (85, 15.87),  # z = -1: 1 - 0.84134 = 0.15866
        (115, 84.13),  # z = +1
        (70, 2.28),  # z = -2: 1 - 0.97725 = 0.02275
        (88, 21.19),  # z = -0.8: 1 - 0.78814 = 0.21186
    ],
)
def test_national_percentile(score: float, percentile: float) -> None:
    assert national_percentile(score) == pytest.approx(percentile, abs=0.01)


def test_percentile_at_the_mean_is_exact() -> None:
    assert national_percentile(100) == 50.0


# ------------------------------------------------------------------------ level bands


@pytest.mark.parametrize(
    ("level", "midpoint"),
    [
        ("1c", 72.0),  # (70 + 74) / 2
        ("2b", 88.0),  # (86 + 90) / 2
        ("3b", 100.0),  # (98 + 102) / 2
        ("4a", 116.0),  # (114 + 118) / 2
        ("5a", 128.0),  # (126 + 130) / 2
        (" 2B ", 88.0),  # case and spaces forgiven
    ],
)
def test_level_midpoints(level: str, midpoint: float) -> None:
    assert level_to_standardised(level, None) == midpoint


def test_unknown_level() -> None:
    with pytest.raises(KeyError):
        level_to_standardised("6a", None)


def test_anchor_override(config_copy) -> None:
    path = config_copy("attainment.yaml")
    path.write_text(
        path.read_text().replace(
            "  anchors: {}",
            '  anchors:\n    "123456":\n      W: [70, 80]\n      1: [80, 96]\n',
        )
    )
    assert level_to_standardised("W", "123456") == 75.0  # (70 + 80) / 2
    assert level_to_standardised("1", "123456") == 88.0  # (80 + 96) / 2; unquoted key
    with pytest.raises(KeyError):
        level_to_standardised("2b", "123456")  # the anchor's table replaces the default
    assert level_to_standardised("2b", "654321") == 88.0  # other anchors: default table
    # W -> 75: z = -25/15 = -1.67, percentile ~4.8 -> at risk
    assert attainment_risk("level", "W", anchor_urn="123456").at_risk is True


def test_overlapping_level_bands_fail_loudly(config_copy) -> None:
    path = config_copy("attainment.yaml")
    path.write_text(path.read_text().replace("1b: [74, 78]", "1b: [72, 78]"))
    with pytest.raises(ConfigError, match="overlaps"):
        level_to_standardised("1b", None)


# ------------------------------------------------------------------------- risk rules


def test_standardised_both_sides() -> None:
    # 87: z = -0.867, percentile ~19.3 < 20 -> at risk
    r = attainment_risk("standardised", 87)
    assert r.at_risk is True
    assert r.value_used == pytest.approx(19.31, abs=0.01)
    assert (r.threshold, r.standardised) == (20, 87)
    # 88: z = -0.8, percentile 21.19 -> not at risk
    assert attainment_risk("standardised", "88").at_risk is False
    # the cut lies between 87.3 and 87.4:
    # 87.4: z = -0.84, 1 - 0.79955 = 20.05% -> not at risk
    assert attainment_risk("standardised", 87.4).at_risk is False
    # 87.3: z = -0.8467, between 1 - 0.80234 = 19.77% and 20.05% -> ~19.86% at risk
    assert attainment_risk("standardised", 87.3).at_risk is True


def test_standardised_bad_values() -> None:
    assert attainment_risk("standardised", "n/a").at_risk is None
    assert attainment_risk("standardised", 1000).at_risk is None  # outside 40-160
    assert attainment_risk("standardised", None).at_risk is None
    assert attainment_risk("standardised", " ").at_risk is None


def test_scaled_both_sides() -> None:
    assert attainment_risk("scaled", 99).at_risk is True  # 99 < 100
    assert attainment_risk("scaled", 100).at_risk is False  # the expected standard
    assert attainment_risk("scaled", "120").at_risk is False
    assert attainment_risk("scaled", 79).at_risk is None  # below the 80-120 range
    r = attainment_risk("scaled", 99)
    assert (r.value_used, r.threshold) == (99, 100)


@pytest.mark.parametrize(
    "code",
    ["WTS", "below", "well-below", "Well below", "PKF", "HNM", "BLW", "PK1", "PK6", "EM", "wts"],
)
def test_teacher_assessment_at_risk(code: str) -> None:
    assert attainment_risk("teacher_assessment", code).at_risk is True


@pytest.mark.parametrize("code", ["EXS", "GDS", "at", "above", "exs", "Above expected"])
def test_teacher_assessment_not_at_risk(code: str) -> None:
    assert attainment_risk("teacher_assessment", code).at_risk is False


@pytest.mark.parametrize("code", ["A", "L", "F", "P", "ZZZ", "3b"])
def test_teacher_assessment_unknown(code: str) -> None:
    r = attainment_risk("teacher_assessment", code)
    assert r.at_risk is None
    assert r.rule


def test_teacher_assessment_alias() -> None:
    r = attainment_risk("teacher_assessment", "Working towards")
    assert (r.at_risk, r.value_used) == (True, "WTS")


def test_level_both_sides() -> None:
    # 2c -> midpoint 84: z = -1.067, percentile ~14.3 (1 - 0.85769 = 14.23 at z = 1.07)
    r = attainment_risk("level", "2c")
    assert r.at_risk is True
    assert r.standardised == 84
    assert r.value_used == pytest.approx(14.3, abs=0.1)
    # 2b -> midpoint 88: percentile 21.19 -> not at risk
    r = attainment_risk("level", "2b")
    assert (r.at_risk, r.standardised) == (False, 88)
    assert attainment_risk("level", "9z").at_risk is None


@pytest.mark.parametrize(
    ("grade", "at_risk"),
    [
        ("3", True),  # 3 < 4
        (3, True),
        ("4", False),  # the standard pass
        ("9", False),
        ("1", True),
        ("U", True),
        ("u", True),
        ("D", True),  # legacy letters: C is aligned with 4
        ("C", False),
        ("A*", False),
        ("10", None),
        ("0", None),
        ("X", None),
        ("4.5", None),
    ],
)
def test_gcse(grade: object, at_risk: bool | None) -> None:
    assert attainment_risk("gcse", grade).at_risk is at_risk


@pytest.mark.parametrize(
    ("value", "at_risk"),
    [
        ("emerging", True),
        ("Emerging", True),
        ("expected", False),
        ("exceeding", False),
        ("developing", None),
    ],
)
def test_eyfs(value: str, at_risk: bool | None) -> None:
    assert attainment_risk("eyfs", value).at_risk is at_risk


def test_unknown_measure_type() -> None:
    r = attainment_risk("reading_age", "9y3m")
    assert r.at_risk is None
    assert "unknown measure type" in r.rule


def test_thresholds_come_from_config(config_copy) -> None:
    path = config_copy("attainment.yaml")
    text = path.read_text()
    text = text.replace("at_risk_percentile_below: 20", "at_risk_percentile_below: 25")
    text = text.replace("at_risk_below: 100", "at_risk_below: 105")
    path.write_text(text)
    # 88 -> percentile 21.19 < 25 now
    assert attainment_risk("standardised", 88).at_risk is True
    assert attainment_risk("scaled", 104).at_risk is True


def test_ta_order_is_checked(config_copy) -> None:
    path = config_copy("attainment.yaml")
    text = path.read_text().replace(
        '- {code: EM, at_risk: true, meaning: "engagement model',
        '- {code: EM, at_risk: false, meaning: "engagement model',
    )
    path.write_text(text)
    with pytest.raises(ConfigError, match="lowest to highest"):
        attainment_risk("teacher_assessment", "EM")
