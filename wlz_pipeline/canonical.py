"""The canonical fields of every source kind: the one list the raw layer, the readers
and the staging SQL agree on (sources.md).

Raw tables hold these fields as text, exactly as received (after header mapping), plus
lineage columns; staging SQL (``sql/staging/``) types and conforms them.
"""

from __future__ import annotations

#: Lineage columns carried by every raw row.
LINEAGE = ("_file_hash", "_row_number", "_profile", "_anchor_urn", "_ingested_at")

#: MIS extract kinds (sources.md §1) and their canonical fields.
MIS_KINDS: dict[str, tuple[str, ...]] = {
    "pupils": (
        "upn",
        "forename",
        "surname",
        "date_of_birth",
        "gender",
        "year_group",
        "fsm",
        "sen",
        "eal",
        "postcode",
        "extract_date",
    ),
    "attendance_marks": ("upn", "date", "session", "code"),
    "attendance_summary": (
        "upn",
        "period_start",
        "period_end",
        "possible_sessions",
        "attended_sessions",
        "authorised_absences",
        "unauthorised_absences",
        "attendance_pct",
    ),
    "attainment": ("upn", "subject", "assessed_on", "measure_type", "value"),
    "behaviour": ("upn", "incident_date", "incident_type", "points"),
}

#: Fields that hold a date, per MIS kind: used to work out the period a file covers.
MIS_DATE_FIELDS: dict[str, tuple[str, ...]] = {
    "pupils": ("extract_date",),
    "attendance_marks": ("date",),
    "attendance_summary": ("period_start", "period_end"),
    "attainment": ("assessed_on",),
    "behaviour": ("incident_date",),
}

#: Interaction logs (sources.md §4).
INTERACTION_FIELDS: tuple[str, ...] = (
    "interaction_id",
    "wlz_id",
    "lw_id",
    "started_at",
    "duration_minutes",
    "with_whom",
    "kind",
    "channel",
    "notes",
)

#: Survey returns: fixed columns; item columns come from config/survey.yaml.
SURVEY_FIXED_FIELDS: tuple[str, ...] = (
    "response_id",
    "submitted_at",
    "wlz_id",
    "upn",
    "anchor_urn",
    "informant",
)

#: Reference files (sources.md "Landing layout"): file stem -> columns, all required.
REFERENCE_FILES: dict[str, tuple[str, ...]] = {
    "anchors": ("urn", "name", "phase", "borough", "mis_profile"),
    "partners": ("partner_id", "name", "outcome_areas"),
    "link_workers": ("lw_id", "name", "anchor_urn", "start_date", "end_date"),
    "enrolments": (
        "wlz_id",
        "upn",
        "anchor_urn",
        "cohort",
        "identified_on",
        "approached_on",
        "consent_on",
        "declined_on",
        "lw_id",
        "exit_on",
        "exit_reason",
        "target_outcomes",
    ),
    "allocations": ("wlz_id", "partner_id", "programme", "academic_year", "term"),
    "calendar": ("academic_year", "term", "half_term", "start_date", "end_date"),
    "imd": ("postcode", "lsoa_code", "imd_decile"),
}


#: Returned partner templates (sources.md §2): one raw row per child and session, per
#: outcome row and per feedback row, with the About sheet's identity on each.
PARTNER_KEYS: tuple[str, ...] = (
    "partner_id",
    "programme",
    "academic_year",
    "term",
    "sheet",
    "cell",
)
PARTNER_TABLES: dict[str, tuple[str, ...]] = {
    "partner_marks": PARTNER_KEYS
    + ("wlz_id", "child_name", "session_date", "planned_minutes", "mark", "engagement"),
    "partner_outcomes": PARTNER_KEYS
    + (
        "wlz_id",
        "measure",
        "pre_score",
        "pre_date",
        "post_score",
        "post_date",
        "scale_min",
        "scale_max",
        "higher_is_better",
    ),
    "partner_feedback": PARTNER_KEYS + ("wlz_id", "enjoyment", "usefulness", "would_recommend"),
}


def raw_table(kind: str) -> str:
    """The raw table a canonical kind lands in (``raw.<kind>``)."""
    return f"raw.{kind}"
