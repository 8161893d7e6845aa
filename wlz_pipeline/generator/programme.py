"""The programme register: identification, approach, consent/decline, exits,
the programme's effect on enrolled children, and partner allocations."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from .people import Child
from .reference import OUTCOMES, Anchor, LinkWorkerPlan, Programme
from .school import behaviour_windows
from .school_calendar import TERMS, SchoolCalendar
from .surveys import Response, band, score_sdq
from .util import sub_rng

SCREENING_DAY = {"2016/17": date(2016, 11, 7), "2017/18": date(2017, 11, 6)}
EXTRACT_DAY = {"2016/17": date(2016, 10, 14), "2017/18": date(2017, 10, 13)}
FINAL_YEAR_GROUPS = {"R", "6", "11"}


@dataclass
class Registration:
    wlz_id: str
    child: Child
    urn: str
    cohort: str
    identified_on: date
    approached_on: date | None = None
    consent_on: date | None = None
    declined_on: date | None = None
    lw_id: str = ""
    exit_on: date | None = None
    exit_reason: str = ""
    target_outcomes: tuple[str, ...] = ()
    not_identified: bool = False
    effect: float = 0.0

    @property
    def enrolled(self) -> bool:
        return self.consent_on is not None


# --- the need proxy the register was drawn from ---------------------------------------


def baseline_risk_count(
    child: Child,
    ay: str,
    prev_ay: str | None,
    cal: SchoolCalendar,
    autumn_response: Response | None,
) -> int:
    """Outcome risk factors at the autumn wave, as the pipeline will roughly count them."""
    st = child.stints[ay]
    n = 0
    prev = child.stints.get(prev_ay) if prev_ay else None
    if prev is not None and prev.abs_rate:
        n += sum(prev.abs_rate.values()) / len(prev.abs_rate) > 0.04
    else:
        n += st.abs_rate["autumn"] > 0.04
    (w0, w1), _ = behaviour_windows(cal, ay)
    n += sum(1 for d, _, _ in st.incidents if w0 <= d <= w1) >= 5
    for _subject, _, measure, value in st.assessments:
        if measure == "standardised":
            n += int(value) < 88
        elif measure == "teacher_assessment":
            n += value in ("WTS", "below", "well-below")
        elif measure == "eyfs":
            n += value == "emerging"
        elif measure == "level":
            n += int(value[0]) * 3 + "cba".index(value[1]) < 3 + 1.5 * (int(st.year_group) - 1)
    if autumn_response is not None:
        ans = autumn_response.answers
        scores = score_sdq(ans)
        for scale, score in scores.items():
            b = band(autumn_response.informant, scale, score)
            n += b is not None and b >= 1
        wem = [ans[f"wemwbs_{i}"] for i in range(1, 15)]
        n += all(v is not None for v in wem) and sum(wem) <= 40  # type: ignore[arg-type]
        if ans.get("bully_victim") is not None:
            n += ans["bully_victim"] >= 2  # type: ignore[operator]
    return n


# --- selection --------------------------------------------------------------------------


class Register:
    def __init__(self, seed: int, cal: SchoolCalendar, lws: LinkWorkerPlan, enrol_fraction: float):
        self.seed = seed
        self.cal = cal
        self.lws = lws
        self.enrol_fraction = enrol_fraction
        self.entries: list[Registration] = []
        self._ids: set[str] = set()
        self._id_rng = sub_rng(seed, "wlz-ids")

    def _wlz_id(self) -> str:
        while True:
            wid = f"WLZ{self._id_rng.randrange(100000000, 1000000000)}"
            if wid not in self._ids:
                self._ids.add(wid)
                return wid

    def _school_day_after(self, d: date, lo: int, hi: int, rng) -> date:
        days = self.cal.school_days(self.cal.academic_years[-1]) + self.cal.school_days(
            self.cal.academic_years[0]
        )
        later = sorted(x for x in days if x > d)
        return later[min(len(later) - 1, rng.randint(lo, hi))]

    def select(
        self,
        ay: str,
        anchor: Anchor,
        screened: list[Child],
        risk: dict[int, int],
        first_cohort: bool,
    ) -> list[Registration]:
        rng = sub_rng(self.seed, "select", ay, anchor.urn)
        if not screened:
            return []
        eligible = [
            c
            for c in screened
            if c.stints[ay].sen != "E"
            and risk[c.cid] >= 2
            and c.reg is None
            and c.stints[ay].leave is None
            and not (first_cohort and c.stints[ay].year_group in FINAL_YEAR_GROUPS)
        ]
        eligible.sort(key=lambda c: (-c.need[f"{ay}:autumn"], c.cid))
        n_ident = math.ceil(0.2 * len(screened))
        identified = eligible[:n_ident]
        k = max(1, round(self.enrol_fraction * len(screened)))
        d = round(k * 0.2)
        n_never = round(k * 0.04)
        noisy = sorted(
            identified, key=lambda c: (-(c.need[f"{ay}:autumn"] + rng.gauss(0, 0.35)), c.cid)
        )
        take = noisy[: k + d + n_never]
        k = max(0, len(take) - d - n_never)
        roles = ["consent"] * k + ["decline"] * d + ["never"] * n_never
        roles = roles[: len(take)]
        rng.shuffle(roles)
        # the "enrolled but not identified" case: one child from beyond the top 20%
        beyond = eligible[n_ident : max(n_ident + 1, int(n_ident * 2.5))]
        if anchor.phase != "nursery" and beyond and "consent" in roles:
            extra = rng.choice(beyond)
            drop = max(i for i, r in enumerate(roles) if r == "consent")
            take[drop] = extra
        made = []
        base = SCREENING_DAY[ay] + timedelta(days=rng.randrange(0, 4))
        for child, role in zip(take, roles, strict=True):
            reg = Registration(self._wlz_id(), child, anchor.urn, ay, base)
            reg.not_identified = child not in identified
            if role != "never":
                reg.approached_on = self._school_day_after(base, 2, 14, rng)
                if role == "consent":
                    late = rng.random() < 0.1
                    reg.consent_on = self._school_day_after(
                        reg.approached_on, *((30, 45) if late else (1, 18)), rng
                    )
                else:
                    reg.declined_on = self._school_day_after(reg.approached_on, 1, 12, rng)
            if reg.enrolled:
                reg.effect = rng.gauss(0.45, 0.45) + 0.15 * child.lat["engage"]
                areas = list(OUTCOMES)
                if rng.random() < 0.6:
                    reg.target_outcomes = tuple(
                        sorted(rng.sample(areas, rng.choice((1, 2, 3, 3))), key=OUTCOMES.index)
                    )
            child.reg = reg
            child.wlz_id = reg.wlz_id
            made.append(reg)
        self.entries.extend(made)
        return made

    def choose_exits(self, ay: str, regs: list[Registration], years: tuple[str, ...]):
        """Early exits: ~8% of a cohort's enrolled children, spread over the data's years."""
        rng = sub_rng(self.seed, "exits", ay)
        enrolled = [r for r in regs if r.enrolled]
        n = round(0.08 * len(enrolled))
        chosen = rng.sample(enrolled, min(n, len(enrolled)))
        chosen.sort(key=lambda r: r.wlz_id)
        later_years = [y for y in years if y >= ay]
        for i, reg in enumerate(chosen):
            year = later_years[i % len(later_years)] if len(later_years) > 1 else ay
            lo = max(
                reg.consent_on + timedelta(days=42),  # type: ignore[operator]
                EXTRACT_DAY[year] + timedelta(days=21),
            )
            days = self.cal.school_days(
                year, start=lo, end=self.cal.year_bounds(year)[1] - timedelta(days=21)
            )
            if not days:
                continue
            reg.exit_on = rng.choice(days)
            reg.exit_reason = rng.choices(
                ("moved_school", "withdrew", "other"), weights=(0.45, 0.4, 0.15)
            )[0]
            reg.effect *= 0.5
        return chosen

    def apply_effects(self, regs: list[Registration], years: tuple[str, ...]) -> None:
        """Lower the need of enrolled children at every wave after they consent."""
        for reg in regs:
            if not reg.enrolled:
                continue
            weights = [0.6, 0.8, 1.3]
            waves = [(reg.cohort, "summer")]
            for y in years:
                if y > reg.cohort:
                    waves += [(y, "autumn"), (y, "summer")]
            for (y, w), k in zip(waves, weights, strict=False):
                reg.child.need[f"{y}:{w}"] -= k * reg.effect

    def finish(self, data_end: date) -> None:
        for reg in self.entries:
            if reg.enrolled:  # the LW in charge now (or when the child left)
                upto = min(reg.exit_on or data_end, data_end)
            else:  # the LW who identified / approached the child
                upto = reg.declined_on or reg.approached_on or reg.identified_on
            reg.lw_id = self.lws.lw_on(reg.urn, upto)

    def rows(self) -> list[list[str]]:
        out = []
        for r in sorted(self.entries, key=lambda r: (r.cohort, r.urn, r.identified_on, r.wlz_id)):
            out.append(
                [
                    r.wlz_id,
                    r.child.upn,
                    r.urn,
                    r.cohort,
                    r.identified_on.isoformat(),
                    _iso(r.approached_on),
                    _iso(r.consent_on),
                    _iso(r.declined_on),
                    r.lw_id,
                    _iso(r.exit_on),
                    r.exit_reason,
                    "|".join(r.target_outcomes),
                ]
            )
        return out


def _iso(d: date | None) -> str:
    return "" if d is None else d.isoformat()


# --- allocations ------------------------------------------------------------------------


def offered_programmes(anchors: list[Anchor], programmes: list[Programme], seed: int):
    """Which programmes run for each anchor's children (all suitable ones at showcases)."""
    rng = sub_rng(seed, "offered")
    out: dict[str, list[Programme]] = {}
    for a in anchors:
        suitable = [p for p in programmes if a.phase in p.phases]
        if not a.role and len(suitable) > 6:
            suitable = sorted(rng.sample(suitable, 6), key=lambda p: p.programme)
        out[a.urn] = suitable
    return out


def allocation_terms(reg: Registration, cal: SchoolCalendar) -> list[tuple[str, str]]:
    """(academic_year, term) pairs a child is allocated to partner support."""
    out = []
    for ay in cal.academic_years:
        if ay < reg.cohort:
            continue
        for term in TERMS:
            t0, t1 = cal.term_bounds(ay, term)
            if reg.consent_on > t1 - timedelta(days=14):  # type: ignore[operator]
                continue
            if reg.exit_on is not None and reg.exit_on < t0:
                continue
            out.append((ay, term))
    return out


def build_allocations(
    regs: list[Registration], cal: SchoolCalendar, offered: dict[str, list[Programme]], seed: int
) -> list[list[str]]:
    rows = []
    for reg in regs:
        if not reg.enrolled:
            continue
        rng = sub_rng(seed, "alloc", reg.wlz_id)
        menu = offered[reg.urn]
        if not menu:
            continue
        prefs = [3.0 if p.outcome_area in reg.target_outcomes else 1.0 for p in menu]
        current: list[Programme] = []
        for ay, term in allocation_terms(reg, cal):
            n = min(len(menu), rng.choices((1, 2, 3), weights=(0.35, 0.45, 0.2))[0])
            if not current or rng.random() < 0.3:
                current = []
            while len(current) > n:
                current.pop(rng.randrange(len(current)))
            while len(current) < n:
                p = rng.choices(menu, weights=prefs)[0]
                if p not in current:
                    current.append(p)
            for p in sorted(current, key=lambda p: p.programme):
                rows.append([reg.wlz_id, p.partner_id, p.programme, ay, term])
    rows.sort(key=lambda r: (r[3], TERMS.index(r[4]), r[2], r[0]))
    return rows


def summer_comparison(children: list[Child], ay: str, n: int, seed: int) -> list[Child]:
    """Non-enrolled children surveyed in the summer alongside the enrolled ones."""
    rng = sub_rng(seed, "comparison", ay)
    pool = [c for c in children if c.reg is None or not c.reg.enrolled]  # type: ignore[attr-defined]
    by_need = sorted(pool, key=lambda c: (-c.need[f"{ay}:autumn"], c.cid))
    top = by_need[: max(n * 2, 1)]
    picked = rng.sample(top, min(len(top), int(n * 0.7)))
    picked_ids = {c.cid for c in picked}
    rest = [c for c in pool if c.cid not in picked_ids]
    picked += rng.sample(rest, min(len(rest), n - len(picked)))
    return sorted(picked, key=lambda c: c.cid)
