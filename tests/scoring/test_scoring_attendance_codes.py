"""Attendance register codes: categories, validity dates, possible/attended counts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from wlz_pipeline.config import ConfigError
from wlz_pipeline.scoring.attendance_codes import classify, code_table_rows, tally


def week(monday: date, marks: list[tuple[str, str]]) -> list[tuple[str, date]]:
    """(AM, PM) code pairs for consecutive days from ``monday`` -> (code, date) marks."""
    out: list[tuple[str, date]] = []
    for offset, (am, pm) in enumerate(marks):
        day = monday + timedelta(days=offset)
        out += [(am, day), (pm, day)]
    return out


def test_a_pre_2024_week() -> None:
    marks = week(
        date(2017, 10, 2),  # a Monday
        [
            ("/", "\\"),  # Mon: present, present
            ("L", "P"),  # Tue: late before close (present), supervised sport (approved)
            ("I", "M"),  # Wed: illness, medical appointment (authorised)
            ("G", "U"),  # Thu: unauthorised holiday, late after close (unauthorised)
            ("#", "#"),  # Fri: planned school closure (not counted)
        ],
    )
    t = tally(marks)
    assert (t.present, t.approved_activity, t.authorised, t.unauthorised) == (3, 1, 2, 2)
    assert (t.not_counted, t.invalid) == (2, 0)
    # possible = 10 sessions - 2 not counted = 8; attended = 3 present + 1 approved = 4
    assert (t.possible, t.attended) == (8, 4)
    assert t.attendance_rate == 0.5  # 4 / 8


def test_a_post_2024_week() -> None:
    marks = week(
        date(2024, 9, 30),  # a Monday
        [
            ("/", "\\"),  # present x2
            ("K", "J1"),  # LA-arranged provision (approved); interview (authorised)
            ("C2", "Y2"),  # part-time timetable (authorised); travel disruption (not counted)
            ("Y2", "N"),  # not counted; no reason yet (unauthorised)
            ("L", "H"),  # late (present); H retired in Aug 2024 -> invalid
        ],
    )
    t = tally(marks)
    assert (t.present, t.approved_activity, t.authorised, t.unauthorised) == (3, 1, 2, 1)
    assert (t.not_counted, t.invalid) == (2, 1)
    # possible = present 3 + approved 1 + authorised 2 + unauthorised 1 = 7 of the 10
    # sessions (the two Y2 are not counted; the invalid H is left out, not guessed);
    # attended = 3 + 1 = 4
    assert (t.possible, t.attended) == (7, 4)
    assert t.attendance_rate == pytest.approx(4 / 7)


@pytest.mark.parametrize(
    ("code", "on", "category"),
    [
        # retired codes: valid before 2024-08-19 only
        ("H", date(2017, 10, 2), "authorised"),
        ("H", date(2024, 8, 18), "authorised"),
        ("H", date(2024, 8, 19), "invalid"),
        ("H", date(2024, 10, 1), "invalid"),
        ("J", date(2017, 10, 2), "approved_activity"),
        ("J", date(2024, 10, 1), "invalid"),
        ("Y", date(2020, 3, 23), "not_counted"),
        ("Y", date(2024, 10, 1), "invalid"),
        # new codes: valid from 2024-08-19 only
        ("C1", date(2024, 10, 1), "authorised"),
        ("C1", date(2024, 8, 19), "authorised"),
        ("C1", date(2024, 8, 18), "invalid"),
        ("C1", date(2017, 10, 2), "invalid"),
        ("J1", date(2024, 10, 1), "authorised"),
        ("J1", date(2017, 10, 2), "invalid"),
        ("K", date(2024, 10, 1), "approved_activity"),
        ("K", date(2017, 10, 2), "invalid"),
        ("Q", date(2024, 10, 1), "not_counted"),
        ("Y7", date(2024, 10, 1), "not_counted"),
        ("Y1", date(2023, 10, 1), "invalid"),
        # codes valid throughout
        ("X", date(2017, 10, 2), "not_counted"),
        ("X", date(2024, 10, 1), "not_counted"),
        ("D", date(2019, 1, 7), "not_counted"),
        ("Z", date(2019, 1, 7), "not_counted"),
        ("B", date(2019, 1, 7), "approved_activity"),
        ("V", date(2024, 10, 1), "approved_activity"),
        ("W", date(2019, 1, 7), "approved_activity"),
        ("C", date(2019, 1, 7), "authorised"),
        ("E", date(2019, 1, 7), "authorised"),
        ("R", date(2024, 10, 1), "authorised"),
        ("S", date(2019, 1, 7), "authorised"),
        ("T", date(2019, 1, 7), "authorised"),
        ("O", date(2019, 1, 7), "unauthorised"),
        # spelling
        (" l ", date(2019, 1, 7), "present"),
        ("y3", date(2024, 10, 1), "not_counted"),
        # not codes
        ("F", date(2017, 10, 2), "invalid"),  # withdrawn in 2013
        ("-", date(2017, 10, 2), "invalid"),  # "no mark" is not a code
        ("", date(2017, 10, 2), "invalid"),
        (None, date(2017, 10, 2), "invalid"),
        ("PP", date(2017, 10, 2), "invalid"),
    ],
)
def test_classify(code: str | None, on: date, category: str) -> None:
    assert classify(code, on) == category


def test_code_table_rows_are_flat() -> None:
    rows = code_table_rows()
    assert all(
        set(r)
        == {"code", "category", "valid_from", "valid_to", "description", "attended", "possible"}
        for r in rows
    )
    by_code = {(r["code"], r["valid_from"], r["valid_to"]): r for r in rows}
    assert by_code[("\\", None, None)]["category"] == "present"
    h = by_code[("H", None, date(2024, 8, 18))]
    assert (h["category"], h["attended"], h["possible"]) == ("authorised", False, True)
    k = by_code[("K", date(2024, 8, 19), None)]
    assert (k["attended"], k["possible"]) == (True, True)
    assert by_code[("#", None, None)]["possible"] is False
    # every code of domain_facts §4 (2024 list) and the 2016-2024 list is present
    codes = {r["code"] for r in rows}
    expected = {"/", "\\", "L", "K", "V", "P", "W", "B", "J", "D", "C1", "C2", "C", "M", "J1"}
    expected |= {"S", "H", "I", "R", "T", "E", "X", "Y", "Q", "G", "N", "O", "U", "Z", "#"}
    expected |= {f"Y{i}" for i in range(1, 8)}
    assert codes == expected
    assert all(r["description"] for r in rows)


def test_overlapping_rows_fail_loudly(config_copy) -> None:
    path = config_copy("attendance_codes.yaml")
    path.write_text(
        path.read_text()
        + '  - {code: "H", category: unauthorised, valid_from: 2024-01-01, description: "x"}\n'
    )
    with pytest.raises(ConfigError, match="same date"):
        classify("H", date(2017, 10, 2))


def test_unknown_category_fails_loudly(config_copy) -> None:
    path = config_copy("attendance_codes.yaml")
    path.write_text(path.read_text().replace("category: unauthorised", "category: unauthorized", 1))
    with pytest.raises(ConfigError):
        classify("G", date(2017, 10, 2))
