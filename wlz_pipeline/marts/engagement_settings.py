"""``config/engagement.yaml`` as typed settings, and the values the engagement SQL uses.

The engagement marts (rules.md §9-12) read their thresholds from one table,
``marts.engagement_settings``, built by ``sql/marts/engagement_settings.sql``. That model
is rendered with :func:`sql_values` (exposed to the SQL templates as ``engagement()`` by
``wlz_pipeline.models._context``): every value arrives in SQL as a literal made here from
validated config, never from data.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from wlz_pipeline.config import load_yaml
from wlz_pipeline.scoring._config import StrictModel, load_settings

CONFIG_FILE = "engagement.yaml"

#: The interaction vocabulary of the case-recording form (sources.md §4). Columns of
#: engagement_weekly / engagement_term are named after these, so they are not config.
KINDS = ("check_in", "formal_review", "one_to_one", "group", "contact_attempt", "other")
WITH_WHOM = ("child", "parent_carer", "professional")
DOSAGE_BANDS = ("low", "medium", "high")

Kind = Literal["check_in", "formal_review", "one_to_one", "group", "contact_attempt", "other"]
WithWhom = Literal["child", "parent_carer", "professional"]


class _Interactions(StrictModel):
    checkin_kinds: list[Kind] = Field(min_length=1)
    checkin_with_whom: list[WithWhom] = Field(min_length=1)
    review_kinds: list[Kind] = Field(min_length=1)
    support_kinds: list[Kind] = Field(default_factory=list)


class _CoreCommitment(StrictModel):
    checkin_share_min: float = Field(gt=0, le=1)
    reviews_per_half_term: int = Field(ge=1)
    support_hours_min: float = Field(gt=0)


class _Alerts(StrictModel):
    as_of_date: str = "latest_data"
    missed_sessions_in_a_row: int = Field(ge=1)
    no_checkin_term_time_days: int = Field(ge=1)
    attendance_below: float = Field(gt=0, le=1)
    attendance_min_possible_sessions: int = Field(ge=1)
    partner_return_grace_days: int = Field(ge=0)

    @field_validator("as_of_date", mode="before")
    @classmethod
    def _as_of(cls, v: object) -> str:
        if isinstance(v, date):
            return v.isoformat()
        text = str(v).strip()
        if text in ("latest_data", "today"):
            return text
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError("as_of_date must be latest_data, today or a date YYYY-MM-DD")
        date.fromisoformat(text)  # a real date
        return text


class _Band(StrictModel):
    min_hours: float = Field(ge=0)
    max_hours: float | None = None


class _ReportCard(StrictModel):
    retained_last_sessions: int = Field(ge=1)
    completed_last_sessions: int = Field(ge=1)
    dosage_bands: dict[str, _Band]

    @model_validator(mode="after")
    def _bands(self) -> _ReportCard:
        if list(self.dosage_bands) != list(DOSAGE_BANDS):
            raise ValueError(f"dosage_bands must be exactly {list(DOSAGE_BANDS)}, in order")
        bands = list(self.dosage_bands.values())
        if bands[0].min_hours != 0:
            raise ValueError("dosage_bands: the first band must start at 0 hours")
        for lo, hi in zip(bands, bands[1:], strict=False):
            if lo.max_hours is None or lo.max_hours != hi.min_hours:
                raise ValueError("dosage_bands: each band must end where the next begins")
        if bands[-1].max_hours is not None:
            raise ValueError("dosage_bands: the last band has no upper bound (null)")
        return self


class EngagementConfig(StrictModel):
    version: int
    interactions: _Interactions
    core_commitment: _CoreCommitment
    alerts: _Alerts
    partner_report_card: _ReportCard


def load() -> EngagementConfig:
    return load_settings(CONFIG_FILE, EngagementConfig)


def rule_version(cfg: EngagementConfig | None = None) -> str:
    """``<version>+<hash of config/engagement.yaml's content>``."""
    cfg = cfg or load()
    digest = hashlib.sha256(
        json.dumps(load_yaml(CONFIG_FILE), sort_keys=True, default=str).encode()
    ).hexdigest()
    return f"{cfg.version}+{digest[:12]}"


def _lit(value: object) -> str:
    """A DuckDB literal for a value from validated config (never from data files)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"CAST({value!r} AS DOUBLE)"
    if isinstance(value, (list, tuple)):
        return "CAST([" + ", ".join(_lit(v) for v in value) + "] AS VARCHAR[])"
    return "'" + str(value).replace("'", "''") + "'"


def sql_values(cfg: EngagementConfig | None = None) -> dict[str, object]:
    """What ``sql/marts/engagement_settings.sql`` renders: SQL literals by setting name,
    plus the interaction vocabularies and dosage band names (for column loops)."""
    cfg = cfg or load()
    i, c, a, r = cfg.interactions, cfg.core_commitment, cfg.alerts, cfg.partner_report_card
    as_of_mode = a.as_of_date if a.as_of_date in ("latest_data", "today") else "fixed"
    values: dict[str, object] = {
        "rule_version": _lit(rule_version(cfg)),
        "checkin_kinds": _lit(i.checkin_kinds),
        "checkin_with_whom": _lit(i.checkin_with_whom),
        "review_kinds": _lit(i.review_kinds),
        "support_kinds": _lit(i.support_kinds),
        "checkin_share_min": _lit(float(c.checkin_share_min)),
        "reviews_per_half_term": _lit(c.reviews_per_half_term),
        "support_hours_min": _lit(float(c.support_hours_min)),
        "as_of_mode": _lit(as_of_mode),
        "as_of_fixed": f"DATE {_lit(a.as_of_date)}" if as_of_mode == "fixed" else "NULL",
        "missed_sessions_in_a_row": _lit(a.missed_sessions_in_a_row),
        "no_checkin_term_time_days": _lit(a.no_checkin_term_time_days),
        "attendance_below": _lit(float(a.attendance_below)),
        "attendance_min_possible_sessions": _lit(a.attendance_min_possible_sessions),
        "partner_return_grace_days": _lit(a.partner_return_grace_days),
        "retained_last_sessions": _lit(r.retained_last_sessions),
        "completed_last_sessions": _lit(r.completed_last_sessions),
    }
    for name, band in r.dosage_bands.items():
        values[f"dosage_{name}_min_hours"] = _lit(float(band.min_hours))
        values[f"dosage_{name}_max_hours"] = (
            "CAST(NULL AS DOUBLE)" if band.max_hours is None else _lit(float(band.max_hours))
        )
    values["kinds"] = list(KINDS)
    values["with_whom"] = list(WITH_WHOM)
    values["dosage_bands"] = list(DOSAGE_BANDS)
    return values
