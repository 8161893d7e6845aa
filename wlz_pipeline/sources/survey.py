"""Survey returns ("My Voice" exports, sources.md §3)."""

from __future__ import annotations

from wlz_pipeline.canonical import SURVEY_FIXED_FIELDS
from wlz_pipeline.config import load_yaml
from wlz_pipeline.sources.tabular import FixedLayout, FixedRead, fixed_layout


def item_columns() -> list[str]:
    """Every survey item column config/survey.yaml defines, in a stable order."""
    cols: list[str] = []
    for name, spec in load_yaml("survey.yaml")["items"].items():
        if "prefix" in spec:
            cols.extend(f"{spec['prefix']}{i}" for i in range(1, int(spec["count"]) + 1))
        else:
            cols.append(name)
    return cols


def survey_layout(data: bytes) -> FixedLayout:
    """The header of a survey export (``fixed_layout`` with the survey's columns)."""
    return fixed_layout(
        data,
        fields=SURVEY_FIXED_FIELDS + tuple(item_columns()),
        required=("response_id", "submitted_at", "anchor_urn", "informant"),
        any_of=(("wlz_id", "upn"),),
        what="survey export",
    )


def read_survey(data: bytes) -> FixedRead:
    return survey_layout(data).read()
