"""Returned partner templates for the synthetic Zone (sources.md §2, issue 3).

Each (programme, academic year, term) of the attendance plan becomes the workbook the
backbone would send (the real template writer), "filled in" by the partner from the
plan (the real ``fill_template``), and, for some files, "hand-edited" with the defects
partners really make (the real ``hand_edit``), so the pipeline's reader meets every one.
Also: a corrected re-send of one template (it must supersede the first) and a workbook
that is not a template at all (quarantined whole). Everything goes through
:class:`Output`, so MANIFEST.json lists the files, their expected status and each
planted defect with the cell it is in.

At zone scale (``fast=True``) the same workbooks are made by :mod:`.template_stamp`
(the writer's own output, without openpyxl repeating ~21,000 child rows and loading
every file again to fill it in), and ``held_back`` templates of the last term are
written under ``incremental/partners/<partner_id>/`` instead of ``partners/``: the
"ten returned partner templates" that arrive on the benchmark's incremental night
(performance.md). Their manifest records say where they land (``landing_path``).
"""

from __future__ import annotations

import random
import tempfile
from datetime import date, timedelta
from pathlib import Path

from wlz_pipeline.sources.partner_template import (
    Child,
    Measure,
    Session,
    TemplateSpec,
    fill_template,
    hand_edit,
    template_filename,
    write_template,
)

from .output import Output
from .partners import ProgrammeTermPlan, plan_for_world
from .template_stamp import Filling, filled_template
from .util import sub_rng

#: where held-back templates wait for the incremental night (the landing layout below it)
HELD_BACK_DIR = "incremental"

#: Defects planted once each, in 2017/18 files (the order is the order of the files).
DEFECTS = (
    "blank_rows_cols",
    "note_in_mark",
    "note_right_of_grid",
    "merged_header",
    "text_dates",
    "lowercase_marks",
    "misspelt_name",
    "unallocated_id",
    "added_child",
    "added_session",
    "missing_sheet",
    "renamed_sheet",
    "date_outside_term",
)

#: What the pipeline must do with each defect (data/sample/README.md repeats this).
EXPECTED = {
    "blank_rows_cols": "read every mark; warn about the empty row and column",
    "note_in_mark": "error for that cell (not a mark); read the child's other sessions",
    "note_right_of_grid": "warn that the note was ignored; read every mark",
    "merged_header": "read every mark despite the merged title and heading",
    "text_dates": "read the dates typed as text day first, with a warning",
    "lowercase_marks": "read 'p ' as P and 'a ' as A, silently",
    "misspelt_name": "warn about the name; read the row under its WLZ ID",
    "unallocated_id": "error: the child is not allocated to the programme; row not read",
    "added_child": "error: the child added by hand is not allocated; row not read",
    "added_session": "read the added session with a warning; planned minutes unknown",
    "missing_sheet": "no finding for a missing optional sheet; read the rest",
    "renamed_sheet": "find the renamed sheet by position and content, with a warning",
    "date_outside_term": "error for that session column (outside the term); read the others",
}


def _spec(world, plan: ProgrammeTermPlan, names: dict[str, str], partners: dict) -> TemplateSpec:
    name, lo, hi, higher = plan.measure
    return TemplateSpec(
        partner_id=plan.partner_id,
        partner_name=partners[plan.partner_id].name,
        programme=plan.programme,
        academic_year=plan.academic_year,
        term=plan.term,
        session_leader=f"Session leader {plan.partner_id}",
        outcome_area=", ".join(partners[plan.partner_id].outcome_areas),
        measure=Measure(name=name, scale_min=lo, scale_max=hi, higher_is_better=higher),
        sessions=[Session(d, plan.planned_minutes) for d in plan.session_dates],
        children=[Child(c.wlz_id, names.get(c.wlz_id, "")) for c in plan.children],
    )


def _filling(plan: ProgrammeTermPlan) -> Filling:
    """What the partner types into the template: the plan's marks, ratings, scores and
    feedback (the arguments of ``fill_template``)."""
    marks, engagement, outcomes, feedback = {}, {}, {}, {}
    for c in plan.children:
        for d, mark, rating in zip(plan.session_dates, c.marks, c.engagement, strict=True):
            if mark:
                marks[(c.wlz_id, d)] = mark
            if rating is not None:
                engagement[(c.wlz_id, d)] = rating
        if c.pre_score is not None or c.post_score is not None:
            outcomes[c.wlz_id] = {
                "pre_score": c.pre_score,
                "pre_date": c.pre_date,
                "post_score": c.post_score,
                "post_date": c.post_date,
            }
        if any(v is not None for v in c.feedback.values()):
            feedback[c.wlz_id] = c.feedback
    return Filling(marks, engagement, outcomes, feedback)


def _fill(path: Path, plan: ProgrammeTermPlan) -> None:
    f = _filling(plan)
    fill_template(
        path, marks=f.marks, engagement=f.engagement, outcomes=f.outcomes, feedback=f.feedback
    )


def _returned(
    spec: TemplateSpec,
    plan: ProgrammeTermPlan,
    path: Path,
    fast: bool,
    correction: tuple[str, date] | None = None,
) -> Path:
    """Write the template for ``spec`` to ``path``, filled in from ``plan`` (and the one
    mark ``correction`` set to P, as a partner's corrected re-send)."""
    if fast:
        filling = _filling(plan)
        if correction is not None:
            filling.marks[correction] = "P"
        path.write_bytes(filled_template(spec, filling, path.parent))
        return path
    path = write_template(spec, path)
    _fill(path, plan)
    if correction is not None:
        fill_template(path, marks={correction: "P"})
    return path


def _defect_args(defect: str, plan: ProgrammeTermPlan, outsider: str, term_end: date) -> dict:
    last = plan.session_dates[-1]
    if defect in ("unallocated_id", "added_child"):
        return {"wlz_id": outsider}
    if defect == "added_session":
        # a Thursday in the term's last weeks that is not already a session and not after
        # the term's last day (a term ending on a Wednesday: the Thursday before)
        extra = last - timedelta(days=last.weekday()) + timedelta(days=3)
        while extra in plan.session_dates or extra > term_end:
            extra -= timedelta(days=7)
        return {"date": extra}
    if defect == "date_outside_term":
        return {"date": date(last.year, 8, 15)}  # the summer holiday
    return {}


def _usable(plan: ProgrammeTermPlan) -> bool:
    return bool(plan.children and plan.session_dates)


def template_keys(plans: dict) -> list[tuple[str, str, str]]:
    """The (programme, academic_year, term) that get a template: every one with allocated
    children and sessions, in writing order (year, term, programme)."""
    return [k for k in sorted(plans, key=lambda k: (k[1], k[2], k[0])) if _usable(plans[k])]


def assign_defects(plans: dict, latest: str) -> dict[tuple[str, str, str], str]:
    """The defect hand-edited into each edited template: the first 2017/18 (latest year)
    templates with at least two children, one defect each, in writing order."""
    pending = list(DEFECTS)
    out = {}
    for key in template_keys(plans):
        if pending and key[1] == latest and len(plans[key].children) >= 2:
            out[key] = pending.pop(0)
    return out


def resend_key(plans: dict, latest: str, edited) -> tuple[str, str, str]:
    """The template re-sent corrected: the first of the latest year (by programme) that
    carries no planted defect, so every defect stays current."""
    return next(
        k for k in sorted(plans) if k[1] == latest and _usable(plans[k]) and k not in edited
    )


def held_back_keys(plans: dict, world, n: int, exclude) -> list[tuple[str, str, str]]:
    """``n`` templates of the last term (no defect, not the re-send), chosen by the seed:
    the ones still to arrive when the pipeline first runs."""
    if n <= 0:
        return []
    ay = world.cal.academic_years[-1]
    term = max((k[2] for k in plans if k[1] == ay), key=("autumn", "spring", "summer").index)
    pool = [k for k in template_keys(plans) if k[1:] == (ay, term) and k not in exclude]
    return sorted(sub_rng(world.seed, "held-back-templates").sample(pool, min(n, len(pool))))


def write_partner_templates(world, o: Output, *, fast: bool = False, held_back: int = 0) -> None:
    """Write ``partners/<partner_id>/*.xlsx`` for every programme and term of the plan
    (``held_back`` of them under ``incremental/`` instead; ``fast``: see the module)."""
    plans = plan_for_world(world, sub_rng(world.seed, "partner-plan"))
    names = {c.wlz_id: f"{c.forename} {c.surname}" for c in world.pop.children if c.wlz_id}
    partners = {p.partner_id: p for p in world.partners}
    enrolled = sorted(r.wlz_id for r in world.register.entries if r.enrolled)
    latest = world.cal.academic_years[-1]
    defects = assign_defects(plans, latest)
    resend = resend_key(plans, latest, defects)
    later = set(held_back_keys(plans, world, held_back, {*defects, resend}))
    rng = random.Random(f"{world.seed}|partner-files")
    with tempfile.TemporaryDirectory() as tmp:
        for key in template_keys(plans):
            plan = plans[key]
            spec = _spec(world, plan, names, partners)
            path = _returned(spec, plan, Path(tmp) / template_filename(spec), fast)
            rel = f"partners/{plan.partner_id}/{path.name}"
            meta = {
                "programme": plan.programme,
                "academic_year": plan.academic_year,
                "term": plan.term,
                "expected_status": "ingested",
            }
            if key in later:
                meta["landing_path"] = rel
                meta["arrives"] = "incremental_night"
                rel = f"{HELD_BACK_DIR}/{rel}"
                o.held_back.append({"file": rel, "landing_path": meta["landing_path"]})
            if key in defects:
                defect = defects[key]
                allocated = {c.wlz_id for c in plan.children}
                outsider = next(
                    w for w in rng.sample(enrolled, len(enrolled)) if w not in allocated
                )
                term_end = world.cal.term_bounds(plan.academic_year, plan.term)[1]
                edit = hand_edit(path, defect, **_defect_args(defect, plan, outsider, term_end))
                o.planted_cells.append(
                    {
                        "file": rel,
                        "defect": defect,
                        "sheet": edit.sheet,
                        "cells": edit.cells,
                        "description": edit.description,
                        "expected_action": EXPECTED[defect],
                    }
                )
            o.write_bytes(rel, "partner_template", path.read_bytes(), rows=None, **meta)
        _resend_and_stray(plans[resend], names, partners, world, o, Path(tmp), fast)


def _resend_and_stray(plan, names, partners, world, o: Output, tmp: Path, fast: bool) -> None:
    """A corrected re-send of ``plan``'s template (supersedes the first file) and a
    workbook that is no template."""
    first = f"partners/{plan.partner_id}/{template_filename(_spec(world, plan, names, partners))}"
    spec = _spec(world, plan, names, partners)
    # the partner's correction: a session first recorded as missed was in fact attended
    child, day = next(
        (c, d)
        for c in plan.children
        for d, m in zip(plan.session_dates, c.marks, strict=True)
        if m in ("A", "E")
    )
    path = _returned(
        spec, plan, tmp / ("resend_" + template_filename(spec)), fast, (child.wlz_id, day)
    )
    rel = f"partners/{plan.partner_id}/{path.stem.removeprefix('resend_')} (corrected).xlsx"
    o.write_bytes(
        rel,
        "partner_template",
        path.read_bytes(),
        rows=None,
        programme=plan.programme,
        academic_year=plan.academic_year,
        term=plan.term,
        expected_status="ingested",
        supersedes=first,
    )
    o.record_of(first).update(expected_status="superseded", superseded_by=rel)
    o.corrections.append(
        {
            "superseded_file": first,
            "superseding_file": rel,
            "wlz_id": child.wlz_id,
            "session_date": day.isoformat(),
            "column": "mark",
            "corrected_value": "P",
        }
    )
    from openpyxl import Workbook

    from wlz_pipeline.sources.partner_template_write import save_workbook

    wb = Workbook()
    wb.active.title = "Register"
    wb.active.append(["Name", "Week 1", "Week 2"])
    stray = save_workbook(wb, tmp / "stray.xlsx")  # fixed timestamps: same bytes every run
    rel = f"partners/{plan.partner_id}/Our own register.xlsx"
    o.write_bytes(
        rel, "partner_template", stray.read_bytes(), rows=None, expected_status="quarantined"
    )
    o.planted_files.append(
        {
            "file": rel,
            "rule": "not_a_template",
            "expected_action": "quarantine the file whole: it has no About "
            "or Attendance sheet; every other template still goes through",
        }
    )
