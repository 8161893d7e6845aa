"""Distribution summaries of the risk profiles for asset metadata: counts only, no
identifiers (quality.md: metadata never shows names, UPNs or dates of birth)."""

from __future__ import annotations

import duckdb


def risk_distribution(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    children = {
        f"{y} {w}": n
        for y, w, n in con.execute(
            "select academic_year, wave, count(*) from marts.risk_profile group by all order by all"
        ).fetchall()
    }
    risk_count = {
        f"{y} {w}": {str(k): n for k, n in zip(ks, ns, strict=True)}
        for y, w, ks, ns in con.execute(
            """select academic_year, wave, list(risk_count order by risk_count),
                      list(n order by risk_count)
               from (select academic_year, wave, risk_count, count(*) as n
                     from marts.risk_profile group by all)
               group by all order by all"""
        ).fetchall()
    }
    lines = ["| year | wave | factor | known | at risk | % of known |", "|---|---|---|---|---|---|"]
    for y, w, f, known, true in con.execute(
        """select f.academic_year, f.wave, f.factor, count(f.at_risk),
                  count(*) filter (where f.at_risk)
           from marts.risk_factors as f join marts.risk_rules as r using (factor)
           group by f.academic_year, f.wave, f.factor, r.sort_order
           order by f.academic_year, f.wave, r.sort_order"""
    ).fetchall():
        pct = f"{100 * true / known:.1f}" if known else ""
        lines.append(f"| {y} | {w} | {f} | {known} | {true} | {pct} |")
    return {"children": children, "risk_count": risk_count, "factors_md": "\n".join(lines)}
