"""Reading the programme's facts from the restricted warehouse for the payment rules.

Inputs (all read-only; a table that does not exist yet reads as empty):

- ``staging.enrolments``   the register: consent, exit, cohort, target outcomes
- ``staging.pupils``       the child's year group in the cohort's first year (phase)
- ``staging.anchors``      the enrolling anchor's phase (when the year group is unknown)
- ``staging.calendar``     term dates (claim periods, engagement windows, programme end)
- ``staging.interactions`` LW interactions (engagement)
- ``staging.partner_marks`` partner session marks (engagement)
- ``marts.outcomes``       outcome statuses (outcome payments)
- ``meta.file_registry``   file hash -> path, and the data's as-of date

Every row keeps the hash of the file it came from, for the evidence of each line.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date

import duckdb

from wlz_pipeline.payments import eligibility as el
from wlz_pipeline.payments.ledger import ChildFacts, OutcomeFact
from wlz_pipeline.payments.periods import Calendar
from wlz_pipeline.payments.rate_card import PaymentConfig


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    """Like ``warehouse.table_exists``, but reads its result to the end: DuckDB 2.0 keeps a
    half-read result (``fetchone``) open, and the next ``register`` on the connection then
    fails with "connection has an unfinished result"."""
    schema, name = qualified.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema=? AND table_name=?",
            [schema, name],
        ).fetchall()[0][0]
    )


def columns(con: duckdb.DuckDBPyConnection, qualified: str) -> set[str]:
    schema, name = qualified.split(".")
    return {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()
    }


def calendar(con: duckdb.DuckDBPyConnection) -> Calendar:
    if not table_exists(con, "staging.calendar"):
        return Calendar([])
    rows = con.execute(
        """SELECT academic_year, term, start_date, end_date FROM staging.calendar
           WHERE start_date IS NOT NULL AND end_date IS NOT NULL AND term IS NOT NULL
           ORDER BY ALL"""
    ).fetchall()
    return Calendar.from_rows(rows)


def as_of(con: duckdb.DuckDBPyConnection) -> date | None:
    """The data's as-of date: the newest date any current source file speaks for."""
    if not table_exists(con, "meta.file_registry"):
        return None
    # fetchall, not fetchone: DuckDB 2.0 keeps a half-read result open on the connection
    return con.execute(
        "SELECT max(as_of) FROM meta.file_registry WHERE status = 'ingested'"
    ).fetchall()[0][0]


def latest_fact_date(children: list[ChildFacts]) -> date | None:
    """Fallback as-of date: the newest date among the facts themselves."""
    dates: list[date] = []
    for c in children:
        e = c.enrolment
        dates += [d for d in (e.consent_on, e.exit_on) if d]
        dates += [i.on for i in c.interactions]
        dates += [s.on for s in c.sessions]
    return max(dates) if dates else None


def file_paths(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    if not table_exists(con, "meta.file_registry"):
        return {}
    return dict(
        con.execute(
            "SELECT file_hash, min(path) FROM meta.file_registry GROUP BY file_hash"
        ).fetchall()
    )


def stage_of_year_group() -> dict[str, str]:
    """Year group -> stage, from config/risk.yaml (the stages of the risk profile)."""
    from wlz_pipeline.config import ConfigError, load_yaml

    try:
        stages = load_yaml("risk.yaml").get("stages", {})
    except ConfigError:
        return {}
    return {str(yg): stage for stage, spec in stages.items() for yg in spec.get("year_groups", [])}


def phase_of(
    cfg: PaymentConfig, year_group: str | None, anchor_phase: str | None, stages: dict[str, str]
) -> tuple[str | None, str]:
    """The child's phase and how it was decided (for the evidence)."""
    if year_group and year_group in stages:
        return stages[year_group], f"year group {year_group} (config/risk.yaml stages)"
    if anchor_phase and anchor_phase in cfg.contract.anchor_phases:
        return (
            cfg.contract.anchor_phases[anchor_phase],
            f"anchor phase {anchor_phase} (year group unknown)",
        )
    return None, "unknown (no year group, anchor phase not mapped)"


def enrolments(con: duckdb.DuckDBPyConnection, cfg: PaymentConfig) -> list[el.Enrolment]:
    """Enrolled children (consent recorded), one per WLZ ID."""
    if not table_exists(con, "staging.enrolments"):
        return []
    has_pupils = table_exists(con, "staging.pupils")
    has_anchors = table_exists(con, "staging.anchors")
    year_group_sql = (
        """SELECT e.wlz_id, p.year_group
           FROM register AS e
           JOIN staging.pupils AS p ON p.upn = e.upn AND p.academic_year = e.cohort
           WHERE p.year_group IS NOT NULL
           QUALIFY row_number() OVER (
               PARTITION BY e.wlz_id
               ORDER BY (p.anchor_urn IS NOT DISTINCT FROM e.anchor_urn) DESC,
                        p.extract_date DESC NULLS LAST, p.anchor_urn, p.year_group) = 1"""
        if has_pupils
        else "SELECT NULL::VARCHAR AS wlz_id, NULL::VARCHAR AS year_group WHERE false"
    )
    anchor_sql = (
        "SELECT urn, phase FROM staging.anchors"
        if has_anchors
        else "SELECT NULL::VARCHAR AS urn, NULL::VARCHAR AS phase WHERE false"
    )
    rows = con.execute(
        f"""
        WITH register AS (
            SELECT * FROM staging.enrolments
            WHERE wlz_id IS NOT NULL
            QUALIFY row_number() OVER (
                PARTITION BY wlz_id
                ORDER BY (consent_on IS NOT NULL) DESC, cohort DESC, _file_hash, _row_number
            ) = 1
        ),
        year_groups AS ({year_group_sql}),
        anchor_phases AS ({anchor_sql})
        SELECT e.wlz_id, e.cohort, e.anchor_urn, a.phase, y.year_group, e.consent_on,
               e.exit_on, e.exit_reason, e.target_outcomes, e._file_hash, e.upn
        FROM register AS e
        LEFT JOIN year_groups AS y ON y.wlz_id = e.wlz_id
        LEFT JOIN anchor_phases AS a ON a.urn = e.anchor_urn
        WHERE e.consent_on IS NOT NULL AND e.cohort IS NOT NULL
        ORDER BY e.wlz_id
        """
    ).fetchall()
    stages = stage_of_year_group()
    out = []
    for wlz_id, cohort, urn, anchor_phase, yg, consent, exit_on, reason, targets, fh, upn in rows:
        phase, why = phase_of(cfg, yg, anchor_phase, stages)
        out.append(
            el.Enrolment(
                wlz_id=wlz_id,
                cohort=cohort,
                anchor_urn=urn,
                phase=phase,
                consent_on=consent,
                exit_on=exit_on,
                exit_reason=reason or None,
                target_outcomes=tuple(t for t in (targets or []) if t),
                source=fh,
                phase_from=why,
                upn=upn,
            )
        )
    return out


def interactions(con: duckdb.DuckDBPyConnection) -> dict[str, list[el.Interaction]]:
    """Each child's LW interactions, in time order, with their day (DuckDB casts the
    timestamps: no per-row conversion in Python). Equal facts (same day, kind, with
    whom and file; a zone has ~450,000 interactions and a few thousand distinct ones)
    share one immutable ``Interaction``."""
    out: dict[str, list[el.Interaction]] = defaultdict(list)
    if not table_exists(con, "staging.interactions"):
        return out
    shared: dict[tuple, el.Interaction] = {}
    for wlz_id, *fact in con.execute(
        """SELECT wlz_id, CAST(started_at AS DATE), kind, with_whom, _file_hash
           FROM staging.interactions
           WHERE wlz_id IS NOT NULL AND started_at IS NOT NULL
           ORDER BY wlz_id, started_at, kind, with_whom, _file_hash"""
    ).fetchall():
        key = tuple(fact)
        item = shared.get(key)
        if item is None:
            item = shared[key] = el.Interaction(*key)
        out[wlz_id].append(item)
    return out


def partner_sessions(con: duckdb.DuckDBPyConnection) -> dict[str, list[el.PartnerSession]]:
    """Each child's partner session marks, in date order; equal marks share one
    immutable ``PartnerSession`` (as ``interactions`` does)."""
    out: dict[str, list[el.PartnerSession]] = defaultdict(list)
    if not table_exists(con, "staging.partner_marks"):
        return out
    shared: dict[tuple, el.PartnerSession] = {}
    for wlz_id, *fact in con.execute(
        """SELECT wlz_id, CAST(session_date AS DATE), coalesce(attended, false),
                  coalesce(missed, false), planned_minutes, _file_hash
           FROM staging.partner_marks
           WHERE wlz_id IS NOT NULL AND session_date IS NOT NULL ORDER BY ALL"""
    ).fetchall():
        key = tuple(fact)
        item = shared.get(key)
        if item is None:
            item = shared[key] = el.PartnerSession(*key)
        out[wlz_id].append(item)
    return out


def outcome_facts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, OutcomeFact]]:
    out: dict[str, dict[str, OutcomeFact]] = defaultdict(dict)
    if not table_exists(con, "marts.outcomes"):
        return out
    for wlz_id, outcome, status, evidence, sources in con.execute(
        """SELECT wlz_id, outcome, status, evidence, source_files FROM marts.outcomes
           ORDER BY wlz_id, outcome"""
    ).fetchall():
        out[wlz_id][outcome] = OutcomeFact(
            outcome, status, json.loads(evidence) if evidence else {}, frozenset(sources or [])
        )
    return out


def children(con: duckdb.DuckDBPyConnection, cfg: PaymentConfig) -> list[ChildFacts]:
    enrolled = enrolments(con, cfg)
    inter = interactions(con)
    sess = partner_sessions(con)
    outs = outcome_facts(con)
    return [
        ChildFacts(
            enrolment=e,
            interactions=tuple(inter.get(e.wlz_id, [])),
            sessions=tuple(sess.get(e.wlz_id, [])),
            outcomes=dict(outs.get(e.wlz_id, {})),
        )
        for e in enrolled
    ]
