"""Identification (rules.md §7) on hand-made autumn risk profiles: exclusions, the
ranking and its tie-breaks, ceil(20%) places, fewer qualifiers than places; then the
identification suite on good and planted-bad data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.marts.conftest import new_warehouse
from wlz_pipeline.marts.settings import build_parameters
from wlz_pipeline.models import SQL_DIR, Model, run_model

COLUMNS = (
    "anchor_urn, upn, wlz_id, enrolled, academic_year, wave, phase, year_group, gender, "
    "sen_value, risk_count, need_score, outcome_factors_known, outcome_factors_unknown, "
    "attendance_below_96_value"
)


def _child(anchor, upn, sen="N", rc=0, ns=0.0, att=0.97, wlz=None):
    return (
        anchor,
        upn,
        wlz,
        wlz is not None,
        "2017/18",
        "autumn",
        "primary",
        "3",
        "F",
        sen,
        rc,
        ns,
        20,
        2,
        att,
    )


# Anchor 140102: 11 screened -> ceil(0.2 x 11) = ceil(2.2) = 3 places.
PRIMARY = [
    _child("140102", "U01", sen="E", rc=6, ns=6.5),  # EHC plan: excluded despite top need
    _child("140102", "U02", rc=3, ns=3.5, att=0.90),
    _child("140102", "U03", rc=3, ns=3.5, att=0.85),  # same need and count, lower attendance
    _child("140102", "U04", rc=4, ns=3.5, att=0.99),  # same need, more outcome factors
    _child("140102", "U05", rc=2, ns=2.5, att=0.80, wlz="WLZ000000002"),
    _child("140102", "U06", rc=2, ns=2.5, att=0.80, wlz="WLZ000000001"),  # lower WLZ ID
    _child("140102", "U07", rc=2, ns=2.5, att=0.80),  # no WLZ ID: after those with one
    _child("140102", "U08", rc=1, ns=1.5),  # one need only
    _child("140102", "U09"),
    _child("140102", "U10"),
    _child("140102", "U11"),
]
# Anchor 140101: 15 screened -> 0.2 x 15 = 3 places exactly (not rounded up to 4); only
# 2 children have multiple needs -> 2 identified.
NURSERY = [_child("140101", f"N{i:02d}", rc=2 if i <= 2 else 0, ns=2.0) for i in range(1, 16)]
# Anchor 140103: 5 screened -> 1 place; S1 is on the statutory-support list.
SECONDARY = [
    _child("140103", "S1", rc=5, ns=5.0),
    _child("140103", "S2", rc=2, ns=2.0),
    _child("140103", "S3"),
    _child("140103", "S4"),
    _child("140103", "S5"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("ident") / "wlz.duckdb"
    con = new_warehouse(path)
    build_parameters(con)
    con.execute(
        "insert into marts.risk_parameters values "
        "('statutory_support_upn', 'S1', null, 'S1', 'test')"
    )
    types = ["VARCHAR"] * 3 + ["BOOLEAN"] + ["VARCHAR"] * 6 + ["INTEGER", "DOUBLE"]
    types += ["INTEGER", "INTEGER", "DOUBLE"]
    cols = COLUMNS.split(", ")
    con.execute(
        "create table marts.risk_profile ("
        + ", ".join(f"{c} {t}" for c, t in zip(cols, types, strict=True))
        + ")"
    )
    con.executemany(
        f"insert into marts.risk_profile ({COLUMNS}) values ({', '.join('?' for _ in cols)})",
        PRIMARY + NURSERY + SECONDARY,
    )
    run_model(con, Model("marts", "identification", SQL_DIR / "marts" / "identification.sql"))
    con.execute("checkpoint")
    yield con, path
    con.close()


def _rows(con, anchor):
    return {
        r[0]: r[1:]
        for r in con.execute(
            "select upn, rank, identified, exclusion_reason, places, status "
            "from marts.identification where anchor_urn = ?",
            [anchor],
        ).fetchall()
    }


def test_ranking_ties_are_broken_as_specified(built):
    con, _ = built
    rows = _rows(con, "140102")
    ranks = {u: r[0] for u, r in rows.items() if r[0] is not None}
    # need 3.5: U04 (4 factors) > U03 (att 0.85) > U02 (att 0.90);
    # need 2.5, same count and attendance: WLZ000000001 (U06) < WLZ000000002 (U05) < none (U07)
    assert ranks == {"U04": 1, "U03": 2, "U02": 3, "U06": 4, "U05": 5, "U07": 6}
    assert {u for u, r in rows.items() if r[1]} == {"U04", "U03", "U02"}  # 11 -> 3 places
    assert rows["U01"][2] == "ehc_plan" and rows["U01"][1] is False
    assert rows["U08"][4] == "not_multiple_needs"
    assert rows["U07"][4] == "qualified_not_identified"


def test_places_round_up_and_fewer_qualifiers_than_places(built):
    con, _ = built
    rows = _rows(con, "140101")
    assert {r[3] for r in rows.values()} == {3}  # ceil(0.2 x 15) = 3
    assert sorted(u for u, r in rows.items() if r[1]) == ["N01", "N02"]


def test_statutory_support_list_excludes(built):
    con, _ = built
    rows = _rows(con, "140103")
    assert rows["S1"][2] == "statutory_support"
    assert rows["S2"][:2] == (1, True) and rows["S2"][3] == 1


SUITE = Path(__file__).resolve().parents[2] / "expectations" / "identification.json"


def test_identification_suite_passes_and_catches_violations(built, tmp_path):
    from wlz_pipeline.quality.gx_duckdb import load_suite, validate_table
    from wlz_pipeline.warehouse import connect

    _, path = built
    copy = tmp_path / "copy.duckdb"
    shutil.copy(path, copy)
    suite = load_suite(SUITE)
    good = validate_table(copy, "marts.identification", suite)
    assert [o for o in good.outcomes if not o.success] == []
    con = connect(copy)
    # a fourth child identified at the 3-place anchor, and a duplicated rank
    con.execute("update marts.identification set identified = true where upn = 'U06'")
    con.execute("update marts.identification set rank = 1 where upn = 'N02'")
    con.close()
    bad = validate_table(copy, "marts.identification", suite)
    failing = [o for o in bad.outcomes if not o.success]
    assert len(failing) >= 3, failing
    assert any(o.expectation == "expect_compound_columns_to_be_unique" for o in failing)
