"""Risk profiles from a hand-made Zone: behaviour windows, attainment wave selection,
survey informant choice, context factors, counts and need_score, worked by hand.
Then the risk_profile expectation suite: passes here, fails on planted violations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.marts.conftest import Zone, new_warehouse, pupil, upn
from wlz_pipeline.marts.settings import factors

P1, P2, S1 = upn(11), upn(12), upn(21)
SDQ_ALL_NOT_TRUE = {f"sdq_{i}": "Not true" for i in range(1, 26)}
SDQ_ALL_CERTAINLY = {f"sdq_{i}": "certainly TRUE" for i in range(1, 26)}  # any letter case


def _incidents(child: str, dates: list[str]) -> list[dict]:
    return [{"upn": child, "incident_date": d, "incident_type": "disruption"} for d in dates]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("risk") / "wlz.duckdb"
    con = new_warehouse(path)
    z = Zone(con)
    z.calendar()
    z.anchors()
    z.reference(
        "imd",
        [
            {"postcode": "W6 9AA", "lsoa_code": "E01000001", "imd_decile": "2"},
            {"postcode": "W12 7BB", "lsoa_code": "E01000002", "imd_decile": "5"},
        ],
    )
    z.mis(
        "pupils",
        "140102",
        [
            pupil(11, "3", fsm="Y", sen="K", postcode="w6 9aa"),
            pupil(12, "3", postcode="W12 7BB"),
        ],
    )
    z.mis("pupils", "140103", [pupil(21, "8", postcode="SW1A 1AA")])
    # Behaviour, autumn window 5 Sep - 5 Oct 2017 (31 days from the first day of term):
    # P1 has 5 incidents in it -> at risk; P2 has 4 in it and one on 6 Oct (day 32,
    # outside) -> 4, not at risk. Summer window 20 Jun - 20 Jul 2018: P1 1, P2 5.
    z.mis(
        "behaviour",
        "140102",
        _incidents(
            P1, ["2017-09-05", "2017-09-12", "2017-09-20", "2017-09-28", "2017-10-05", "2018-07-01"]
        )
        + _incidents(
            P2,
            [
                "2017-09-06",
                "2017-09-07",
                "2017-09-08",
                "2017-10-04",
                "2017-10-06",
                "2018-06-20",
                "2018-06-25",
                "2018-07-02",
                "2018-07-10",
                "2018-07-20",
            ],
        ),
    )
    # Attainment for P1 (cut-offs: autumn 20 Oct 2017, summer 20 Jul 2018):
    #   reading standardised 85 on 1 Jul 2017 (previous year; percentile 15.9)
    #   reading standardised 100 on 13 Oct 2017 -> the autumn value (latest <= 20 Oct)
    #   reading standardised 80 on 25 Oct 2017 (after the autumn cut-off)
    #   reading scaled 104 on 10 Jul 2018 -> the summer value; 104 >= 100: not at risk
    #   writing WTS on 13 Oct 2017 -> at risk at both waves (still the latest in July)
    z.mis(
        "attainment",
        "140102",
        [
            {
                "upn": P1,
                "subject": "reading",
                "assessed_on": "2017-07-01",
                "measure_type": "standardised",
                "value": "85",
            },
            {
                "upn": P1,
                "subject": "reading",
                "assessed_on": "2017-10-13",
                "measure_type": "standardised",
                "value": "100",
            },
            {
                "upn": P1,
                "subject": "reading",
                "assessed_on": "2017-10-25",
                "measure_type": "standardised",
                "value": "80",
            },
            {
                "upn": P1,
                "subject": "reading",
                "assessed_on": "2018-07-10",
                "measure_type": "scaled",
                "value": "104",
            },
            {
                "upn": P1,
                "subject": "writing",
                "assessed_on": "2017-10-13",
                "measure_type": "teacher_assessment",
                "value": "WTS",
            },
        ],
    )
    wem_38 = {f"wemwbs_{i}": ("Some of the time" if i <= 10 else "rarely") for i in range(1, 15)}
    z.survey(
        [
            # P1 is 7 (Year 3): the parent's SDQ counts, not the self-report
            {
                "response_id": "R1",
                "submitted_at": "2017-10-02 09:00:00",
                "upn": P1,
                "anchor_urn": "140102",
                "informant": "parent",
                **SDQ_ALL_NOT_TRUE,
            },
            {
                "response_id": "R2",
                "submitted_at": "2017-10-03 09:00:00",
                "upn": P1,
                "anchor_urn": "140102",
                "informant": "self",
                **SDQ_ALL_CERTAINLY,
            },
            # P2 only self-reported at 7: no SDQ counts (unknown)
            {
                "response_id": "R3",
                "submitted_at": "2017-10-03 10:00:00",
                "upn": P2,
                "anchor_urn": "140102",
                "informant": "self",
                **SDQ_ALL_CERTAINLY,
            },
            # S1 is 12 (Year 8): the self-report counts, not the parent's
            {
                "response_id": "R4",
                "submitted_at": "2017-10-04 09:00:00",
                "upn": S1,
                "anchor_urn": "140103",
                "informant": "self",
                **SDQ_ALL_CERTAINLY,
                **wem_38,
                "bully_victim": "About once a week",
            },
            {
                "response_id": "R5",
                "submitted_at": "2017-10-05 09:00:00",
                "upn": S1,
                "anchor_urn": "140103",
                "informant": "parent",
                **SDQ_ALL_NOT_TRUE,
            },
        ]
    )
    z.build()
    yield z, path
    con.close()


def _profile(z: Zone, child: str, wave: str) -> dict:
    rows = z.dicts(
        "select * from marts.risk_profile where upn = ? and academic_year = '2017/18' and wave = ?",
        [child, wave],
    )
    assert len(rows) == 1
    return rows[0]


def test_behaviour_windows(built):
    z, _ = built
    p1, p2 = _profile(z, P1, "autumn"), _profile(z, P2, "autumn")
    assert (p1["behaviour_5_plus"], p1["behaviour_5_plus_value"]) == (True, 5)
    assert (p2["behaviour_5_plus"], p2["behaviour_5_plus_value"]) == (False, 4)  # day 32 out
    assert p1["behaviour_5_plus_threshold"] == 5
    assert (_profile(z, P2, "summer")["behaviour_5_plus_value"]) == 5
    # anchor 140103 reported no behaviour at all: unknown, not zero
    s1 = _profile(z, S1, "autumn")
    assert (s1["behaviour_5_plus"], s1["behaviour_5_plus_value"]) == (None, None)


def test_attainment_is_the_latest_assessment_on_or_before_the_cut_off(built):
    z, _ = built
    autumn, summer = _profile(z, P1, "autumn"), _profile(z, P1, "summer")
    # autumn: 13 Oct (100, percentile 50) beats 1 Jul (85); 25 Oct is after the cut-off
    assert (autumn["attainment_reading"], autumn["attainment_reading_value"]) == (False, "100")
    assert "percentile 50.00" in autumn["attainment_reading_rule"]
    assert (summer["attainment_reading"], summer["attainment_reading_value"]) == (False, "104")
    assert (autumn["attainment_writing"], summer["attainment_writing"]) == (True, True)
    assert autumn["attainment_maths"] is None  # no maths result: unknown
    assert autumn["attainment_english"] is None  # not a primary subject
    assert _profile(z, P2, "autumn")["attainment_reading"] is None


def test_the_informant_that_counts(built):
    z, _ = built
    p1 = _profile(z, P1, "autumn")
    # parent, all "Not true": reversed items 7, 11, 14, 21, 25 score 2 each ->
    # emotional 0, conduct 2, hyperactivity 4, peer 4, prosocial 0; total 0+2+4+4 = 10
    assert p1["sdq_informant"] == "parent"
    assert (p1["sdq_total"], p1["sdq_total_value"], p1["sdq_total_threshold"]) == (False, 10, 14)
    assert (p1["sdq_peer"], p1["sdq_peer_value"]) == (True, 4)  # parent peer >= 3
    assert (p1["sdq_prosocial"], p1["sdq_prosocial_value"]) == (True, 0)  # parent <= 7
    assert _profile(z, P2, "autumn")["sdq_total"] is None  # a 7-year-old's self-report only
    s1 = _profile(z, S1, "autumn")
    # self, all "Certainly true": emotional 10, conduct 8, hyperactivity 6, peer 6,
    # prosocial 10; total 30 (self cut-off 15)
    assert s1["sdq_informant"] == "self"
    assert (s1["sdq_total_value"], s1["sdq_total_threshold"], s1["sdq_total"]) == (30, 15, True)
    assert (s1["wemwbs_low"], s1["wemwbs_low_value"]) == (True, 38)  # 10 x 3 + 4 x 2
    assert (s1["bullying_victimisation"], s1["bullying_victimisation_value"]) == (True, 3)


def test_context_factors_and_counts(built):
    z, _ = built
    p1 = _profile(z, P1, "autumn")
    assert (p1["fsm"], p1["imd_bottom_20"], p1["imd_bottom_20_value"], p1["sen"]) == (
        True,
        True,
        2,
        True,
    )
    # true outcome factors: behaviour_5_plus, attainment_writing, sdq_peer, sdq_prosocial
    assert p1["risk_count"] == 4
    assert p1["factors_true"] == [
        "fsm",
        "imd_bottom_20",
        "sen",
        "behaviour_5_plus",
        "attainment_writing",
        "sdq_peer",
        "sdq_prosocial",
    ]
    # primary outcome factors: attendance, behaviour, 3 subjects, 6 SDQ, 11 constructs = 22;
    # known: behaviour, reading, writing and the 6 SDQ scales = 9
    assert (p1["outcome_factors_known"], p1["outcome_factors_unknown"]) == (9, 13)
    # 4 outcome factors x 1.0 + 3 context factors x 0.5
    assert p1["need_score"] == pytest.approx(5.5)
    s1 = _profile(z, S1, "autumn")
    assert s1["imd_bottom_20"] is None  # postcode not in the IMD lookup: unknown
    # sdq total, emotional, conduct, hyperactivity, peer; wemwbs_low; bullying
    assert s1["risk_count"] == 7
    assert s1["phase"] == "secondary" and s1["stage"] == "secondary"


def test_risk_change_classes(built):
    z, _ = built
    change = {
        r[0]: r[1:]
        for r in z.rows(
            "select upn, risk_count_start, risk_count_end, factors_compared, change "
            "from marts.risk_change where academic_year = '2017/18'"
        )
    }
    # P1: known at both waves: behaviour (T -> F), reading (F -> F), writing (T -> T)
    assert change[P1] == (2, 1, 3, "improved")
    # P2: only behaviour known at both: F (4) -> T (5)
    assert change[P2] == (0, 1, 1, "declined")
    # S1: no outcome factor known in the summer
    assert change[S1] == (None, None, 0, "not_assessable")


def test_every_config_factor_has_its_risk_profile_columns(built):
    z, _ = built
    columns = {r[0] for r in z.rows("describe marts.risk_profile")}
    for f in factors():
        assert f.factor in columns and f"{f.factor}_value" in columns, f.factor


# ------------------------------------------------------------------ expectation suite

SUITE = Path(__file__).resolve().parents[2] / "expectations" / "risk_profile.json"


def _validate(path: Path):
    from wlz_pipeline.quality.gx_duckdb import load_suite, validate_table

    return validate_table(path, "marts.risk_profile", load_suite(SUITE))


def test_suite_passes_and_catches_planted_violations(built, tmp_path):
    import shutil

    from wlz_pipeline.warehouse import connect

    z, path = built
    z.con.execute("checkpoint")
    copy = tmp_path / "copy.duckdb"
    shutil.copy(path, copy)
    good = _validate(copy)
    failed = [o for o in good.outcomes if not o.success]
    assert not failed, failed

    con = connect(copy)
    # a true factor whose value does not meet its threshold (4 incidents, threshold 5) ...
    con.execute(
        f"update marts.risk_profile set behaviour_5_plus = true "
        f"where upn = '{P2}' and wave = 'autumn'"
    )
    # ... and a construct whose value meets the threshold but is recorded false
    con.execute(
        f"update marts.risk_profile set bullying_victimisation = false "
        f"where upn = '{S1}' and wave = 'autumn'"
    )
    con.close()
    bad = _validate(copy)
    failing = [o for o in bad.outcomes if not o.success]
    texts = " ".join(str(o) for o in failing)
    assert len(failing) >= 3, failing  # two factor checks and the risk_count check
    assert re.search(r"unexpected_rows_expectation", texts)
    assert {o.severity for o in failing} == {"ERROR"}


def test_risk_factors_suite_passes_and_catches_a_false_factor_that_meets_its_threshold(
    built, tmp_path
):
    import shutil

    from wlz_pipeline.quality.gx_duckdb import load_suite, validate_table
    from wlz_pipeline.warehouse import connect

    z, path = built
    z.con.execute("checkpoint")
    copy = tmp_path / "copy.duckdb"
    shutil.copy(path, copy)
    suite = load_suite(SUITE.parent / "risk_factors.json")
    good = validate_table(copy, "marts.risk_factors", suite)
    assert [o for o in good.outcomes if not o.success] == []
    con = connect(copy)
    con.execute(  # P1 had 5 incidents (>= 5): recorded as not at risk
        f"update marts.risk_factors set at_risk = false where upn = '{P1}' "
        "and wave = 'autumn' and factor = 'behaviour_5_plus'"
    )
    con.close()
    bad = validate_table(copy, "marts.risk_factors", suite)
    assert [o.failing_rows for o in bad.outcomes if not o.success] == [1]
