"""A hand-built Zone for the engagement marts: one term (autumn 2017/18) of a few
children, two partner programmes that came back and one that did not, written straight
into the staging tables the marts read. Every expected figure in the tests is worked out
by hand from the rows below (see the comments there).

Calendar 2017/18 (Monday-Sunday weeks):
  autumn_1  Mon 4 Sep - Fri 20 Oct 2017   school weeks 1-7  (w/c 4, 11, 18, 25 Sep, 2, 9, 16 Oct)
  holiday   Sat 21 Oct - Sun 29 Oct       (w/c 23 Oct: no term day)
  autumn_2  Mon 30 Oct - Fri 1 Dec 2017   school weeks 8-12 (w/c 30 Oct, 6, 13, 20, 27 Nov)
  holiday   Sat 2 Dec - Sun 7 Jan
  spring_1  Mon 8 Jan - Fri 9 Feb 2018,  spring_2 Mon 19 Feb - Thu 29 Mar 2018
The autumn term has 12 school weeks and two half-terms. The newest evidence is a
check-in on Fri 12 Jan 2018, so the as-of date (latest_data) is 2018-01-12 and the
autumn term (its holiday included) is complete.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb

from wlz_pipeline.models import Model, discover, in_dependency_order, run_model

AY = "2017/18"
ANCHOR = "140102"
LW = "LW01"

#: The marts of issue 6 and their helpers, in any order (built in dependency order).
ENGAGEMENT_MARTS = (
    "engagement_settings",
    "engagement_calendar_days",
    "engagement_weeks",
    "engagement_children",
    "engagement_partner_returns",
    "engagement_partner_sessions",
    "engagement_programme",
    "engagement_weekly",
    "engagement_term",
    "core_commitment",
    "alerts",
    "partner_report_card",
    "programme_kpis",
)

C1, C2, C3, C4, C5, C6 = (f"WLZ00000000{i}" for i in range(1, 7))
D1, D2, D3, A1, I1 = "WLZ000000011", "WLZ000000012", "WLZ000000013", "WLZ000000021", "WLZ000000031"

#: Tuesdays of the 12 autumn school weeks (week n -> date).
TUE = {
    n: d
    for n, d in enumerate(
        [date(2017, 9, 5) + timedelta(weeks=i) for i in range(7)]
        + [date(2017, 10, 31) + timedelta(weeks=i) for i in range(5)],
        start=1,
    )
}

# Programme A (P01, "P01-drama", lower score is better): Wednesdays, 60 minutes.
# s7 (18 Oct) did not run: X for everybody.
A_SESSIONS = [
    date(2017, 9, 6), date(2017, 9, 13), date(2017, 9, 20), date(2017, 9, 27),
    date(2017, 10, 4), date(2017, 10, 11), date(2017, 10, 18), date(2017, 11, 1),
    date(2017, 11, 8), date(2017, 11, 15), date(2017, 11, 22), date(2017, 11, 29),
]  # fmt: skip
A_MARKS = {
    #    s1   s2   s3   s4   s5   s6   s7   s8   s9   s10  s11  s12
    # C1: attended s1 s3 s5 s6 s9 s11 = 6 x 60 min = 6.0 h; missed s2 s4 s8 s12 = 4;
    #     recorded marks P E L A P P | E P | P A: never two misses in a row
    C1: ["P", "E", "L", "A", "P", "P", "X", "E", "P", None, "P", "A"],
    # C2: attended s1 s3 s4 s6 s8 = 5 h; missed s2 s5 s11 = 3; no two misses in a row
    C2: ["P", "A", "P", "P", "A", "P", "X", "P", None, None, "E", None],
    # C5: A A at s2-s3 opens an alert on 20 Sep, P at s4 (27 Sep) closes it; A at s6,
    #     X at s7, A at s8: consecutive, opens on 1 Nov; P at s9 (8 Nov) closes it.
    #     attended s1 s4 s5 s9 s10 s11 s12 = 7 h; missed s2 s3 s6 s8 = 4
    C5: ["P", "A", "A", "P", "P", "A", "X", "A", "P", "P", "P", "P"],
    # C6: exited 10 Nov; attended s1-s6 s8 s9 = 8 h; blank after exit
    C6: ["P", "P", "P", "P", "P", "P", "X", "P", "P", None, None, None],
}
A_RATINGS = {C1: 4, C2: 3, C5: None, C6: 5}  # engagement rating on each attended session

# Programme C (P03, "P03-art", higher is better): Thursdays 7 and 14 Sep, 45 minutes.
C_MARKS = {C3: ["P", "P"], C4: ["P", "A"]}
C_SESSIONS = [date(2017, 9, 7), date(2017, 9, 14)]


def create_staging(con: duckdb.DuckDBPyConnection) -> None:
    """The staging tables the engagement marts read, with exactly their columns."""
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    ddl = {
        "interactions": "interaction_id VARCHAR, wlz_id VARCHAR, lw_id VARCHAR, started_at "
        "TIMESTAMP, duration_minutes BIGINT, with_whom VARCHAR, kind VARCHAR, channel "
        "VARCHAR, notes VARCHAR, _file_hash VARCHAR, _row_number BIGINT",
        "partner_marks": "partner_id VARCHAR, programme VARCHAR, academic_year VARCHAR, term "
        "VARCHAR, wlz_id VARCHAR, session_date DATE, planned_minutes BIGINT, mark VARCHAR, "
        "engagement BIGINT, attended BOOLEAN, missed BOOLEAN, session_not_run BOOLEAN, sheet "
        "VARCHAR, cell VARCHAR, _file_hash VARCHAR, _row_number BIGINT",
        "partner_outcomes": "partner_id VARCHAR, programme VARCHAR, academic_year VARCHAR, "
        "term VARCHAR, wlz_id VARCHAR, measure VARCHAR, pre_score DOUBLE, pre_date DATE, "
        "post_score DOUBLE, post_date DATE, scale_min DOUBLE, scale_max DOUBLE, "
        "higher_is_better BOOLEAN, sheet VARCHAR, cell VARCHAR, _file_hash VARCHAR, "
        "_row_number BIGINT",
        "partner_feedback": "partner_id VARCHAR, programme VARCHAR, academic_year VARCHAR, "
        "term VARCHAR, wlz_id VARCHAR, enjoyment BIGINT, usefulness BIGINT, would_recommend "
        "BIGINT, sheet VARCHAR, cell VARCHAR, _file_hash VARCHAR, _row_number BIGINT",
        "allocations": "wlz_id VARCHAR, partner_id VARCHAR, programme VARCHAR, academic_year "
        "VARCHAR, term VARCHAR, _file_hash VARCHAR, _row_number BIGINT",
        "enrolments": "wlz_id VARCHAR, upn VARCHAR, anchor_urn VARCHAR, cohort VARCHAR, "
        "identified_on DATE, approached_on DATE, consent_on DATE, declined_on DATE, lw_id "
        "VARCHAR, exit_on DATE, exit_reason VARCHAR, target_outcomes VARCHAR[], _file_hash "
        "VARCHAR, _row_number BIGINT",
        "calendar": "academic_year VARCHAR, term VARCHAR, half_term VARCHAR, start_date DATE, "
        "end_date DATE, _file_hash VARCHAR, _row_number BIGINT",
        "attendance_marks": "anchor_urn VARCHAR, upn VARCHAR, date DATE, session VARCHAR, "
        "code VARCHAR, code_category VARCHAR, _file_hash VARCHAR, _row_number BIGINT",
    }
    for table, cols in ddl.items():
        con.execute(f"CREATE OR REPLACE TABLE staging.{table} ({cols})")


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    if rows:
        marks = ", ".join("?" for _ in rows[0])
        con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)


def load_scenario(con: duckdb.DuckDBPyConnection) -> None:
    create_staging(con)
    _insert(
        con,
        "staging.calendar",
        [
            (AY, "autumn", "autumn_1", date(2017, 9, 4), date(2017, 10, 20), "h", 1),
            (AY, "autumn", "autumn_2", date(2017, 10, 30), date(2017, 12, 1), "h", 2),
            (AY, "spring", "spring_1", date(2018, 1, 8), date(2018, 2, 9), "h", 3),
            (AY, "spring", "spring_2", date(2018, 2, 19), date(2018, 3, 29), "h", 4),
        ],
    )

    # -- the register (programme_kpis works on it: see test_engagement_kpis.py)
    def reg(
        wlz,
        upn=None,
        approached=None,
        consent=None,
        declined=None,
        exit_on=None,
        reason=None,
        cohort=AY,
        anchor=ANCHOR,
    ):
        return (
            wlz,
            upn,
            anchor,
            cohort,
            date(2017, 7, 10),
            approached,
            consent,
            declined,
            LW,
            exit_on,
            reason,
            [],
            "h",
            0,
        )

    sep1, jul = date(2017, 9, 1), date(2017, 7, 20)
    _insert(
        con,
        "staging.enrolments",
        [
            reg(C1, "A000000000001", jul, sep1),
            reg(C2, "A000000000002", jul, sep1),
            reg(C3, "A000000000003", jul, sep1),
            reg(C4, "A000000000004", jul, sep1),
            reg(C5, "A000000000005", jul, sep1),
            reg(C6, "A000000000006", jul, sep1, exit_on=date(2017, 11, 10), reason="moved_school"),
            reg(D1, approached=jul, declined=date(2017, 7, 25)),
            reg(D2, approached=jul, declined=date(2017, 7, 26)),
            reg(D3, declined=date(2017, 7, 27)),  # no approach date: still an approach
            reg(A1, approached=jul),  # approached, no decision yet
            reg(I1),  # identified only
            # another cohort and anchor: a group of its own
            reg(
                "WLZ000000041",
                approached=date(2016, 7, 1),
                consent=date(2016, 9, 1),
                cohort="2016/17",
                anchor="140103",
            ),
        ],
    )

    # -- LW interactions
    rows: list[tuple] = []

    def add(wlz, day, kind="check_in", with_whom="child", minutes=20):  # noqa: ANN001
        rows.append(
            (
                f"I{len(rows) + 1:04d}",
                wlz,
                LW,
                datetime.combine(day, datetime.min.time()) + timedelta(hours=10),
                minutes,
                with_whom,
                kind,
                "in_person",
                "restricted note",
                "h",
                len(rows) + 1,
            )
        )

    # C1: check-ins in weeks 1-4, 6-8, 10-12 (10 of 12). Week 5 has only a formal review
    # with the parent (a review, not a check-in); week 9 only a check-in with the parent.
    for n in (1, 2, 3, 4, 6, 7, 8, 10, 11, 12):
        add(C1, TUE[n])
    add(C1, date(2017, 10, 3), "formal_review", "parent_carer", 45)  # autumn_1 review
    add(C1, date(2017, 11, 7), "check_in", "parent_carer", 15)  # not a check-in with the child
    add(C1, date(2017, 11, 14), "formal_review", "child", 50)  # autumn_2 review
    add(C1, date(2018, 1, 12))  # spring: the newest evidence (as-of date)
    # C2: check-ins in weeks 1, 3, 5-10, 12 (9 of 12); one review (autumn_1 only);
    # a 30-minute LW-led group: 5 h partner + 0.5 h = 5.5 h of support
    for n in (1, 3, 5, 6, 7, 8, 9, 10, 12):
        add(C2, TUE[n])
    add(C2, TUE[3], "formal_review", "child", 50)
    add(C2, date(2017, 10, 5), "group", "child", 30)
    # C3: check-ins Tue 5 Sep and Thu 21 Sep: 14 term-time days after 5 Sep end on Tue 19
    # Sep with no check-in -> alert opened 19 Sep, closed 21 Sep; weekly from 26 Sep
    add(C3, TUE[1])
    add(C3, date(2017, 9, 21))
    for n in range(4, 13):
        add(C3, TUE[n])
    # C4: weekly, but nothing between Fri 13 Oct and Thu 2 Nov: 20 calendar days, of
    # which only 10 are term time (14-20 Oct, 30 Oct - 1 Nov): no alert across a holiday
    for n in range(1, 7):
        add(C4, TUE[n])
    add(C4, date(2017, 10, 13))
    add(C4, date(2017, 11, 2))
    for n in range(9, 13):
        add(C4, TUE[n])
    # C5: weekly check-ins
    for n in range(1, 13):
        add(C5, TUE[n])
    # C6: check-ins 5-26 Sep, none after: 14 term-time days after 26 Sep end on Tue 10
    # Oct -> alert opened 10 Oct, closed at exit (10 Nov). An interaction after the exit
    # counts nowhere.
    for n in range(1, 5):
        add(C6, TUE[n])
    add(C6, date(2017, 11, 20))
    _insert(con, "staging.interactions", rows)

    # -- partner programmes and templates
    _insert(
        con,
        "staging.allocations",
        [(w, "P01", "P01-drama", AY, "autumn", "h", 0) for w in (C1, C2, C5, C6)]
        + [(w, "P02", "P02-football", AY, "autumn", "h", 0) for w in (C1, C4)]
        + [(w, "P03", "P03-art", AY, "autumn", "h", 0) for w in (C3, C4)],
    )
    marks = []
    for wlz, row in A_MARKS.items():
        for s, mark in zip(A_SESSIONS, row, strict=True):
            rating = A_RATINGS[wlz] if mark in ("P", "L") else None
            marks.append(
                (
                    "P01",
                    "P01-drama",
                    AY,
                    "autumn",
                    wlz,
                    s,
                    60,
                    mark,
                    rating,
                    mark in ("P", "L"),
                    mark in ("A", "E"),
                    mark == "X",
                    "Attendance",
                    "C1",
                    "fa",
                    len(marks),
                )
            )
    for wlz, row in C_MARKS.items():
        for s, mark in zip(C_SESSIONS, row, strict=True):
            marks.append(
                (
                    "P03",
                    "P03-art",
                    AY,
                    "autumn",
                    wlz,
                    s,
                    45,
                    mark,
                    None,
                    mark in ("P", "L"),
                    mark in ("A", "E"),
                    mark == "X",
                    "Attendance",
                    "C1",
                    "fc",
                    len(marks),
                )
            )
    _insert(con, "staging.partner_marks", marks)

    def outcome(prog, wlz, measure, pre, post, hib):  # noqa: ANN001
        partner = prog[:3]
        return (
            partner,
            prog,
            AY,
            "autumn",
            wlz,
            measure,
            pre,
            date(2017, 9, 6),
            post,
            None if post is None else date(2017, 11, 29),
            0.0,
            40.0,
            hib,
            "Outcomes",
            "A2",
            "f",
            0,
        )

    _insert(
        con,
        "staging.partner_outcomes",
        [
            # lower is better: changes -6 (improved), +1 (not), -3 (improved); C6 no post
            outcome("P01-drama", C1, "Worries checklist", 20.0, 14.0, False),
            outcome("P01-drama", C2, "Worries checklist", 16.0, 17.0, False),
            outcome("P01-drama", C5, "Worries checklist", 12.0, 9.0, False),
            outcome("P01-drama", C6, "Worries checklist", 18.0, None, False),
            # higher is better: +3 (improved), 0 (not improved)
            outcome("P03-art", C3, "Art confidence", 10.0, 13.0, True),
            outcome("P03-art", C4, "Art confidence", 14.0, 14.0, True),
        ],
    )
    _insert(
        con,
        "staging.partner_feedback",
        [
            ("P01", "P01-drama", AY, "autumn", C1, 5, 4, 5, "Feedback", "A2", "f", 1),
            ("P01", "P01-drama", AY, "autumn", C2, 3, None, 2, "Feedback", "A3", "f", 2),
            ("P01", "P01-drama", AY, "autumn", C5, 4, 4, 4, "Feedback", "A4", "f", 3),
        ],
    )
    # P01's template came back on 8 Dec (due 15 Dec: on time); P03's on 20 Dec (late:
    # alerts from 16 Dec to 20 Dec); P02's never (alerts open since 16 Dec).
    con.execute("DELETE FROM meta.file_registry")
    for i, (partner, period, arrived) in enumerate(
        [
            ("P01", "P01|P01-drama|2017/18|autumn", datetime(2017, 12, 8, 9)),
            ("P03", "P03|P03-art|2017/18|autumn", datetime(2017, 12, 20, 9)),
        ]
    ):
        con.execute(
            "INSERT INTO meta.file_registry (receipt_id, file_hash, path, size_bytes, "
            "arrived_at, source, kinds, period, status) VALUES (?, ?, ?, 1, ?, 'partners', "
            "['partner_template'], ?, 'ingested')",
            [f"h{i}:p", f"h{i}", f"partners/{partner}/t{i}.xlsx", arrived, period],
        )
    # a quarantined file for P02 is not a return
    con.execute(
        "INSERT INTO meta.file_registry (receipt_id, file_hash, path, size_bytes, arrived_at, "
        "source, status, reason) VALUES ('hq:p', 'hq', 'partners/P02/register.xlsx', 1, "
        "TIMESTAMP '2017-12-10 09:00:00', 'partners', 'quarantined', 'no About sheet')"
    )

    # -- school attendance of C3 (UPN A000000000003) in autumn_2: absent all day Mon 30
    # Oct, present after. Running rate in the half-term: 0/2, 2/4, 4/6, 6/8, and on Fri
    # 3 Nov 8/10 = 0.80 (10 possible sessions: judged) -> alert opened 3 Nov; then 10/12,
    # 12/14, 14/16, 16/18, and on Fri 10 Nov 18/20 = 0.90, not below 0.90 -> closed 10 Nov.
    att = []
    day = date(2017, 10, 30)
    while day <= date(2017, 11, 10):
        if day.weekday() < 5:
            for session in ("AM", "PM"):
                absent = day == date(2017, 10, 30)
                att.append(
                    (
                        ANCHOR,
                        "A000000000003",
                        day,
                        session,
                        "O" if absent else "/",
                        "unauthorised" if absent else "present",
                        "h",
                        len(att),
                    )
                )
        day += timedelta(days=1)
    _insert(con, "staging.attendance_marks", att)


def engagement_models() -> list[Model]:
    models = [m for m in discover("marts") if m.name in ENGAGEMENT_MARTS]
    assert {m.name for m in models} == set(ENGAGEMENT_MARTS)
    return in_dependency_order(models)


def build(con: duckdb.DuckDBPyConnection) -> None:
    for model in engagement_models():
        run_model(con, model)


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
