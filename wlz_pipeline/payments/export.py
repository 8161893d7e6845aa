"""A commissioner's claim for one period, as ``.csv`` and ``.xlsx`` (formula-safe).

One row per ledger line of the period for the commissioner, with the child's WLZ ID (the
commissioner's verifier checks each child), the payment, the amount, the evidence in
words and in full (JSON, with the source files), and totals that reconcile to the
ledger: the export refuses to write when its total differs from
``marts.payment_claims`` for the same period and commissioner.

Text cells that a spreadsheet would run as a formula (``= + - @``) are neutralised: in
the CSV with a leading apostrophe (``neutralise_cell``), in the workbook as text cells
with Excel's quote prefix (``put``). Totals are written as values, never as formulas.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from wlz_pipeline.payments.ledger import pounds
from wlz_pipeline.payments.rate_card import gbp

PAYMENT_LABELS = {
    "sign_up": "Payment 1: sign-up",
    "engagement_y1": "Payment 2: engagement, year 1",
    "engagement_y2": "Payment 3: engagement, year 2",
    "outcome": "Outcome payment",
}
COLUMNS: tuple[tuple[str, str], ...] = (
    ("line_id", "Line ID"),
    ("claim_period", "Claim period"),
    ("wlz_id", "WLZ ID"),
    ("cohort", "Cohort"),
    ("anchor_urn", "Anchor URN"),
    ("phase", "Phase"),
    ("payment", "Payment"),
    ("payment_type", "Payment type"),
    ("outcome", "Outcome"),
    ("line_kind", "Line kind"),
    ("status", "Status"),
    ("amount_pence", "Amount (pence)"),
    ("amount_gbp", "Amount (GBP)"),
    ("price_pence", "Price of the payment (pence)"),
    ("share", "Commissioner's share"),
    ("adjusts_line_id", "Adjusts line"),
    ("reason", "Reason"),
    ("evidence_summary", "Evidence"),
    ("source_files", "Source files"),
    ("rate_card", "Rate card"),
    ("rule_version", "Rule version"),
    ("evidence", "Evidence (full, JSON)"),
)
XLSX_CELL_MAX = 32_000  # Excel's limit is 32,767 characters per cell


class ExportError(RuntimeError):
    """The export does not reconcile, or there is nothing to export."""


@dataclass(frozen=True)
class Export:
    csv: Path
    xlsx: Path
    lines: int
    amount_pence: int


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:g}"
    return "" if x is None else str(x)


def summarise(evidence: Mapping[str, Any]) -> str:
    """The evidence of one line in one sentence for a person."""
    ptype = evidence.get("payment_type")
    c = evidence.get("conditions") or {}
    parts: list[str] = []
    if ptype == "sign_up":
        parts.append(f"consent {c.get('consent_on')} (cohort {c.get('cohort')})")
    elif ptype in ("engagement_y1", "engagement_y2"):
        rate = c.get("partner_attendance_rate")
        parts.append(
            f"{c.get('window_start')} to {c.get('window_end')}: "
            f"{c.get('interactions')} LW interactions (min {c.get('interactions_min')}); "
            f"partner attendance {'n/a' if rate is None else f'{rate:.0%}'} "
            f"(min {c.get('partner_attendance_rate_min', 0):.0%}), "
            f"{_fmt(c.get('partner_hours'))} h (min {_fmt(c.get('partner_hours_min'))}); "
            f"enrolled on {c.get('window_end')}: "
            f"{'yes' if c.get('enrolled_on_window_end') else 'no'}"
        )
    elif ptype == "outcome":
        o = c.get("outcome") or {}
        b, e = o.get("baseline") or {}, o.get("end") or {}
        parts.append(
            f"{evidence.get('outcome')} {c.get('outcome_status')}: {b.get('factor')} "
            f"{b.get('value_text')} ({'at risk' if b.get('at_risk') else 'not at risk'}) -> "
            f"{e.get('value_text')} ({'at risk' if e.get('at_risk') else 'not at risk'})"
            + (
                f", change {o.get('change')} (min {o.get('min_change_applied')})"
                if o.get("change")
                else ""
            )
            + f"; completed: {'yes' if (c.get('completed') or {}).get('met') else 'no'}"
            + "; engagement met: "
            + ", ".join(k for k, v in (c.get("engagement_met") or {}).items() if v)
        )
    if c.get("why_not"):
        parts.append(f"not payable now: {c['why_not']}")
    if evidence.get("adjustment"):
        a = evidence["adjustment"]
        parts.append(
            f"adjustment: {pounds(a.get('frozen_pence', 0))} submitted in "
            f"{a.get('original_period')}, {pounds(a.get('due_pence', 0))} due now"
        )
    if evidence.get("capped"):
        parts.append(str(evidence["capped"]))
    return "; ".join(p for p in parts if p)


def rows_for(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        ev = json.loads(line["evidence"]) if line.get("evidence") else {}
        sources = "; ".join(
            f"{s.get('path') or '?'} (sha256 {s.get('file_hash')})" for s in ev.get("sources") or []
        )
        out.append(
            {
                **{k: line.get(k) for k, _ in COLUMNS if k in line},
                "payment": PAYMENT_LABELS.get(line["payment_type"], line["payment_type"]),
                # a number cell, never text: a negative amount is not a formula
                "amount_gbp": gbp(int(line["amount_pence"])),
                "share": _share_cell(line),
                "evidence_summary": summarise(ev),
                "source_files": sources,
            }
        )
    return out


def _share_cell(line: Mapping[str, Any]) -> Decimal | str | None:
    """A share as a decimal number (``0.25``; spreadsheets would read ``1/4`` as a
    date), to six places when it has no exact decimal."""
    exact = line.get("share_exact")
    if exact and "/" not in str(exact):
        return Decimal(str(exact))
    share = line.get("share")
    return None if share is None else Decimal(repr(float(share))).quantize(Decimal("0.000001"))


def file_stem(period: str, commissioner: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_]+", "_", commissioner).strip("_") or "commissioner"
    return f"WLZ_claim_{period.replace('/', '-')}_{safe}"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], total_pence: int) -> Path:
    from wlz_pipeline.sources.partner_template import neutralise_cell

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([label for _, label in COLUMNS])
    for r in rows:
        w.writerow([neutralise_cell("" if r.get(k) is None else r.get(k)) for k, _ in COLUMNS])
    total = {k: "" for k, _ in COLUMNS}
    total.update(
        line_id="TOTAL",
        payment=f"{len(rows)} lines",
        amount_pence=total_pence,
        amount_gbp=round(total_pence / 100, 2),
    )
    w.writerow([neutralise_cell(total[k]) for k, _ in COLUMNS])
    # UTF-8 with BOM: Excel then reads "£" and accented names correctly
    _write_atomic(path, ("\ufeff" + buf.getvalue()).encode("utf-8"))
    return path


def write_xlsx(
    path: Path,
    rows: Sequence[Mapping[str, Any]],
    total_pence: int,
    summary: Sequence[tuple[str, Any]],
) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from wlz_pipeline.sources.partner_template import save_workbook
    from wlz_pipeline.sources.partner_template_write import put

    wb = Workbook()
    ws = wb.active
    ws.title = "Claim"
    bold = Font(bold=True)
    for j, (_, label) in enumerate(COLUMNS, start=1):
        put(ws.cell(row=1, column=j), label).font = bold
    for i, r in enumerate(rows, start=2):
        for j, (k, _) in enumerate(COLUMNS, start=1):
            v = r.get(k)
            if isinstance(v, str) and len(v) > XLSX_CELL_MAX:
                v = v[:XLSX_CELL_MAX] + " ... (truncated: the full text is in the CSV)"
            cell = put(ws.cell(row=i, column=j), v)
            if k == "amount_gbp":
                cell.number_format = "#,##0.00"
    t = len(rows) + 2
    keys = [k for k, _ in COLUMNS]
    put(ws.cell(row=t, column=1), "TOTAL").font = bold
    put(ws.cell(row=t, column=keys.index("payment") + 1), f"{len(rows)} lines").font = bold
    put(ws.cell(row=t, column=keys.index("amount_pence") + 1), total_pence).font = bold
    c = put(ws.cell(row=t, column=keys.index("amount_gbp") + 1), gbp(total_pence))
    c.font, c.number_format = bold, "#,##0.00"
    ws.freeze_panes = "A2"
    s = wb.create_sheet("Summary")
    for i, (label, value) in enumerate(summary, start=1):
        put(s.cell(row=i, column=1), label).font = bold
        put(s.cell(row=i, column=2), value)
    s.column_dimensions["A"].width = 38
    s.column_dimensions["B"].width = 60
    save_workbook(wb, path)
    return path


def export_claim(
    lines: Sequence[Mapping[str, Any]],
    period: str,
    commissioner: str,
    out_dir: Path,
    ledger_total_pence: int | None,
    context: Mapping[str, Any] | None = None,
) -> Export:
    """Write the claim of ``commissioner`` for ``period`` from its ledger ``lines``.

    ``ledger_total_pence`` is what ``marts.payment_claims`` holds for the same period and
    commissioner (None when that table is not built): the export is refused when the
    lines do not add up to it."""
    mine = [x for x in lines if x["claim_period"] == period and x["commissioner"] == commissioner]
    if not mine:
        raise ExportError(f"no ledger lines for {commissioner} in {period}")
    total = sum(int(x["amount_pence"]) for x in mine)
    if ledger_total_pence is not None and total != ledger_total_pence:
        raise ExportError(
            f"the lines add up to {total} pence but payment_claims says {ledger_total_pence} "
            f"for {commissioner} in {period}: rebuild the ledger (wlz run) and try again"
        )
    rows = rows_for(mine)
    by_status: dict[str, list[int]] = {}
    for x in mine:
        n, p = by_status.get(x["status"], [0, 0])
        by_status[x["status"]] = [n + 1, p + int(x["amount_pence"])]
    summary: list[tuple[str, Any]] = [
        ("Claim period", period),
        ("Commissioner", commissioner),
        ("Lines", len(mine)),
        ("Children", len({x["wlz_id"] for x in mine})),
        ("Total (pence)", total),
        ("Total", pounds(total)),
        (
            "Reconciles to marts.payment_claims",
            "yes" if ledger_total_pence is not None else "not built",
        ),
    ]
    for status, (n, p) in sorted(by_status.items()):
        summary.append((f"Status {status}", f"{n} lines, {pounds(p)}"))
    for k, v in (context or {}).items():
        summary.append((k, "" if v is None else str(v)))
    out_dir = Path(out_dir)
    stem = file_stem(period, commissioner)
    csv_path = write_csv(out_dir / f"{stem}.csv", rows, total)
    xlsx_path = write_xlsx(out_dir / f"{stem}.xlsx", rows, total, summary)
    return Export(csv_path, xlsx_path, len(mine), total)
