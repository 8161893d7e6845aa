"""Anchors, partners and their programmes, link workers, postcodes and IMD."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

# the seven rate-card outcomes, in rate-card order (contract.md)
from wlz_pipeline.payments.rate_card import OUTCOMES

from .names import (
    BOROUGHS,
    LINK_WORKER_NAMES,
    POSTCODE_DISTRICTS,
    POSTCODE_UNIT_LETTERS,
    SCHOOL_STEMS,
)
from .scales import Scale
from .util import sub_rng

YEAR_GROUPS = {
    "nursery_school": ("N1", "N2", "R"),
    "childrens_centre": ("N1", "N2"),
    "primary": ("R", "1", "2", "3", "4", "5", "6"),
    "secondary": ("7", "8", "9", "10", "11"),
}
#: National Curriculum year offset: age on 31 August before the year = 4 + offset
YEAR_OFFSET = {"N1": -2, "N2": -1, "R": 0, **{str(k): k for k in range(1, 14)}}


def next_year_group(yg: str) -> str:
    return {"N1": "N2", "N2": "R", "R": "1"}.get(yg) or str(int(yg) + 1)


@dataclass
class Anchor:
    urn: str
    name: str
    phase: str  # nursery | primary | secondary (anchors.csv)
    kind: str  # nursery_school | childrens_centre | primary | secondary
    la: str
    borough: str
    estab: str
    mis_profile: str
    per_year: int
    role: str = ""  # showcase_nursery | showcase_primary | showcase_secondary | ""
    #: days the anchor is closed in term: date -> mark ("#" planned, "Y" enforced)
    closures: dict[date, str] = field(default_factory=dict)

    @property
    def year_groups(self) -> tuple[str, ...]:
        return YEAR_GROUPS[self.kind]


def build_anchors(scale: Scale, seed: int) -> list[Anchor]:
    rng = sub_rng(seed, "anchors")
    anchors = [
        Anchor(
            "140101",
            "Ravensmere Nursery School",
            "nursery",
            "nursery_school",
            "304",
            BOROUGHS["304"],
            "1004",
            "bromcom",
            scale.nursery_per_year,
            "showcase_nursery",
        ),
        Anchor(
            "140102",
            "Goldhawk Mews Primary School",
            "primary",
            "primary",
            "205",
            BOROUGHS["205"],
            "2153",
            "sims",
            scale.primary_per_year,
            "showcase_primary",
        ),
        Anchor(
            "140103",
            "Stamford Rise Academy",
            "secondary",
            "secondary",
            "207",
            BOROUGHS["207"],
            "4310",
            "arbor",
            scale.secondary_per_year,
            "showcase_secondary",
        ),
    ]
    las = ["205", "207", "304"] + (["213"] if scale.westminster else [])
    kinds: list[str] = (
        ["childrens_centre"] * scale.n_childrens_centres
        + ["nursery_school"] * (scale.n_nursery - 1 - scale.n_childrens_centres)
        + ["primary"] * (scale.n_primary - 1)
        + ["secondary"] * (scale.n_secondary - 1)
    )
    rng.shuffle(kinds)
    stems = list(SCHOOL_STEMS)
    rng.shuffle(stems)
    used_names = {a.name for a in anchors}
    used_estabs = {a.estab for a in anchors}
    suffixes = {
        "childrens_centre": ("Children's Centre",),
        "nursery_school": ("Nursery School", "Early Years Centre"),
        "primary": (
            "Primary School",
            "Primary Academy",
            "Church of England Primary School",
            "Community Primary School",
        ),
        "secondary": ("Academy", "High School", "School", "College"),
    }
    estab_base = {
        "childrens_centre": 1000,
        "nursery_school": 1000,
        "primary": 2000,
        "secondary": 4000,
    }
    for i, kind in enumerate(kinds):
        urn = str(140104 + i)
        la = rng.choice(las)
        name = ""
        for k in range(len(stems) * 4):
            cand = f"{stems[(i + k) % len(stems)]} {rng.choice(suffixes[kind])}"
            if cand not in used_names:
                name = cand
                break
        used_names.add(name)
        while True:
            estab = str(estab_base[kind] + rng.randrange(1, 999))
            if estab not in used_estabs:
                used_estabs.add(estab)
                break
        profile = rng.choices(["sims", "arbor", "bromcom"], weights=[0.45, 0.3, 0.25])[0]
        if kind == "secondary":
            per_year = rng.choice((180, 240, 300, 300, 360, 420))
        elif kind == "primary":
            per_year = rng.choice((30, 45, 60, 60, 60, 75, 90))
        elif kind == "childrens_centre":
            per_year = 30
        else:
            per_year = scale.nursery_per_year
        phase = "nursery" if kind in ("nursery_school", "childrens_centre") else kind
        anchors.append(Anchor(urn, name, phase, kind, la, BOROUGHS[la], estab, profile, per_year))
    return anchors


# --- partners and programmes ----------------------------------------------------------

PARTNERS_SAMPLE = (
    ("P01", "Bramblegate Reading Trust", ("reading_english",)),
    ("P02", "Sumcraft Maths Collective", ("maths",)),
    ("P03", "Limelight Lane Youth Theatre", ("writing_engagement", "emotional_wellbeing")),
    ("P04", "Harbourlight Counselling", ("emotional_wellbeing", "relationships")),
    ("P05", "Rootstock Family Learning", ("parental_engagement",)),
    ("P06", "Kickabout Together", ("school_attendance", "relationships")),
    ("P07", "Paintpot Studios Trust", ("emotional_wellbeing", "writing_engagement")),
    ("P08", "Steppingstone Mentors", ("relationships", "school_attendance")),
    ("P09", "Inkwell Young Writers", ("writing_engagement", "reading_english")),
    ("P10", "Chatterbox Speech and Language Trust", ("reading_english", "relationships")),
    ("P11", "Westbourne Active Kids", ("emotional_wellbeing", "school_attendance")),
    ("P12", "Lanternlight Homework Hub", ("maths", "reading_english", "parental_engagement")),
)

#: measure used on a programme's Outcomes sheet, by outcome area:
#: (name, scale min, scale max, higher_is_better)
MEASURES = {
    "reading_english": ("Reading confidence scale", 0, 20, True),
    "maths": ("Maths attitude scale", 0, 20, True),
    "writing_engagement": ("Writing engagement scale", 0, 20, True),
    "emotional_wellbeing": ("Worries checklist", 0, 20, False),
    "relationships": ("Friendship scale", 0, 20, True),
    "school_attendance": ("School belonging scale", 0, 20, True),
    "parental_engagement": ("Parent confidence scale", 0, 20, True),
}

# programme slug, phases, outcome area, weekday (0=Mon), planned minutes
PROGRAMMES_SAMPLE = (
    ("P01", "reading-buddies", ("primary",), "reading_english", 1, 60),
    ("P01", "story-sacks", ("nursery",), "reading_english", 2, 45),
    ("P02", "maths-makers", ("primary",), "maths", 1, 60),
    ("P02", "numeracy-boost", ("secondary",), "maths", 3, 60),
    ("P03", "drama-club", ("primary", "secondary"), "writing_engagement", 1, 90),
    ("P04", "play-therapy", ("nursery", "primary"), "emotional_wellbeing", 2, 60),
    ("P04", "talking-space", ("secondary",), "emotional_wellbeing", 1, 60),
    ("P05", "family-learning", ("nursery", "primary"), "parental_engagement", 3, 90),
    ("P05", "stay-and-play", ("nursery",), "parental_engagement", 1, 60),
    ("P06", "football-for-good", ("primary", "secondary"), "school_attendance", 2, 60),
    ("P06", "girls-football", ("secondary",), "relationships", 3, 60),
    ("P07", "art-studio", ("primary", "secondary"), "emotional_wellbeing", 1, 60),
    ("P08", "peer-mentoring", ("secondary",), "relationships", 1, 60),
    ("P09", "young-writers", ("primary",), "writing_engagement", 3, 60),
    ("P09", "poetry-lab", ("secondary",), "writing_engagement", 1, 60),
    ("P10", "talk-boost", ("nursery", "primary"), "reading_english", 1, 45),
    ("P11", "active-play", ("nursery", "primary"), "emotional_wellbeing", 4, 60),
    ("P11", "fit-for-life", ("secondary",), "school_attendance", 0, 60),
    ("P12", "homework-club", ("primary", "secondary"), "maths", 1, 60),
    ("P12", "exam-ready", ("secondary",), "maths", 2, 90),
)

_PARTNER_WORDS_A = (
    "Northlight",
    "Canalside",
    "Kestrel",
    "Bluebell",
    "Ironbridge",
    "Saffron",
    "Harrowgate",
    "Meadowsweet",
    "Copperbeech",
    "Thistledown",
    "Larkrise",
    "Willowherb",
    "Beacon Street",
    "Fernleaf",
    "Riverbend",
    "Oakapple",
)
_PARTNER_WORDS_B = (
    "Youth Trust",
    "Arts Collective",
    "Learning Project",
    "Mentoring Network",
    "Family Hub",
    "Sports Trust",
    "Music Project",
    "Wellbeing Service",
)
_SLUGS = {
    "reading_english": ("book-club", "phonics-boost", "library-club"),
    "maths": ("maths-club", "number-ninjas", "times-tables"),
    "writing_engagement": ("story-writers", "comic-club", "journal-club"),
    "emotional_wellbeing": ("calm-club", "music-therapy", "nature-club"),
    "relationships": ("team-builders", "buddy-club", "circus-skills"),
    "school_attendance": ("breakfast-club", "early-birds", "sports-club"),
    "parental_engagement": ("parents-cafe", "family-cooking", "stay-and-learn"),
}


@dataclass(frozen=True)
class Partner:
    partner_id: str
    name: str
    outcome_areas: tuple[str, ...]


@dataclass(frozen=True)
class Programme:
    programme: str  # e.g. P03-drama-club
    partner_id: str
    phases: tuple[str, ...]
    outcome_area: str
    weekday: int  # 0 = Monday
    minutes: int

    @property
    def measure(self) -> tuple[str, int, int, bool]:
        return MEASURES[self.outcome_area]


def build_partners(scale: Scale, seed: int) -> tuple[list[Partner], list[Programme]]:
    partners = [Partner(pid, name, areas) for pid, name, areas in PARTNERS_SAMPLE]
    programmes = [
        Programme(f"{pid}-{slug}", pid, phases, area, wd, mins)
        for pid, slug, phases, area, wd, mins in PROGRAMMES_SAMPLE
    ]
    rng = sub_rng(seed, "partners")
    used = {p.name for p in partners}
    for i in range(len(partners), scale.n_partners):
        pid = f"P{i + 1:02d}"
        while True:
            name = f"{rng.choice(_PARTNER_WORDS_A)} {rng.choice(_PARTNER_WORDS_B)}"
            if name not in used:
                used.add(name)
                break
        areas = tuple(sorted(rng.sample(OUTCOMES, rng.choice((1, 2))), key=OUTCOMES.index))
        partners.append(Partner(pid, name, areas))
        slugs_used: set[str] = set()
        for _ in range(2):
            area = rng.choice(areas)
            slug = rng.choice(_SLUGS[area])
            if slug in slugs_used:
                slug += "-2"
            slugs_used.add(slug)
            phases = rng.choice(
                (("nursery", "primary"), ("primary",), ("primary", "secondary"), ("secondary",))
            )
            wd = rng.choices((1, 0, 2, 3, 4), weights=(4, 1, 2, 2, 1))[0]
            programmes.append(
                Programme(f"{pid}-{slug}", pid, phases, area, wd, rng.choice((60, 60, 60, 45, 90)))
            )
    return partners, programmes


# --- link workers -------------------------------------------------------------------


@dataclass(frozen=True)
class LinkWorker:
    lw_id: str
    name: str
    anchor_urn: str
    start_date: date
    end_date: date | None


@dataclass
class LinkWorkerPlan:
    workers: list[LinkWorker]
    #: anchor urn -> [(lw_id, from date, to date or None)], in date order
    cover: dict[str, list[tuple[str, date, date | None]]]

    def lw_on(self, urn: str, d: date) -> str:
        for lw_id, start, end in self.cover[urn]:
            if start <= d and (end is None or d <= end):
                return lw_id
        return self.cover[urn][-1][0]


def build_link_workers(scale: Scale, anchors: list[Anchor]) -> LinkWorkerPlan:
    """One LW per showcase anchor; at zone scale the other anchors shared in groups.

    The LW of the showcase secondary leaves at the end of spring half-term 1 of 2017/18
    and is replaced by a new LW (the last LW id) from the next school day.
    """
    start = date(2016, 9, 1)
    leave, replace = date(2018, 2, 9), date(2018, 2, 19)
    groups: list[list[Anchor]] = [[a] for a in anchors[:3]]
    rest = sorted(anchors[3:], key=lambda a: (a.la, a.urn))
    n_rest_groups = max(0, scale.n_link_workers - 3)
    if rest:
        for i in range(n_rest_groups):
            chunk = rest[i * len(rest) // n_rest_groups : (i + 1) * len(rest) // n_rest_groups]
            if chunk:
                groups.append(chunk)
    workers: list[LinkWorker] = []
    cover: dict[str, list[tuple[str, date, date | None]]] = {}
    for i, group in enumerate(groups):
        lw_id = f"LW{i + 1:02d}"
        end = leave if group[0].role == "showcase_secondary" else None
        workers.append(
            LinkWorker(
                lw_id, LINK_WORKER_NAMES[i % len(LINK_WORKER_NAMES)], group[0].urn, start, end
            )
        )
        for a in group:
            cover[a.urn] = [(lw_id, start, end)]
    new_id = f"LW{len(groups) + 1:02d}"
    sec = anchors[2]
    workers.append(
        LinkWorker(
            new_id, LINK_WORKER_NAMES[len(groups) % len(LINK_WORKER_NAMES)], sec.urn, replace, None
        )
    )
    cover[sec.urn].append((new_id, replace, None))
    return LinkWorkerPlan(workers, cover)


# --- postcodes and IMD --------------------------------------------------------------

_DECILE_WEIGHTS = (0.17, 0.17, 0.15, 0.12, 0.1, 0.08, 0.07, 0.05, 0.05, 0.04)


@dataclass
class Geography:
    #: LA -> postcodes sorted from most to least deprived (decile, then postcode)
    by_la: dict[str, list[str]]
    #: postcode -> (lsoa_code, decile), only for postcodes in imd.csv
    imd: dict[str, tuple[str, int]]
    #: postcodes that exist but are missing from imd.csv (IMD unknown)
    unlisted: list[str]


def build_geography(scale: Scale, anchors: list[Anchor], seed: int) -> Geography:
    rng = sub_rng(seed, "geography")
    pupils_by_la: dict[str, int] = {}
    for a in anchors:
        pupils_by_la[a.la] = pupils_by_la.get(a.la, 0) + a.per_year * len(a.year_groups)
    used: set[str] = set()
    used_lsoa: set[str] = set()

    def new_postcode(la: str) -> str:
        while True:
            pc = (
                f"{rng.choice(POSTCODE_DISTRICTS[la])} {rng.randrange(1, 10)}"
                f"{rng.choice(POSTCODE_UNIT_LETTERS)}{rng.choice(POSTCODE_UNIT_LETTERS)}"
            )
            if pc not in used:
                used.add(pc)
                return pc

    by_la: dict[str, list[str]] = {}
    imd: dict[str, tuple[str, int]] = {}
    unlisted: list[str] = []
    for la in sorted(POSTCODE_DISTRICTS):
        if la not in pupils_by_la:
            continue
        n = max(40, pupils_by_la[la] // 3)
        rows: list[tuple[int, str]] = []
        while len(rows) < n:
            while True:
                lsoa = f"E0{rng.randrange(1000000, 1034000)}"
                if lsoa not in used_lsoa:
                    used_lsoa.add(lsoa)
                    break
            decile = rng.choices(range(1, 11), weights=_DECILE_WEIGHTS)[0]
            for _ in range(rng.randrange(3, 9)):
                pc = new_postcode(la)
                imd[pc] = (lsoa, decile)
                rows.append((decile, pc))
        rows.sort()
        by_la[la] = [pc for _, pc in rows]
        unlisted.extend(new_postcode(la) for _ in range(max(2, n // 100)))
    return Geography(by_la, imd, unlisted)
