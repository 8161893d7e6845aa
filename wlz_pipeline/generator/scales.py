"""The scale table: how big each synthetic Zone is.

``sample`` is the committed ``data/sample/`` (three showcase anchors); ``zone`` is the
benchmark Zone of spec/performance.md (108 anchors, ~60,000 pupils); ``tiny`` is a
cut-down sample for fast tests. Every scale has the three showcase anchors first
(URNs 140101 nursery/bromcom, 140102 primary/sims, 140103 secondary/arbor), which
carry the special file properties and the deliberately bad rows and files.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    #: number of anchors by phase (showcase anchors included)
    n_nursery: int
    n_primary: int
    n_secondary: int
    #: of the nurseries, how many are children's centres (N1/N2 only)
    n_childrens_centres: int
    #: mean pupils per year group, by phase
    nursery_per_year: int
    primary_per_year: int
    secondary_per_year: int
    #: whether anchor sizes vary around the mean (zone) or are exactly the mean
    vary_sizes: bool
    #: enrolled (consented) children per cohort, as a share of screened children
    enrol_fraction: float
    #: share of screened children returning the autumn whole-school survey
    survey_response_rate: float
    #: session marks for every anchor in the last academic year (zone), or only for
    #: the showcase primary (sample)
    marks_all_anchors: bool
    #: multiplier on optional LW interactions (one-to-ones, groups, parent contacts)
    interaction_intensity: float
    #: link workers before the one replacement (each covers a group of anchors)
    n_link_workers: int
    #: partner charities (the first 12 are the sample's)
    n_partners: int
    #: include Westminster (LA 213) among the boroughs
    westminster: bool
    academic_years: tuple[str, ...] = ("2016/17", "2017/18")
    #: write the returned partner templates with :mod:`.template_stamp` (the writer's
    #: output without openpyxl repeating every child row; zone: ~21,000 rows)
    fast_partner_templates: bool = False
    #: templates of the last term written under ``incremental/`` instead of ``partners/``:
    #: the "ten returned partner templates" of the incremental night (performance.md)
    held_back_templates: int = 0


SCALES: dict[str, Scale] = {
    "tiny": Scale(
        name="tiny",
        n_nursery=1,
        n_primary=1,
        n_secondary=1,
        n_childrens_centres=0,
        nursery_per_year=6,
        primary_per_year=9,
        secondary_per_year=11,
        vary_sizes=False,
        enrol_fraction=0.12,
        survey_response_rate=1.0,
        marks_all_anchors=False,
        interaction_intensity=1.0,
        n_link_workers=3,
        n_partners=12,
        westminster=False,
    ),
    "sample": Scale(
        name="sample",
        n_nursery=1,
        n_primary=1,
        n_secondary=1,
        n_childrens_centres=0,
        nursery_per_year=20,
        primary_per_year=43,
        secondary_per_year=48,
        vary_sizes=False,
        enrol_fraction=0.10,
        survey_response_rate=1.0,
        marks_all_anchors=False,
        interaction_intensity=1.0,
        n_link_workers=3,
        n_partners=12,
        westminster=False,
    ),
    "zone": Scale(
        name="zone",
        n_nursery=20,
        n_primary=68,
        n_secondary=20,
        n_childrens_centres=8,
        nursery_per_year=20,
        primary_per_year=60,
        secondary_per_year=300,
        vary_sizes=True,
        enrol_fraction=0.025,
        survey_response_rate=0.45,
        marks_all_anchors=True,
        interaction_intensity=4.6,
        n_link_workers=39,
        n_partners=40,
        westminster=True,
        fast_partner_templates=True,
        held_back_templates=10,
    ),
}


def get_scale(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}") from None
