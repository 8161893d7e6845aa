"""greedy_match's search (nearest risk_count first, need_scores walked outwards from the
child's) against the plain definition of rules.md §13: every unused pool child of the
same key within the caliper, the minimum of (risk_count distance, need_score distance,
UPN). Random small pools with many ties and scores that are not exact in binary."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wlz_pipeline.marts.matching import Child, greedy_match


def plain_greedy(enrolled, pool, caliper_rc, caliper_ns, exact=("gender", "year_group")):
    keys = ("academic_year", "phase", *exact)
    used: set[str] = set()
    out = []
    for i, child in enumerate(sorted(enrolled, key=lambda c: (-c.need_score, c.id)), start=1):
        key = tuple(getattr(child, k) for k in keys)
        if any(v is None for v in key):
            out.append((child.id, i, None, "unknown"))
            continue
        same = [p for p in pool if tuple(getattr(p, k) for k in keys) == key and p.upn not in used]
        if not same:
            out.append((child.id, i, None, "same"))
            continue
        within = [
            p
            for p in same
            if abs(p.risk_count - child.risk_count) <= caliper_rc
            and abs(p.need_score - child.need_score) <= caliper_ns + 1e-9
        ]
        if not within:
            out.append((child.id, i, None, "caliper"))
            continue
        best = min(
            within,
            key=lambda p: (
                abs(p.risk_count - child.risk_count),
                round(abs(p.need_score - child.need_score), 9),
                p.upn,
            ),
        )
        used.add(best.upn)
        out.append((child.id, i, best.upn, None))
    return out


SCORES = st.sampled_from([0.0, 0.1, 0.2, 0.30000000000000004, 0.3, 0.5, 1.0, 1.1, 1.5, 2.0, 2.5])


@st.composite
def children(draw, prefix: str, max_size: int):
    n = draw(st.integers(0, max_size))
    out = []
    for i in range(n):
        upn = f"U{draw(st.integers(0, 25)):02d}" if prefix == "U" else f"E{i:02d}"
        out.append(
            Child(
                f"{prefix}{i:02d}" if prefix != "U" else upn,
                upn,
                "100001",
                draw(st.sampled_from(["2016/17", "2017/18"])),
                "primary",
                draw(st.sampled_from(["F", "M", None]))
                if prefix != "U"
                else draw(st.sampled_from(["F", "M"])),
                draw(st.sampled_from(["3", "4"])),
                draw(st.integers(0, 4)),
                round(draw(SCORES) + draw(SCORES), 6) if draw(st.booleans()) else draw(SCORES),
            )
        )
    return out


def _dedupe(pool):
    # the pool has one child per UPN and academic year (matching._load)
    seen, out = set(), []
    for p in pool:
        if (p.upn, p.academic_year) not in seen:
            seen.add((p.upn, p.academic_year))
            out.append(p)
    return out


@settings(max_examples=300, deadline=None)
@given(
    children("W", 12),
    children("U", 30),
    st.sampled_from([0, 1, 2]),
    st.sampled_from([0.0, 0.2, 0.5, 1.0, 10.0]),
)
def test_greedy_match_equals_the_plain_definition(enrolled, pool, caliper_rc, caliper_ns):
    pool = _dedupe(pool)
    got = [
        (m.child.id, m.order, m.comparison.upn if m.comparison else None)
        for m in greedy_match(enrolled, pool, caliper_rc, caliper_ns)
    ]
    assert got == [r[:3] for r in plain_greedy(enrolled, pool, caliper_rc, caliper_ns)]


def test_a_used_nearest_child_gives_way_to_the_next_nearest_and_ties_go_to_the_lower_upn():
    def c(id_, upn, rc, ns):
        return Child(id_, upn, "1", "2017/18", "primary", "F", "3", rc, ns)

    enrolled = [c("W1", "E1", 2, 2.0), c("W2", "E2", 2, 1.9)]
    pool = [c("U-A", "U-A", 2, 2.0), c("U-0", "U-0", 2, 2.0), c("U-C", "U-C", 2, 1.8)]
    # W1 (need_score 2.0, first): U-A and U-0 are both 0 away -> the lower UPN, U-0.
    # W2 (1.9): U-0 is used; U-A (2.0) and U-C (1.8) are both 0.1 away once rounded
    # (0.10000000000000009 and 0.09999999999999987) -> the lower UPN, U-A
    got = {m.child.id: m.comparison.upn for m in greedy_match(enrolled, pool, 1, 1.0)}
    assert got == {"W1": "U-0", "W2": "U-A"}
    assert {r[0]: r[2] for r in plain_greedy(enrolled, pool, 1, 1.0)} == got
