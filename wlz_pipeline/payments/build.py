"""The payment marts, built in one transaction each: ``marts.outcomes``,
``marts.payment_ledger`` and ``marts.payment_claims`` (Dagster runs these as the assets
of ``assets/payments.py``; tests and tools call them directly).

``marts.outcomes`` reads the risk profile in its long form, ``marts.risk_factors``
(one row per child, wave and factor: ``anchor_urn, upn, academic_year, wave, factor,
at_risk, value_number, value_text, evidence``), which is the interface this module
relies on. For attainment, the scale of a result comes from a ``measure_type`` column
when the table has one, else from the evidence text the risk mart writes
(``"... (standardised, assessed 2017-10-02)"``); a standardised-score equivalent from a
``standardised`` column when present, else from the scoring package. Optional columns
``source_files`` (file hashes) are carried into the evidence when present.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date
from typing import Any

import duckdb

from wlz_pipeline.payments import facts
from wlz_pipeline.payments.eligibility import Enrolment, decimal_text
from wlz_pipeline.payments.facts import table_exists
from wlz_pipeline.payments.ledger import (
    CLAIMS_COLUMNS,
    LEDGER_COLUMNS,
    assemble,
    claims,
    entitlements,
    to_json,
)
from wlz_pipeline.payments.outcomes import Reading, evaluate
from wlz_pipeline.payments.periods import Calendar, next_academic_year
from wlz_pipeline.payments.rate_card import PaymentConfig, load
from wlz_pipeline.payments.store import ClaimsStore
from wlz_pipeline.scoring._config import pinned
from wlz_pipeline.warehouse import transaction

OUTCOMES_TABLE = "marts.outcomes"
LEDGER_TABLE = "marts.payment_ledger"
CLAIMS_TABLE = "marts.payment_claims"
STATE_TABLE = "meta.payment_ledger_build"

#: What each table is built from (wlz_pipeline/versions.py rebuilds it only when one of
#: these changed; tests/marts/test_python_mart_inputs.py builds each from these alone).
#: The registry gives the data's as-of date and the files' paths for the evidence; the
#: ledger also reads the frozen-claims store, whose fingerprint is added to its inputs.
_FACTS = ("staging.enrolments", "staging.pupils", "staging.anchors", "staging.calendar")
OUTCOMES_INPUTS = (*_FACTS, "marts.risk_factors", "marts.risk_parameters", "meta.file_registry")
LEDGER_INPUTS = (
    *_FACTS,
    "staging.interactions",
    "staging.partner_marks",
    "marts.outcomes",
    "meta.file_registry",
)
CLAIMS_INPUTS = (LEDGER_TABLE,)

OUTCOME_COLUMNS: tuple[tuple[str, str], ...] = (
    ("wlz_id", "VARCHAR"),
    ("cohort", "VARCHAR"),
    ("anchor_urn", "VARCHAR"),
    ("outcome", "VARCHAR"),
    ("outcome_order", "INTEGER"),
    ("phase", "VARCHAR"),
    ("measure", "VARCHAR"),
    ("better", "VARCHAR"),
    ("min_change", "DOUBLE"),
    ("unit", "VARCHAR"),
    ("baseline_academic_year", "VARCHAR"),
    ("baseline_wave", "VARCHAR"),
    ("baseline_value", "DOUBLE"),
    ("baseline_value_text", "VARCHAR"),
    ("baseline_scale", "VARCHAR"),
    ("baseline_at_risk", "BOOLEAN"),
    ("end_academic_year", "VARCHAR"),
    ("end_wave", "VARCHAR"),
    ("end_phase", "VARCHAR"),
    ("end_measure", "VARCHAR"),
    ("end_value", "DOUBLE"),
    ("end_value_text", "VARCHAR"),
    ("end_scale", "VARCHAR"),
    ("end_at_risk", "BOOLEAN"),
    ("change", "DOUBLE"),
    ("status", "VARCHAR"),
    ("status_reason", "VARCHAR"),
    ("evidence", "VARCHAR"),
    ("source_files", "VARCHAR[]"),
    ("rule_version", "VARCHAR"),
    ("risk_rule_version", "VARCHAR"),
)

STATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("store_dir", "VARCHAR"),
    ("store_fingerprint", "VARCHAR"),
    ("periods_submitted", "VARCHAR[]"),
    ("rule_version", "VARCHAR"),
    ("as_of", "DATE"),
    ("lines", "BIGINT"),
    ("amount_pence", "BIGINT"),
    ("cap_pence", "BIGINT"),
)

_EVIDENCE_SCALE = re.compile(
    r"\((standardised|scaled|level|gcse|teacher_assessment|eyfs), assessed "
)
#: Assessment measure types on one comparable scale (a level is read as its band's
#: midpoint standardised score, rules.md §3).
_SCALE_OF = {
    "standardised": "standardised",
    "level": "standardised",
    "scaled": "scaled",
    "gcse": "gcse",
}


def write_table(con, table: str, columns, rows, order_by=()) -> int:  # noqa: ANN001
    from wlz_pipeline.marts.tables import write_table as _write

    return _write(con, table, columns, rows, order_by)


# --------------------------------------------------------------------------- outcomes


def _stages_by_child(con: duckdb.DuckDBPyConnection, enrolled: list[Enrolment]) -> dict:
    """(upn, academic_year) -> year group (the enrolling anchor's register first)."""
    pairs = sorted({(e.upn, e.anchor_urn or "") for e in enrolled if e.upn})
    if not table_exists(con, "staging.pupils") or not pairs:
        return {}
    rows = con.execute(
        """WITH children AS (SELECT unnest(?) AS upn, unnest(?) AS anchor_urn)
           SELECT p.upn, p.academic_year, p.year_group
           FROM staging.pupils AS p JOIN children AS c ON c.upn = p.upn
           WHERE p.year_group IS NOT NULL AND p.academic_year IS NOT NULL
           QUALIFY row_number() OVER (
               PARTITION BY p.upn, p.academic_year
               ORDER BY (p.anchor_urn = c.anchor_urn) DESC, p.extract_date DESC NULLS LAST,
                        p.anchor_urn, p.year_group) = 1""",
        [[u for u, _ in pairs], [a for _, a in pairs]],
    ).fetchall()
    return {(upn, ay): yg for upn, ay, yg in rows}


def _risk_rows(con: duckdb.DuckDBPyConnection, upns: list[str], factor_names: list[str]) -> dict:
    """(upn, academic_year, wave, factor) -> candidate rows from marts.risk_factors."""
    if not table_exists(con, "marts.risk_factors") or not upns:
        return {}
    cols = facts.columns(con, "marts.risk_factors")
    extra = [c for c in ("measure_type", "standardised", "source_files") if c in cols]
    select = ", ".join(
        [
            "anchor_urn",
            "upn",
            "academic_year",
            "wave",
            "factor",
            "at_risk",
            "value_number",
            "value_text",
            "evidence",
            *extra,
        ]
    )
    rows = con.execute(
        f"""SELECT {select} FROM marts.risk_factors
            WHERE list_contains(?, upn) AND list_contains(?, factor)
            ORDER BY upn, academic_year, wave, factor, anchor_urn""",
        [upns, factor_names],
    ).fetchall()
    names = select.split(", ")
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        d = dict(zip(names, r, strict=True))
        out[(d["upn"], d["academic_year"], d["wave"], d["factor"])].append(d)
    return out


def _pick(candidates: list[dict], anchor: str | None) -> dict | None:
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda d: (d["at_risk"] is None, d["anchor_urn"] != anchor, d["anchor_urn"] or ""),
    )


def _reading(row: dict | None, factor: str) -> tuple[Reading | None, dict | None]:
    """A risk-factor row as a comparable reading, and its evidence."""
    if row is None:
        return None, None
    scale = None
    value = row["value_number"]
    if factor.startswith("attainment_"):
        mt = row.get("measure_type")
        if mt is None:
            m = _EVIDENCE_SCALE.search(row.get("evidence") or "")
            mt = m.group(1) if m else None
        scale = _SCALE_OF.get(mt or "", mt)
        value = None
        if scale == "standardised":
            value = row.get("standardised")
            if value is None:
                from wlz_pipeline.scoring.attainment import attainment_risk

                value = attainment_risk(
                    mt, row["value_text"], anchor_urn=row["anchor_urn"]
                ).standardised
        elif scale in ("scaled", "gcse"):
            value = row["value_number"]
    evidence = {
        "factor": factor,
        "anchor_urn": row["anchor_urn"],
        "academic_year": row["academic_year"],
        "wave": row["wave"],
        "at_risk": row["at_risk"],
        "value": value,
        "value_text": row["value_text"],
        "scale": scale,
        "risk_evidence": row.get("evidence"),
    }
    return Reading(factor, row["at_risk"], value, scale), evidence


def outcome_rows(
    enrolled: list[Enrolment],
    risk: dict,
    year_groups: dict,
    stages: dict[str, str],
    cfg: PaymentConfig,
    calendar: Calendar,
    as_of: date | None,
    risk_rule_version: str | None,
) -> list[tuple]:
    """Rows of marts.outcomes (``OUTCOME_COLUMNS`` order) for every enrolled child and
    each of the seven outcomes."""
    rows = []
    for e in enrolled:
        y1, y2 = e.cohort, next_academic_year(e.cohort)
        base_yg = year_groups.get((e.upn, y1))
        end_yg = year_groups.get((e.upn, y2))
        phase = e.phase
        end_phase = stages.get(end_yg) if end_yg else None
        end_phase = end_phase or phase
        programme_end = calendar.term_end(y2, "summer")
        ended = programme_end is not None and as_of is not None and programme_end <= as_of
        for rank, outcome in enumerate(cfg.contract.outcomes):
            measure = cfg.measure(outcome, phase)
            end_measure = cfg.measure(outcome, end_phase) or measure
            b_row = e_row = None
            if measure is not None and e.upn:
                b_row = _pick(risk.get((e.upn, y1, "autumn", measure.factor), []), e.anchor_urn)
            if end_measure is not None and e.upn:
                e_row = _pick(risk.get((e.upn, y2, "summer", end_measure.factor), []), e.anchor_urn)
            base, b_ev = _reading(b_row, measure.factor) if measure else (None, None)
            end, e_ev = _reading(e_row, end_measure.factor) if end_measure else (None, None)
            result = evaluate(measure, base, end)
            reason = result.reason
            if result.status == "no_evidence" and not ended:
                reason = f"endpoint not reached yet (summer {y2})"
            sources = sorted(
                {h for r in (b_row, e_row) if r for h in (r.get("source_files") or [])}
                | ({e.source} if e.source else set())
            )
            evidence = {
                "outcome": outcome,
                "phase": phase,
                "phase_from": e.phase_from,
                "baseline_year_group": base_yg,
                "measure": None
                if measure is None
                else {
                    "factor": measure.factor,
                    "better": measure.better,
                    "min_change": decimal_text(measure.min_change),
                    "scale": measure.scale,
                    "unit": measure.unit,
                },
                "end_measure": None if end_measure is None else end_measure.factor,
                "baseline": b_ev,
                "end": e_ev,
                "change": decimal_text(result.change),
                "min_change_applied": decimal_text(result.min_change),
                "status": result.status,
                "reason": reason,
                "rule": "rules.md §14",
                "rule_version": cfg.rule_version,
                "risk_rule_version": risk_rule_version,
            }
            rows.append(
                (
                    e.wlz_id,
                    e.cohort,
                    e.anchor_urn,
                    outcome,
                    rank + 1,
                    phase,
                    measure.factor if measure else None,
                    measure.better if measure else None,
                    float(measure.min_change) if measure else None,
                    measure.unit if measure else None,
                    y1,
                    "autumn",
                    None if base is None or base.value is None else float(base.value),
                    b_row["value_text"] if b_row else None,
                    base.scale if base else None,
                    base.at_risk if base else None,
                    y2,
                    "summer",
                    end_phase,
                    end_measure.factor if end_measure else None,
                    None if end is None or end.value is None else float(end.value),
                    e_row["value_text"] if e_row else None,
                    end.scale if end else None,
                    end.at_risk if end else None,
                    None if result.change is None else float(result.change),
                    result.status,
                    reason,
                    to_json(evidence),
                    sources,
                    cfg.rule_version,
                    risk_rule_version,
                )
            )
    return rows


def _risk_rule_version(con: duckdb.DuckDBPyConnection) -> str | None:
    if not table_exists(con, "marts.risk_parameters"):
        return None
    rows = con.execute(
        "SELECT any_value(text) FROM marts.risk_parameters WHERE parameter = 'rule_version'"
    ).fetchall()
    return rows[0][0] if rows else None


def build_outcomes(
    con: duckdb.DuckDBPyConnection, cfg: PaymentConfig | None = None
) -> dict[str, Any]:
    cfg = cfg or load()
    enrolled = facts.enrolments(con, cfg)
    factor_names = sorted(
        {m.factor for by_phase in cfg.outcome_measures.values() for m in by_phase.values()}
    )
    upns = sorted({e.upn for e in enrolled if e.upn})
    risk = _risk_rows(con, upns, factor_names)
    with pinned():  # one check per scoring config file, not one per attainment reading
        rows = outcome_rows(
            enrolled,
            risk,
            _stages_by_child(con, enrolled),
            facts.stage_of_year_group(),
            cfg,
            facts.calendar(con),
            facts.as_of(con),
            _risk_rule_version(con),
        )
    n = write_table(con, OUTCOMES_TABLE, OUTCOME_COLUMNS, rows, ("wlz_id", "outcome_order"))
    by_status: dict[str, int] = defaultdict(int)
    for r in rows:
        by_status[r[25]] += 1
    return {"rows": n, "children": len(enrolled), "by_status": dict(sorted(by_status.items()))}


# --------------------------------------------------------------------------- ledger


def compute_ledger(
    con: duckdb.DuckDBPyConnection, store: ClaimsStore, cfg: PaymentConfig | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ledger's lines from the warehouse (read-only) and the store."""
    cfg = cfg or load()
    children = facts.children(con, cfg)
    cal = facts.calendar(con)
    as_of = facts.as_of(con) or facts.latest_fact_date(children) or date.min
    ents = entitlements(children, cfg, cal, as_of)
    submissions = store.submissions()
    lines = assemble(ents, store.frozen_lines(), submissions, cfg, facts.file_paths(con))
    state = {
        "store_dir": str(store.root),
        "store_fingerprint": store.fingerprint(),
        "periods_submitted": sorted(submissions),
        "rule_version": cfg.rule_version,
        "as_of": as_of,
        "lines": len(lines),
        "amount_pence": sum(int(x["amount_pence"]) for x in lines),
        "cap_pence": cfg.contract.cap,
    }
    return lines, state


def build_ledger(
    con: duckdb.DuckDBPyConnection, store: ClaimsStore, cfg: PaymentConfig | None = None
) -> dict[str, Any]:
    """Write marts.payment_ledger (and the build state the CLI checks before a
    submission) in one transaction."""
    cfg = cfg or load()
    lines, state = compute_ledger(con, store, cfg)
    names = [c for c, _ in LEDGER_COLUMNS]
    with transaction(con):
        con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    write_table(
        con,
        LEDGER_TABLE,
        LEDGER_COLUMNS,
        [[x.get(c) for c in names] for x in lines],
        ("line_order",),
    )
    write_table(con, STATE_TABLE, STATE_COLUMNS, [[state[c] for c, _ in STATE_COLUMNS]])
    by_status: dict[str, int] = defaultdict(int)
    for x in lines:
        by_status[x["status"]] += 1
    return {
        "rows": len(lines),
        "amount_pence": state["amount_pence"],
        "cap_pence": cfg.contract.cap,
        "by_status": dict(sorted(by_status.items())),
        "periods_submitted": state["periods_submitted"],
        "store_dir": state["store_dir"],
        "rule_version": cfg.rule_version,
    }


def read_ledger(
    con: duckdb.DuckDBPyConnection, where: str = "", params: list | None = None
) -> list[dict[str, Any]]:
    names = [c for c, _ in LEDGER_COLUMNS]
    rows = con.execute(
        f"SELECT {', '.join(names)} FROM {LEDGER_TABLE} {where} ORDER BY line_order", params or []
    ).fetchall()
    return [dict(zip(names, r, strict=True)) for r in rows]


def build_claims(
    con: duckdb.DuckDBPyConnection, cfg: PaymentConfig | None = None
) -> dict[str, Any]:
    """marts.payment_claims from the ledger table (its submitted flags, so the two
    always agree even if a period is submitted between the two steps)."""
    cfg = cfg or load()
    lines = read_ledger(con)
    from wlz_pipeline.payments.ledger import Submission

    subs = {
        x["claim_period"]: Submission(x["claim_period"], x["submission_id"], x["submitted_at"])
        for x in lines
        if x["submitted"]
    }
    rows = claims(lines, subs, cfg)
    names = [c for c, _ in CLAIMS_COLUMNS]
    n = write_table(con, CLAIMS_TABLE, CLAIMS_COLUMNS, [[r[c] for c in names] for r in rows])
    return {
        "rows": n,
        "periods": len({r["claim_period"] for r in rows}),
        "amount_pence": sum(r["amount_pence"] for r in rows),
    }


def ledger_state(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    if not table_exists(con, STATE_TABLE):
        return None
    names = [c for c, _ in STATE_COLUMNS]
    rows = con.execute(f"SELECT {', '.join(names)} FROM {STATE_TABLE}").fetchall()
    return dict(zip(names, rows[0], strict=True)) if rows else None


def evidence_of(line: dict[str, Any]) -> dict[str, Any]:
    return json.loads(line["evidence"]) if line.get("evidence") else {}
