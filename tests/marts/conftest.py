"""Hand-made warehouses for the mart tests.

``Zone`` writes text rows into the raw layer as a landing file would (with a registry
entry, so staging sees them as current), then the real staging models and the marts
run on them. Tests that need only one mart build its input tables by hand instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from wlz_pipeline import warehouse
from wlz_pipeline.canonical import MIS_KINDS, REFERENCE_FILES
from wlz_pipeline.scoring.upn import upn_check_letter

#: 2017/18 as in tests/data/landing/reference/calendar.csv, plus 2016/17.
CALENDAR = [
    ("2016/17", "autumn", "autumn_1", "2016-09-05", "2016-10-21"),
    ("2016/17", "autumn", "autumn_2", "2016-10-31", "2016-12-20"),
    ("2016/17", "spring", "spring_1", "2017-01-04", "2017-02-10"),
    ("2016/17", "spring", "spring_2", "2017-02-20", "2017-03-31"),
    ("2016/17", "summer", "summer_1", "2017-04-18", "2017-05-26"),
    ("2016/17", "summer", "summer_2", "2017-06-05", "2017-07-21"),
    ("2017/18", "autumn", "autumn_1", "2017-09-05", "2017-10-20"),
    ("2017/18", "autumn", "autumn_2", "2017-10-30", "2017-12-20"),
    ("2017/18", "spring", "spring_1", "2018-01-04", "2018-02-09"),
    ("2017/18", "spring", "spring_2", "2018-02-19", "2018-03-29"),
    ("2017/18", "summer", "summer_1", "2018-04-16", "2018-05-25"),
    ("2017/18", "summer", "summer_2", "2018-06-04", "2018-07-20"),
]


def upn(n: int) -> str:
    """A valid UPN (LA 205) for child number ``n``."""
    body = f"205200{n:06d}"
    return upn_check_letter(body) + body


class Zone:
    """A warehouse fed through the raw layer."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._files = 0
        warehouse.load_config_tables(con)

    def _register(self, source: str, anchor: str | None, kind: str) -> str:
        self._files += 1
        file_hash = hashlib.sha256(f"{kind}-{self._files}".encode()).hexdigest()
        self.con.execute(
            """INSERT INTO meta.file_registry (receipt_id, file_hash, path, size_bytes,
                   arrived_at, source, anchor_urn, profile, kinds, period, as_of, rows_read,
                   status)
               VALUES (?, ?, ?, 0, ?, ?, ?, NULL, [?], NULL, NULL, 0, 'ingested')""",
            [
                f"{file_hash}:{kind}{self._files}",
                file_hash,
                f"{source}/{kind}-{self._files}.csv",
                datetime(2018, 8, 1),
                source,
                anchor,
                kind,
            ],
        )
        return file_hash

    def _insert(
        self,
        table: str,
        fields: tuple[str, ...],
        rows: list[dict],
        anchor: str | None,
        source: str,
        kind: str,
    ) -> str:
        file_hash = self._register(source, anchor, kind)
        for i, row in enumerate(rows, start=2):
            unknown = set(row) - set(fields)
            assert not unknown, f"{table}: unknown fields {unknown}"
            values = [None if row.get(f) is None else str(row[f]) for f in fields]
            cols = ", ".join(f'"{f}"' for f in fields)
            marks = ", ".join("?" for _ in fields)
            self.con.execute(
                f"INSERT INTO {table} (_file_hash, _row_number, _profile, _anchor_urn, "
                f"_ingested_at, {cols}) VALUES (?, ?, NULL, ?, ?, {marks})",
                [file_hash, i, anchor, datetime(2018, 8, 1), *values],
            )
        return file_hash

    def mis(self, kind: str, anchor: str, rows: list[dict]) -> str:
        """The rows as one current MIS file of ``anchor``; its file hash."""
        return self._insert(f"raw.{kind}", MIS_KINDS[kind], rows, anchor, "mis", kind)

    def reference(self, name: str, rows: list[dict]) -> None:
        self._insert(f"raw.ref_{name}", REFERENCE_FILES[name], rows, None, "reference", name)

    def survey(self, rows: list[dict]) -> None:
        from wlz_pipeline.canonical import SURVEY_FIXED_FIELDS
        from wlz_pipeline.sources.survey import item_columns

        fields = SURVEY_FIXED_FIELDS + tuple(item_columns())
        self._insert("raw.survey_responses", fields, rows, None, "survey", "survey")

    def calendar(self) -> None:
        self.reference(
            "calendar",
            [
                dict(
                    zip(
                        ("academic_year", "term", "half_term", "start_date", "end_date"),
                        r,
                        strict=True,
                    )
                )
                for r in CALENDAR
            ],
        )

    def anchors(self) -> None:
        self.reference(
            "anchors",
            [
                {
                    "urn": "140101",
                    "name": "N",
                    "phase": "nursery",
                    "borough": "B",
                    "mis_profile": "bromcom",
                },
                {
                    "urn": "140102",
                    "name": "P",
                    "phase": "primary",
                    "borough": "B",
                    "mis_profile": "sims",
                },
                {
                    "urn": "140103",
                    "name": "S",
                    "phase": "secondary",
                    "borough": "B",
                    "mis_profile": "arbor",
                },
            ],
        )

    def build(self) -> dict:
        from wlz_pipeline.marts.build import RISK_MARTS, build_everything

        return build_everything(self.con, RISK_MARTS)

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def dicts(self, sql: str, params: list | None = None) -> list[dict]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def pupil(n: int, year_group: str, academic_year: str = "2017/18", **extra) -> dict:
    """A register row whose date of birth fits the year group (age on 31 August)."""
    start = int(academic_year[:4])
    age = {"N1": 2, "N2": 3, "R": 4}.get(year_group) or int(year_group) + 4
    row = {
        "upn": upn(n),
        "forename": f"Child{n}",
        "surname": "Test",
        "date_of_birth": date(start - age - 1, 11, 15).isoformat(),
        "gender": "F" if n % 2 else "M",
        "year_group": year_group,
        "fsm": "N",
        "sen": "N",
        "eal": "N",
        "postcode": "W6 9AA",
        "extract_date": f"{start}-10-01",
    }
    row.update(extra)
    return row


def new_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = warehouse.connect(path)
    warehouse.bootstrap(con)
    return con


@pytest.fixture
def zone(tmp_path: Path) -> Iterator[Zone]:
    con = new_warehouse(tmp_path / "wh" / "wlz.duckdb")
    try:
        yield Zone(con)
    finally:
        con.close()
