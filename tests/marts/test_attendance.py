"""School attendance from hand-made marks and summaries (rules.md §2), worked by hand.

Marks go through the real staging model (the DfE code table in config classifies each
code on its date) and then the marts.
"""

from __future__ import annotations

import pytest

from tests.marts.conftest import Zone, new_warehouse, pupil, upn

A, B, C, D, E = upn(1), upn(3), upn(4), upn(5), upn(2)


def _marks(child: str, marks: list[tuple[str, str, str]]) -> list[dict]:
    return [{"upn": child, "date": d, "session": s, "code": c} for d, s, c in marks]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Zone:
    con = new_warehouse(tmp_path_factory.mktemp("att") / "wlz.duckdb")
    z = Zone(con)
    z.calendar()
    z.reference(
        "calendar",
        [
            {
                "academic_year": "2024/25",
                "term": "autumn",
                "half_term": "autumn_1",
                "start_date": "2024-09-03",
                "end_date": "2024-10-25",
            },
            {
                "academic_year": "2024/25",
                "term": "summer",
                "half_term": "summer_2",
                "start_date": "2025-06-02",
                "end_date": "2025-07-18",
            },
        ],
    )
    z.anchors()
    z.mis("pupils", "140102", [pupil(1, "3"), pupil(3, "3")])
    z.mis("pupils", "140102", [pupil(2, "3", "2024/25")])
    z.mis("pupils", "140101", [pupil(4, "N2"), pupil(5, "N2")])
    # Child A, one week of 2017 (codes valid before 19 August 2024):
    #   Mon 2 Oct   AM /  present          PM \  present
    #   Tue 3 Oct   AM L  present (late)    PM V  approved activity (educational visit)
    #   Wed 4 Oct   AM I  authorised       PM M  authorised (medical)
    #   Thu 5 Oct   AM O  unauthorised     PM G  unauthorised (holiday not agreed)
    #   Fri 6 Oct   AM #  not counted      PM #  not counted (planned closure)
    #   Mon 9 Oct   AM J  approved activity (interview: the pre-2024 code)
    #               PM N  unauthorised (no reason yet)
    # possible = 12 marks - 2 not counted = 10
    # attended = 3 present (/, \, L) + 2 approved activity (V, J) = 5
    # authorised = 2 (I, M); unauthorised = 3 (O, G, N); rate = 5 / 10 = 0.5
    z.mis(
        "attendance_marks",
        "140102",
        _marks(
            A,
            [
                ("2017-10-02", "AM", "/"),
                ("2017-10-02", "PM", "\\"),
                ("2017-10-03", "AM", "L"),
                ("2017-10-03", "PM", "V"),
                ("2017-10-04", "AM", "I"),
                ("2017-10-04", "PM", "M"),
                ("2017-10-05", "AM", "O"),
                ("2017-10-05", "PM", "G"),
                ("2017-10-06", "AM", "#"),
                ("2017-10-06", "PM", "#"),
                ("2017-10-09", "AM", "J"),
                ("2017-10-09", "PM", "N"),
            ],
        ),
    )
    # Child E, 2024/25 (codes of the 2024 regulations):
    #   Tue 10 Sep 2024 AM J1 authorised (interview, new code)  PM K  approved activity (new)
    #   Wed 11 Sep 2024 AM J  retired on 19 Aug 2024: invalid, quarantined by staging
    #                   PM Y1 not counted (transport not available)
    # possible = J1 + K = 2; attended = K = 1; rate 0.5
    z.mis(
        "attendance_marks",
        "140102",
        _marks(
            E,
            [
                ("2024-09-10", "AM", "J1"),
                ("2024-09-10", "PM", "K"),
                ("2024-09-11", "AM", "J"),
                ("2024-09-11", "PM", "Y1"),
            ],
        ),
    )
    # Child B: marks for one autumn week (all present: 10 of 10) AND an autumn-term
    # summary (120 of 140): the marks win for autumn. Spring only has a summary (90/100).
    z.mis(
        "attendance_marks",
        "140102",
        _marks(
            B,
            [
                (f"2017-10-0{d}", s, "/" if s == "AM" else "\\")
                for d in range(2, 7)
                for s in ("AM", "PM")
            ],
        ),
    )
    z.mis(
        "attendance_summary",
        "140102",
        [
            {
                "upn": B,
                "period_start": "2017-09-05",
                "period_end": "2017-12-20",
                "possible_sessions": "140",
                "attended_sessions": "120",
            },
            {
                "upn": B,
                "period_start": "2018-01-04",
                "period_end": "2018-03-29",
                "possible_sessions": "100",
                "attended_sessions": "90",
            },
        ],
    )
    # Child C (nursery): two overlapping autumn summaries (an older, shorter one) and a
    # whole-year one. The widest autumn summary (133/140) is the term; the whole-year
    # summary is not used because the year has a term row.
    z.mis(
        "attendance_summary",
        "140101",
        [
            {
                "upn": C,
                "period_start": "2017-09-05",
                "period_end": "2017-11-01",
                "possible_sessions": "80",
                "attended_sessions": "70",
            },
            {
                "upn": C,
                "period_start": "2017-09-05",
                "period_end": "2017-12-20",
                "possible_sessions": "140",
                "attended_sessions": "133",
            },
            {
                "upn": C,
                "period_start": "2017-09-01",
                "period_end": "2018-07-20",
                "possible_sessions": "380",
                "attended_sessions": "361",
            },
        ],
    )
    # Child D: only a whole-year summary for 2016/17 (342/380 = 0.9): a year row, and
    # the autumn 2017/18 wave's "previous year".
    z.mis(
        "attendance_summary",
        "140101",
        [
            {
                "upn": D,
                "period_start": "2016-09-01",
                "period_end": "2017-08-31",
                "possible_sessions": "380",
                "attended_sessions": "342",
            },
        ],
    )
    z.build()
    yield z
    con.close()


def _term(z: Zone, child: str, year: str, term: str) -> dict:
    rows = z.dicts(
        "select * from marts.school_attendance where upn = ? and academic_year = ? and term = ?",
        [child, year, term],
    )
    assert len(rows) == 1, rows
    return rows[0]


def test_a_week_of_marks_counts_by_code_category(built):
    row = _term(built, A, "2017/18", "autumn")
    assert row["source"] == "marks"
    assert (row["possible_sessions"], row["attended_sessions"]) == (10, 5)
    assert (row["authorised_absences"], row["unauthorised_absences"]) == (2, 3)
    assert row["attendance_rate"] == pytest.approx(0.5)
    assert row["persistent_absence"] is True  # 0.5 < 0.90
    assert row["below_96"] is True


def test_post_2024_codes_and_a_retired_code(built):
    row = _term(built, E, "2024/25", "autumn")
    assert (row["possible_sessions"], row["attended_sessions"]) == (2, 1)
    assert row["authorised_absences"] == 1
    quarantined = built.rows(
        "select count(*) from meta.quarantine where table_name = 'staging.attendance_marks' "
        "and rule = 'dfe_code_valid_on_date'"
    )[0][0]
    assert quarantined == 1  # the retired J in 2024


def test_marks_win_over_a_summary_of_the_same_term(built):
    autumn = _term(built, B, "2017/18", "autumn")
    assert autumn["source"] == "marks"
    assert (autumn["possible_sessions"], autumn["attended_sessions"]) == (10, 10)
    assert autumn["summaries_replaced_by_marks"] == 1
    spring = _term(built, B, "2017/18", "spring")
    assert spring["source"] == "summary"
    assert (spring["possible_sessions"], spring["attended_sessions"]) == (100, 90)
    year = built.dicts(
        "select * from marts.school_attendance_year where upn = ? and academic_year = '2017/18'",
        [B],
    )[0]
    # 10 + 100 possible, 10 + 90 attended
    assert (year["possible_sessions"], year["attended_sessions"], year["source"]) == (
        110,
        100,
        "mixed",
    )
    assert year["attendance_rate"] == pytest.approx(100 / 110)


def test_overlapping_summaries_keep_the_widest_and_year_summaries_fill_only_gaps(built):
    autumn = _term(built, C, "2017/18", "autumn")
    assert (autumn["possible_sessions"], autumn["attended_sessions"]) == (140, 133)
    year_c = built.rows(
        "select possible_sessions, attended_sessions, source from marts.school_attendance_year "
        "where upn = ?",
        [C],
    )
    assert year_c == [(140, 133, "summary")]
    year_d = built.rows(
        "select academic_year, possible_sessions, attended_sessions, source, attendance_rate "
        "from marts.school_attendance_year where upn = ?",
        [D],
    )
    assert year_d == [("2016/17", 380, 342, "year_summary", pytest.approx(0.9))]


def test_wave_attendance_previous_year_then_year_to_date(built):
    rows = {
        r[0]: r[1:]
        for r in built.rows(
            "select upn, source, attendance_rate, attendance_year from marts.wave_attendance "
            "where academic_year = '2017/18' and wave = 'autumn'"
        )
    }
    assert rows[D] == ("previous_year", pytest.approx(0.9), "2016/17")
    # A has no 2016/17 attendance: the first half-term's marks, 5 of 10
    assert rows[A] == ("year_to_date_marks", pytest.approx(0.5), "2017/18")
    # C's autumn summaries end after the cut-off (20 Oct 2017): not "as of" the wave
    assert C not in rows
    summer = built.rows(
        "select attendance_rate from marts.wave_attendance where upn = ? "
        "and academic_year = '2017/18' and wave = 'summer'",
        [B],
    )
    assert summer == [(pytest.approx(100 / 110),)]
