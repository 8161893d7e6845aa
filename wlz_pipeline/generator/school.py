"""What happens at school: closures, attendance, behaviour incidents, assessments.

Each function draws from its own stream keyed by (seed, component, child, year), so the
values do not depend on the order children are processed in. Values that depend on a
child's need later in the year are computed only after the programme's effect on that
need is known (world.py calls them in that order).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from .people import Child, Stint
from .reference import YEAR_OFFSET, Anchor
from .school_calendar import BANK_HOLIDAYS, TERMS, SchoolCalendar
from .util import clip, poisson, sub_rng

INCIDENT_TYPES = (
    ("Disruption", 1, 0.34),
    ("Defiance", 2, 0.2),
    ("Physical", 3, 0.12),
    ("Verbal abuse", 2, 0.12),
    ("Bullying", 3, 0.06),
    ("Damage to property", 2, 0.06),
    ("Truancy", 2, 0.05),
    ("Lateness to lesson", 1, 0.05),
)

AUTUMN_ASSESS = {"2016/17": date(2016, 10, 14), "2017/18": date(2017, 10, 13)}
SUMMER_STD = {"2016/17": date(2017, 6, 23), "2017/18": date(2018, 6, 22)}
SUMMER_TA = {"2016/17": date(2017, 7, 7), "2017/18": date(2018, 7, 6)}
KS2_RESULTS = {"2016/17": date(2017, 7, 4), "2017/18": date(2018, 7, 10)}
GCSE_DATE = {"2016/17": date(2017, 6, 15), "2017/18": date(2018, 6, 14)}
EYFS_SUMMER = {"2016/17": date(2017, 6, 30), "2017/18": date(2018, 6, 29)}
#: the 2018 snow closure ("Beast from the East"), recorded as Y (enforced closure)
SNOW_DAY = date(2018, 3, 1)


class Closures:
    """Days an anchor is shut in term: bank holidays and INSET (``#``), snow (``Y``)."""

    def __init__(self, seed: int, cal: SchoolCalendar, anchors: list[Anchor]):
        self.cal = cal
        self._open: dict[tuple[str, str], list[date]] = {}
        rng = sub_rng(seed, "closures")
        for anchor in anchors:
            for ay in cal.academic_years:
                days = cal.register_days(ay)
                for d in days:
                    if d in BANK_HOLIDAYS:
                        anchor.closures[d] = "#"
                spring_start = cal.term_bounds(ay, "spring")[0]
                if anchor.role == "showcase_primary" or rng.random() < 0.7:
                    anchor.closures[spring_start] = "#"  # INSET day
                summer2 = cal.half_terms_of(ay, "summer")[1].start
                if rng.random() < 0.5:
                    anchor.closures[summer2] = "#"
                if SNOW_DAY in days and (anchor.role == "showcase_primary" or rng.random() < 0.4):
                    anchor.closures[SNOW_DAY] = "Y"

    def open_days(self, anchor: Anchor, ay: str) -> list[date]:
        key = (anchor.urn, ay)
        if key not in self._open:
            self._open[key] = [d for d in self.cal.register_days(ay) if d not in anchor.closures]
        return self._open[key]


# --- attendance -------------------------------------------------------------------------


def attendance_rates(seed: int, child: Child, st: Stint, anchor: Anchor, terms=TERMS) -> None:
    """Set the child's true absence rate for the given terms of the year."""
    rng = sub_rng(seed, "att", child.cid, st.ay)
    mult = 1.4 if anchor.phase == "nursery" else 1.15 if anchor.phase == "secondary" else 1.0
    year_eps = rng.gauss(0, 1)
    term_eps = {t: rng.gauss(0, 1) for t in TERMS}
    for term in terms:
        need = child.need_at(st.ay, term)
        a = (
            0.034
            * mult
            * math.exp(
                0.6 * need + 0.45 * child.lat["att"] + 0.25 * year_eps + 0.15 * term_eps[term]
            )
        )
        st.abs_rate[term] = clip(a, 0.002, 0.55)
    st.auth_share = clip(0.8 - 0.12 * child.need0 + 0.1 * rng.gauss(0, 1), 0.15, 1.0)


def summary_periods(cal: SchoolCalendar, closures: Closures, anchor: Anchor, st: Stint):
    """(term, first day, last day, possible sessions) for each term the child was on roll."""
    out = []
    open_days = closures.open_days(anchor, st.ay)
    per_day = 1 if st.part_time else 2
    for term in TERMS:
        t0, t1 = cal.term_bounds(st.ay, term)
        lo = max(t0, st.start)
        hi = t1 if st.leave is None else min(t1, st.leave)
        if lo > hi:
            continue
        n = sum(1 for d in open_days if lo <= d <= hi)
        out.append((term, lo, hi, n * per_day))
    return out


def summary_rows(
    seed: int, cal: SchoolCalendar, closures: Closures, anchor: Anchor, child: Child, st: Stint
):
    """Termly summaries: (term, start, end, possible, attended, authorised, unauthorised)."""
    rng = sub_rng(seed, "summary", child.cid, st.ay)
    rows = []
    for term, lo, hi, possible in summary_periods(cal, closures, anchor, st):
        a = st.abs_rate[term]
        mean = possible * a
        absent = int(
            clip(round(rng.gauss(mean, math.sqrt(max(mean * (1 - a), 0.25)))), 0, possible)
        )
        auth = int(round(absent * clip(st.auth_share + rng.gauss(0, 0.08), 0, 1)))
        rows.append((term, lo, hi, possible, possible - absent, auth, absent - auth))
    return rows


# Absence reasons for whole-day episodes: (code, weight, min days, max days)
_EPISODES = (
    ("I", 62, 1, 4),
    ("O", 7, 1, 1),
    ("N", 7, 1, 2),
    ("C", 5, 1, 1),
    ("R", 3, 1, 1),
    ("G", 5, 3, 5),
    ("H", 2, 3, 5),
    ("E", 3, 1, 3),
)
_EPISODE_WEIGHTS = [e[1] for e in _EPISODES]


def mark_lines(
    seed: int,
    cal: SchoolCalendar,
    closures: Closures,
    anchor: Anchor,
    child: Child,
    st: Stint,
    prefix_by_date: dict[date, str],
    nl: str,
    phase: str,
) -> list[str]:
    """Session marks for one child and year, as CSV lines ``<upn>,<date>,AM|PM,<code>``.

    ``prefix_by_date`` maps a register day to its formatted date; the lines are written
    in date order, AM before PM.
    """
    rng = sub_rng(seed, "marks", child.cid, st.ay)
    upn = child.upn
    lines: list[str] = []
    add = lines.append
    episode_code, episode_left = "", 0
    late_p = 0.01 + 0.03 * max(child.need_at(st.ay, "autumn"), 0.0)
    trips = set()
    days = cal.register_days(st.ay)
    open_days = closures.open_days(anchor, st.ay)
    for _ in range(2):
        trips.add(rng.choice(open_days))
    sec11 = phase == "secondary" and st.year_group == "11"
    interview = rng.choice(open_days) if sec11 else None
    high_need = child.need0 > 1.0
    part_time = st.part_time
    term_rate = {}
    for term in TERMS:
        t0, t1 = cal.term_bounds(st.ay, term)
        term_rate[(t0, t1)] = st.abs_rate[term]
    bounds = list(term_rate.items())
    for d in days:
        if st.leave is not None and d > st.leave:
            break
        pre = f"{upn},{prefix_by_date[d]},"
        if d < st.start:
            add(f"{pre}AM,Z{nl}")
            add(f"{pre}PM,Z{nl}")
            continue
        closed = anchor.closures.get(d)
        if closed:
            add(f"{pre}AM,{closed}{nl}")
            add(f"{pre}PM,{closed}{nl}")
            continue
        a = 0.0
        for (t0, t1), rate in bounds:
            if t0 <= d <= t1:
                a = rate
                break
        pm_x = part_time
        if episode_left > 0:
            episode_left -= 1
            add(f"{pre}AM,{episode_code}{nl}")
            add(f"{pre}PM,{'X' if pm_x else episode_code}{nl}")
            continue
        r = rng.random()
        if r < a * 0.45:
            spec = rng.choices(_EPISODES, weights=_EPISODE_WEIGHTS)[0]
            code = spec[0]
            if code == "E" and not high_need:
                code, spec = "I", _EPISODES[0]
            episode_code, episode_left = code, rng.randint(spec[2], spec[3]) - 1
            add(f"{pre}AM,{code}{nl}")
            add(f"{pre}PM,{'X' if pm_x else code}{nl}")
        elif r < a * 0.75:
            # one session missed: appointment, late after register closed, or unexplained
            am = rng.choice(("M", "U", "O")) if rng.random() < 0.6 else "/"
            pm = "\\" if am != "/" else rng.choice(("M", "O", "I"))
            add(f"{pre}AM,{am}{nl}")
            add(f"{pre}PM,{'X' if pm_x else pm}{nl}")
        else:
            if d in trips:
                am = pm = "V"
            elif d == interview:
                am, pm = "J", "\\"
            else:
                am = "L" if rng.random() < late_p else "/"
                pm = "\\"
                x = rng.random()
                if x < 0.004:
                    pm = "P"
                elif x < 0.006:
                    pm = "B"
            add(f"{pre}AM,{am}{nl}")
            add(f"{pre}PM,{'X' if pm_x else pm}{nl}")
    return lines


# --- behaviour --------------------------------------------------------------------------


_INCIDENT_WEIGHTS = [w for _, _, w in INCIDENT_TYPES]
_EARLY_YEARS = ("Disruption", "Defiance", "Physical")
_EARLY_WEIGHTS = [w if n in _EARLY_YEARS else 0.0 for n, _, w in INCIDENT_TYPES]


def _incident(rng, anchor: Anchor) -> tuple[str, int]:
    weights = _EARLY_WEIGHTS if anchor.phase == "nursery" else _INCIDENT_WEIGHTS
    name, points, _ = rng.choices(INCIDENT_TYPES, weights=weights)[0]
    return name, points


def behaviour_windows(cal: SchoolCalendar, ay: str) -> tuple[tuple[date, date], tuple[date, date]]:
    start, end = cal.year_bounds(ay)
    return (start, start + timedelta(days=30)), (end - timedelta(days=30), end)


def _rate(child: Child, ay: str, term: str, anchor: Anchor) -> float:
    r = 0.0022 * math.exp(1.25 * child.need_at(ay, term))
    return r * (0.3 if anchor.phase == "nursery" else 1.0)


def _days_between(days: list[date], st: Stint, lo: date, hi: date) -> list[date]:
    return [d for d in days if lo <= d <= hi and st.on_roll(d)]


def baseline_incidents(seed, cal, closures, anchor, child, st) -> None:
    """Incidents in the first 31 days of the year (the autumn-wave window)."""
    rng = sub_rng(seed, "behaviour-start", child.cid, st.ay)
    (w0, w1), _ = behaviour_windows(cal, st.ay)
    days = _days_between(closures.open_days(anchor, st.ay), st, w0, w1)
    if not days:
        return
    need = child.need_at(st.ay, "autumn")
    if anchor.phase != "nursery" and need > 1.45 and rng.random() < 0.6:
        n = 5 + poisson(rng, 1.5)  # a difficult start to the year
    else:
        n = poisson(rng, _rate(child, st.ay, "autumn", anchor) * len(days))
    for _ in range(n):
        st.incidents.append((rng.choice(days), *_incident(rng, anchor)))


def later_incidents(seed, cal, closures, anchor, child, st) -> None:
    """Incidents after the first 31 days, including the end-of-year window."""
    rng = sub_rng(seed, "behaviour-rest", child.cid, st.ay)
    (_, w1), (e0, e1) = behaviour_windows(cal, st.ay)
    open_days = closures.open_days(anchor, st.ay)
    end_days = _days_between(open_days, st, e0, e1)
    need_s = child.need_at(st.ay, "summer")
    if end_days:
        if anchor.phase != "nursery" and need_s > 1.45 and rng.random() < 0.5:
            n = 5 + poisson(rng, 1.5)
        else:
            n = poisson(rng, _rate(child, st.ay, "summer", anchor) * len(end_days))
        for _ in range(n):
            st.incidents.append((rng.choice(end_days), *_incident(rng, anchor)))
    for term in TERMS:
        t0, t1 = cal.term_bounds(st.ay, term)
        days = _days_between(
            open_days, st, max(t0, w1 + timedelta(days=1)), min(t1, e0 - timedelta(days=1))
        )
        if days:
            for _ in range(poisson(rng, _rate(child, st.ay, term, anchor) * len(days))):
                st.incidents.append((rng.choice(days), *_incident(rng, anchor)))


# --- attainment -------------------------------------------------------------------------


def _level_code(idx: int) -> str:
    idx = int(clip(idx, 0, 14))
    return f"{idx // 3 + 1}{'cba'[idx % 3]}"


def _std(x: float) -> str:
    return str(int(clip(round(100 + 15 * x), 69, 141)))


def _wta(x: float) -> str:
    return "WTS" if x < -0.55 else "GDS" if x > 1.0 else "EXS"


def _eyfs(x: float) -> str:
    return "emerging" if x < -0.6 else "exceeding" if x > 1.0 else "expected"


def _sec_ta(x: float) -> str:
    if x < -1.3:
        return "well-below"
    return "below" if x < -0.45 else "at" if x < 0.9 else "above"


def _gcse(x: float) -> str:
    g = round(4.6 + 1.7 * x)
    return "U" if g < 1 else str(int(min(g, 9)))


def assessments(seed: int, anchor: Anchor, child: Child, st: Stint, wave: str) -> None:
    """Add the assessments of one wave (``autumn`` or ``summer``) of the year."""
    rng = sub_rng(seed, "assess", wave, child.cid, st.ay)
    ay, yg = st.ay, st.year_group
    shift = -0.35 * (child.need[f"{ay}:{wave}"] - child.need0)

    def x(subject: str, noise: float = 0.3) -> float:
        base = (
            (child.lat["reading"] + child.lat["writing"]) / 2
            if subject == "english"
            else child.lat.get(subject, child.lat["ability"])
        )
        return base + shift + noise * rng.gauss(0, 1)

    out = st.assessments
    if wave == "autumn":
        d = AUTUMN_ASSESS[ay]
        if not st.on_roll(d):
            return
        if anchor.phase == "nursery" or yg == "R":
            for subj in ("eyfs_communication", "eyfs_physical", "eyfs_psed"):
                out.append((subj, d, "eyfs", _eyfs(x("ability", 0.5))))
        elif anchor.phase == "primary":
            out.append(("reading", d, "standardised", _std(x("reading"))))
            out.append(("maths", d, "standardised", _std(x("maths"))))
            if ay == "2016/17":
                g = YEAR_OFFSET[yg]
                expected = 4 + 1.5 * (g - 2) - 1.2
                out.append(
                    ("writing", d, "level", _level_code(round(expected + 1.6 * x("writing"))))
                )
            else:
                out.append(("writing", d, "teacher_assessment", _wta(x("writing"))))
        else:
            out.append(("english", d, "standardised", _std(x("english"))))
            out.append(("maths", d, "standardised", _std(x("maths"))))
        return
    if anchor.phase == "nursery" or yg == "R":
        d = EYFS_SUMMER[ay]
        if st.on_roll(d):
            for subj in ("eyfs_communication", "eyfs_physical", "eyfs_psed"):
                out.append((subj, d, "eyfs", _eyfs(x("ability", 0.5))))
    elif anchor.phase == "primary":
        if yg == "6":
            d = KS2_RESULTS[ay]
            if st.on_roll(d):
                for subj, lat in (("reading", "reading"), ("maths", "maths"), ("gps", "writing")):
                    s = round(103 + 7.5 * x(lat, 0.25))
                    out.append((subj, d, "scaled", str(int(clip(s, 80, 120)))))
        else:
            d = SUMMER_STD[ay]
            if st.on_roll(d):
                out.append(("reading", d, "standardised", _std(x("reading"))))
                out.append(("maths", d, "standardised", _std(x("maths"))))
        d = SUMMER_TA[ay]
        if st.on_roll(d):
            out.append(("writing", d, "teacher_assessment", _wta(x("writing"))))
    else:
        if yg == "11":
            d = GCSE_DATE[ay]
            if st.on_roll(d):
                out.append(("english", d, "gcse", _gcse(x("english"))))
                out.append(("maths", d, "gcse", _gcse(x("maths"))))
        elif yg == "10":
            d = SUMMER_TA[ay]
            if st.on_roll(d):
                out.append(("english", d, "teacher_assessment", _sec_ta(x("english"))))
                out.append(("maths", d, "teacher_assessment", _sec_ta(x("maths"))))
        else:
            d = SUMMER_STD[ay]
            if st.on_roll(d):
                out.append(("english", d, "standardised", _std(x("english"))))
                out.append(("maths", d, "standardised", _std(x("maths"))))
