"""Build the synthetic Zone in memory, in the order causality needs.

For each academic year: the roster; the autumn facts (attendance so far, behaviour in
the first 31 days, baseline assessments, the whole-school survey); identification and
the register (from those facts); the programme's effect on enrolled children; then the
rest of the year (attendance, behaviour, summer assessments, the summer survey).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .interactions import Interaction, assign_ids, child_interactions
from .people import Child, Population, Stint
from .programme import (
    EXTRACT_DAY,
    Register,
    Registration,
    baseline_risk_count,
    build_allocations,
    offered_programmes,
    summer_comparison,
)
from .reference import (
    Anchor,
    Geography,
    LinkWorkerPlan,
    Partner,
    Programme,
    build_anchors,
    build_geography,
    build_link_workers,
    build_partners,
)
from .scales import Scale, get_scale
from .school import (
    Closures,
    assessments,
    attendance_rates,
    baseline_incidents,
    later_incidents,
)
from .school_calendar import SchoolCalendar
from .surveys import WINDOWS, Response, SurveyBuilder, teacher_informants


@dataclass
class World:
    scale: Scale
    seed: int
    cal: SchoolCalendar
    anchors: list[Anchor]
    partners: list[Partner]
    programmes: list[Programme]
    lws: LinkWorkerPlan
    geo: Geography
    closures: Closures
    pop: Population
    register: Register
    surveys: SurveyBuilder
    roster: dict[tuple[str, str], list[tuple[Child, Stint]]] = field(default_factory=dict)
    allocations: list[list[str]] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)
    data_end: date = date(2018, 7, 20)

    @property
    def by_urn(self) -> dict[str, Anchor]:
        return {a.urn: a for a in self.anchors}

    def marks_anchor(self, anchor: Anchor, ay: str) -> bool:
        """Whether the anchor's attendance for ``ay`` is written as session marks."""
        if ay != self.cal.academic_years[-1]:
            return False
        return self.scale.marks_all_anchors or anchor.role == "showcase_primary"


def _index(pop: Population, ay: str) -> dict[tuple[str, str], list[tuple[Child, Stint]]]:
    out: dict[tuple[str, str], list[tuple[Child, Stint]]] = {}
    for c in pop.children:
        st = c.stints.get(ay)
        if st is not None:
            out.setdefault((st.urn, ay), []).append((c, st))
    return out


def _apply_moves(regs: list[Registration], ay: str) -> None:
    """Children who exit because they moved school leave their anchor that day."""
    for reg in regs:
        st = reg.child.stints.get(ay)
        if (
            reg.exit_reason == "moved_school"
            and reg.exit_on is not None
            and st is not None
            and st.start <= reg.exit_on
            and (st.leave is None or reg.exit_on < st.leave)
        ):
            st.leave = reg.exit_on


def build_world(scale_name: str = "sample", seed: int = 20170901) -> World:
    scale = get_scale(scale_name)
    cal = SchoolCalendar(scale.academic_years)
    anchors = build_anchors(scale, seed)
    by_urn = {a.urn: a for a in anchors}
    partners, programmes = build_partners(scale, seed)
    lws = build_link_workers(scale, anchors)
    geo = build_geography(scale, anchors, seed)
    closures = Closures(seed, cal, anchors)
    pop = Population(seed, cal, anchors, geo)
    register = Register(seed, cal, lws, scale.enrol_fraction)
    surveys = SurveyBuilder(seed, cal, by_urn)
    w = World(
        scale, seed, cal, anchors, partners, programmes, lws, geo, closures, pop, register, surveys
    )
    w.data_end = cal.year_bounds(cal.academic_years[-1])[1]
    years = cal.academic_years
    prev: str | None = None
    for k, ay in enumerate(years):
        y0, _ = cal.year_bounds(ay)
        if k == 0:
            pop.initial_roster(ay)
        else:
            keep = {
                r.child.cid
                for r in register.entries
                if r.enrolled and (r.exit_on is None or r.exit_on >= y0)
            }
            pop.roll_forward(prev, ay, keep)  # type: ignore[arg-type]
            pop.late_starters(ay, [a for a in anchors if w.marks_anchor(a, ay)])
            _apply_moves(register.entries, ay)
        w.roster.update(_index(pop, ay))
        rows = [(c, st) for a in anchors for c, st in w.roster.get((a.urn, ay), [])]
        # -- autumn facts ------------------------------------------------------------------
        for c, st in rows:
            anchor = by_urn[st.urn]
            attendance_rates(seed, c, st, anchor, terms=("autumn",))
            baseline_incidents(seed, cal, closures, anchor, c, st)
            assessments(seed, anchor, c, st, "autumn")
        lo, _ = WINDOWS[(ay, "autumn")]
        invited = sorted(
            ((c, st.urn) for c, st in rows if st.on_roll(lo)), key=lambda cs: cs[0].cid
        )
        teachers = teacher_informants([c for c, _ in invited], ay, lo, seed)
        autumn = surveys.survey(ay, "autumn", invited, scale.survey_response_rate, teachers)
        by_child: dict[int, Response] = {r.child.cid: r for r in autumn}  # type: ignore[union-attr]
        # -- identification and the register -------------------------------------------------
        regs: list[Registration] = []
        for anchor in anchors:
            screened = [
                c for c, st in w.roster.get((anchor.urn, ay), []) if st.on_roll(EXTRACT_DAY[ay])
            ]
            risk = {
                c.cid: baseline_risk_count(c, ay, prev, cal, by_child.get(c.cid)) for c in screened
            }
            regs += register.select(ay, anchor, screened, risk, first_cohort=k == 0)
        register.choose_exits(ay, regs, years)
        _apply_moves(regs, ay)
        register.apply_effects(regs, years)
        # -- the rest of the year ------------------------------------------------------------
        for c, st in rows:
            anchor = by_urn[st.urn]
            attendance_rates(seed, c, st, anchor)
            later_incidents(seed, cal, closures, anchor, c, st)
            assessments(seed, anchor, c, st, "summer")
        lo, _ = WINDOWS[(ay, "summer")]
        enrolled = [
            c
            for c, st in rows
            if c.reg is not None
            and c.reg.enrolled
            and st.on_roll(lo)  # type: ignore[attr-defined]
            and (c.reg.exit_on is None or c.reg.exit_on > lo)  # type: ignore[attr-defined]
        ]
        pool = [c for c, st in rows if st.on_roll(lo)]
        comparison = summer_comparison(pool, ay, len(enrolled), seed)
        invited = sorted(
            ((c, c.stints[ay].urn) for c in enrolled + comparison), key=lambda cs: cs[0].cid
        )
        surveys.survey(ay, "summer", invited, 1.0)
        prev = ay
    register.finish(w.data_end)
    pop.assign_names({a.urn for a in anchors if a.mis_profile == "arbor"})
    offered = offered_programmes(anchors, programmes, seed)
    enrolled_regs = [r for r in register.entries if r.enrolled]
    w.allocations = build_allocations(enrolled_regs, cal, offered, seed)
    for reg in enrolled_regs:
        w.interactions += child_interactions(
            seed, reg, cal, by_urn, lws, w.data_end, scale.interaction_intensity
        )
    assign_ids(w.interactions)
    return w
