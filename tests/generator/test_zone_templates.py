"""Zone-scale partner templates: one returned template per allocated (programme, year,
term), written fast (generator/template_stamp.py) but exactly as the template writer
writes them, and ten held back for the benchmark's incremental night.

Fast by design (< 20 s): the tiny world and a tiny zone-like scale; the zone itself is
never built here (its template count is checked by arithmetic on its programme list).
"""

from __future__ import annotations

import csv
import dataclasses
import random
from datetime import date
from types import SimpleNamespace

import pytest

from wlz_pipeline.generator import generate
from wlz_pipeline.generator import partner_files as pf
from wlz_pipeline.generator.partners import partner_attendance_plan, plan_for_world
from wlz_pipeline.generator.reference import PARTNERS_SAMPLE, PROGRAMMES_SAMPLE, build_partners
from wlz_pipeline.generator.scales import SCALES, get_scale
from wlz_pipeline.generator.school_calendar import SchoolCalendar
from wlz_pipeline.generator.template_stamp import (
    filled_template,
    read_parts,
    unfilled_template,
    zip_parts,
)
from wlz_pipeline.generator.util import sub_rng
from wlz_pipeline.generator.world import build_world
from wlz_pipeline.sources.partner_template import (
    Child,
    Measure,
    Session,
    TemplateSpec,
    read_template,
    write_template,
)

SEED = 7


@pytest.fixture(scope="module")
def tiny_world():
    return build_world("tiny", SEED)


@pytest.fixture(scope="module")
def tiny_plans(tiny_world):
    plans = plan_for_world(tiny_world, sub_rng(tiny_world.seed, "partner-plan"))
    names = {c.wlz_id: f"{c.forename} {c.surname}" for c in tiny_world.pop.children if c.wlz_id}
    partners = {p.partner_id: p for p in tiny_world.partners}
    keys = pf.template_keys(plans)
    # a spread: both years, all terms, small and large groups
    picked = sorted({*keys[::9], max(keys, key=lambda k: len(plans[k].children))})
    return [(plans[k], pf._spec(tiny_world, plans[k], names, partners), names) for k in picked]


def _spec(children: list[Child]) -> TemplateSpec:
    return TemplateSpec(
        partner_id="P01",
        partner_name="Northlight & Co <Trust>",
        programme="P01-reading-buddies",
        academic_year="2017/18",
        term="autumn",
        session_leader="Session leader P01",
        outcome_area="reading_english",
        measure=Measure(name="Reading scale", scale_min=0, scale_max=20, higher_is_better=True),
        sessions=[Session(date(2017, 9, 5), 60), Session(date(2017, 9, 12), 45)],
        children=children,
    )


# --- the stamped workbook is the writer's own -------------------------------------------------


def test_stamped_template_is_byte_identical_to_the_writer(tiny_plans, tmp_path):
    assert len(tiny_plans) >= 8
    for _, spec, _ in tiny_plans:
        expected = write_template(spec, tmp_path / "writer.xlsx").read_bytes()
        assert zip_parts(unfilled_template(spec, tmp_path)) == expected, spec.programme


@pytest.mark.parametrize(
    "names",
    [
        ["Zoë O'Neill-Smith", "Ana & Bo <Li>", "Ég Þór"],  # escaped text, accents
        ["One Child"],  # nothing to stamp
        ["=HYPERLINK(x)", "Amy Smith"],  # formula-like: the writer's quote-prefix style
        [" Padded ", "Amy Smith"],  # xml:space="preserve"
        ["", "Amy Smith"],  # no name
    ],
)
def test_stamping_matches_the_writer_for_awkward_names(names, tmp_path):
    spec = _spec([Child(f"WLZ{100000001 + i:09d}", n) for i, n in enumerate(names)])
    expected = write_template(spec, tmp_path / "writer.xlsx").read_bytes()
    assert zip_parts(unfilled_template(spec, tmp_path)) == expected


def test_fast_filled_template_reads_like_fill_template(tiny_plans, tmp_path):
    """The fast fill types the same values into the same cells as ``fill_template``: the
    reader gets the same marks, scores, feedback and findings from both files."""
    n_marks = 0
    for plan, spec, names in tiny_plans:
        slow = pf._returned(spec, plan, tmp_path / "slow.xlsx", fast=False)
        fast = tmp_path / "fast.xlsx"
        fast.write_bytes(filled_template(spec, pf._filling(plan), tmp_path))
        kw = {
            "allocated": {c.wlz_id for c in plan.children},
            "known_children": {c.wlz_id: names[c.wlz_id] for c in plan.children},
        }
        a, b = read_template(slow, **kw), read_template(fast, **kw)
        assert a.quarantine_reason is None and b.quarantine_reason is None
        assert a.marks == b.marks and a.outcomes == b.outcomes and a.feedback == b.feedback
        assert a.findings == b.findings == []
        n_marks += len(b.marks)
        # the rest of the workbook (instructions, About, hidden sheet) is the writer's
        unfilled = read_parts(write_template(spec, tmp_path / "w.xlsx").read_bytes())
        filled = read_parts(fast.read_bytes())
        changed = {k for k in unfilled if unfilled[k] != filled[k]}
        assert changed <= {f"xl/worksheets/sheet{i}.xml" for i in (3, 4, 5, 6)}
    assert n_marks > 300


def test_a_correction_is_typed_over_the_first_mark(tiny_plans, tmp_path):
    plan, spec, names = next(p for p in tiny_plans if len(p[0].children) >= 3)
    child, day = next(
        (c.wlz_id, d)
        for c in plan.children
        for d, m in zip(plan.session_dates, c.marks, strict=True)
        if m in ("A", "E")
    )
    kw = {"allocated": {c.wlz_id for c in plan.children}, "known_children": names}
    for fast in (False, True):
        path = pf._returned(spec, plan, tmp_path / f"{fast}.xlsx", fast, (child, day))
        mark = next(
            m for m in read_template(path, **kw).marks if (m.wlz_id, m.session_date) == (child, day)
        )
        assert mark.mark == "P", fast


# --- the zone's plan: a template per allocated programme and term ---------------------------


def test_zone_template_count_arithmetic():
    """The zone's ~500 templates (performance.md): 12 sample partners with
    len(PROGRAMMES_SAMPLE) = 20 programmes, plus 40 - 12 = 28 generated partners with 2
    programmes each = 76 programmes; 2 academic years x 3 terms = 6 terms; with children
    allocated to every programme in every term (as the zone's allocations are) that is
    76 x 6 = 456 templates. Ten of the last term wait in incremental/; partners/ holds
    456 - 10 + 1 corrected re-send + 1 stray workbook = 448 files."""
    zone = get_scale("zone")
    partners, programmes = build_partners(zone, 20170901)
    n_programmes = len(PROGRAMMES_SAMPLE) + 2 * (zone.n_partners - len(PARTNERS_SAMPLE))
    assert (len(partners), len(programmes), n_programmes) == (40, 76, 76)
    n_terms = len(zone.academic_years) * 3
    cal = SchoolCalendar(zone.academic_years)
    # one allocated child per programme and term (the count does not depend on how many)
    allocations = [
        (f"WLZ{i:09d}", p.partner_id, p.programme, ay, term)
        for i, p in enumerate(programmes)
        for ay in zone.academic_years
        for term in ("autumn", "spring", "summer")
    ]
    plans = partner_attendance_plan(allocations, cal, random.Random(1), programmes=programmes)
    keys = pf.template_keys(plans)
    assert len(keys) == n_programmes * n_terms == 76 * 6 == 456
    assert 400 <= len(keys) <= 600  # "~500 partner templates"
    assert set(keys) == {(a[2], a[3], a[4]) for a in allocations}
    world = SimpleNamespace(cal=cal, seed=20170901)
    later = pf.held_back_keys(plans, world, zone.held_back_templates, exclude=set())
    assert len(later) == zone.held_back_templates == 10
    assert {k[1:] for k in later} == {("2017/18", "summer")}
    assert len(keys) - len(later) + 1 + 1 == 448


def _register_mini_zone(monkeypatch) -> str:
    """The tiny world written the zone's way: fast templates, three held back."""
    name = "tiny_zone_templates"
    scale = dataclasses.replace(
        SCALES["tiny"], name=name, fast_partner_templates=True, held_back_templates=3
    )
    monkeypatch.setitem(SCALES, name, scale)
    return name


def test_zone_style_output_has_a_template_per_allocated_programme_term(monkeypatch, tmp_path):
    scale = _register_mini_zone(monkeypatch)
    out = tmp_path / "zone-like"
    m = generate(out, scale, SEED)
    with open(out / "reference" / "allocations.csv", encoding="utf-8", newline="") as fh:
        allocated = {(r["programme"], r["academic_year"], r["term"]) for r in csv.DictReader(fh)}
    templates = [f for f in m["files"] if f["kind"] == "partner_template"]
    # the templates as first returned (not the corrected re-send, not the stray workbook)
    originals = [f for f in templates if "programme" in f and "supersedes" not in f]
    # one template per allocated programme and term (every one has sessions) ...
    assert sorted((f["programme"], f["academic_year"], f["term"]) for f in originals) == sorted(
        allocated
    )
    # ... + the corrected re-send + the stray workbook; 3 of them held back
    assert len(templates) == len(allocated) + 1 + 1
    held = [f for f in templates if f["path"].startswith("incremental/")]
    assert len(held) == 3 == len(m["held_back"]["files"])
    on_disk = {p.relative_to(out).as_posix() for p in (out / "partners").rglob("*.xlsx")}
    assert len(on_disk) == len(templates) - 3
    assert {p.relative_to(out).as_posix() for p in (out / "incremental").rglob("*.xlsx")} == {
        f["path"] for f in held
    }
    last = m["academic_years"][-1]
    for f in held:
        assert f["path"] == f"incremental/{f['landing_path']}"
        assert f["landing_path"] not in on_disk  # arrives new: ingested, not a duplicate
        assert (f["academic_year"], f["term"], f["expected_status"]) == (last, "summer", "ingested")
        assert f["path"] not in {c["file"] for c in m["planted_cells"]}
    # the defects, the re-send and the stray are those of the sample-style generator
    assert len(m["planted_cells"]) == len(pf.DEFECTS)
    statuses = sorted(f["expected_status"] for f in templates if f["expected_status"] != "ingested")
    assert statuses == ["quarantined", "superseded"]
    # the held-back workbooks read back clean against the allocations and the names
    world = build_world(scale, SEED)
    names = {c.wlz_id: f"{c.forename} {c.surname}" for c in world.pop.children if c.wlz_id}
    for f in held:
        key = (f["programme"], f["academic_year"], f["term"])
        children = {a[0] for a in world.allocations if tuple(a[2:]) == key}
        read = read_template(out / f["path"], allocated=children, known_children=names)
        assert read.quarantine_reason is None and read.findings == []
        assert {r.wlz_id for r in read.marks} == children


def test_held_back_templates_skip_defects_and_the_resend(tiny_world):
    plans = plan_for_world(tiny_world, sub_rng(tiny_world.seed, "partner-plan"))
    latest = tiny_world.cal.academic_years[-1]
    defects = pf.assign_defects(plans, latest)
    resend = pf.resend_key(plans, latest, defects)
    summer = [k for k in pf.template_keys(plans) if k[1:] == (latest, "summer")]
    later = pf.held_back_keys(plans, tiny_world, len(summer), {*defects, resend})
    assert set(later) == set(summer) - {*defects, resend}
    assert pf.held_back_keys(plans, tiny_world, 0, set()) == []
    assert pf.held_back_keys(plans, tiny_world, 3, set()) == pf.held_back_keys(
        plans, tiny_world, 3, set()
    )


def test_zone_scale_writes_templates_fast_and_holds_ten_back():
    zone, sample = get_scale("zone"), get_scale("sample")
    assert zone.fast_partner_templates and zone.held_back_templates == 10
    # the committed sample keeps the writer + fill_template path (its bytes do not change)
    assert not sample.fast_partner_templates and sample.held_back_templates == 0
