"""Children: who they are, where they are on roll each year, and their latent traits.

Each child has a latent *need* (standard normal) from which every risk factor is drawn
with noise, so factors correlate the way the programme's reports describe: children
with one need tend to have several. Need drifts a little from wave to wave, and for
enrolled children the programme's effect is subtracted after they consent (programme.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from stdnum.gb.upn import calc_check_digit

from .names import (
    EXCLUDED_NAMES,
    FORENAMES_F,
    FORENAMES_M,
    FORENAMES_UTF8_ONLY,
    FORENAMES_X,
    LANGUAGES,
    SURNAMES,
    SURNAMES_UTF8_ONLY,
)
from .reference import YEAR_OFFSET, Anchor, Geography, next_year_group
from .school_calendar import SchoolCalendar, ay_start_year
from .util import clip, logistic, sub_rng

#: London LA numbers (all valid in the UPN check) for children arriving from elsewhere
OTHER_LAS = (
    "202",
    "203",
    "204",
    "206",
    "208",
    "209",
    "210",
    "211",
    "212",
    "301",
    "302",
    "303",
    "305",
    "306",
    "307",
    "308",
    "309",
    "310",
    "311",
    "312",
    "313",
)

WAVES = ("autumn", "summer")


@dataclass
class Stint:
    """One child's academic year at one anchor."""

    ay: str
    urn: str
    year_group: str
    start: date
    leave: date | None
    fsm: bool
    sen: str
    postcode: str
    from_urn: str | None = None
    part_time: bool = False
    #: filled by school.py
    abs_rate: dict[str, float] = field(default_factory=dict)
    auth_share: float = 0.8
    incidents: list[tuple[date, str, int]] = field(default_factory=list)
    #: (subject, assessed_on, measure_type, value)
    assessments: list[tuple[str, date, str, str]] = field(default_factory=list)

    def on_roll(self, d: date) -> bool:
        return self.start <= d and (self.leave is None or d <= self.leave)


@dataclass
class Child:
    cid: int
    upn: str
    gender: str  # F | M | other
    dob: date
    need0: float
    eal: bool
    language: str
    lat: dict[str, float]
    household: int
    bedrooms: int
    need: dict[str, float] = field(default_factory=dict)
    stints: dict[str, Stint] = field(default_factory=dict)
    forename: str = ""
    surname: str = ""
    wlz_id: str | None = None
    #: register entry (programme.Registration) when the child is in enrolments.csv
    reg: object | None = None

    def need_at(self, ay: str, term: str) -> float:
        a, s = self.need[f"{ay}:autumn"], self.need[f"{ay}:summer"]
        return a if term == "autumn" else s if term == "summer" else (a + s) / 2


def dob_window(ay: str, yg: str) -> tuple[date, date]:
    """Birth dates that put a child in year group ``yg`` in academic year ``ay``."""
    y = ay_start_year(ay) - 5 - YEAR_OFFSET[yg]
    return date(y, 9, 1), date(y + 1, 8, 31)


def expected_year_group_offset(dob: date, ay: str) -> int:
    cohort = dob.year if dob.month >= 9 else dob.year - 1
    return ay_start_year(ay) - cohort - 5


class Population:
    def __init__(self, seed: int, cal: SchoolCalendar, anchors: list[Anchor], geo: Geography):
        self.seed = seed
        self.cal = cal
        self.anchors = anchors
        self.by_urn = {a.urn: a for a in anchors}
        self.geo = geo
        self.children: list[Child] = []
        self._upn_bodies: set[str] = set()
        self._rng = sub_rng(seed, "population")
        self._upn_rng = sub_rng(seed, "upn")

    # --- creation --------------------------------------------------------------------
    def _upn(self, la: str, estab: str, year: int) -> str:
        while True:
            body = f"{la}{estab}{year % 100:02d}{self._upn_rng.randrange(1000):03d}"
            if body not in self._upn_bodies:
                self._upn_bodies.add(body)
                return calc_check_digit(body) + body

    def _postcode(self, la: str, need: float) -> str:
        rng = self._rng
        if rng.random() < 0.012:
            return rng.choice(self.geo.unlisted)
        if rng.random() < 0.15:
            la = rng.choice(sorted(self.geo.by_la))
        pcs = self.geo.by_la[la]
        q = logistic(0.9 * need + rng.gauss(0, 0.8))  # high need -> deprived end of list
        return pcs[min(len(pcs) - 1, int((1 - q) * len(pcs)))]

    def create(self, ay: str, anchor: Anchor, yg: str, start: date, newcomer: bool) -> Child:
        """A new child on roll at ``anchor`` in year group ``yg`` from ``start``."""
        rng = self._rng
        cid = len(self.children)
        lo, hi = dob_window(ay, yg)
        dob = lo + timedelta(days=rng.randrange((hi - lo).days + 1))
        need = rng.gauss(0, 1)
        r = rng.random()
        gender = "F" if r < 0.49 else "M" if r < 0.99 else "other"
        eal = rng.random() < 0.40
        language = rng.choice(LANGUAGES) if eal else "ENG"
        # where the UPN was allocated: on first entry to a school
        entry_offset = -2 if anchor.phase == "nursery" else 0
        entry_year = ay_start_year(ay) - (YEAR_OFFSET[yg] - entry_offset)
        if newcomer and rng.random() < 0.5:
            la, estab = rng.choice(OTHER_LAS), str(2000 + rng.randrange(1, 999))
        elif anchor.phase != "secondary" and (yg == anchor.year_groups[0] or rng.random() < 0.75):
            la, estab = anchor.la, anchor.estab
        else:
            la, estab = anchor.la, str(2000 + rng.randrange(1, 999))
        upn = self._upn(la, estab, entry_year)
        ability = -0.55 * need + 0.83 * rng.gauss(0, 1)
        lat = {
            "ability": ability,
            "reading": ability + 0.45 * rng.gauss(0, 1),
            "maths": ability + 0.45 * rng.gauss(0, 1),
            "writing": ability + 0.45 * rng.gauss(0, 1),
            "emotion": 0.55 * need + 0.83 * rng.gauss(0, 1),
            "conduct": 0.60 * need + 0.80 * rng.gauss(0, 1),
            "hyper": 0.55 * need + 0.83 * rng.gauss(0, 1),
            "peer": 0.50 * need + 0.87 * rng.gauss(0, 1),
            "prosocial": -0.45 * need + 0.89 * rng.gauss(0, 1),
            "wellbeing": -0.55 * need + 0.83 * rng.gauss(0, 1),
            "family": -0.50 * need + 0.87 * rng.gauss(0, 1),
            "risky": 0.50 * need + 0.87 * rng.gauss(0, 1),
            "exercise": rng.gauss(0, 1),
            "att": rng.gauss(0, 1),
            "engage": rng.gauss(0, 1),
        }
        household = 2 + min(8, int(rng.expovariate(1 / (1.6 + 0.5 * max(need, 0)))) + 1)
        bedrooms = int(clip(round(household / 2 - 0.3 * need + rng.gauss(0, 0.7)), 1, 5))
        child = Child(cid, upn, gender, dob, need, eal, language, lat, household, bedrooms)
        walk = 0.0
        for k, a in enumerate(self.cal.academic_years):
            for w in WAVES:
                if k or w == "summer":
                    walk += rng.gauss(0, 0.25)
                child.need[f"{a}:{w}"] = need + walk
        fsm = rng.random() < logistic(-1.05 + 1.0 * need)
        sen = (
            "E"
            if rng.random() < logistic(-4.0 + 0.7 * need)
            else "K"
            if rng.random() < logistic(-1.8 + 0.8 * need)
            else "N"
        )
        part_time = yg in ("N1", "N2") and rng.random() < 0.5
        child.stints[ay] = Stint(
            ay,
            anchor.urn,
            yg,
            start,
            None,
            fsm,
            sen,
            self._postcode(anchor.la, need),
            part_time=part_time,
        )
        self.children.append(child)
        return child

    def _target(self, anchor: Anchor) -> int:
        return anchor.per_year

    def initial_roster(self, ay: str) -> None:
        start, _ = self.cal.year_bounds(ay)
        for anchor in self.anchors:
            for yg in anchor.year_groups:
                n = self._target(anchor)
                if anchor.per_year >= 30:
                    n += self._rng.randrange(-2, 3)
                for _ in range(n):
                    self.create(ay, anchor, yg, start, newcomer=False)
        self.mid_year_leavers(ay)

    def mid_year_leavers(self, ay: str, share: float = 0.015) -> None:
        rng = sub_rng(self.seed, "leavers", ay)
        days = self.cal.school_days(ay, start=self.cal.term_bounds(ay, "spring")[0])
        for child in self.children:
            st = child.stints.get(ay)
            if st is not None and st.leave is None and rng.random() < share:
                st.leave = rng.choice(days[:-10])

    # --- the next academic year --------------------------------------------------------
    def roll_forward(self, prev: str, ay: str, keep: set[int]) -> None:
        """Move children up a year, transfer leavers between phases, fill with joiners.

        ``keep``: children who must stay on roll (enrolled and not exited).
        """
        rng = sub_rng(self.seed, "roll", ay)
        start, _ = self.cal.year_bounds(ay)
        placed: dict[tuple[str, str], list[Child]] = {}
        transfers: list[tuple[Child, Anchor, str]] = []
        for child in self.children:
            st = child.stints.get(prev)
            if st is None or st.leave is not None:
                continue
            if child.cid not in keep and rng.random() < 0.04:
                continue  # moved out of the area
            anchor = self.by_urn[st.urn]
            nyg = next_year_group(st.year_group)
            if nyg in anchor.year_groups:
                placed.setdefault((anchor.urn, nyg), []).append(child)
                continue
            p = {"nursery": 0.5, "primary": 0.9}.get(anchor.phase, 0.0)
            dests = [a for a in self.anchors if nyg in a.year_groups and a.urn != anchor.urn]
            if anchor.role == "showcase_primary":  # the CTF showcase: Y6 -> showcase Y7
                dests = [a for a in dests if a.role == "showcase_secondary"] or dests
            if dests and rng.random() < p:
                weights = [4.0 if a.la == anchor.la else 1.0 for a in dests]
                transfers.append((child, rng.choices(dests, weights=weights)[0], nyg))
        for child, dest, nyg in transfers:
            group = placed.setdefault((dest.urn, nyg), [])
            if len(group) < self._target(dest) + 2:
                group.append(child)
        for anchor in self.anchors:
            for yg in anchor.year_groups:
                for child in placed.get((anchor.urn, yg), []):
                    old = child.stints[prev]
                    fsm = old.fsm
                    if rng.random() < (0.04 if not fsm else 0.08):
                        fsm = not fsm
                    sen = old.sen
                    r = rng.random()
                    if sen == "N" and r < 0.03:
                        sen = "K"
                    elif sen == "K" and r < 0.08:
                        sen = "N"
                    elif sen == "K" and r < 0.12:
                        sen = "E"
                    postcode = old.postcode
                    if rng.random() < 0.05:
                        postcode = self._postcode(anchor.la, child.need0)
                    child.stints[ay] = Stint(
                        ay,
                        anchor.urn,
                        yg,
                        start,
                        None,
                        fsm,
                        sen,
                        postcode,
                        from_urn=old.urn if old.urn != anchor.urn else None,
                        part_time=old.part_time and yg in ("N1", "N2"),
                    )
                missing = self._target(anchor) - len(placed.get((anchor.urn, yg), []))
                if anchor.per_year >= 30:
                    missing += rng.randrange(-1, 2)
                for _ in range(max(0, missing)):
                    self.create(ay, anchor, yg, start, newcomer=yg != anchor.year_groups[0])
        self.mid_year_leavers(ay)

    def late_starters(self, ay: str, anchors: list[Anchor], n: int = 3) -> None:
        """A few children join a few days into the year (registers show ``Z`` before)."""
        rng = sub_rng(self.seed, "late", ay)
        day3 = self.cal.school_days(ay)[2]
        newcomers: dict[str, list[Child]] = {}
        for c in self.children:
            st = c.stints.get(ay)
            if st is not None and len(c.stints) == 1 and st.leave is None:
                newcomers.setdefault(st.urn, []).append(c)
        for anchor in anchors:
            cands = newcomers.get(anchor.urn, [])
            for child in rng.sample(cands, min(n, len(cands))):
                child.stints[ay].start = day3

    # --- names -----------------------------------------------------------------------
    def assign_names(self, cp1252_urns: set[str]) -> None:
        rng = sub_rng(self.seed, "names")
        for child in self.children:
            needs_cp1252 = any(st.urn in cp1252_urns for st in child.stints.values())
            if child.gender == "F":
                pool = FORENAMES_F
            elif child.gender == "M":
                pool = FORENAMES_M
            else:
                pool = FORENAMES_X + FORENAMES_F[:5] + FORENAMES_M[:5]
            fore = rng.choice(pool)
            sur = rng.choice(SURNAMES)
            if not needs_cp1252 and rng.random() < 0.02:
                sur = rng.choice(SURNAMES_UTF8_ONLY)
                if child.gender == "F" and rng.random() < 0.5:
                    fore = rng.choice(FORENAMES_UTF8_ONLY)
            assert fore not in EXCLUDED_NAMES and sur not in EXCLUDED_NAMES
            child.forename, child.surname = fore, sur
