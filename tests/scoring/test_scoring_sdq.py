"""SDQ scoring: hand-worked cases (arithmetic in the comments) and properties.

Item numbers are written out here from domain_facts §1.1, independently of the config:
  emotional     3, 8, 13, 16, 24
  conduct       5, 7r, 12, 18, 22
  hyperactivity 2, 10, 15, 21r, 25r
  peer          6, 11r, 14r, 19, 23
  prosocial     1, 4, 9, 17, 20
(r = reverse-scored: code c scores 2 - c.)
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wlz_pipeline.config import ConfigError
from wlz_pipeline.scoring.sdq import choose_informant, informant_priority, score_sdq

EMOTIONAL = (3, 8, 13, 16, 24)
CONDUCT = (5, 7, 12, 18, 22)
HYPER = (2, 10, 15, 21, 25)
PEER = (6, 11, 14, 19, 23)
PROSOCIAL = (1, 4, 9, 17, 20)


def answers(**scales: tuple[int | None, ...]) -> dict[int, int | None]:
    """Codes listed in the item order above, e.g. answers(conduct=(0, 0, 0, 0, 0))."""
    items = {
        "emotional": EMOTIONAL,
        "conduct": CONDUCT,
        "hyper": HYPER,
        "peer": PEER,
        "prosocial": PROSOCIAL,
    }
    out: dict[int, int | None] = {}
    for name, codes in scales.items():
        out.update(zip(items[name], codes, strict=True))
    return out


# ----------------------------------------------------------- reverse-scored items


def test_reverse_item_7_conduct() -> None:
    # all "Not true" (0): items 5, 12, 18, 22 score 0; item 7 (obeys) reversed 2 - 0 = 2
    # -> conduct = 2 (5 answered: mean 0.4 x 5 = 2)
    assert score_sdq(answers(conduct=(0, 0, 0, 0, 0)), "parent").conduct.score == 2
    # item 7 "Certainly true" (2) scores 2 - 2 = 0 -> conduct 0
    assert score_sdq(answers(conduct=(0, 2, 0, 0, 0)), "parent").conduct.score == 0


def test_reverse_item_11_peer() -> None:
    # 6=0, 11=0 -> 2, 14=2 -> 0, 19=0, 23=0: sum 2 -> peer 2
    assert score_sdq(answers(peer=(0, 0, 2, 0, 0)), "parent").peer.score == 2


def test_reverse_item_14_peer() -> None:
    # 6=0, 11=2 -> 0, 14=0 -> 2, 19=0, 23=0: sum 2 -> peer 2
    assert score_sdq(answers(peer=(0, 2, 0, 0, 0)), "parent").peer.score == 2


def test_reverse_item_21_hyperactivity() -> None:
    # 2=0, 10=0, 15=0, 21=0 -> 2, 25=2 -> 0: sum 2 -> hyperactivity 2
    assert score_sdq(answers(hyper=(0, 0, 0, 0, 2)), "parent").hyperactivity.score == 2


def test_reverse_item_25_hyperactivity() -> None:
    # 2=0, 10=0, 15=0, 21=2 -> 0, 25=0 -> 2: sum 2 -> hyperactivity 2
    assert score_sdq(answers(hyper=(0, 0, 0, 2, 0)), "parent").hyperactivity.score == 2


def test_somewhat_true_scores_1_on_reversed_and_plain_items() -> None:
    # all five "Somewhat true": every item scores 1 whether reversed or not -> 5 each
    all_ones = {i: 1 for i in range(1, 26)}
    s = score_sdq(all_ones, "parent")
    assert [s.emotional.score, s.conduct.score, s.hyperactivity.score, s.peer.score] == [5] * 4
    assert s.prosocial.score == 5
    assert s.total.score == 20  # 5 + 5 + 5 + 5


# ------------------------------------------------------------------------ prorating


def test_prorate_three_items_official_example() -> None:
    # emotional 3=2, 8=1, 13=1 (16, 24 missing): 4 points from 3 items
    # mean 4/3 = 1.333 x 5 = 6.67 -> 7 (the scoring sheet's own example)
    s = score_sdq(answers(emotional=(2, 1, 1, None, None)), "parent")
    assert s.emotional.score == 7
    assert s.emotional.n_answered == 3


def test_prorate_three_items_with_a_reversed_item() -> None:
    # conduct 5=1, 7=2 -> 0, 12=0 (18, 22 missing): 1 point from 3 items
    # 1/3 x 5 = 1.67 -> 2
    s = score_sdq(answers(conduct=(1, 2, 0, None, None)), "parent")
    assert s.conduct.score == 2


def test_prorate_four_items() -> None:
    # emotional 3=2, 8=2, 13=2, 16=1 (24 missing): 7 points from 4 items
    # 7/4 = 1.75 x 5 = 8.75 -> 9
    assert score_sdq(answers(emotional=(2, 2, 2, 1, None)), "parent").emotional.score == 9
    # 3 points from 4 items: 0.75 x 5 = 3.75 -> 4
    assert score_sdq(answers(emotional=(1, 1, 1, 0, None)), "parent").emotional.score == 4
    # 1 point from 4 items: 0.25 x 5 = 1.25 -> 1
    assert score_sdq(answers(emotional=(1, 0, 0, 0, None)), "parent").emotional.score == 1


def test_prorate_half_rounds_up() -> None:
    # emotional 3=1, 8=1, 13=0, 16=0 (24 missing): 2 points from 4 items
    # mean 0.5 x 5 = 2.5 -> 3 (round half up; Python's round(2.5) would give 2)
    assert score_sdq(answers(emotional=(1, 1, 0, 0, None)), "parent").emotional.score == 3
    # 6 points from 4 items: 1.5 x 5 = 7.5 -> 8 (round(7.5) happens to give 8 too)
    assert score_sdq(answers(emotional=(2, 2, 1, 1, None)), "parent").emotional.score == 8
    # with a reversed item: hyper 2=1, 10=1, 15=0, 21=2 -> 0 (25 missing):
    # 2 points from 4 items -> 2.5 -> 3
    assert score_sdq(answers(hyper=(1, 1, 0, 2, None)), "parent").hyperactivity.score == 3


def test_five_items_no_prorating() -> None:
    # emotional 2 + 1 + 0 + 1 + 2 = 6
    assert score_sdq(answers(emotional=(2, 1, 0, 1, 2)), "parent").emotional.score == 6


def test_two_answers_is_missing_and_total_missing() -> None:
    # emotional has only 3=2 and 8=2 answered: 2 < 3 -> missing
    a = answers(
        emotional=(2, 2, None, None, None),
        conduct=(1, 1, 1, 1, 1),  # 1 + (2-1) + 1 + 1 + 1 = 5
        hyper=(1, 1, 1, 1, 1),  # 5
        peer=(0, 2, 2, 0, 0),  # 0 + 0 + 0 + 0 + 0 = 0
        prosocial=(2, 2, 2, 2, 2),  # 10
    )
    s = score_sdq(a, "parent")
    assert s.emotional.score is None
    assert s.emotional.band is None
    assert s.emotional.at_risk is None  # unknown, never "not at risk"
    assert s.emotional.n_answered == 2
    assert s.total.score is None and s.total.at_risk is None
    assert s.internalising is None  # emotional + peer needs both
    assert s.externalising == 10  # conduct 5 + hyperactivity 5
    assert s.prosocial.score == 10


def test_empty_response_is_all_missing() -> None:
    s = score_sdq({}, "teacher")
    assert all(scale.score is None for scale in s.scales().values())
    assert s.externalising is None and s.internalising is None


def test_totals_on_a_full_response() -> None:
    a = answers(
        emotional=(2, 1, 0, 0, 1),  # 4
        conduct=(1, 0, 1, 0, 0),  # 1 + (2-0) + 1 + 0 + 0 = 4
        hyper=(2, 2, 1, 1, 0),  # 2 + 2 + 1 + (2-1) + (2-0) = 8
        peer=(1, 2, 1, 0, 0),  # 1 + (2-2) + (2-1) + 0 + 0 = 2
        prosocial=(1, 1, 2, 2, 1),  # 7
    )
    s = score_sdq(a, "parent")
    assert (s.emotional.score, s.conduct.score, s.hyperactivity.score, s.peer.score) == (4, 4, 8, 2)
    assert s.total.score == 18  # 4 + 4 + 8 + 2
    assert s.externalising == 12  # conduct 4 + hyperactivity 8
    assert s.internalising == 6  # emotional 4 + peer 2
    # parent bands: emotional 4 slightly raised; conduct 4 high (4-5); hyper 8 high;
    # peer 2 close to average; prosocial 7 slightly lowered; total 18 high (17-19)
    assert s.emotional.band == "slightly_raised"
    assert s.conduct.band == "high"
    assert s.hyperactivity.band == "high"
    assert s.peer.band == "close_to_average" and s.peer.at_risk is False
    assert s.prosocial.band == "slightly_lowered" and s.prosocial.at_risk is True
    assert s.total.band == "high" and s.total.at_risk is True


# ---------------------------------------------------------------------- band cut-offs

# Difficulty totals built by hand; peer item 6 (plain) switches 0 -> 1 to add one point.
#   emotional (2, 2, 1, 0, 0) = 5;  (2, 1, 0, 0, 0) = 3
#   conduct   (2, 2, 2, 0, 0) = 2 + 0 + 2 + 0 + 0 = 4
#   hyper     (2, 2, 0, 2, 2) = 2 + 2 + 0 + 0 + 0 = 4;  (2, 2, 1, 2, 2) = 5
#   peer      (0, 2, 2, 0, 0) = 0;  (1, 2, 2, 0, 0) = 1


def _total_response(emotional: tuple, hyper: tuple, peer6: int) -> dict[int, int | None]:
    return answers(
        emotional=emotional,
        conduct=(2, 2, 2, 0, 0),
        hyper=hyper,
        peer=(peer6, 2, 2, 0, 0),
        prosocial=(2, 2, 2, 2, 2),
    )


def test_parent_total_13_vs_14() -> None:
    # 5 + 4 + 4 + 0 = 13 -> close to average (parent 0-13)
    s = score_sdq(_total_response((2, 2, 1, 0, 0), (2, 2, 0, 2, 2), 0), "parent")
    assert s.total.score == 13
    assert (s.total.band, s.total.at_risk) == ("close_to_average", False)
    # 5 + 4 + 4 + 1 = 14 -> slightly raised (parent 14-16)
    s = score_sdq(_total_response((2, 2, 1, 0, 0), (2, 2, 0, 2, 2), 1), "parent")
    assert s.total.score == 14
    assert (s.total.band, s.total.at_risk) == ("slightly_raised", True)
    assert (s.total.threshold, s.total.op) == (14, ">=")


def test_teacher_total_11_vs_12() -> None:
    # 3 + 4 + 4 + 0 = 11 -> close to average (teacher 0-11)
    s = score_sdq(_total_response((2, 1, 0, 0, 0), (2, 2, 0, 2, 2), 0), "teacher")
    assert s.total.score == 11
    assert (s.total.band, s.total.at_risk) == ("close_to_average", False)
    # 3 + 4 + 4 + 1 = 12 -> slightly raised (teacher 12-15)
    s = score_sdq(_total_response((2, 1, 0, 0, 0), (2, 2, 0, 2, 2), 1), "teacher")
    assert s.total.score == 12
    assert (s.total.band, s.total.at_risk) == ("slightly_raised", True)


def test_self_total_14_vs_15() -> None:
    # 5 + 4 + 5 + 0 = 14 -> close to average (self 0-14)
    s = score_sdq(_total_response((2, 2, 1, 0, 0), (2, 2, 1, 2, 2), 0), "self")
    assert s.total.score == 14
    assert (s.total.band, s.total.at_risk) == ("close_to_average", False)
    # 5 + 4 + 5 + 1 = 15 -> slightly raised (self 15-17)
    s = score_sdq(_total_response((2, 2, 1, 0, 0), (2, 2, 1, 2, 2), 1), "self")
    assert s.total.score == 15
    assert (s.total.band, s.total.at_risk) == ("slightly_raised", True)


def test_teacher_very_high_total_and_subscale_bands() -> None:
    # everything maximal: plain items 2, reversed items 0 -> each difficulty scale 10
    worst = answers(
        emotional=(2, 2, 2, 2, 2),
        conduct=(2, 0, 2, 2, 2),
        hyper=(2, 2, 2, 0, 0),
        peer=(2, 0, 0, 2, 2),
        prosocial=(0, 0, 0, 0, 0),
    )
    s = score_sdq(worst, "teacher")
    assert s.total.score == 40
    assert s.total.band == "very_high"
    assert s.prosocial.score == 0 and s.prosocial.band == "very_low"


def test_prosocial_teacher_boundary_6_vs_5() -> None:
    # prosocial 2 + 1 + 1 + 1 + 1 = 6 -> teacher close to average (6-10)
    s = score_sdq(answers(prosocial=(2, 1, 1, 1, 1)), "teacher")
    assert (s.prosocial.score, s.prosocial.band, s.prosocial.at_risk) == (
        6,
        "close_to_average",
        False,
    )
    # 1 + 1 + 1 + 1 + 1 = 5 -> slightly lowered (teacher 5), at risk; rule is score <= 5
    s = score_sdq(answers(prosocial=(1, 1, 1, 1, 1)), "teacher")
    assert (s.prosocial.score, s.prosocial.band, s.prosocial.at_risk) == (
        5,
        "slightly_lowered",
        True,
    )
    assert (s.prosocial.threshold, s.prosocial.op) == (5, "<=")


def test_informant_is_case_insensitive_and_checked() -> None:
    assert score_sdq({}, " Parent ").informant == "parent"
    with pytest.raises(ValueError, match="informant"):
        score_sdq({}, "child")


def test_bad_answers_are_rejected() -> None:
    with pytest.raises(ValueError, match="0, 1 or 2"):
        score_sdq({3: 3}, "parent")
    with pytest.raises(ValueError, match="item number"):
        score_sdq({26: 1}, "parent")
    with pytest.raises(ValueError, match="0, 1 or 2"):
        score_sdq({3: True}, "parent")  # type: ignore[dict-item]


def test_as_row_is_flat() -> None:
    row = score_sdq({i: 1 for i in range(1, 26)}, "parent").as_row()
    assert row["sdq_total"] == 20
    assert row["sdq_total_band"] == "very_high"  # parent 20-40
    assert row["sdq_emotional_at_risk"] is True  # 5 -> high
    assert row["sdq_externalising"] == 10


# ------------------------------------------------------------------------ informants


def test_informant_priority_by_age() -> None:
    assert informant_priority(10) == ("parent", "teacher")
    assert informant_priority(11) == ("self", "parent", "teacher")
    assert informant_priority(17) == ("self", "parent", "teacher")
    assert informant_priority(None) == ("self", "parent", "teacher")


def test_choose_informant() -> None:
    assert choose_informant({"self", "parent", "teacher"}, 12) == "self"
    assert choose_informant({"self", "parent", "teacher"}, 10) == "parent"
    assert choose_informant({"self", "teacher"}, 9) == "teacher"
    assert choose_informant({"self"}, 9) is None
    assert choose_informant([], 14) is None


def test_informant_order_and_age_come_from_config(config_copy) -> None:
    path = config_copy("sdq_bands.yaml")
    text = path.read_text()
    text = text.replace(
        "informant_order: [self, parent, teacher]", "informant_order: [teacher, parent, self]"
    )
    text = text.replace("self_report_min_age: 11", "self_report_min_age: 12")
    path.write_text(text)
    assert informant_priority(11) == ("teacher", "parent")
    assert informant_priority(12) == ("teacher", "parent", "self")


def test_a_gap_in_a_band_table_fails_loudly(config_copy) -> None:
    path = config_copy("sdq_bands.yaml")
    text = path.read_text().replace("slightly_raised: [14, 16]", "slightly_raised: [15, 16]", 1)
    path.write_text(text)
    with pytest.raises(ConfigError, match="contiguous"):
        score_sdq({}, "parent")


def test_an_item_in_two_subscales_fails_loudly(config_copy) -> None:
    path = config_copy("sdq_bands.yaml")
    text = path.read_text().replace(
        "emotional: [3, 8, 13, 16, 24]", "emotional: [3, 8, 13, 16, 23]"
    )
    path.write_text(text)
    with pytest.raises(ConfigError, match="exactly once"):
        score_sdq({}, "parent")


# ------------------------------------------------------------------------ properties

code_or_missing = st.sampled_from([None, 0, 1, 2])
responses = st.lists(code_or_missing, min_size=25, max_size=25).map(
    lambda codes: {i + 1: c for i, c in enumerate(codes)}
)
informants = st.sampled_from(["self", "parent", "teacher"])
SUBSCALE_ITEMS = {
    "emotional": EMOTIONAL,
    "conduct": CONDUCT,
    "hyperactivity": HYPER,
    "peer": PEER,
    "prosocial": PROSOCIAL,
}


@given(responses, informants)
def test_ranges_and_total_identity(a: dict[int, int | None], who: str) -> None:
    s = score_sdq(a, who)
    for name, items in SUBSCALE_ITEMS.items():
        scale = getattr(s, name)
        n = sum(a[i] is not None for i in items)
        assert scale.n_answered == n
        if n < 3:
            assert scale.score is None and scale.band is None and scale.at_risk is None
        else:
            assert 0 <= scale.score <= 10
            assert scale.at_risk == (scale.band != "close_to_average")
    parts = [s.emotional.score, s.conduct.score, s.hyperactivity.score, s.peer.score]
    if all(p is not None for p in parts):
        assert 0 <= s.total.score <= 40
        assert s.total.score == sum(parts)
    else:
        assert s.total.score is None
    if s.conduct.score is not None and s.hyperactivity.score is not None:
        assert s.externalising == s.conduct.score + s.hyperactivity.score
    else:
        assert s.externalising is None
    if s.emotional.score is not None and s.peer.score is not None:
        assert s.internalising == s.emotional.score + s.peer.score
    else:
        assert s.internalising is None


@given(responses)
def test_flipping_every_answer_mirrors_the_scores(a: dict[int, int | None]) -> None:
    # Each item's score c becomes 2 - c, so a prorated value x becomes 10 - x. With 3 or 5
    # answers x is never a half, so the scores mirror exactly (s + s' = 10); with 4
    # answers x can be k + 0.5, and rounding both halves up gives s + s' = 11.
    flipped = {i: None if c is None else 2 - c for i, c in a.items()}
    s, f = score_sdq(a, "parent"), score_sdq(flipped, "parent")
    for name, items in SUBSCALE_ITEMS.items():
        n = sum(a[i] is not None for i in items)
        one, two = getattr(s, name).score, getattr(f, name).score
        if n < 3:
            assert one is None and two is None
        elif n == 4:
            assert one + two in (10, 11)
        else:
            assert one + two == 10


@given(st.sampled_from([0, 1, 2]), st.sampled_from([0, 1, 2]))
def test_reversed_item_mirrors_a_plain_item(a: int, b: int) -> None:
    # conduct: item 7 is reversed, item 5 is plain. (7=a, 5=b) scores (2-a) + b;
    # (7=2-b, 5=2-a) scores (2-(2-b)) + (2-a) = b + 2 - a: the same conduct score.
    rest = {12: 1, 18: 0, 22: 2}
    one = score_sdq({7: a, 5: b, **rest}, "parent").conduct.score
    two = score_sdq({7: 2 - b, 5: 2 - a, **rest}, "parent").conduct.score
    assert one == two
    # and with items 12, 18, 22 = 1, 0, 2 the conduct score is (2 - a) + b + 3
    assert one == (2 - a) + b + 3
