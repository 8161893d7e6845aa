"""Link-worker interactions: the case-recording log of every enrolled child.

From consent until exit or the end of the data, on school days the child's anchor is
open: a check-in most school weeks (some children are hard to reach, and some have
gaps of several weeks), a formal review most half-terms, LW-led group sessions,
one-to-ones, parent/carer contacts and the odd professional conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from .names import NOTE_SUBJECTS, NOTE_TEMPLATES
from .programme import Registration
from .reference import Anchor, LinkWorkerPlan
from .school_calendar import SchoolCalendar, academic_year_of
from .util import clip, poisson, sub_rng

HEADER = [
    "interaction_id",
    "wlz_id",
    "lw_id",
    "started_at",
    "duration_minutes",
    "with_whom",
    "kind",
    "channel",
    "notes",
]


@dataclass
class Interaction:
    started_at: datetime
    wlz_id: str
    lw_id: str
    duration: int
    with_whom: str
    kind: str
    channel: str
    notes: str
    interaction_id: str = ""

    def row(self) -> list[object]:
        t = self.started_at
        return [
            self.interaction_id,
            self.wlz_id,
            self.lw_id,
            f"{t.day:02d}/{t.month:02d}/{t.year:04d} {t.hour:02d}:{t.minute:02d}",
            self.duration,
            self.with_whom,
            self.kind,
            self.channel,
            self.notes,
        ]


def _note(rng, kind: str) -> str:
    return rng.choice(NOTE_TEMPLATES[kind]).format(s=rng.choice(NOTE_SUBJECTS))


def _at(rng, d: date, lo_h: int, hi_h: int) -> datetime:
    return datetime.combine(d, time(rng.randrange(lo_h, hi_h), 5 * rng.randrange(12)))


def child_interactions(
    seed: int,
    reg: Registration,
    cal: SchoolCalendar,
    anchors: dict[str, Anchor],
    lws: LinkWorkerPlan,
    data_end: date,
    intensity: float,
) -> list[Interaction]:
    rng = sub_rng(seed, "interactions", reg.wlz_id)
    child = reg.child
    start = reg.consent_on
    end = min(reg.exit_on or data_end, data_end)
    engage = child.lat["engage"]
    hard_to_reach = rng.random() < 0.12
    p_check = 0.62 if hard_to_reach else clip(0.93 + 0.04 * engage, 0.8, 0.99)
    p_review = 0.6 if rng.random() < 0.25 else 0.93
    in_group = rng.random() < 0.55
    out: list[Interaction] = []
    weeks = cal.weeks(start, end)  # type: ignore[arg-type]

    def usable(days: list[date]) -> list[date]:
        ok = []
        for d in days:
            st = child.stints.get(academic_year_of(d))
            if st is None or not st.on_roll(d) or d in anchors[st.urn].closures:
                continue
            ok.append(d)
        return ok

    # gaps: some terms have 2-4 consecutive school weeks without contact with the child
    gap_weeks: set[date] = set()
    for i in range(len(weeks)):
        if rng.random() < 0.02 and i + 2 < len(weeks):
            for w in weeks[i : i + rng.randint(2, 4)]:
                gap_weeks.add(w[0])

    def add(
        d: date,
        kind: str,
        with_whom: str,
        channel: str,
        minutes: int,
        lo=9,
        hi=15,
        at: datetime | None = None,
        note: str | None = None,
    ):
        st = child.stints[academic_year_of(d)]
        out.append(
            Interaction(
                at or _at(rng, d, lo, hi),
                reg.wlz_id,
                lws.lw_on(st.urn, d),
                minutes,
                with_whom,
                kind,
                channel,
                note or _note(rng, kind),
            )
        )

    for monday, days in weeks:
        days = usable(days)
        if not days:
            continue
        gap = monday in gap_weeks
        if not gap and rng.random() < p_check:
            ch = rng.choices(("in_person", "video", "phone"), weights=(0.93, 0.03, 0.04))[0]
            add(rng.choice(days), "check_in", "child", ch, rng.choice((10, 15, 15, 20, 20, 25, 30)))
        if not gap and rng.random() < 0.1 * intensity:
            add(rng.choice(days), "one_to_one", "child", "in_person", rng.choice((30, 45, 60)))
        if in_group and rng.random() < min(0.95, 0.6 * intensity):
            # the LW's weekly group at the anchor: same time, length and theme for everyone
            d = ([d for d in days if d.weekday() == 3] or days)[0]
            urn = child.stints[academic_year_of(d)].urn
            g = sub_rng(seed, "group", urn, d.isoformat())
            minutes = g.choice((45, 60, 60, 90))
            add(
                d,
                "group",
                "child",
                "in_person",
                minutes,
                at=datetime.combine(d, time(14, 0)),
                note=_note(g, "group"),
            )
        for _ in range(poisson(rng, 0.25 * intensity)):
            kind = rng.choices(("check_in", "contact_attempt", "other"), weights=(0.6, 0.25, 0.15))[
                0
            ]
            if kind == "check_in":
                add(
                    rng.choice(days), kind, "parent_carer", "phone", rng.choice((10, 15, 20)), 8, 18
                )
            elif kind == "contact_attempt":
                add(
                    rng.choice(days),
                    kind,
                    "parent_carer",
                    rng.choice(("phone", "message")),
                    rng.choice((2, 3, 5)),
                    8,
                    18,
                )
            else:
                add(rng.choice(days), kind, "parent_carer", "message", 5, 8, 18)
        if rng.random() < 0.05 * intensity:
            add(
                rng.choice(days),
                "other",
                "professional",
                rng.choice(("in_person", "phone", "video")),
                rng.choice((20, 30, 45)),
            )
    # a formal review in (most) half-terms, in the half-term's last three weeks
    for ht in cal.half_terms:
        lo = max(ht.start, start)  # type: ignore[type-var]
        hi = min(ht.end, end)
        if lo > hi:
            continue
        days = usable(cal.school_days(ht.academic_year, max(lo, ht.end - timedelta(days=20)), hi))
        if days and rng.random() < p_review:
            who = "child" if rng.random() < 0.85 else "parent_carer"
            add(rng.choice(days), "formal_review", who, "in_person", rng.choice((45, 50, 60)))
    return out


def assign_ids(items: list[Interaction]) -> None:
    items.sort(key=lambda x: (x.started_at, x.wlz_id, x.kind, x.with_whom, x.duration))
    for i, it in enumerate(items):
        it.interaction_id = f"INT{100001 + i:08d}"
