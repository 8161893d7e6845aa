"""Data for the RESTRICTED pages (child profiles and claim packs), read from the
restricted warehouse (``marts.*``, ``staging.*``), opened read-only.

These pages name the child (WLZ ID, and on the profile the name) because link workers
act on them and the commissioner's verifier checks each claimed child; they are written
only under ``<reports>/restricted/``. They never show a UPN, date of birth, postcode or
interaction notes (the profile shows the age, not the date of birth).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from wlz_pipeline.payments.export import PAYMENT_LABELS, rows_for
from wlz_pipeline.warehouse import table_exists

TERM_ORDER = {"autumn": 1, "spring": 2, "summer": 3}


def _dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _by(rows: list[dict], key: str) -> dict[Any, list[dict]]:
    out: dict[Any, list[dict]] = defaultdict(list)
    for r in rows:
        out[r[key]].append(r)
    return out


def _have(con: duckdb.DuckDBPyConnection, *tables: str) -> bool:
    return all(table_exists(con, t) for t in tables)


@dataclass
class Programme:
    partner_id: str
    partner_name: str
    programme: str
    terms: list[dict] = field(default_factory=list)
    sessions: list[tuple[date, str, int | None]] = field(default_factory=list)

    @property
    def status(self) -> str | None:
        return self.terms[-1]["status"] if self.terms else None


@dataclass
class ChildProfile:
    wlz_id: str
    details: dict[str, Any]
    waves: list[dict] = field(default_factory=list)
    factors: list[dict] = field(default_factory=list)  # the latest wave's factors
    outcomes: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    programmes: list[Programme] = field(default_factory=list)
    weeks: list[dict] = field(default_factory=list)
    terms: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        return f"{self.wlz_id}.html"

    @property
    def latest_wave(self) -> dict | None:
        return self.waves[-1] if self.waves else None

    @property
    def payments_total(self) -> int:
        return sum(p["amount_pence"] for p in self.payments)


def _age(dob: date | None, on: date | None) -> int | None:
    if dob is None or on is None:
        return None
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def _alert_summary(evidence: str | None) -> tuple[str, list[str]]:
    """(the rule in words, one line per condition) from an alert's evidence JSON."""
    try:
        ev = json.loads(evidence) if evidence else {}
    except json.JSONDecodeError:
        return "", []
    lines = []
    for c in ev.get("conditions") or []:
        if "programme" in c:
            lines.append(
                f"{c.get('programme')} ({c.get('academic_year')} {c.get('term')}): missed "
                f"{c.get('missed_in_a_row')} in a row, last on {(c.get('missed_on') or ['?'])[-1]}"
            )
        elif "attendance_rate" in c:
            lines.append(
                f"{c.get('half_term')} {c.get('academic_year')}: {c.get('attended_sessions')} of "
                f"{c.get('possible_sessions')} sessions ({c.get('attendance_rate', 0):.0%})"
            )
        else:
            lines.append(", ".join(f"{k}: {v}" for k, v in c.items() if not isinstance(v, list)))
    return str(ev.get("rule") or ""), lines


ENROLLED = "r.enrolled AND r.wlz_id IS NOT NULL"


def enrolled_children(con: duckdb.DuckDBPyConnection) -> int:
    """How many children ``child_profiles`` makes a profile for."""
    if not _have(con, "marts.child_register"):
        return 0
    return con.execute(
        f"SELECT count(*) FROM marts.child_register AS r WHERE {ENROLLED}"
    ).fetchone()[0]


def child_profiles(
    con: duckdb.DuckDBPyConnection, as_of: date | None, share: tuple[int, int] = (0, 1)
) -> list[ChildProfile]:
    """A profile for every enrolled child (consent recorded) in the register, in WLZ ID
    order; ``share`` ``(i, n)``: only every n-th of them from the i-th (one process's
    share of the pages)."""
    if not _have(con, "marts.child_register"):
        return []
    pupils = (
        """LEFT JOIN (SELECT upn, anchor_urn, forename, surname, date_of_birth, gender,
                             year_group, fsm, sen, eal,
                             row_number() OVER (PARTITION BY upn, anchor_urn
                                 ORDER BY academic_year DESC, extract_date DESC) AS rn
                      FROM staging.pupils) AS p
             ON p.upn = r.upn AND p.anchor_urn = r.anchor_urn AND p.rn = 1"""
        if _have(con, "staging.pupils")
        else ""
    )
    pcols = (
        "p.forename, p.surname, p.date_of_birth, p.gender, p.year_group, p.fsm, p.sen, p.eal"
        if pupils
        else "NULL AS forename, NULL AS surname, NULL::DATE AS date_of_birth, NULL AS gender, "
        "NULL AS year_group, NULL AS fsm, NULL AS sen, NULL AS eal"
    )
    anchors = (
        "LEFT JOIN staging.anchors AS a ON a.urn = r.anchor_urn"
        if _have(con, "staging.anchors")
        else ""
    )
    lws = (
        "LEFT JOIN staging.link_workers AS lw ON lw.lw_id = r.lw_id"
        if _have(con, "staging.link_workers")
        else ""
    )
    children = _dicts(
        con,
        f"""SELECT r.wlz_id, r.upn, r.anchor_urn, r.cohort, r.identified_on, r.approached_on,
                   r.consent_on, r.exit_on, r.exit_reason, r.lw_id, {pcols},
                   {"a.name" if anchors else "NULL"} AS anchor_name,
                   {"a.phase" if anchors else "NULL"} AS phase,
                   {"lw.name" if lws else "NULL"} AS lw_name
            FROM marts.child_register AS r {pupils} {anchors} {lws}
            WHERE {ENROLLED}
            ORDER BY r.wlz_id""",
    )[share[0] :: share[1]]
    ids = [c["wlz_id"] for c in children]
    if not ids:
        return []

    def per_child(table: str, sql: str) -> dict[str, list[dict]]:
        if not _have(con, *table.split()):
            return {}
        return _by(_dicts(con, sql, [ids]), "wlz_id")

    waves = per_child(
        "marts.risk_profile",
        """SELECT wlz_id, upn, anchor_urn, academic_year, wave, cut_off, risk_count, need_score,
                  outcome_factors_known, outcome_factors_unknown, context_count
           FROM marts.risk_profile WHERE list_contains(?, wlz_id)
           ORDER BY academic_year, cut_off""",
    )
    factors = per_child(
        "marts.risk_profile marts.risk_factors",
        """WITH latest AS (
               SELECT wlz_id, upn, anchor_urn, academic_year, wave,
                      row_number() OVER (PARTITION BY wlz_id
                          ORDER BY academic_year DESC, cut_off DESC) AS rn
               FROM marts.risk_profile WHERE list_contains(?, wlz_id))
           SELECT l.wlz_id, f.factor, f.kind, f.factor_group, f.measure, f.at_risk,
                  f.value_number, f.value_text, f.op, f.threshold, f.threshold_text,
                  f.threshold_rule, f.weight, f.evidence, f.sort_order
           FROM latest AS l JOIN marts.risk_factors AS f
             ON f.upn = l.upn AND f.anchor_urn = l.anchor_urn
            AND f.academic_year = l.academic_year AND f.wave = l.wave
           WHERE l.rn = 1 ORDER BY l.wlz_id, f.sort_order""",
    )
    outcomes = per_child(
        "marts.outcomes",
        """SELECT wlz_id, outcome, measure, baseline_academic_year, baseline_wave,
                  baseline_value_text, baseline_at_risk, end_academic_year, end_wave,
                  end_value_text, end_at_risk, change, min_change, status, status_reason
           FROM marts.outcomes WHERE list_contains(?, wlz_id) ORDER BY outcome_order""",
    )
    payments = per_child(
        "marts.payment_ledger",
        """SELECT wlz_id, claim_period, payment_type, outcome,
                  sum(amount_pence)::BIGINT AS amount_pence,
                  string_agg(DISTINCT status, ', ' ORDER BY status) AS status,
                  bool_and(submitted) AS submitted, min(line_order) AS first_line
           FROM marts.payment_ledger WHERE list_contains(?, wlz_id)
           GROUP BY ALL ORDER BY first_line""",
    )
    programme_terms = per_child(
        "marts.engagement_programme",
        """SELECT wlz_id, partner_id, programme, academic_year, term, sessions_ran,
                  sessions_attended, sessions_missed, sessions_unrecorded, attendance_rate,
                  hours_attended, engagement_ratings, mean_engagement, status,
                  template_returned
           FROM marts.engagement_programme WHERE list_contains(?, wlz_id)
           ORDER BY academic_year,
                    CASE term WHEN 'autumn' THEN 1 WHEN 'spring' THEN 2 ELSE 3 END,
                    programme, partner_id""",
    )
    # (programme, session_date, status, engagement) per child, as tuples: the most rows
    # of any of these queries, and only ever read as tuples
    sessions: dict[str, list[tuple]] = defaultdict(list)
    if _have(con, "staging.partner_marks"):
        for row in con.execute(
            """SELECT wlz_id, programme, session_date,
                      CASE WHEN bool_or(attended) THEN 'attended'
                           WHEN bool_or(missed) THEN 'missed' ELSE 'not counted' END AS status,
                      max(engagement) AS engagement
               FROM staging.partner_marks WHERE list_contains(?, wlz_id)
               GROUP BY ALL ORDER BY session_date, programme""",
            [ids],
        ).fetchall():
            sessions[row[0]].append(row[1:])
    weeks = per_child(
        "marts.engagement_weekly",
        """SELECT wlz_id, week_start, lw_interactions, lw_minutes, school_week, checkin_met,
                  support_hours
           FROM marts.engagement_weekly WHERE list_contains(?, wlz_id) ORDER BY week_start""",
    )
    terms = per_child(
        "marts.engagement_term marts.core_commitment",
        """SELECT t.wlz_id, t.academic_year, t.term, t.term_complete, t.lw_interactions,
                  t.lw_minutes, t.checkin_interactions, t.support_attendance_rate,
                  t.support_hours, c.weeks_with_checkin, c.school_weeks, c.checkin_met,
                  c.reviews_held, c.half_terms, c.review_met, c.hours_met, c.all_met
           FROM marts.engagement_term AS t
           LEFT JOIN marts.core_commitment AS c USING (wlz_id, academic_year, term)
           WHERE list_contains(?, t.wlz_id)
           ORDER BY t.academic_year,
                    CASE t.term WHEN 'autumn' THEN 1 WHEN 'spring' THEN 2 ELSE 3 END""",
    )
    alerts = per_child(
        "marts.alerts",
        """SELECT wlz_id, alert_id, alert_type, opened_on, conditions, evidence
           FROM marts.alerts WHERE is_open AND list_contains(?, wlz_id)
           ORDER BY opened_on, alert_id""",
    )
    partner_names: dict[str, str] = {}
    if _have(con, "staging.partners"):
        partner_names = dict(
            con.execute("SELECT partner_id, name FROM staging.partners").fetchall()
        )

    out = []
    for c in children:
        w = c["wlz_id"]
        details = dict(c)
        details.pop("upn")  # used for lookups only: never shown
        dob = details.pop("date_of_birth")
        details["age"] = _age(dob, as_of)
        details["name"] = " ".join(x for x in (c["forename"], c["surname"]) if x) or None
        progs: dict[str, Programme] = {}
        for t in programme_terms.get(w, []):
            p = progs.setdefault(
                t["programme"],
                Programme(
                    t["partner_id"],
                    partner_names.get(t["partner_id"], t["partner_id"]),
                    t["programme"],
                ),
            )
            p.terms.append(t)
        for programme, day, status, engagement in sessions.get(w, []):
            if programme in progs:
                progs[programme].sessions.append((day, status, engagement))
        child_alerts = []
        for a in alerts.get(w, []):
            rule, lines = _alert_summary(a["evidence"])
            child_alerts.append({**a, "rule": rule, "lines": lines})
        pays = [
            {**p, "label": PAYMENT_LABELS.get(p["payment_type"], p["payment_type"])}
            for p in payments.get(w, [])
        ]
        out.append(
            ChildProfile(
                wlz_id=w,
                details=details,
                waves=waves.get(w, []),
                factors=factors.get(w, []),
                outcomes=outcomes.get(w, []),
                payments=pays,
                programmes=list(progs.values()),
                weeks=weeks.get(w, []),
                terms=terms.get(w, []),
                alerts=child_alerts,
            )
        )
    return out


@dataclass
class ClaimPack:
    claim_period: str
    commissioner: str
    totals: dict[str, Any]
    lines: list[dict]
    ledger_total_pence: int

    @property
    def file_name(self) -> str:
        safe = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in self.commissioner)
        return f"{self.claim_period.replace('/', '-')}_{safe}.html"

    @property
    def reconciles(self) -> bool:
        return self.ledger_total_pence == int(self.totals["amount_pence"])


def claim_packs(con: duckdb.DuckDBPyConnection) -> list[ClaimPack]:
    """One pack per claim period and commissioner of ``marts.payment_claims``, with the
    period's ledger lines for that commissioner (the same rows ``wlz claims export``
    writes)."""
    if not _have(con, "marts.payment_claims", "marts.payment_ledger"):
        return []
    from wlz_pipeline.payments.build import read_ledger
    from wlz_pipeline.payments.periods import period_key

    claims = _dicts(
        con,
        """SELECT claim_period, commissioner, lines, amount_pence, submitted, payment_lines,
                  payment_pence, adjustment_lines, adjustment_pence, capped_lines,
                  capped_pence, children, submission_id, submitted_at
           FROM marts.payment_claims""",
    )
    by_key = _by(
        [{**x, "_k": (x["claim_period"], x["commissioner"])} for x in read_ledger(con)], "_k"
    )
    packs = []
    for t in claims:
        lines = by_key.get((t["claim_period"], t["commissioner"]), [])
        packs.append(
            ClaimPack(
                claim_period=t["claim_period"],
                commissioner=t["commissioner"],
                totals=t,
                lines=rows_for(lines),
                ledger_total_pence=sum(int(x["amount_pence"]) for x in lines),
            )
        )
    packs.sort(key=lambda p: (period_key(p.claim_period), p.commissioner))
    return packs
