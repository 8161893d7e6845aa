"""Data for the pages that may leave the organisation (partner report cards, the WLZ
summary, the public index): read ONLY from the published, pseudonymised BI file.

Suppression is therefore guaranteed by construction: ``wlz_pipeline/publish.py`` already
published every small count (and every figure derived from it) as NULL and listed it in
the row's ``suppressed_columns``. A page shows a cell listed there as the suppression
mark; a NULL not listed there is "no data". Nothing here can reach a WLZ ID, name or UPN:
the BI file holds none (the publisher's privacy scan checks it), and the pages are
scanned again after rendering (``render.assert_no_child_identifiers``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

#: Labels of the summary constructs (the programme's own wording, seeds/004).
CONSTRUCT_LABELS = {
    "school_attendance": "School attendance",
    "school_attainment": "School attainment",
    "sdq_emotional": "Emotional problems",
    "sdq_hyperactivity": "Hyperactivity",
    "sdq_peer": "Peer problems",
    "sdq_conduct": "Conduct problems",
    "sdq_prosocial": "Prosocial behaviour",
    "sdq_total": "Social & emotional issues (SDQ total)",
    "wemwbs_low": "Low wellbeing (WEMWBS)",
    "bullying_victimisation": "Bullying victimisation",
    "offending_behaviour": "Offending behaviour",
    "alcohol_use": "Alcohol use",
    "smoking": "Smoking",
    "drug_use": "Drug use",
    "poor_family_management": "Poor family management",
    "poor_attachment": "Poor attachment",
    "parents_involvement": "Parents' involvement in education",
    "insufficient_exercise": "Insufficient exercise",
    "overcrowded_accommodation": "Overcrowded accommodation",
    "school_engagement": "School engagement",
}
TERM_ORDER = {"autumn": 1, "spring": 2, "summer": 3}
WAVE_ORDER = {"autumn": 1, "baseline": 1, "spring": 2, "midpoint": 2, "summer": 3, "endpoint": 3}


def label(construct: str) -> str:
    return CONSTRUCT_LABELS.get(construct, construct.replace("_", " ").capitalize())


@dataclass
class Publication:
    run_id: str
    published_at: datetime | None
    as_of_date: date | None
    suppression_threshold: int
    checks_passed: int | None = None
    checks_failed: int | None = None
    key_id: str | None = None


@dataclass
class Row:
    """One published row: ``values`` by column, ``suppressed`` = the columns withheld."""

    values: dict[str, Any]
    suppressed: frozenset[str] = frozenset()

    def __getitem__(self, column: str) -> Any:
        return self.values.get(column)

    def is_suppressed(self, column: str) -> bool:
        return column in self.suppressed


@dataclass
class SummaryWave:
    academic_year: str
    wave: str
    rows: list[Row] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return f"{self.academic_year.replace('/', '-')}-{self.wave}"


@dataclass
class PartnerCard:
    partner_id: str
    partner_name: str
    academic_year: str
    term: str
    programmes: list[Row] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        return f"{self.partner_id}_{self.academic_year.replace('/', '-')}_{self.term}.html"

    @property
    def any_suppressed(self) -> bool:
        return any(r.suppressed for r in self.programmes)


@contextmanager
def open_publication(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'bi' AND table_name = ?",
            [table],
        ).fetchone()[0]
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[Row]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    out = []
    for values in cur.fetchall():
        v = dict(zip(names, values, strict=True))
        flagged = v.pop("suppressed_columns", None)
        v.pop("suppressed", None)
        cols = frozenset(c.strip() for c in flagged.split(",")) if flagged else frozenset()
        out.append(Row(v, cols))
    return out


def publication(con: duckdb.DuckDBPyConnection) -> Publication:
    r = con.execute(
        """SELECT run_id, published_at, as_of_date, suppression_threshold, checks_passed,
                  checks_failed, key_id FROM bi.publication"""
    ).fetchone()
    return Publication(
        run_id=r[0],
        published_at=r[1],
        as_of_date=r[2],
        suppression_threshold=int(r[3] or 5),
        checks_passed=r[4],
        checks_failed=r[5],
        key_id=r[6],
    )


def summary_waves(con: duckdb.DuckDBPyConnection) -> list[SummaryWave]:
    """bi.summary_constructs by wave, the latest wave first."""
    if not has_table(con, "summary_constructs"):
        return []
    rows = _rows(
        con,
        """SELECT academic_year, wave, construct, construct_order, wlz_pct, wlz_n,
                  comparison_pct, comparison_n, population_pct, population_n,
                  suppressed, suppressed_columns
           FROM bi.summary_constructs""",
    )
    waves: dict[tuple[str, str], SummaryWave] = {}
    for r in rows:
        key = (r["academic_year"], r["wave"])
        waves.setdefault(key, SummaryWave(*key)).rows.append(r)
    # The programme's order (seeds/004: attendance, attainment, SDQ, survey constructs).
    # Not construct_order: it is an integer, and the publisher may withhold a small one as
    # if it were a count.
    order = {c: i for i, c in enumerate(CONSTRUCT_LABELS)}
    for w in waves.values():
        w.rows.sort(key=lambda r: (order.get(r["construct"], len(order)), r["construct"]))
    return sorted(
        waves.values(), key=lambda w: (w.academic_year, WAVE_ORDER.get(w.wave, 9)), reverse=True
    )


#: The published columns of the partner report card each page shows (rules.md §12).
PARTNER_COLUMNS = (
    "partner_id, programme, academic_year, term, term_end, due_on, template_returned, "
    "returned_on, return_status, returns_missing, children_allocated, children_started, "
    "children_retained, started_rate, retained_rate, sessions_planned, sessions_run, "
    "sessions_not_run, sessions_unrecorded, child_hours, hours_per_child, "
    "child_sessions_attended, child_sessions_missed, attendance_rate, engagement_ratings, "
    "mean_engagement, feedback_n, enjoyment_n, mean_enjoyment, usefulness_n, mean_usefulness, "
    "would_recommend_n, mean_would_recommend, outcome_measure, higher_is_better, outcome_n, "
    "mean_pre, mean_post, mean_change, improved_n, improved_rate, effect_size, marks_expected, "
    "marks_recorded, marks_recorded_rate, dosage_low_n, dosage_low_improvement_rate, "
    "dosage_medium_n, dosage_medium_improvement_rate, dosage_high_n, "
    "dosage_high_improvement_rate, suppressed, suppressed_columns"
)


def partner_cards(con: duckdb.DuckDBPyConnection) -> list[PartnerCard]:
    """One card per partner and term (its programmes as rows), in partner and term order."""
    if not has_table(con, "partner_report_card"):
        return []
    names = {}
    if has_table(con, "dim_partner"):
        names = dict(con.execute("SELECT partner_id, name FROM bi.dim_partner").fetchall())
    rows = _rows(
        con, f"SELECT {PARTNER_COLUMNS} FROM bi.partner_report_card ORDER BY partner_id, programme"
    )
    cards: dict[tuple[str, str, str], PartnerCard] = {}
    for r in rows:
        key = (r["partner_id"], r["academic_year"], r["term"])
        if key not in cards:
            cards[key] = PartnerCard(
                key[0], names.get(key[0]) or key[0], academic_year=key[1], term=key[2]
            )
        cards[key].programmes.append(r)
    return sorted(
        cards.values(),
        key=lambda c: (c.partner_id, c.academic_year, TERM_ORDER.get(c.term, 9)),
    )
