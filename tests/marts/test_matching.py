"""Comparison matching (rules.md §13) and standardised mean differences, by hand."""

from __future__ import annotations

import math
import random

import pytest

from wlz_pipeline.marts.matching import Child, greedy_match, smd


def child(id_, gender, yg, rc, ns, upn=None):
    return Child(id_, upn or id_, "140102", "2017/18", "primary", gender, yg, rc, ns)


ENROLLED = [
    child("WLZ001", "F", "3", 5, 6.0),
    child("WLZ002", "F", "3", 4, 5.0),
    child("WLZ003", "M", "4", 3, 3.5),
    child("WLZ004", "M", "3", 3, 3.5),
]
POOL = [
    child("U-A", "F", "3", 4, 5.5),
    child("U-B", "F", "3", 5, 5.0),
    child("U-C", "F", "3", 4, 4.5),
    child("U-D", "M", "4", 3, 4.5),
    child("U-E", "M", "4", 3, 3.0),
    child("U-F", "M", "3", 1, 1.0),
]


def test_four_enrolled_six_pool_worked_by_hand():
    # caliper: |risk_count diff| <= 1 and |need_score diff| <= 1.0
    # order: WLZ001 (6.0), WLZ002 (5.0), then WLZ003 and WLZ004 tie at 3.5 -> by id
    # WLZ001 F/3 rc5 ns6: U-A (1, 0.5), U-B (0, 1.0), U-C (1, 1.5: outside) -> U-B (rc 0)
    # WLZ002 F/3 rc4 ns5: U-A (0, 0.5), U-C (0, 0.5) -> tie -> lower UPN U-A
    # WLZ003 M/4 rc3 ns3.5: U-D (0, 1.0), U-E (0, 0.5) -> U-E
    # WLZ004 M/3 rc3 ns3.5: only U-F (rc diff 2 > 1) -> unmatched
    matches = greedy_match(ENROLLED, POOL, 1, 1.0)
    got = {m.child.id: (m.comparison.upn if m.comparison else None) for m in matches}
    assert got == {"WLZ001": "U-B", "WLZ002": "U-A", "WLZ003": "U-E", "WLZ004": None}
    by_id = {m.child.id: m for m in matches}
    assert [m.child.id for m in matches] == ["WLZ001", "WLZ002", "WLZ003", "WLZ004"]
    assert (by_id["WLZ001"].risk_count_distance, by_id["WLZ001"].need_score_distance) == (0, 1.0)
    assert by_id["WLZ004"].reason == "no pool child within the caliper"


def test_deterministic_whatever_the_input_order():
    expected = [
        (m.child.id, m.comparison and m.comparison.upn)
        for m in greedy_match(ENROLLED, POOL, 1, 1.0)
    ]
    rng = random.Random(7)
    for _ in range(20):
        e, p = ENROLLED[:], POOL[:]
        rng.shuffle(e)
        rng.shuffle(p)
        got = [(m.child.id, m.comparison and m.comparison.upn) for m in greedy_match(e, p, 1, 1.0)]
        assert got == expected


def test_exact_variables_are_never_relaxed():
    # the only pool child with identical scores is the other gender / another year group
    enrolled = [child("WLZ010", "F", "5", 2, 2.0)]
    pool = [child("U-X", "M", "5", 2, 2.0), child("U-Y", "F", "6", 2, 2.0)]
    [m] = greedy_match(enrolled, pool, 1, 1.0)
    assert m.comparison is None and "same" in m.reason
    for m in greedy_match(ENROLLED, POOL, 10, 10.0):  # no caliper to speak of
        if m.comparison:
            assert (m.comparison.gender, m.comparison.year_group) == (
                m.child.gender,
                m.child.year_group,
            )


def test_caliper_is_inclusive_and_limits_both_distances():
    enrolled = [child("WLZ020", "M", "4", 3, 3.5)]
    assert greedy_match(enrolled, [child("U-D", "M", "4", 3, 4.5)], 1, 1.0)[0].comparison
    assert greedy_match(enrolled, [child("U-D", "M", "4", 3, 4.6)], 1, 1.0)[0].comparison is None
    assert greedy_match(enrolled, [child("U-G", "M", "4", 5, 3.5)], 1, 1.0)[0].comparison is None
    # nearest risk_count wins over nearest need_score
    two = [child("U-H", "M", "4", 4, 3.5), child("U-I", "M", "4", 3, 4.0)]
    assert greedy_match(enrolled, two, 1, 1.0)[0].comparison.upn == "U-I"


def test_without_replacement():
    enrolled = [child("WLZ030", "F", "2", 2, 2.0), child("WLZ031", "F", "2", 2, 2.0)]
    pool = [child("U-J", "F", "2", 2, 2.0)]
    matches = greedy_match(enrolled, pool, 1, 1.0)
    assert [m.comparison and m.comparison.upn for m in matches] == ["U-J", None]


def test_standardised_mean_differences_by_hand():
    # binary: p_t = 3/4, p_c = 1/4; pooled sd = sqrt((0.1875 + 0.1875) / 2) = 0.4330
    assert smd([1, 0, 1, 1], [0, 0, 1, 0], binary=True) == pytest.approx(0.5 / math.sqrt(0.1875))
    # continuous: means 4 and 2, sample variances 4 and 1; sd = sqrt(2.5) = 1.5811
    assert smd([2, 4, 6], [1, 2, 3], binary=False) == pytest.approx(2 / math.sqrt(2.5))
    assert smd([1, 1], [1, 1], binary=True) == 0.0  # identical groups
    assert smd([], [1], binary=True) is None
