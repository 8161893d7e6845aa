"""The commissioner split (largest remainder, integer pence) and the rate card as config."""

from __future__ import annotations

import copy
import json
from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.payments.conftest import PRIMARY, RAW_CONFIG, child, make_config
from wlz_pipeline.config import REPO_ROOT
from wlz_pipeline.payments.ledger import assemble, entitlements
from wlz_pipeline.payments.rate_card import (
    from_dict,
    load,
    parse_pence,
    pence_text,
    share_text,
)
from wlz_pipeline.payments.split import split_pence

ORDER = ["council", "schools", "philanthropy", "outcomes_fund"]
TENTHS = {
    "council": Fraction("0.4"),
    "schools": Fraction("0.3"),
    "philanthropy": Fraction("0.2"),
    "outcomes_fund": Fraction("0.1"),
}


def test_a_price_that_does_not_divide_evenly():
    # £1,000.01 = 100001p: 40000.4 / 30000.3 / 20000.2 / 10000.1 -> floors 40000 + 30000 +
    # 20000 + 10000 = 100000; 1p left goes to the largest remainder (0.4, council).
    assert split_pence(100001, TENTHS, ORDER) == {
        "council": 40001,
        "schools": 30000,
        "philanthropy": 20000,
        "outcomes_fund": 10000,
    }


def test_equal_remainders_go_in_commissioner_order():
    # 100003p in quarters: 25000.75 each -> floors 100000, 3p left, all remainders 0.75:
    # council, schools, philanthropy get one each.
    quarters = dict.fromkeys(ORDER, Fraction(1, 4))
    assert split_pence(100003, quarters, ORDER) == {
        "council": 25001,
        "schools": 25001,
        "philanthropy": 25001,
        "outcomes_fund": 25000,
    }
    # thirds of 100p: 33.33 each, 1p left -> the first in order (schools before council
    # when the order says so)
    thirds = {"schools": Fraction(1, 3), "council": Fraction(1, 3), "philanthropy": Fraction(1, 3)}
    assert split_pence(100, thirds, ["schools", "council", "philanthropy"]) == {
        "schools": 34,
        "council": 33,
        "philanthropy": 33,
    }


def test_a_zero_share_gets_no_line():
    assert split_pence(1000, {"council": Fraction(1), "schools": Fraction(0)}, ORDER) == {
        "council": 1000
    }


def test_shares_must_sum_to_exactly_one():
    with pytest.raises(ValueError, match="sum to exactly 1"):
        split_pence(100, {"council": Fraction("0.5"), "schools": Fraction("0.49")}, ORDER)


@st.composite
def price_and_shares(draw):
    n = draw(st.integers(1, 6))
    names = [f"c{i}" for i in range(n)]
    weights = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n))
    if sum(weights) == 0:
        weights[0] = 1
    total = sum(weights)
    shares = {c: Fraction(w, total) for c, w in zip(names, weights, strict=True)}
    price = draw(st.integers(0, 10**12))
    return price, shares, names


@settings(max_examples=400, deadline=None)
@given(price_and_shares())
def test_parts_always_sum_exactly_to_the_price_and_stay_within_a_penny(case):
    price, shares, order = case
    parts = split_pence(price, shares, order)
    assert sum(parts.values()) == price
    for c, part in parts.items():
        assert isinstance(part, int) and part >= 0
        assert abs(part - price * shares[c]) < 1
    assert set(parts) == {c for c, s in shares.items() if s > 0}


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 10**9),
    st.lists(st.integers(0, 1000), min_size=4, max_size=4).filter(lambda w: sum(w) > 0),
)
def test_decimal_shares_from_config_text(price, weights):
    # shares written as decimal text with up to 6 places, normalised to sum to 1
    total = sum(weights)
    shares = {c: Fraction(w, total) for c, w in zip(ORDER, weights, strict=True)}
    parts = split_pence(price, shares, ORDER)
    assert sum(parts.values()) == price
    assert all(abs(parts[c] - price * shares[c]) < 1 for c in parts)


# --------------------------------------------------------------------------- config


def test_the_repository_rate_card_is_valid_and_prices_the_school_phases():
    cfg = load()
    card = cfg.card_for_cohort("2016/17")
    assert card is not None
    assert cfg.contract.cap == 380_000_000  # £3.8m (seed 003)
    assert set(card.prices) == {"primary", "secondary"}
    for shares in card.shares.values():
        assert sum(shares.values()) == 1


def test_the_suite_limit_of_outcome_payments_matches_the_config():
    suite = json.loads((REPO_ROOT / "expectations" / "payment_ledger.json").read_text())
    query = next(
        e["kwargs"]["unexpected_rows_query"]
        for e in suite["expectations"]
        if "at most three outcome" in e.get("description", "")
    )
    assert query.endswith(f"having count(*) > {load().contract.max_outcome_payments}")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rate_cards.0.shares.outcome.council": "0.39"}, "not exactly 1"),
        ({"rate_cards.0.prices.primary.sign_up": "500.005"}, "fraction of a penny"),
        ({"rate_cards.0.shares.sign_up.landlord": "0"}, "unknown commissioner"),
        ({"contract.outcomes": ["maths"]}, "seven rate-card outcomes"),
        ({"contract.cap": "-1"}, "positive"),
        ({"contract.surprise": 1}, "Extra inputs"),
    ],
)
def test_a_bad_rate_card_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        make_config(**change)


def test_a_card_missing_an_outcome_price_is_refused():
    raw = copy.deepcopy(RAW_CONFIG)
    del raw["rate_cards"][0]["prices"]["primary"]["outcomes"]["maths"]
    with pytest.raises(ValueError, match="missing \\['maths'\\]"):
        from_dict(raw)


def test_money_and_shares_are_exact():
    assert parse_pence("1000.01") == 100001
    assert parse_pence(1000.01) == 100001  # a YAML float is read through its text
    assert parse_pence("£3,800,000.00") == 380_000_000
    assert share_text(Fraction(1, 4)) == "0.25"
    assert share_text(Fraction(1, 3)) == "1/3"


@given(st.integers(min_value=0, max_value=10**15))
def test_an_amount_written_as_pounds_reads_back_as_the_same_pence(pence):
    assert parse_pence(pence_text(pence)) == pence


def test_amounts_are_written_as_pounds():
    # 100001p = £1,000.01; 5p = £0.05; 0p = £0.00; 380,000,000p = £3,800,000.00
    assert (pence_text(100001), pence_text(5), pence_text(0)) == ("1000.01", "0.05", "0.00")
    assert pence_text(380_000_000) == "3800000.00"


def test_a_dumped_configuration_validates_back_to_itself():
    # a tool that writes the configuration out (e.g. to YAML) and reads it back gets the
    # same rate card: the dump writes pounds, as config/rate_card.yaml does. It wrote
    # integer pence, which were read back as pounds: a £3,800,000 cap became £380,000,000.
    import yaml

    cfg = load()
    dumped = cfg.model_dump(mode="json")
    assert dumped["contract"]["cap"] == "3800000.00"  # as config/rate_card.yaml writes it
    assert from_dict(dumped) == cfg
    assert from_dict(cfg.model_dump()) == cfg
    again = from_dict(yaml.safe_load(yaml.safe_dump(dumped)))
    assert again == cfg and again.contract.cap == cfg.contract.cap
    assert again.rule_version == cfg.rule_version


def test_a_new_rate_card_applies_only_to_cohorts_starting_on_or_after_it(calendar):
    # card 2: from 1 September 2017, sign-up £700.00. Cohort 2016/17 (started 1 Sept
    # 2016) keeps card 1 (£500.00), even for a payment claimed after the change; cohort
    # 2017/18 (starts 1 Sept 2017) gets card 2.
    raw = copy.deepcopy(RAW_CONFIG)
    card2 = copy.deepcopy(raw["rate_cards"][0])
    card2["id"] = "test-2017"
    card2["effective_from"] = "2017-09-01"
    card2["prices"]["primary"] = {**PRIMARY, "sign_up": "700.00"}
    raw["rate_cards"].append(card2)
    # a card dated mid-year (1 June 2017) applies to neither cohort 2016/17 (started before)
    # nor beyond 2017/18 once card 2 exists
    card_mid = copy.deepcopy(card2)
    card_mid["id"] = "test-mid"
    card_mid["effective_from"] = "2017-06-01"
    card_mid["prices"]["primary"] = {**PRIMARY, "sign_up": "999.00"}
    raw["rate_cards"].append(card_mid)
    cfg = from_dict(raw)
    assert cfg.card_for_cohort("2016/17").id == "test-2016"
    assert cfg.card_for_cohort("2017/18").id == "test-2017"
    assert cfg.card_for_cohort("2015/16") is None
    kids = [
        child("WLZ000000301", consent=date(2017, 1, 10), cohort="2016/17"),
        child("WLZ000000302", consent=date(2017, 10, 2), cohort="2017/18"),
    ]
    lines = assemble(entitlements(kids, cfg, calendar, date(2018, 7, 23)), [], {}, cfg)
    totals = {}
    for ln in lines:
        totals.setdefault((ln["wlz_id"], ln["rate_card"]), 0)
        totals[(ln["wlz_id"], ln["rate_card"])] += ln["amount_pence"]
    assert totals == {("WLZ000000301", "test-2016"): 50000, ("WLZ000000302", "test-2017"): 70000}
