"""WEMWBS: total of 14 items (1-5) only when complete; low wellbeing when total <= 40."""

from __future__ import annotations

import pytest

from wlz_pipeline.scoring.constructs import code_answer, numbered_answers
from wlz_pipeline.scoring.wemwbs import score_wemwbs


def items(*codes: int | None) -> dict[int, int | None]:
    assert len(codes) == 14
    return {i + 1: c for i, c in enumerate(codes)}


def test_complete_response_total() -> None:
    # 5 + 4 + 4 + 3x10 + 2 = 13 + 30 + 2 = 45
    s = score_wemwbs(items(5, 4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2))
    assert (s.total, s.at_risk, s.n_answered) == (45, False, 14)


def test_extremes() -> None:
    assert score_wemwbs(items(*[1] * 14)).total == 14  # 14 x 1
    assert score_wemwbs(items(*[5] * 14)).total == 70  # 14 x 5


def test_one_missing_item_is_unknown() -> None:
    s = score_wemwbs(items(5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, None))
    assert (s.total, s.at_risk, s.n_answered) == (None, None, 13)
    assert score_wemwbs({}).total is None


def test_boundary_40_vs_41() -> None:
    # twelve 3s + two 2s = 36 + 4 = 40 -> 40 <= 40: low wellbeing
    s = score_wemwbs(items(3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2))
    assert (s.total, s.at_risk, s.threshold, s.op) == (40, True, 40, "<=")
    # thirteen 3s + one 2 = 39 + 2 = 41 -> not low
    s = score_wemwbs(items(3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2))
    assert (s.total, s.at_risk) == (41, False)


def test_text_answers_via_coding() -> None:
    raw = {f"wemwbs_{i}": "Often" for i in range(1, 15)}  # "Often" = 4
    coded = {k: code_answer(k, v) for k, v in raw.items()}
    assert score_wemwbs(numbered_answers(coded, "wemwbs")).total == 56  # 14 x 4


@pytest.mark.parametrize("bad", [{1: 0}, {1: 6}, {15: 3}, {0: 3}])
def test_out_of_range_is_rejected(bad: dict[int, int]) -> None:
    with pytest.raises(ValueError):
        score_wemwbs(bad)


def test_threshold_comes_from_config(config_copy) -> None:
    path = config_copy("wellbeing.yaml")
    path.write_text(path.read_text().replace("low_wellbeing_max: 40", "low_wellbeing_max: 44"))
    # 5 + 4 + 4 + 30 + 2 = 45 > 44; thirteen 3s + one 2 = 41 <= 44
    assert score_wemwbs(items(5, 4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2)).at_risk is False
    assert score_wemwbs(items(3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2)).at_risk is True
