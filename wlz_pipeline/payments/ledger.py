"""The payment ledger: from each child's facts to claim lines (rules.md §15).

1. **Entitlements** (``entitlements``): per enrolled child, the sign-up, two engagement
   and up to three outcome payments whose deciding day has passed, each with its claim
   period, its price from the rate card of the child's cohort and phase, and evidence.
2. **Assembly** (``assemble``), given the frozen-claims store:

   - lines of submitted periods are emitted exactly as stored (status ``submitted``);
   - a payment with no frozen line whose period is open becomes one line per
     commissioner (price split by the largest remainder), status ``claimable``;
   - a payment with frozen lines is compared, commissioner by commissioner, with what
     was frozen (submitted lines and submitted adjustments); a difference becomes an
     ``adjustment`` line in the earliest open period after the original line's period,
     referencing the original line. Open adjustments are recomputed on every run and
     only frozen ones count as paid, so the same difference never gives two
     adjustments; once the adjustment's period is submitted it is frozen too;
   - a payment due in a period that was submitted without it (a late entitlement) is
     an adjustment in the next open period with no original line;
   - the contract cap: the frozen total counts first; then negative adjustments (money
     owed back is certain); then the new lines in ledger order (claim period, payment
     type, child, outcome). A payment that would take the total over the cap is
     recorded with status ``capped``, amount 0 and the reason; a later, smaller payment
     that still fits is claimable. A payment capped when its period was submitted and
     still capped now gets no new line each period.

Same inputs, same lines in the same order (``line_order``).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from wlz_pipeline.payments import eligibility as el
from wlz_pipeline.payments.periods import Calendar, next_academic_year, next_open_period, period_key
from wlz_pipeline.payments.rate_card import PAYMENT_TYPES, PaymentConfig, RateCard, share_text
from wlz_pipeline.payments.split import split_pence

#: Columns of marts.payment_ledger, in order, with DuckDB types.
LEDGER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("line_order", "BIGINT"),
    ("line_id", "VARCHAR"),
    ("claim_period", "VARCHAR"),
    ("wlz_id", "VARCHAR"),
    ("cohort", "VARCHAR"),
    ("anchor_urn", "VARCHAR"),
    ("phase", "VARCHAR"),
    ("payment_id", "VARCHAR"),
    ("payment_type", "VARCHAR"),
    ("outcome", "VARCHAR"),
    ("commissioner", "VARCHAR"),
    ("line_kind", "VARCHAR"),
    ("status", "VARCHAR"),
    ("capped", "BOOLEAN"),
    ("amount_pence", "BIGINT"),
    ("capped_pence", "BIGINT"),
    ("price_pence", "BIGINT"),
    ("share", "DOUBLE"),
    ("share_exact", "VARCHAR"),
    ("adjusts_line_id", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("evidence", "VARCHAR"),
    ("rate_card", "VARCHAR"),
    ("rule_version", "VARCHAR"),
    ("submitted", "BOOLEAN"),
    ("submission_id", "VARCHAR"),
    ("submitted_at", "TIMESTAMP"),
    ("cap_pence", "BIGINT"),
)
#: Columns that are the line itself: frozen in the store at submission, never changed.
#: The others (line_order, status, submitted, submission_id, submitted_at, cap_pence)
#: say where the line stands in this ledger.
FROZEN_COLUMNS: tuple[str, ...] = tuple(
    c
    for c, _ in LEDGER_COLUMNS
    if c not in ("line_order", "status", "submitted", "submission_id", "submitted_at", "cap_pence")
)

CLAIMS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("claim_period", "VARCHAR"),
    ("commissioner", "VARCHAR"),
    ("lines", "BIGINT"),
    ("amount_pence", "BIGINT"),
    ("submitted", "BOOLEAN"),
    ("payment_lines", "BIGINT"),
    ("payment_pence", "BIGINT"),
    ("adjustment_lines", "BIGINT"),
    ("adjustment_pence", "BIGINT"),
    ("capped_lines", "BIGINT"),
    ("capped_pence", "BIGINT"),
    ("children", "BIGINT"),
    ("submission_id", "VARCHAR"),
    ("submitted_at", "TIMESTAMP"),
)


def _hash(*parts: object) -> str:
    text = "|".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def payment_id(wlz_id: str, payment_type: str, outcome: str | None) -> str:
    return "P" + _hash("payment", wlz_id, payment_type, outcome)


def line_id(
    wlz_id: str,
    payment_type: str,
    outcome: str | None,
    commissioner: str,
    kind: str,
    period: str | None = None,
) -> str:
    """Stable: a payment line's id does not depend on its period (a corrected consent
    date moves it without renaming it); an adjustment's id includes its period."""
    return "L" + _hash(
        "line",
        wlz_id,
        payment_type,
        outcome,
        commissioner,
        kind,
        period if kind == "adjustment" else None,
    )


def to_json(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces (the same evidence gives the same bytes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def pounds(pence: int) -> str:
    sign = "-" if pence < 0 else ""
    return f"{sign}£{abs(pence) / 100:,.2f}"


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class OutcomeFact:
    outcome: str
    status: str
    evidence: Mapping[str, Any]
    sources: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ChildFacts:
    enrolment: el.Enrolment
    interactions: tuple[el.Interaction, ...] = ()
    sessions: tuple[el.PartnerSession, ...] = ()
    outcomes: Mapping[str, OutcomeFact] = field(default_factory=dict)


@dataclass(frozen=True)
class Entitlement:
    """One payment's decision for one child (met or not), priced by the rate card."""

    wlz_id: str
    cohort: str
    anchor_urn: str | None
    phase: str | None
    payment_type: str
    outcome: str | None
    claim_period: str
    met: bool
    price_pence: int | None
    card: RateCard | None
    evidence: Mapping[str, Any]
    sources: frozenset[str]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.wlz_id, self.payment_type, self.outcome or "")

    @property
    def payable(self) -> bool:
        return self.met and self.price_pence is not None and self.card is not None


# --------------------------------------------------------------------------- entitlements


def _priced(
    cfg: PaymentConfig, e: el.Enrolment, d: el.Decision, extra: Mapping[str, Any] | None = None
) -> Entitlement:
    card = cfg.card_for_cohort(e.cohort)
    price = card.price(e.phase, d.payment_type, d.outcome) if card else None
    evidence: dict[str, Any] = {
        "payment_type": d.payment_type,
        "outcome": d.outcome,
        "cohort": e.cohort,
        "phase": e.phase,
        "phase_from": e.phase_from,
        "conditions": dict(d.evidence),
        "rule_version": cfg.rule_version,
        "rate_card": None
        if card is None
        else {
            "id": card.id,
            "effective_from": card.effective_from.isoformat(),
            "price_pence": price,
        },
    }
    if extra:
        evidence.update(extra)
    met = d.met
    if met and card is None:
        evidence["not_payable"] = f"no rate card is in force for cohort {e.cohort}"
    elif met and price is None:
        evidence["not_payable"] = f"rate card {card.id} does not price phase {e.phase!r}"  # type: ignore[union-attr]
    return Entitlement(
        wlz_id=e.wlz_id,
        cohort=e.cohort,
        anchor_urn=e.anchor_urn,
        phase=e.phase,
        payment_type=d.payment_type,
        outcome=d.outcome,
        claim_period=str(d.claim_period),
        met=met,
        price_pence=price,
        card=card,
        evidence=evidence,
        sources=d.sources,
    )


def entitlements(
    children: Sequence[ChildFacts], cfg: PaymentConfig, calendar: Calendar, as_of: date
) -> list[Entitlement]:
    """Every due payment decision of every enrolled child (met or not)."""
    out: list[Entitlement] = []
    order = cfg.contract.outcomes
    for child in children:
        e = child.enrolment
        if e.consent_on is None:
            continue
        card = cfg.card_for_cohort(e.cohort)
        d = el.sign_up(e, calendar, as_of)
        if d is not None:
            out.append(_priced(cfg, e, d))
        eng = []
        for year in (1, 2):
            d = el.engagement(
                e, year, calendar, child.interactions, child.sessions, cfg.engagement, as_of
            )
            if d is not None:
                eng.append(d)
                out.append(_priced(cfg, e, d))
        done = el.completion(e, calendar, cfg.completion, as_of)
        if done is None:
            continue  # the programme has not ended: no outcome decisions yet
        engagement_met = any(d.met for d in eng)
        achieved = [
            o for o in order if o in child.outcomes and child.outcomes[o].status == "achieved"
        ]
        prices = {o: (card.price(e.phase, "outcome", o) or 0) if card else 0 for o in order}
        paid, why_not = el.select_outcomes(
            achieved, e.target_outcomes, prices, order, cfg.contract.max_outcome_payments
        )
        period = f"{next_academic_year(e.cohort)}-summer"
        for o in order:
            fact = child.outcomes.get(o)
            if fact is None:
                continue
            selected = o in paid
            met = done.met and engagement_met and fact.status == "achieved" and selected
            cond: dict[str, Any] = {
                "condition": (
                    "completed the programme, at least one engagement payment met, the "
                    "outcome achieved, and among the (at most "
                    f"{cfg.contract.max_outcome_payments}) outcomes paid: the child's target "
                    "outcomes when named, else the "
                    "highest-priced achieved (ties in rate-card order)"
                ),
                "completed": done.evidence,
                "engagement_met": {d.payment_type: d.met for d in eng},
                "outcome": dict(fact.evidence),
                "outcome_status": fact.status,
                "target_outcomes": list(e.target_outcomes),
                "achieved_outcomes": achieved,
                "paid_outcomes": paid,
                "met": met,
            }
            if not met:
                why = []
                if not done.met:
                    why.append("did not complete the programme")
                if not engagement_met:
                    why.append("no engagement payment met")
                if fact.status != "achieved":
                    why.append(f"outcome {fact.status}")
                elif not selected:
                    why.append(why_not.get(o, "not selected"))
                cond["why_not"] = "; ".join(why)
            d = el.Decision(
                "outcome",
                met,
                period,
                cond,
                done.sources | fact.sources | frozenset().union(*(x.sources for x in eng)),
                outcome=o,
            )
            out.append(_priced(cfg, e, d))
    return out


# --------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class Submission:
    claim_period: str
    submission_id: str
    submitted_at: datetime


@dataclass
class _Candidate:
    kind: str  # payment | adjustment
    period: str
    key: tuple[str, str, str]
    amounts: dict[str, int]  # commissioner -> pence (a split, or a difference)
    ent: Entitlement | None
    frozen: list[dict] = field(default_factory=list)
    reason: str | None = None

    @property
    def total(self) -> int:
        return sum(self.amounts.values())


def _payment_order(cfg: PaymentConfig, period: str, key: tuple[str, str, str]) -> tuple:
    wlz_id, ptype, outcome = key
    return (
        period_key(period),
        PAYMENT_TYPES.index(ptype),
        wlz_id,
        cfg.outcome_rank(outcome) if outcome else -1,
    )


def _line_order(cfg: PaymentConfig, line: Mapping[str, Any]) -> tuple:
    return (
        *_payment_order(
            cfg, line["claim_period"], (line["wlz_id"], line["payment_type"], line["outcome"] or "")
        ),
        0 if line["line_kind"] == "payment" else 1,
        str(line["claim_period"]),
        cfg.commissioner_rank(line["commissioner"])
        if line["commissioner"] in cfg.contract.commissioners
        else len(cfg.contract.commissioners),
        line["commissioner"],
        line["line_id"],
    )


def _sources_json(sources: frozenset[str], paths: Mapping[str, str]) -> list[dict[str, str | None]]:
    return sorted(
        ({"file_hash": h, "path": paths.get(h)} for h in sources),
        key=lambda s: (s["path"] or "", s["file_hash"]),
    )


def assemble(
    ents: Sequence[Entitlement],
    frozen_lines: Sequence[Mapping[str, Any]],
    submissions: Mapping[str, Submission],
    cfg: PaymentConfig,
    paths: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The ledger's lines (dicts with ``LEDGER_COLUMNS``), in ledger order."""
    paths = paths or {}
    order = cfg.contract.commissioners
    cap = cfg.contract.cap
    submitted = set(submissions)
    frozen_by_key: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for line in frozen_lines:
        frozen_by_key[(line["wlz_id"], line["payment_type"], line["outcome"] or "")].append(
            dict(line)
        )
    current: dict[tuple[str, str, str], Entitlement] = {}
    for ent in ents:
        if ent.key in current:
            raise ValueError(f"two decisions for one payment: {ent.key[1:]} of one child")
        current[ent.key] = ent

    candidates: list[_Candidate] = []
    for key in sorted(set(current) | set(frozen_by_key)):
        ent = current.get(key)
        frozen = frozen_by_key.get(key, [])
        parts: dict[str, int] = {}
        if ent is not None and ent.payable:
            parts = split_pence(ent.price_pence, ent.card.share_of(ent.payment_type), order)  # type: ignore[arg-type, union-attr]
        if not frozen:
            if not parts:
                continue
            if ent.claim_period not in submitted:  # type: ignore[union-attr]
                candidates.append(_Candidate("payment", ent.claim_period, key, parts, ent))  # type: ignore[union-attr]
            else:
                candidates.append(
                    _Candidate(
                        "adjustment",
                        next_open_period(ent.claim_period, submitted),  # type: ignore[union-attr]
                        key,
                        parts,
                        ent,
                        reason=(
                            f"late entitlement: due in {ent.claim_period}, which was "  # type: ignore[union-attr]
                            "submitted without it"
                        ),
                    )
                )
            continue
        paid: dict[str, int] = defaultdict(int)
        for line in frozen:
            paid[line["commissioner"]] += int(line["amount_pence"])
        names = [c for c in order if c in parts or c in paid] + sorted(
            c for c in set(parts) | set(paid) if c not in order
        )
        delta = {c: parts.get(c, 0) - paid.get(c, 0) for c in names}
        delta = {c: v for c, v in delta.items() if v != 0}
        if not delta:
            continue
        original = min(
            frozen, key=lambda ln: (period_key(ln["claim_period"]), ln["line_kind"] != "payment")
        )
        total_new = sum(parts.values())
        total_paid = sum(paid.values())
        if ent is None or not ent.payable:
            why = "no longer payable" if ent is None or not ent.met else "no longer priced"
        elif all(line.get("capped") for line in frozen):
            why = "capped when submitted"
        else:
            why = "entitlement changed"
        candidates.append(
            _Candidate(
                "adjustment",
                next_open_period(original["claim_period"], submitted),
                key,
                delta,
                ent,
                frozen=frozen,
                reason=(
                    f"{why}: {pounds(total_paid)} frozen in submitted claims, "
                    f"{pounds(total_new)} due now"
                ),
            )
        )

    running = sum(int(line["amount_pence"]) for line in frozen_lines)
    out: list[dict[str, Any]] = []
    negatives = sorted(
        (c for c in candidates if c.total <= 0), key=lambda c: _payment_order(cfg, c.period, c.key)
    )
    positives = sorted(
        (c for c in candidates if c.total > 0), key=lambda c: _payment_order(cfg, c.period, c.key)
    )
    for c in negatives:
        running += c.total
        out.extend(_lines(c, cfg, paths, capped=None))
    for c in positives:
        if running + c.total > cap:
            reason = (
                f"contract cap: {pounds(running)} already in the ledger + "
                f"{pounds(c.total)} would exceed the cap of {pounds(cap)}"
            )
            if c.kind == "adjustment" and c.frozen and all(ln.get("capped") for ln in c.frozen):
                continue  # capped at submission and still capped: nothing new to say
            out.extend(_lines(c, cfg, paths, capped=reason))
        else:
            running += c.total
            out.extend(_lines(c, cfg, paths, capped=None))

    for line in frozen_lines:
        sub = submissions.get(line["claim_period"])
        row = {c: line.get(c) for c in FROZEN_COLUMNS}
        row.update(
            status="submitted",
            submitted=True,
            submission_id=sub.submission_id if sub else line.get("submission_id"),
            submitted_at=sub.submitted_at if sub else line.get("submitted_at"),
        )
        out.append(row)

    out.sort(key=lambda ln: _line_order(cfg, ln))
    for i, line in enumerate(out, start=1):
        line["line_order"] = i
        line["cap_pence"] = cap
    return out


def _lines(
    c: _Candidate, cfg: PaymentConfig, paths: Mapping[str, str], capped: str | None
) -> list[dict[str, Any]]:
    wlz_id, ptype, outcome_key = c.key
    outcome = outcome_key or None
    ent = c.ent
    first = c.frozen[0] if c.frozen else {}
    card = ent.card if ent is not None else None
    shares = card.share_of(ptype) if card is not None else {}
    price = ent.price_pence if ent is not None and ent.payable else 0
    pid = payment_id(wlz_id, ptype, outcome)
    base_evidence: dict[str, Any] = (
        dict(ent.evidence)
        if ent is not None
        else {
            "payment_type": ptype,
            "outcome": outcome,
            "conditions": {
                "met": False,
                "why_not": "no longer due (no decision in the current data)",
            },
            "rule_version": cfg.rule_version,
        }
    )
    base_evidence["sources"] = _sources_json(ent.sources if ent else frozenset(), paths)
    rows = []
    for commissioner in sorted(
        c.amounts,
        key=lambda x: (cfg.commissioner_rank(x) if x in cfg.contract.commissioners else 99, x),
    ):
        amount = c.amounts[commissioner]
        share = shares.get(commissioner, Fraction(0))
        evidence = dict(base_evidence)
        evidence["split"] = {
            "commissioner": commissioner,
            "share": share_text(share),
            "price_pence": price,
            "rule": "largest remainder in integer pence, ties in commissioner order",
        }
        adjusts = None
        if c.kind == "adjustment":
            originals = [ln for ln in c.frozen if ln["commissioner"] == commissioner]
            original = min(
                originals,
                key=lambda ln: (period_key(ln["claim_period"]), ln["line_kind"] != "payment"),
                default=None,
            )
            adjusts = original["line_id"] if original else None
            frozen_amount = sum(int(ln["amount_pence"]) for ln in originals)
            evidence["adjustment"] = {
                "frozen_pence": frozen_amount,
                "due_pence": frozen_amount + amount,
                "difference_pence": amount,
                "original_period": original["claim_period"] if original else None,
                "original_line_id": adjusts,
                "frozen_lines": sorted(ln["line_id"] for ln in originals),
            }
        if capped:
            evidence["capped"] = capped
        rows.append(
            {
                "line_id": line_id(wlz_id, ptype, outcome, commissioner, c.kind, c.period),
                "claim_period": c.period,
                "wlz_id": wlz_id,
                "cohort": ent.cohort if ent else first.get("cohort"),
                "anchor_urn": ent.anchor_urn if ent else first.get("anchor_urn"),
                "phase": ent.phase if ent else first.get("phase"),
                "payment_id": pid,
                "payment_type": ptype,
                "outcome": outcome,
                "commissioner": commissioner,
                "line_kind": c.kind,
                "status": "capped"
                if capped
                else ("claimable" if c.kind == "payment" else "adjustment"),
                "capped": bool(capped),
                "amount_pence": 0 if capped else amount,
                "capped_pence": amount if capped else 0,
                "price_pence": price,
                "share": float(share),
                "share_exact": share_text(share),
                "adjusts_line_id": adjusts,
                "reason": capped or c.reason,
                "evidence": to_json(evidence),
                "rate_card": card.id if card else first.get("rate_card"),
                "rule_version": cfg.rule_version,
                "submitted": False,
                "submission_id": None,
                "submitted_at": None,
            }
        )
    return rows


# --------------------------------------------------------------------------- claims


def claims(
    lines: Sequence[Mapping[str, Any]], submissions: Mapping[str, Submission], cfg: PaymentConfig
) -> list[dict[str, Any]]:
    """payment_claims: one row per claim period and commissioner with lines."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for line in lines:
        groups[(line["claim_period"], line["commissioner"])].append(line)
    rows = []
    for (period, commissioner), ls in groups.items():
        sub = submissions.get(period)
        pay = [ln for ln in ls if ln["line_kind"] == "payment" and not ln["capped"]]
        adj = [ln for ln in ls if ln["line_kind"] == "adjustment" and not ln["capped"]]
        cap = [ln for ln in ls if ln["capped"]]
        rows.append(
            {
                "claim_period": period,
                "commissioner": commissioner,
                "lines": len(ls),
                "amount_pence": sum(int(ln["amount_pence"]) for ln in ls),
                "submitted": sub is not None,
                "payment_lines": len(pay),
                "payment_pence": sum(int(ln["amount_pence"]) for ln in pay),
                "adjustment_lines": len(adj),
                "adjustment_pence": sum(int(ln["amount_pence"]) for ln in adj),
                "capped_lines": len(cap),
                "capped_pence": sum(int(ln["capped_pence"] or 0) for ln in cap),
                "children": len({ln["wlz_id"] for ln in ls}),
                "submission_id": sub.submission_id if sub else None,
                "submitted_at": sub.submitted_at if sub else None,
            }
        )
    rank = {c: i for i, c in enumerate(cfg.contract.commissioners)}
    rows.sort(
        key=lambda r: (
            period_key(r["claim_period"]),
            rank.get(r["commissioner"], 99),
            r["commissioner"],
        )
    )
    return rows
