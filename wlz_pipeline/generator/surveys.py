"""The "My Voice" survey: who answers, what they answer, and the export files.

SDQ answers are drawn from the child's latent subscale traits (which correlate with
need), WEMWBS from a wellbeing trait (secondary pupils only), and the other constructs
of config/survey.yaml for children aged 8 and over. Answers are stored as codes; an
export writes them either as codes or as the printed answer text in mixed letter case.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from .people import Child
from .reference import Anchor
from .school_calendar import SchoolCalendar
from .util import age_on, case_variant, clip, iso_hms, sub_rng

SDQ_COLS = [f"sdq_{i}" for i in range(1, 26)]
WEMWBS_COLS = [f"wemwbs_{i}" for i in range(1, 15)]
#: construct item columns in config/survey.yaml order, with their answer scale
CONSTRUCT_ITEMS = (
    ("bully_victim", "frequency"),
    ("offend_steal", "yes_no"),
    ("offend_damage", "yes_no"),
    ("offend_fight", "yes_no"),
    ("alcohol_30d", "days_30"),
    ("smoke_30d", "days_30"),
    ("drugs_30d", "days_30"),
    ("fam_mgmt_1", "agree4"),
    ("fam_mgmt_2", "agree4"),
    ("fam_mgmt_3", "agree4"),
    ("attach_1", "agree4"),
    ("attach_2", "agree4"),
    ("attach_3", "agree4"),
    ("parent_inv_1", "agree4"),
    ("parent_inv_2", "agree4"),
    ("parent_inv_3", "agree4"),
    ("school_eng_1", "agree4"),
    ("school_eng_2", "agree4"),
    ("school_eng_3", "agree4"),
    ("active_days", "count"),
    ("household_size", "count"),
    ("bedrooms", "count"),
)
CONSTRUCT_COLS = [c for c, _ in CONSTRUCT_ITEMS]
HEADER = (
    ["response_id", "submitted_at", "wlz_id", "upn", "anchor_urn", "informant"]
    + SDQ_COLS
    + WEMWBS_COLS
    + CONSTRUCT_COLS
)

#: answer labels by scale (config/survey.yaml), code -> label
LABELS = {
    "sdq": {0: "Not true", 1: "Somewhat true", 2: "Certainly true"},
    "wemwbs": {
        1: "None of the time",
        2: "Rarely",
        3: "Some of the time",
        4: "Often",
        5: "All of the time",
    },
    "frequency": {
        0: "Not at all",
        1: "Only once or twice",
        2: "2 or 3 times a month",
        3: "About once a week",
        4: "Several times a week",
    },
    "yes_no": {0: "No", 1: "Yes"},
    "days_30": {0: "Never", 1: "1-2 days", 2: "3-5 days", 3: "6 or more days"},
    "agree4": {1: "Strongly disagree", 2: "Disagree", 3: "Agree", 4: "Strongly agree"},
}
SCALE_OF = {
    **{c: "sdq" for c in SDQ_COLS},
    **{c: "wemwbs" for c in WEMWBS_COLS},
    **dict(CONSTRUCT_ITEMS),
}

SUBSCALES = {
    "emotion": (3, 8, 13, 16, 24),
    "conduct": (5, 7, 12, 18, 22),
    "hyper": (2, 10, 15, 21, 25),
    "peer": (6, 11, 14, 19, 23),
    "prosocial": (1, 4, 9, 17, 20),
}
REVERSED = frozenset({7, 11, 14, 21, 25})
#: four-band cut-offs (domain_facts §1.5): upper bounds of close-to-average, slightly
#: raised, high (very high above); prosocial: lower bounds of close, slightly lowered, low
BANDS = {
    "parent": {
        "total": (13, 16, 19),
        "emotion": (3, 4, 6),
        "conduct": (2, 3, 5),
        "hyper": (5, 7, 8),
        "peer": (2, 3, 4),
        "prosocial": (8, 7, 6),
    },
    "teacher": {
        "total": (11, 15, 18),
        "emotion": (3, 4, 5),
        "conduct": (2, 3, 4),
        "hyper": (5, 7, 8),
        "peer": (2, 4, 5),
        "prosocial": (6, 5, 4),
    },
    "self": {
        "total": (14, 17, 19),
        "emotion": (4, 5, 6),
        "conduct": (3, 4, 5),
        "hyper": (5, 6, 7),
        "peer": (2, 3, 5),
        "prosocial": (7, 6, 5),
    },
}
BAND_NAMES = ("close_to_average", "slightly_raised", "high", "very_high")

# item thresholds on the latent scale (difficulty items, prosocial items)
_T1, _T2 = 0.72, 1.95
_P1, _P2 = -1.9, -0.45

WINDOWS = {
    ("2016/17", "autumn"): (date(2016, 10, 3), date(2016, 10, 14)),
    ("2016/17", "summer"): (date(2017, 6, 12), date(2017, 6, 30)),
    ("2017/18", "autumn"): (date(2017, 10, 2), date(2017, 10, 13)),
    ("2017/18", "summer"): (date(2018, 6, 11), date(2018, 6, 29)),
}


@dataclass
class Response:
    response_id: str
    submitted_at: datetime
    child: Child | None
    ay: str
    wave: str
    urn: str
    informant: str
    answers: dict[str, int | None]
    with_wlz: bool = False
    with_upn: bool = True
    #: columns whose earlier export carried a different (wrong) value
    earlier_values: dict[str, int | None] = field(default_factory=dict)


def score_sdq(answers: dict[str, int | None]) -> dict[str, int | None]:
    """SDQ subscale and total scores with the 3-of-5 prorating rule (half rounds up)."""
    out: dict[str, int | None] = {}
    for sub, items in SUBSCALES.items():
        vals = []
        for i in items:
            v = answers.get(f"sdq_{i}")
            if v is not None:
                vals.append(2 - v if i in REVERSED else v)
        out[sub] = math.floor(sum(vals) / len(vals) * 5 + 0.5) if len(vals) >= 3 else None
    parts = [out[s] for s in ("emotion", "conduct", "hyper", "peer")]
    out["total"] = None if any(p is None for p in parts) else sum(parts)  # type: ignore[arg-type]
    return out


def band(informant: str, scale: str, score: int | None) -> int | None:
    """0 close to average .. 3 very high (very low for prosocial)."""
    if score is None:
        return None
    cuts = BANDS[informant][scale]
    if scale == "prosocial":
        return 0 if score >= cuts[0] else 1 if score >= cuts[1] else 2 if score >= cuts[2] else 3
    return 0 if score <= cuts[0] else 1 if score <= cuts[1] else 2 if score <= cuts[2] else 3


class SurveyBuilder:
    def __init__(self, seed: int, cal: SchoolCalendar, anchors: dict[str, Anchor]):
        self.seed = seed
        self.cal = cal
        self.anchors = anchors
        self.responses: list[Response] = []
        self._ids: set[str] = set()
        self._id_rng = sub_rng(seed, "response-ids")

    def new_id(self) -> str:
        alphabet = string.ascii_letters + string.digits
        while True:
            rid = "R_" + "".join(self._id_rng.choice(alphabet) for _ in range(15))
            if rid not in self._ids:
                self._ids.add(rid)
                return rid

    def _when(self, rng, ay: str, wave: str, informant: str) -> datetime:
        lo, hi = WINDOWS[(ay, wave)]
        if informant == "parent":
            d = lo + timedelta(days=rng.randrange((hi - lo).days + 1))
            t = time(rng.randrange(7, 22), rng.randrange(60), rng.randrange(60))
        else:
            days = self.cal.school_days(ay, lo, hi)
            d = rng.choice(days)
            t = time(rng.randrange(9, 15), rng.randrange(60), rng.randrange(60))
        return datetime.combine(d, t)

    def answers(
        self, rng, child: Child, ay: str, wave: str, informant: str, anchor: Anchor, when: date
    ) -> dict[str, int | None]:
        dn = child.need[f"{ay}:{wave}"] - child.need0
        shift = {"self": 0.1, "parent": 0.0, "teacher": -0.1}[informant]
        ans: dict[str, int | None] = {}
        for sub, items in SUBSCALES.items():
            lat = child.lat[sub] + (-0.5 * dn if sub == "prosocial" else 0.6 * dn)
            for i in items:
                y = lat + shift + 0.9 * rng.gauss(0, 1)
                if sub == "prosocial":
                    d = 0 if y < _P1 else 1 if y < _P2 else 2
                else:
                    d = 0 if y < _T1 else 1 if y < _T2 else 2
                ans[f"sdq_{i}"] = 2 - d if i in REVERSED else d
        # item gaps: 1-2 missing items (prorated), rarely 3 in one subscale (missing)
        r = rng.random()
        if r < 0.10:
            for col in rng.sample(SDQ_COLS, rng.choice((1, 2))):
                ans[col] = None
        elif r < 0.12:
            sub = rng.choice(sorted(SUBSCALES))
            for i in rng.sample(SUBSCALES[sub], 3):
                ans[f"sdq_{i}"] = None
        secondary = anchor.phase == "secondary"
        wb = child.lat["wellbeing"] - 0.4 * dn
        for col in WEMWBS_COLS:
            ans[col] = (
                int(clip(round(3.4 + 0.75 * wb + 0.75 * rng.gauss(0, 1)), 1, 5))
                if secondary
                else None
            )
        age = age_on(child.dob, when)
        if age < 8:
            for col in CONSTRUCT_COLS:
                ans[col] = None
            return ans
        need = child.need[f"{ay}:{wave}"]
        fam = child.lat["family"] - 0.3 * dn
        risky = child.lat["risky"] + 0.3 * dn + 0.35 * (age - 12)
        y = 0.6 * need + rng.gauss(0, 1)
        ans["bully_victim"] = (
            0 if y < 0.3 else 1 if y < 1.0 else 2 if y < 1.5 else 3 if y < 2.1 else 4
        )
        for col, t in (("offend_steal", 2.0), ("offend_damage", 2.2), ("offend_fight", 1.7)):
            ans[col] = int(risky + rng.gauss(0, 1) > t)
        for col, t in (("alcohol_30d", 1.8), ("smoke_30d", 2.2), ("drugs_30d", 2.6)):
            v = risky + rng.gauss(0, 1) - t
            ans[col] = 0 if v < 0 else 1 if v < 0.6 else 2 if v < 1.1 else 3
        for prefix, lat in (
            ("fam_mgmt", fam),
            ("attach", fam),
            ("parent_inv", fam),
            ("school_eng", -0.55 * need + 0.5 * child.lat["ability"]),
        ):
            for k in (1, 2, 3):
                ans[f"{prefix}_{k}"] = int(
                    clip(round(3.0 + 0.6 * lat + 0.6 * rng.gauss(0, 1)), 1, 4)
                )
        ans["active_days"] = int(
            clip(round(4.6 + 1.5 * child.lat["exercise"] - 0.4 * need + rng.gauss(0, 1)), 0, 7)
        )
        ans["household_size"] = child.household
        ans["bedrooms"] = child.bedrooms
        for col in CONSTRUCT_COLS:
            if rng.random() < 0.03:
                ans[col] = None
        return ans

    def survey(
        self,
        ay: str,
        wave: str,
        children: list[tuple[Child, str]],
        rate: float,
        teachers: set[int] | None = None,
    ) -> list[Response]:
        """One wave's returns. ``children``: (child, anchor urn) invited, in order."""
        rng = sub_rng(self.seed, "survey", ay, wave)
        lo, _ = WINDOWS[(ay, wave)]
        made = []
        for child, urn in children:
            if rate < 1.0 and rng.random() >= rate:
                continue
            age = age_on(child.dob, lo)
            if age < 4:
                continue
            if age >= 11:
                informant = "self"
            elif teachers is not None and child.cid in teachers:
                informant = "teacher"
            else:
                informant = "parent"
            crng = sub_rng(self.seed, "answers", ay, wave, child.cid)
            when = self._when(crng, ay, wave, informant)
            ans = self.answers(crng, child, ay, wave, informant, self.anchors[urn], when.date())
            enrolled = child.reg is not None and child.reg.consent_on is not None  # type: ignore[attr-defined]
            resp = Response(
                self.new_id(),
                when,
                child,
                ay,
                wave,
                urn,
                informant,
                ans,
                with_wlz=enrolled,
                with_upn=(not enrolled) or crng.random() < 0.85,
            )
            made.append(resp)
        self.responses.extend(made)
        return made


def teacher_informants(children: list[Child], ay: str, when: date, seed: int) -> set[int]:
    """A handful of younger children whose survey the class teacher fills in.

    Chosen across the range of need (by rank), so every SDQ band occurs for teachers.
    """
    rng = sub_rng(seed, "teachers", ay)
    young = sorted(
        (c for c in children if 4 <= age_on(c.dob, when) < 11),
        key=lambda c: (c.need[f"{ay}:autumn"], c.cid),
    )
    if not young:
        return set()
    picks = {
        young[min(len(young) - 1, int(q * len(young)))].cid
        for q in (0.998, 0.99, 0.98, 0.965, 0.95, 0.93, 0.9, 0.85, 0.6, 0.3)
    }
    for c in young:
        if rng.random() < 0.01:
            picks.add(c.cid)
    return picks


def render(resp: Response, col: str, value: int | None, as_text: bool, rng) -> str:
    if value is None:
        return ""
    scale = SCALE_OF[col]
    if not as_text or scale == "count":
        return str(value)
    return case_variant(rng, LABELS[scale][value])


def response_row(resp: Response, as_text: bool, rng, values: dict[str, int | None] | None = None):
    vals = dict(resp.answers) if values is None else values
    child = resp.child
    wlz = child.wlz_id if (child is not None and resp.with_wlz) else ""
    upn = child.upn if (child is not None and resp.with_upn) else ""
    row = [resp.response_id, iso_hms(resp.submitted_at), wlz or "", upn, resp.urn, resp.informant]
    row += [render(resp, c, vals[c], as_text, rng) for c in HEADER[6:]]
    return row
