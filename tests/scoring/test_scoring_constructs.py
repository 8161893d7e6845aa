"""Survey answer coding and construct scoring (config/survey.yaml)."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from wlz_pipeline.config import DEFAULT_CONFIG_DIR, ConfigError
from wlz_pipeline.scoring.constructs import (
    InvalidAnswer,
    UnknownItem,
    code_answer,
    code_row,
    construct_names,
    item_columns,
    numbered_answers,
    score_construct,
)

# The scales as written in the config file, read with plain yaml (not the code under test).
SURVEY = yaml.safe_load((DEFAULT_CONFIG_DIR / "survey.yaml").read_text(encoding="utf-8"))
LABELLED = {
    "sdq_7": SURVEY["scales"]["sdq"],
    "wemwbs_3": SURVEY["scales"]["wemwbs"],
    "bully_victim": SURVEY["scales"]["frequency"],
    "offend_fight": SURVEY["scales"]["yes_no"],
    "alcohol_30d": SURVEY["scales"]["days_30"],
    "school_eng_2": SURVEY["scales"]["agree4"],
}


# ---------------------------------------------------------------------------- coding


@pytest.mark.parametrize(
    ("item", "raw", "code"),
    [
        ("sdq_1", "Not true", 0),
        ("sdq_1", "  somewhat TRUE ", 1),
        ("sdq_25", "CERTAINLY TRUE", 2),  # coding does not reverse: that is the scorer's job
        ("sdq_1", 2, 2),
        ("sdq_1", "2", 2),
        ("sdq_1", 2.0, 2),
        ("sdq_1", " 1.0 ", 1),
        ("wemwbs_14", "all of the time", 5),
        ("wemwbs_1", "None of the time", 1),
        ("bully_victim", "2 or 3 times a month", 2),
        ("offend_steal", "yes", 1),
        ("offend_steal", "NO", 0),
        ("alcohol_30d", "1-2 days", 1),
        ("fam_mgmt_1", "Strongly agree", 4),
        ("household_size", "5", 5),
        ("bedrooms", 0, 0),
        ("active_days", 7, 7),  # days in a week: 0-7
    ],
)
def test_code_answer(item: str, raw: object, code: int) -> None:
    assert code_answer(item, raw) == code


@pytest.mark.parametrize("raw", [None, "", "   ", float("nan")])
def test_blank_is_none(raw: object) -> None:
    assert code_answer("sdq_3", raw) is None
    assert code_answer("household_size", raw) is None


@pytest.mark.parametrize(
    ("item", "raw"),
    [
        ("sdq_1", "Sometimes"),
        ("sdq_1", 3),  # not one of the codes 0, 1, 2
        ("sdq_1", -1),
        ("sdq_1", 1.5),
        ("sdq_1", True),
        ("wemwbs_1", 0),  # WEMWBS codes are 1-5
        ("active_days", 8),  # a week has 7 days
        ("wemwbs_1", "Not true"),  # a label of another scale
        ("household_size", 31),  # count scale: 0-30
        ("household_size", "-1"),
        ("household_size", "3.5"),
        ("bedrooms", "three"),
    ],
)
def test_invalid_answers(item: str, raw: object) -> None:
    with pytest.raises(InvalidAnswer) as info:
        code_answer(item, raw)  # type: ignore[arg-type]
    assert info.value.item == item
    assert info.value.value == raw or (isinstance(raw, float) and math.isnan(raw))
    assert info.value.message.startswith(f"{item}: ")


def test_invalid_answer_says_what_was_expected() -> None:
    with pytest.raises(InvalidAnswer) as info:
        code_answer("sdq_4", "Sometimes")
    assert "'Not true' (0)" in info.value.expected
    assert "'Certainly true' (2)" in info.value.expected
    with pytest.raises(InvalidAnswer) as info:
        code_answer("bedrooms", 99)
    assert info.value.expected == "a whole number from 0 to 30"


@pytest.mark.parametrize("item", ["sdq_0", "sdq_26", "sdq_01", "wemwbs_15", "shoe_size", "sdq_"])
def test_unknown_item(item: str) -> None:
    with pytest.raises(UnknownItem):
        code_answer(item, "1")


@given(
    st.sampled_from(sorted(LABELLED)).flatmap(
        lambda item: st.tuples(st.just(item), st.sampled_from(sorted(LABELLED[item].items())))
    ),
    st.lists(st.booleans(), min_size=40, max_size=40),
    st.text(alphabet=" \t", max_size=3),
    st.text(alphabet=" \t", max_size=3),
)
def test_text_and_numeric_answers_code_identically(
    item_label, upper: list[bool], before: str, after: str
) -> None:
    item, (label, code) = item_label
    mixed = "".join(c.upper() if u else c.lower() for c, u in zip(label, upper, strict=False))
    assert code_answer(item, before + mixed + after) == code
    assert code_answer(item, code) == code
    assert code_answer(item, str(code)) == code
    assert code_answer(item, float(code)) == code


def test_item_columns() -> None:
    columns = item_columns()
    assert columns[:25] == [f"sdq_{i}" for i in range(1, 26)]
    assert columns[25:39] == [f"wemwbs_{i}" for i in range(1, 15)]
    assert columns[39] == "bully_victim"
    assert columns[-1] == "bedrooms"
    assert len(columns) == 25 + 14 + 22  # 22 named items in survey.yaml


def test_code_row_collects_errors() -> None:
    row = code_row({"sdq_1": "not TRUE", "sdq_2": "maybe", "household_size": "4", "extra": "x"})
    assert row.values["sdq_1"] == 0
    assert row.values["sdq_2"] is None
    assert row.values["sdq_3"] is None  # absent column = blank
    assert row.values["household_size"] == 4
    assert "extra" not in row.values
    assert [(e.item, e.value) for e in row.errors] == [("sdq_2", "maybe")]


def test_numbered_answers() -> None:
    got = numbered_answers({"sdq_1": 2, "sdq_25": 0, "wemwbs_1": 5}, "sdq")
    assert got[1] == 2 and got[25] == 0 and got[2] is None
    assert sorted(got) == list(range(1, 26))
    assert numbered_answers({"wemwbs_14": 3}, "wemwbs")[14] == 3


# --------------------------------------------------------------------------- scoring


def test_every_construct_of_rules_section_5_is_configured() -> None:
    assert construct_names() == [
        "bullying_victimisation",
        "offending_behaviour",
        "alcohol_use",
        "smoking",
        "drug_use",
        "poor_family_management",
        "poor_attachment",
        "parents_involvement",
        "insufficient_exercise",
        "overcrowded_accommodation",
        "school_engagement",
    ]


def test_value_scoring_bullying() -> None:
    # "2 or 3 times a month" = 2 >= 2 -> at risk
    s = score_construct("bullying_victimisation", {"bully_victim": 2})
    assert (s.score, s.at_risk, s.threshold, s.op) == (2, True, 2, ">=")
    # "Only once or twice" = 1, not >= 2
    assert score_construct("bullying_victimisation", {"bully_victim": 1}).at_risk is False
    # not answered: 0 of 1 items, 1 needed (default min_answered = all items) -> unknown
    s = score_construct("bullying_victimisation", {"bully_victim": None})
    assert (s.score, s.at_risk, s.n_answered, s.min_answered) == (None, None, 0, 1)
    assert s.note == "0 of 1 items answered; 1 needed"


def test_value_scoring_exercise_boundary() -> None:
    # fewer than 5 active days: 4 < 5 at risk; 5 is not
    assert score_construct("insufficient_exercise", {"active_days": 4}).at_risk is True
    assert score_construct("insufficient_exercise", {"active_days": 5}).at_risk is False


def test_value_scoring_substances() -> None:
    # any use in the last 30 days: "1-2 days" = 1 >= 1 at risk; "Never" = 0 not
    assert score_construct("alcohol_use", {"alcohol_30d": 1}).at_risk is True
    assert score_construct("smoking", {"smoke_30d": 0}).at_risk is False
    assert score_construct("drug_use", {}).at_risk is None


def test_any_scoring_offending() -> None:
    items = ("offend_steal", "offend_damage", "offend_fight")
    # no, no, no -> any = 0 -> not at risk
    s = score_construct("offending_behaviour", dict(zip(items, (0, 0, 0), strict=True)))
    assert (s.score, s.at_risk, s.n_answered) == (0, False, 3)
    # no, (blank), yes -> any = 1 -> at risk
    s = score_construct("offending_behaviour", dict(zip(items, (0, None, 1), strict=True)))
    assert (s.score, s.at_risk, s.n_answered) == (1, True, 2)
    # one "no", two blank: min_answered 1 in config -> 0, not at risk
    s = score_construct("offending_behaviour", {"offend_steal": 0})
    assert (s.score, s.at_risk) == (0, False)
    # nothing answered -> unknown
    s = score_construct("offending_behaviour", {})
    assert (s.score, s.at_risk, s.n_answered) == (None, None, 0)


def test_mean_scoring_family_management() -> None:
    items = ("fam_mgmt_1", "fam_mgmt_2", "fam_mgmt_3")
    # (2 + 3 + 2) / 3 = 2.333 < 2.5 -> at risk
    s = score_construct("poor_family_management", dict(zip(items, (2, 3, 2), strict=True)))
    assert s.score == pytest.approx(7 / 3)
    assert s.at_risk is True
    # (3 + 3 + 2) / 3 = 2.667, not < 2.5
    s = score_construct("poor_family_management", dict(zip(items, (3, 3, 2), strict=True)))
    assert s.at_risk is False
    # 2 of 3 answered (min 2): (2 + 3) / 2 = 2.5 exactly, not < 2.5
    s = score_construct("poor_family_management", dict(zip(items, (2, 3, None), strict=True)))
    assert (s.score, s.at_risk, s.n_answered) == (2.5, False, 2)
    # 1 of 3 answered, 2 needed -> unknown
    s = score_construct("poor_family_management", {"fam_mgmt_1": 1})
    assert (s.score, s.at_risk) == (None, None)


def test_mean_scoring_other_scales() -> None:
    # (1 + 2 + 2) / 3 = 1.667 < 2.5
    assert score_construct("poor_attachment", {"attach_1": 1, "attach_2": 2, "attach_3": 2}).at_risk
    # (4 + 3) / 2 = 3.5
    s = score_construct("parents_involvement", {"parent_inv_1": 4, "parent_inv_3": 3})
    assert (s.score, s.at_risk) == (3.5, False)
    s = score_construct("school_engagement", {"school_eng_1": 1, "school_eng_2": 2})
    assert (s.score, s.at_risk) == (1.5, True)  # (1 + 2) / 2


def test_ratio_scoring_overcrowding() -> None:
    # 5 people / 3 bedrooms = 1.67 > 1.5 -> overcrowded
    s = score_construct("overcrowded_accommodation", {"household_size": 5, "bedrooms": 3})
    assert s.score == pytest.approx(1.6667, abs=1e-4)
    assert s.at_risk is True
    # 3 people / 2 bedrooms = 1.5, not > 1.5
    s = score_construct("overcrowded_accommodation", {"household_size": 3, "bedrooms": 2})
    assert (s.score, s.at_risk) == (1.5, False)
    # bedrooms missing -> unknown
    s = score_construct("overcrowded_accommodation", {"household_size": 3})
    assert (s.score, s.at_risk) == (None, None)
    # 0 bedrooms: the ratio is undefined -> unknown with a note (not "not at risk")
    s = score_construct("overcrowded_accommodation", {"household_size": 4, "bedrooms": 0})
    assert (s.score, s.at_risk) == (None, None)
    assert "bedrooms is 0" in s.note


def test_unknown_construct() -> None:
    with pytest.raises(KeyError):
        score_construct("happiness", {})


# -------------------------------------------------------------- config-only changes


def test_a_new_construct_needs_config_only(config_copy) -> None:
    path = config_copy("survey.yaml")
    path.write_text(
        path.read_text()
        + """
  family_sum:
    items: [fam_mgmt_1, fam_mgmt_2, fam_mgmt_3]
    scoring: sum
    at_risk: {op: "<=", threshold: 6}
"""
    )
    items = ("fam_mgmt_1", "fam_mgmt_2", "fam_mgmt_3")
    assert construct_names()[-1] == "family_sum"
    # 2 + 2 + 2 = 6 <= 6 -> at risk
    s = score_construct("family_sum", dict(zip(items, (2, 2, 2), strict=True)))
    assert (s.score, s.at_risk, s.min_answered) == (6, True, 3)
    # 2 + 2 + 3 = 7
    assert score_construct("family_sum", dict(zip(items, (2, 2, 3), strict=True))).at_risk is False
    # min_answered defaults to all 3 items: 2 answered -> unknown
    s = score_construct("family_sum", dict(zip(items, (2, 2, None), strict=True)))
    assert (s.score, s.at_risk, s.note) == (None, None, "2 of 3 items answered; 3 needed")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("items: [bully_victim]", "items: [bully_victm]", "unknown item"),
        ("items: [household_size, bedrooms]", "items: [household_size]", "ratio"),
        ("bully_victim: {scale: frequency}", "bully_victim: {scale: frequncy}", "unknown scale"),
        ('op: ">=", threshold: 2}', 'op: "=>", threshold: 2}', "op"),
    ],
)
def test_bad_survey_config_fails_loudly(config_copy, old: str, new: str, message: str) -> None:
    path = config_copy("survey.yaml")
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message):
        item_columns()
