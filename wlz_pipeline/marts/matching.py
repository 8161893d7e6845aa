"""The comparison group (rules.md §13): greedy 1:1 matching and the balance table.

Pool: children screened in the same academic year and phase who meet the
identification criteria (not excluded, multiple needs; they need not be in the top 20%)
and have no enrolment record at all. Each enrolled child (consent recorded, cohort = the
academic year) is matched without replacement, in descending baseline need_score (ties by
WLZ ID), to the pool child with the same gender and year group (exact, config) that is
nearest in baseline risk_count, then in need_score, then lowest UPN, within the caliper
(config: both differences at most the caliper's). Deterministic: no randomness, every
tie broken by an identifier.

Balance: standardised mean differences (Austin 2009) of the matching variables and the
baseline outcome factors, enrolled vs pool before matching and matched enrolled vs their
comparison children after: ``(mean_t - mean_c) / sqrt((var_t + var_c) / 2)`` with the
sample variance for continuous variables and ``p(1 - p)`` for binary ones.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import duckdb

from wlz_pipeline.marts.settings import load

MATCH_TABLE = "marts.comparison_matches"
BALANCE_TABLE = "marts.comparison_balance"
YEAR_GROUP_NUMBER = {"N1": -2, "N2": -1, "R": 0, **{str(i): i for i in range(1, 14)}}


@dataclass(frozen=True)
class Child:
    id: str  # WLZ ID for enrolled children, UPN for pool children
    upn: str
    anchor_urn: str
    academic_year: str
    phase: str | None
    gender: str | None
    year_group: str | None
    risk_count: int
    need_score: float


@dataclass(frozen=True)
class Match:
    child: Child
    order: int  # position in the greedy order (1 = matched first)
    comparison: Child | None
    reason: str | None  # why unmatched

    @property
    def risk_count_distance(self) -> int | None:
        if self.comparison is None:
            return None
        return abs(self.child.risk_count - self.comparison.risk_count)

    @property
    def need_score_distance(self) -> float | None:
        if self.comparison is None:
            return None
        return round(abs(self.child.need_score - self.comparison.need_score), 6)


def greedy_match(
    enrolled: Sequence[Child],
    pool: Sequence[Child],
    caliper_risk_count: float,
    caliper_need_score: float,
    exact: Sequence[str] = ("gender", "year_group"),
) -> list[Match]:
    """Match each enrolled child to at most one pool child, without replacement.

    Enrolled children are taken in descending need_score, ties by id; each takes the
    unused pool child of the same academic year, phase and ``exact`` attributes that
    minimises (|risk_count difference|, |need_score difference|, pool UPN) among those
    within the caliper.
    """
    keys = ("academic_year", "phase", *exact)
    # pool children by key, then by risk_count (only the counts within the caliper are
    # searched) in need_score order (only the scores near the child's are searched), and
    # how many of each key's are still unused
    by_key: dict[tuple, dict[int, list[Child]]] = defaultdict(lambda: defaultdict(list))
    unused: dict[tuple, int] = defaultdict(int)
    keys_of: dict[str, list[tuple]] = defaultdict(list)  # a UPN may be in several years
    for p in sorted(pool, key=lambda c: (c.need_score, c.upn)):
        key = tuple(getattr(p, k) for k in keys)
        by_key[key][p.risk_count].append(p)
        unused[key] += 1
        keys_of[p.upn].append(key)
    scores = {
        key: {rc: [p.need_score for p in same] for rc, same in by_rc.items()}
        for key, by_rc in by_key.items()
    }
    used: set[str] = set()
    out: list[Match] = []
    order = sorted(enrolled, key=lambda c: (-c.need_score, c.id))
    for i, child in enumerate(order, start=1):
        key = tuple(getattr(child, k) for k in keys)
        if any(v is None for v in key):
            missing = [k for k, v in zip(keys, key, strict=True) if v is None]
            out.append(Match(child, i, None, f"unknown {', '.join(missing)}"))
            continue
        if not unused.get(key):
            out.append(
                Match(child, i, None, "no unused pool child with the same " + ", ".join(keys))
            )
            continue
        # the choice is by (risk_count distance, need_score distance, UPN): the risk
        # counts are searched nearest first, and the first distance with a candidate
        # decides; within a risk count the scores are walked outwards from the child's,
        # nearest first, only as far as the nearest candidate found (or the caliper)
        best: Child | None = None
        nearest: tuple[float, str] | None = None  # (rounded gap, UPN) of ``best``
        by_distance: dict[int, list[int]] = defaultdict(list)
        for risk_count in by_key[key]:
            distance = abs(risk_count - child.risk_count)
            if distance <= caliper_risk_count:
                by_distance[distance].append(risk_count)
        for distance in sorted(by_distance):
            for risk_count in by_distance[distance]:
                same, near = by_key[key][risk_count], scores[key][risk_count]
                right = bisect_left(near, child.need_score)  # scores below go left
                left = right - 1
                while left >= 0 or right < len(near):
                    gap_left = child.need_score - near[left] if left >= 0 else math.inf
                    gap_right = near[right] - child.need_score if right < len(near) else math.inf
                    if gap_left <= gap_right:
                        gap, p = gap_left, same[left]
                        left -= 1
                    else:
                        gap, p = gap_right, same[right]
                        right += 1
                    if gap > caliper_need_score + 1e-9:
                        break  # every score further out is outside the caliper
                    rounded = round(gap, 9)
                    if nearest is not None and rounded > nearest[0]:
                        break  # every score further out is further than ``best``
                    if p.upn not in used and (nearest is None or (rounded, p.upn) < nearest):
                        nearest, best = (rounded, p.upn), p
            if best is not None:
                break
        if best is None:
            out.append(Match(child, i, None, "no pool child within the caliper"))
            continue
        used.add(best.upn)
        for k in keys_of[best.upn]:
            unused[k] -= 1
        out.append(Match(child, i, best, None))
    return out


# --------------------------------------------------------------------------- balance


def smd(treated: Sequence[float], control: Sequence[float], binary: bool) -> float | None:
    """Standardised mean difference; ``None`` when a group is empty (or, for a
    continuous variable, has fewer than 2 values) or the pooled sd is 0 with different
    means; 0 when the pooled sd is 0 and the means are equal."""
    if not treated or not control:
        return None
    mt, mc = sum(treated) / len(treated), sum(control) / len(control)
    if binary:
        vt, vc = mt * (1 - mt), mc * (1 - mc)
    else:
        if len(treated) < 2 or len(control) < 2:
            return None
        vt = sum((x - mt) ** 2 for x in treated) / (len(treated) - 1)
        vc = sum((x - mc) ** 2 for x in control) / (len(control) - 1)
    pooled = math.sqrt((vt + vc) / 2)
    if pooled == 0:
        return 0.0 if math.isclose(mt, mc) else None
    return (mt - mc) / pooled


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


# ------------------------------------------------------------------------- warehouse

#: The only rows of the risk profile (the baseline) and of the risk factors (the baseline
#: outcomes) that the matching and the balance read: the autumn wave's. Declared with
#: the marts (build.python_marts), so a night that changes only other rows (a week of
#: summer marks) leaves both as they are; the queries below use the same conditions.
BASELINE_ROWS = {"marts.risk_profile": "wave = 'autumn'"}
OUTCOME_ROWS = {"marts.risk_factors": "wave = 'autumn' and kind = 'outcome'"}

BASELINE_SQL = f"""
select
    p.anchor_urn, p.upn, p.academic_year, p.phase, p.gender, p.year_group, p.risk_count,
    p.need_score, i.exclusion_reason is null and i.multiple_needs as meets_criteria
from (select * from marts.risk_profile where {BASELINE_ROWS["marts.risk_profile"]}) as p
join marts.identification as i
    on i.anchor_urn = p.anchor_urn and i.upn = p.upn and i.academic_year = p.academic_year
order by p.academic_year, p.upn, p.anchor_urn
"""

ENROLLED_SQL = """
select wlz_id, upn, anchor_urn, cohort
from staging.enrolments
where consent_on is not null and wlz_id is not null and upn is not null
order by wlz_id
"""


def _load(con: duckdb.DuckDBPyConnection) -> tuple[list[Child], list[Child], list[tuple]]:
    baseline = con.execute(BASELINE_SQL).fetchall()
    registered = {
        r[0] for r in con.execute("select distinct upn from staging.enrolments").fetchall()
    }
    by_child: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for row in baseline:
        by_child[(row[1], row[2])].append(row)
    enrolled: list[Child] = []
    no_baseline: list[tuple] = []
    for wlz_id, upn, anchor_urn, cohort in con.execute(ENROLLED_SQL).fetchall():
        rows = by_child.get((upn, cohort), [])
        if not rows:
            no_baseline.append((wlz_id, upn, anchor_urn, cohort))
            continue
        # a child on two registers in the year: the register's anchor's profile
        row = min(rows, key=lambda r: (r[0] != anchor_urn, r[0]))
        enrolled.append(Child(wlz_id, upn, row[0], cohort, *row[3:8]))
    pool: list[Child] = []
    seen: set[tuple[str, str]] = set()
    for row in baseline:
        anchor, upn, year = row[0], row[1], row[2]
        if row[8] and upn not in registered and (upn, year) not in seen:
            seen.add((upn, year))
            pool.append(Child(upn, upn, anchor, year, *row[3:8]))
    return enrolled, pool, no_baseline


MATCH_COLUMNS = (
    ("academic_year", "VARCHAR"),
    ("phase", "VARCHAR"),
    ("match_order", "INTEGER"),
    ("wlz_id", "VARCHAR"),
    ("upn", "VARCHAR"),
    ("anchor_urn", "VARCHAR"),
    ("gender", "VARCHAR"),
    ("year_group", "VARCHAR"),
    ("risk_count", "INTEGER"),
    ("need_score", "DOUBLE"),
    ("matched", "BOOLEAN"),
    ("comparison_wlz_id", "VARCHAR"),
    ("comparison_upn", "VARCHAR"),
    ("comparison_anchor_urn", "VARCHAR"),
    ("comparison_risk_count", "INTEGER"),
    ("comparison_need_score", "DOUBLE"),
    ("distance", "INTEGER"),
    ("need_score_distance", "DOUBLE"),
    ("unmatched_reason", "VARCHAR"),
)


def match_rows(matches: Iterable[Match]) -> list[tuple]:
    out = []
    for m in matches:
        c, p = m.child, m.comparison
        out.append(
            (
                c.academic_year,
                c.phase,
                m.order,
                c.id,
                c.upn,
                c.anchor_urn,
                c.gender,
                c.year_group,
                c.risk_count,
                c.need_score,
                p is not None,
                None,  # pool children have no enrolment record, hence no WLZ ID
                p.upn if p else None,
                p.anchor_urn if p else None,
                p.risk_count if p else None,
                p.need_score if p else None,
                m.risk_count_distance,
                m.need_score_distance,
                m.reason,
            )
        )
    return out


def run_matching(con: duckdb.DuckDBPyConnection) -> tuple[list[Match], list[tuple], list[Child]]:
    cfg = load().comparison
    enrolled, pool, no_baseline = _load(con)
    matches = greedy_match(
        enrolled, pool, cfg.caliper.risk_count, cfg.caliper.need_score, tuple(cfg.exact)
    )
    return matches, no_baseline, pool


def build_matches(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    from wlz_pipeline.marts.tables import write_table

    matches, no_baseline, pool = run_matching(con)
    rows = match_rows(matches)
    for wlz_id, upn, anchor_urn, cohort in no_baseline:
        rows.append(
            (
                cohort,
                None,
                None,
                wlz_id,
                upn,
                anchor_urn,
                None,
                None,
                None,
                None,
                False,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                "no autumn risk profile in the cohort's year",
            )
        )
    n = write_table(con, MATCH_TABLE, MATCH_COLUMNS, rows, ("academic_year", "wlz_id"))
    matched = sum(1 for r in rows if r[10])
    return {"rows": n, "matched": matched, "unmatched": n - matched, "pool": len(pool)}


BALANCE_COLUMNS = (
    ("academic_year", "VARCHAR"),
    ("variable", "VARCHAR"),
    ("variable_kind", "VARCHAR"),
    ("scale", "VARCHAR"),
    ("n_enrolled", "INTEGER"),
    ("mean_enrolled", "DOUBLE"),
    ("n_pool", "INTEGER"),
    ("mean_pool", "DOUBLE"),
    ("smd_before", "DOUBLE"),
    ("n_matched_enrolled", "INTEGER"),
    ("mean_matched_enrolled", "DOUBLE"),
    ("n_matched_comparison", "INTEGER"),
    ("mean_matched_comparison", "DOUBLE"),
    ("smd_after", "DOUBLE"),
    ("variable_order", "INTEGER"),
)

OUTCOMES_SQL = f"""
-- the autumn outcome factors of the children the balance compares, one row per factor,
-- in (child, factor, at_risk, value, sort order) order: fetched column by column, which
-- is several times faster than fetching a list per child (DuckDB builds every list
-- element as a Python object: ~3 s for the zone's 52,000 children)
select f.anchor_urn, f.upn, f.academic_year, f.factor, f.at_risk, f.value_number, r.sort_order
from (select * from marts.risk_factors where {OUTCOME_ROWS["marts.risk_factors"]}) as f
join marts.risk_rules as r on r.factor = f.factor
semi join balance_children as c
    on c.anchor_urn is not distinct from f.anchor_urn
   and c.upn is not distinct from f.upn
   and c.academic_year is not distinct from f.academic_year
order by f.anchor_urn, f.upn, f.academic_year, f.factor, f.at_risk, f.value_number, r.sort_order
"""


def _variables(child: Child, outcomes: dict[str, tuple[bool | None, float | None]]):  # noqa: ANN202
    """(variable, kind, scale, value) of one child; value None = unknown."""
    yg = YEAR_GROUP_NUMBER.get(child.year_group or "")
    yield "risk_count", "matching", "continuous", float(child.risk_count)
    yield "need_score", "matching", "continuous", float(child.need_score)
    yield (
        "female",
        "matching",
        "binary",
        (None if child.gender is None else float(child.gender == "F")),
    )
    yield "year_group", "matching", "continuous", None if yg is None else float(yg)
    rate = outcomes.get("attendance_below_96", (None, None))[1]
    yield "attendance_rate", "baseline_outcome", "continuous", rate
    for factor, (at_risk, _) in outcomes.items():
        yield factor, "baseline_outcome", "binary", None if at_risk is None else float(at_risk)


#: Where the matching variables come in the balance table; outcome factors follow.
VARIABLE_ORDER = {
    "risk_count": 1,
    "need_score": 2,
    "female": 3,
    "year_group": 4,
    "attendance_rate": 5,
}


def balance_rows(
    matches: Sequence[Match],
    pool: Sequence[Child],
    outcomes: dict[tuple[str, str, str], dict[str, tuple[bool | None, float | None]]],
    factor_order: dict[str, int],
) -> list[tuple]:
    """One row per academic year and variable (see ``BALANCE_COLUMNS``)."""
    groups: dict[str, dict[str, list[Child]]] = defaultdict(lambda: defaultdict(list))
    for m in matches:
        groups[m.child.academic_year]["enrolled"].append(m.child)
        if m.comparison is not None:
            groups[m.child.academic_year]["matched_enrolled"].append(m.child)
            groups[m.child.academic_year]["matched_comparison"].append(m.comparison)
    for p in pool:
        if p.academic_year in groups:
            groups[p.academic_year]["pool"].append(p)
    rows = []
    for year in sorted(groups):
        values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        meta: dict[str, tuple[str, str, int]] = {}
        for group, children in groups[year].items():
            for c in children:
                o = outcomes.get((c.anchor_urn, c.upn, c.academic_year), {})
                for name, kind, scale, value in _variables(c, o):
                    order = VARIABLE_ORDER.get(name) or 10 + factor_order.get(name, 0)
                    meta[name] = (kind, scale, order)
                    if value is not None:
                        values[name][group].append(value)
        for name, (kind, scale, order) in sorted(meta.items(), key=lambda kv: kv[1][2]):
            v = values[name]
            binary = scale == "binary"
            rows.append(
                (
                    year,
                    name,
                    kind,
                    scale,
                    len(v["enrolled"]),
                    _mean(v["enrolled"]),
                    len(v["pool"]),
                    _mean(v["pool"]),
                    smd(v["enrolled"], v["pool"], binary),
                    len(v["matched_enrolled"]),
                    _mean(v["matched_enrolled"]),
                    len(v["matched_comparison"]),
                    _mean(v["matched_comparison"]),
                    smd(v["matched_enrolled"], v["matched_comparison"], binary),
                    order,
                )
            )
    return rows


def _children_table(children: Iterable[tuple[str, str, str]]):  # noqa: ANN202
    from wlz_pipeline.marts.tables import arrow_table

    columns = (("anchor_urn", "VARCHAR"), ("upn", "VARCHAR"), ("academic_year", "VARCHAR"))
    return arrow_table(columns, sorted(children))


def build_balance(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    from wlz_pipeline.marts.tables import write_table

    matches, _, pool = run_matching(con)
    # the stored matches are the source of truth; recomputing them must agree
    stored = {
        (r[0], r[1]): r[2]
        for r in con.execute(
            f"select academic_year, wlz_id, comparison_upn from {MATCH_TABLE}"
        ).fetchall()
    }
    for m in matches:
        got = m.comparison.upn if m.comparison else None
        if stored.get((m.child.academic_year, m.child.id)) != got:
            raise RuntimeError(
                f"{MATCH_TABLE} is stale (differs from a fresh match): rebuild it first"
            )
    outcomes: dict[tuple[str, str, str], dict[str, tuple[bool | None, float | None]]] = defaultdict(
        dict
    )
    order: dict[str, int] = {}
    # the baseline outcomes of the children the balance compares only (enrolled and
    # pool), not of every screened child
    children = {
        (c.anchor_urn, c.upn, c.academic_year)
        for m in matches
        for c in (m.child, m.comparison)
        if c is not None
    } | {(p.anchor_urn, p.upn, p.academic_year) for p in pool}
    con.register("balance_children", _children_table(children))
    try:
        found = con.execute(OUTCOMES_SQL).fetchnumpy()
    finally:
        con.unregister("balance_children")
    # masked (NULL) values come back as None
    columns = [found[name].tolist() for name in found]
    for anchor, upn, year, factor, flag, value, sort_order in zip(*columns, strict=True):
        outcomes[(anchor, upn, year)][factor] = (flag, value)
        order[factor] = sort_order
    rows = balance_rows(matches, pool, outcomes, order)
    n = write_table(
        con, BALANCE_TABLE, BALANCE_COLUMNS, rows, ("academic_year", "variable_order", "variable")
    )
    worst = max((abs(r[13]) for r in rows if r[13] is not None), default=None)
    return {"rows": n, "max_abs_smd_after": worst}
