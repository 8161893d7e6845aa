"""staging.attendance_marks keeps one mark per pupil and session, the newest file's.

The model ranks only the sessions that are marked more than once (found cheaply, per
pupil and month); this checks it against the plain definition (rank every row of a
session by file as-of date, arrival, path and row number, keep the first; keep rows
without a date or session) on marks with every kind of repeat: two current files
covering the same sessions, a file repeating a session, a file current under two names,
missing UPNs, dates and sessions, spellings that normalise to the same session, and
dates in many months, across a new year and before 2000.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import duckdb

from wlz_pipeline.models import Model, discover
from wlz_pipeline.warehouse import load_config_tables

# The definition the model must agree with (its earlier, row-by-row form).
REFERENCE_SQL = """
with
raw_rows as (
    select r.*, f.as_of as _file_as_of, f.arrived_at as _arrived_at, f.path as _path
    from raw.attendance_marks as r
    join meta.current_files as f on f.file_hash = r._file_hash
),
typed as (
    select
        _anchor_urn as anchor_urn,
        upper(replace(trim(upn), ' ', '')) as upn,
        wlz_date(date) as date,
        date as date__raw,
        case when upper(trim(session)) in ('AM', 'A', 'MORNING') then 'AM'
             when upper(trim(session)) in ('PM', 'P', 'AFTERNOON') then 'PM' end as session,
        session as session__raw,
        upper(trim(code)) as code,
        code as code__raw,
        _file_hash, _row_number, _file_as_of, _arrived_at, _path
    from raw_rows
),
classified as (
    select t.*, c.category as code_category
    from typed as t
    left join meta.attendance_codes as c
        on c.code = t.code
       and t.date between coalesce(c.valid_from, date '0001-01-01')
                      and coalesce(c.valid_to, date '9999-12-31')
),
ranked as (
    select *, row_number() over (
        partition by anchor_urn, upn, date, session
        order by _file_as_of desc, _arrived_at desc, _path desc, _row_number desc
    ) as _rank
    from classified
)
select
    anchor_urn, upn, date, session, code, code_category,
    wlz_academic_year(date) as academic_year,
    _file_hash, _row_number, date__raw, session__raw, code__raw
from ranked
where _rank = 1 or date is null or session is null
"""

COLUMNS = (
    "anchor_urn, upn, date, session, code, code_category, academic_year, "
    "_file_hash, _row_number, date__raw, session__raw, code__raw"
)


def _model() -> Model:
    (model,) = [m for m in discover("staging") if m.name == "attendance_marks"]
    return model


def _register(con: duckdb.DuckDBPyConnection, file_hash: str, path: str, as_of, arrived) -> None:
    con.execute(
        "INSERT INTO meta.file_registry (receipt_id, file_hash, path, size_bytes, arrived_at, "
        "source, anchor_urn, kinds, as_of, status) "
        "VALUES (?, ?, ?, 1, ?, 'mis', '140101', ['attendance_marks'], ?, 'ingested')",
        [f"{file_hash}:{path}", file_hash, path, arrived, as_of],
    )


def _marks(con: duckdb.DuckDBPyConnection, file_hash: str, anchor: str | None, rows) -> None:
    con.executemany(
        "INSERT INTO raw.attendance_marks (_file_hash, _row_number, _profile, _anchor_urn, "
        "_ingested_at, upn, date, session, code) VALUES (?, ?, 'sims', ?, now(), ?, ?, ?, ?)",
        [(file_hash, i, anchor, *r) for i, r in enumerate(rows, start=1)],
    )


def _difference(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    model_sql = f"select {COLUMNS} from ({_model().sql()})"
    ref_sql = f"select {COLUMNS} from ({REFERENCE_SQL})"
    n = con.execute(f"select count(*) from ({model_sql})").fetchall()[0][0]
    extra = con.execute(f"select count(*) from ({model_sql} except all {ref_sql})").fetchall()
    missing = con.execute(f"select count(*) from ({ref_sql} except all {model_sql})").fetchall()
    return n, extra[0][0], missing[0][0]


def test_newest_file_wins_exactly_where_a_session_repeats(con):
    load_config_tables(con)
    upns = ["A123456789012", "B123456789012", " a123456789012 ", None]
    sessions = ["AM", "PM", "am", "Morning", "P", "x", None]
    codes = ["/", "\\", "L", "N", "I", "zz"]
    start = date(2017, 9, 4)
    rng = random.Random(20170901)

    def day() -> str | None:
        pick = rng.random()
        if pick < 0.03:
            return None
        if pick < 0.05:
            return "not a date"
        if pick < 0.08:  # before 2000: negative day numbers
            return (date(1999, 12, 1) + timedelta(days=rng.randrange(60))).isoformat()
        d = start + timedelta(days=rng.randrange(200))
        return d.strftime("%d/%m/%Y") if rng.random() < 0.3 else d.isoformat()

    def rows(n: int) -> list[tuple]:
        return [
            (rng.choice(upns), day(), rng.choice(sessions), rng.choice(codes)) for _ in range(n)
        ]

    # three current files of one anchor with overlapping sessions, one current under two
    # names, one of another anchor, one with no anchor; each also repeats its own sessions
    files = [
        ("f1", "mis/140101/a.csv", date(2017, 12, 1), datetime(2018, 1, 2, 9), "140101"),
        ("f2", "mis/140101/b.csv", date(2018, 2, 1), datetime(2018, 2, 2, 9), "140101"),
        ("f3", "mis/140101/c.csv", date(2018, 2, 1), datetime(2018, 2, 2, 9), "140101"),
        ("f4", "mis/140102/a.csv", date(2018, 2, 1), datetime(2018, 2, 2, 9), "140102"),
        ("f5", "mis/x/a.csv", date(2018, 2, 1), datetime(2018, 2, 2, 9), None),
    ]
    for file_hash, path, as_of, arrived, anchor in files:
        _register(con, file_hash, path, as_of, arrived)
        _marks(con, file_hash, anchor, rows(400))
    _register(con, "f3", "mis/140101/c copy.csv", date(2018, 2, 1), datetime(2018, 2, 2, 9))
    # a file that is not current: its marks never count
    con.execute(
        "INSERT INTO meta.file_registry (receipt_id, file_hash, path, size_bytes, arrived_at, "
        "source, status) VALUES ('f6:old.csv', 'f6', 'old.csv', 1, now(), 'mis', 'superseded')"
    )
    _marks(con, "f6", "140101", rows(50))

    n, extra, missing = _difference(con)
    assert (extra, missing) == (0, 0)
    assert 0 < n < 2050  # repeats were removed
    # there were repeats to resolve: every file's own and across files
    repeats = con.execute(
        f"select count(*) from (select anchor_urn, upn, date, session from ({REFERENCE_SQL}) "
        "where date is not null and session is not null group by all having count(*) > 1)"
    ).fetchall()[0][0]
    assert repeats == 0
    raw_repeats = con.execute(
        "select count(*) from (select _anchor_urn, upper(replace(trim(upn), ' ', '')), "
        "wlz_date(date) d, upper(trim(session)) s from raw.attendance_marks "
        "where _file_hash <> 'f6' group by all having count(*) > 1 and d is not null)"
    ).fetchall()[0][0]
    assert raw_repeats > 100


def test_marks_without_repeats_all_go_through(con):
    load_config_tables(con)
    _register(con, "g1", "mis/140101/a.csv", date(2018, 2, 1), datetime(2018, 2, 2, 9))
    first = date(2017, 9, 4)
    _marks(
        con,
        "g1",
        "140101",
        [
            ("A123456789012", (first + timedelta(days=d)).isoformat(), s, "/")
            for d in range(130)  # five months
            for s in ("AM", "PM")
        ],
    )
    n, extra, missing = _difference(con)
    assert (n, extra, missing) == (260, 0, 0)
