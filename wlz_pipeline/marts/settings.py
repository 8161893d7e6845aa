"""``config/risk.yaml`` as typed settings, and the factor list derived from it.

The risk factors of rules.md §6 are derived, not listed by hand: the context factors,
attendance and behaviour, one attainment factor per subject of any stage, the SDQ
scales, WEMWBS and every construct of ``config/survey.yaml``. Each factor knows its kind
(context/outcome), the comparison that makes it true, its weight, the stages it applies
to, and where its threshold comes from. The warehouse gets the same list as
``marts.risk_rules`` (and the scalar settings as ``marts.risk_parameters``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from wlz_pipeline.config import load_yaml
from wlz_pipeline.scoring._config import StrictModel, load_settings
from wlz_pipeline.scoring.constructs import _config as _survey_config
from wlz_pipeline.scoring.sdq import BANDED_SCALES
from wlz_pipeline.scoring.wemwbs import _config as _wemwbs_config

CONFIG_FILE = "risk.yaml"
#: Config files whose content decides a risk profile (hashed into the rule version).
RULE_FILES = (
    "risk.yaml",
    "sdq_bands.yaml",
    "wellbeing.yaml",
    "survey.yaml",
    "attainment.yaml",
    "attendance_codes.yaml",
)
YEAR_GROUPS = ("N1", "N2", "R", *(str(i) for i in range(1, 14)))
WAVES = ("autumn", "summer")
TERMS = ("autumn", "spring", "summer")
GROUPS = ("context", "attendance", "behaviour", "attainment", "sdq", "wemwbs", "construct")


class _Waves(StrictModel):
    survey_terms: dict[Literal["autumn", "summer"], list[Literal["autumn", "spring", "summer"]]]

    @model_validator(mode="after")
    def _check(self) -> _Waves:
        if set(self.survey_terms) != set(WAVES):
            raise ValueError(f"survey_terms needs exactly the waves {list(WAVES)}")
        seen = [t for terms in self.survey_terms.values() for t in terms]
        if len(seen) != len(set(seen)):
            raise ValueError("a term belongs to two waves' survey windows")
        return self


class _Attendance(StrictModel):
    wlz_risk_below: float = Field(gt=0, le=1)
    persistent_absence_below: float = Field(gt=0, le=1)


class _Behaviour(StrictModel):
    window_days: int = Field(ge=1, le=366)
    at_risk_min_incidents: int = Field(ge=1)


class _Context(StrictModel):
    imd_decile_max: int = Field(ge=1, le=10)
    sen_codes: list[Literal["K", "E"]] = Field(min_length=1)


class _Stage(StrictModel):
    year_groups: list[str] = Field(min_length=1)
    subjects: list[str] = Field(min_length=1)


class _Survey(StrictModel):
    sdq_scales: list[str] = Field(min_length=1)
    sdq_stages: list[str]
    wemwbs_stages: list[str]
    construct_stages: list[str]

    @model_validator(mode="after")
    def _check(self) -> _Survey:
        unknown = set(self.sdq_scales) - set(BANDED_SCALES)
        if unknown:
            raise ValueError(f"sdq_scales: unknown scale(s) {sorted(unknown)}")
        return self


class _Weights(StrictModel):
    outcome: float = Field(ge=0)
    context: float = Field(ge=0)
    factors: dict[str, float] = Field(default_factory=dict)


class _Identification(StrictModel):
    share: float = Field(gt=0, le=1)
    min_outcome_factors: int = Field(ge=0)
    exclude_sen: list[Literal["N", "K", "E"]]
    statutory_support_upns: list[str] = Field(default_factory=list)


class _Caliper(StrictModel):
    risk_count: int = Field(ge=0)
    need_score: float = Field(ge=0)


class _Comparison(StrictModel):
    caliper: _Caliper
    exact: list[Literal["gender", "year_group"]]


class _Summary(StrictModel):
    groups: list[Literal["attendance", "attainment", "behaviour", "sdq", "wemwbs", "construct"]]
    as_one: dict[str, str] = Field(default_factory=dict)


class RiskConfig(StrictModel):
    version: int
    waves: _Waves
    attendance: _Attendance
    behaviour: _Behaviour
    context: _Context
    stages: dict[str, _Stage]
    survey: _Survey
    weights: _Weights
    identification: _Identification
    comparison: _Comparison
    summary: _Summary

    @model_validator(mode="after")
    def _check(self) -> RiskConfig:
        seen: list[str] = [yg for s in self.stages.values() for yg in s.year_groups]
        if sorted(seen) != sorted(YEAR_GROUPS):
            raise ValueError(f"stages must list each year group {list(YEAR_GROUPS)} exactly once")
        for where, stages in (
            ("survey.sdq_stages", self.survey.sdq_stages),
            ("survey.wemwbs_stages", self.survey.wemwbs_stages),
            ("survey.construct_stages", self.survey.construct_stages),
        ):
            unknown = set(stages) - set(self.stages)
            if unknown:
                raise ValueError(f"{where}: unknown stage(s) {sorted(unknown)}")
        unknown_groups = set(self.summary.as_one) - set(self.summary.groups)
        if unknown_groups:
            raise ValueError(f"summary.as_one: group(s) {sorted(unknown_groups)} not in groups")
        return self


def load() -> RiskConfig:
    return load_settings(CONFIG_FILE, RiskConfig)


# --------------------------------------------------------------------------- factors


@dataclass(frozen=True)
class Factor:
    """One risk factor of rules.md §6 (a column ``factor`` of risk_profile)."""

    factor: str
    kind: str  # context | outcome
    group: str  # context | attendance | behaviour | attainment | sdq | wemwbs | construct
    measure: str  # the input: subject, SDQ scale, construct, attendance_rate ...
    op: str | None  # comparison that makes the factor true: value op threshold
    threshold: float | None  # None when it depends on the child (SDQ informant, measure type)
    threshold_rule: str  # the rule in words
    weight: float
    stages: tuple[str, ...]  # stages the factor applies to
    summary_construct: str | None
    source: str  # where the rule and its default come from
    sort_order: int


def _sdq_rule(scale: str) -> tuple[str, str]:
    if scale == "prosocial":
        return "<=", "band slightly lowered or worse (score <= the informant's cut-off)"
    return ">=", "band slightly raised or worse (score >= the informant's cut-off)"


def factors(cfg: RiskConfig | None = None) -> list[Factor]:
    """Every risk factor, in the column order of risk_profile."""
    cfg = cfg or load()
    all_stages = tuple(cfg.stages)
    out: list[Factor] = []

    def weight(name: str, kind: str) -> float:
        default = cfg.weights.outcome if kind == "outcome" else cfg.weights.context
        return cfg.weights.factors.get(name, default)

    def summary(group: str, name: str) -> str | None:
        if group not in cfg.summary.groups:
            return None
        return cfg.summary.as_one.get(group, name)

    def add(name, kind, group, measure, op, threshold, rule, stages, source):  # noqa: ANN001
        out.append(
            Factor(
                factor=name,
                kind=kind,
                group=group,
                measure=measure,
                op=op,
                threshold=threshold,
                threshold_rule=rule,
                weight=weight(name, kind),
                stages=tuple(stages),
                summary_construct=summary(group, name) if kind == "outcome" else None,
                source=source,
                sort_order=len(out) + 1,
            )
        )

    ctx = cfg.context
    add(
        "fsm",
        "context",
        "context",
        "fsm",
        "==",
        1.0,
        "eligible for free school meals",
        all_stages,
        "rules.md §6; school register (pupils.fsm)",
    )
    add(
        "imd_bottom_20",
        "context",
        "context",
        "imd_decile",
        "<=",
        float(ctx.imd_decile_max),
        f"IMD decile of the home postcode's LSOA <= {ctx.imd_decile_max}",
        all_stages,
        "rules.md §6; config/risk.yaml context.imd_decile_max; IMD 2019 (domain_facts §7)",
    )
    add(
        "sen",
        "context",
        "context",
        "sen",
        "in",
        None,
        f"SEN status in {'/'.join(ctx.sen_codes)}",
        all_stages,
        "rules.md §6; config/risk.yaml context.sen_codes",
    )
    add(
        "attendance_below_96",
        "outcome",
        "attendance",
        "attendance_rate",
        "<",
        cfg.attendance.wlz_risk_below,
        f"attendance rate < {cfg.attendance.wlz_risk_below:g} (autumn: previous academic "
        "year, else the current year to the end of the first half-term; summer: the year "
        "ending)",
        all_stages,
        "rules.md §1-2; config/risk.yaml attendance.wlz_risk_below",
    )
    add(
        "behaviour_5_plus",
        "outcome",
        "behaviour",
        "incidents",
        ">=",
        float(cfg.behaviour.at_risk_min_incidents),
        f"{cfg.behaviour.at_risk_min_incidents} or more incidents in the "
        f"{cfg.behaviour.window_days}-day window (autumn: first days of the year; summer: "
        "last days)",
        all_stages,
        "rules.md §4; config/risk.yaml behaviour",
    )
    subjects: dict[str, list[str]] = {}
    for stage, spec in cfg.stages.items():
        for subject in spec.subjects:
            subjects.setdefault(subject, []).append(stage)
    for subject, stages in subjects.items():
        add(
            f"attainment_{subject}",
            "outcome",
            "attainment",
            subject,
            None,
            None,
            "latest assessment on or before the wave's cut-off is at risk for its measure "
            "type (percentile < 20, scaled < 100, TA below expected, GCSE < 4, EYFS "
            "emerging)",
            stages,
            "rules.md §3; config/attainment.yaml",
        )
    for scale in cfg.survey.sdq_scales:
        op, rule = _sdq_rule(scale)
        add(
            f"sdq_{scale}",
            "outcome",
            "sdq",
            scale,
            op,
            None,
            rule,
            cfg.survey.sdq_stages,
            "rules.md §5; config/sdq_bands.yaml (per informant)",
        )
    wem = _wemwbs_config()
    add(
        "wemwbs_low",
        "outcome",
        "wemwbs",
        "wemwbs",
        "<=",
        float(wem.low_wellbeing_max),
        f"WEMWBS total <= {wem.low_wellbeing_max:g} (all 14 items answered)",
        cfg.survey.wemwbs_stages,
        "rules.md §5; config/wellbeing.yaml",
    )
    for name, construct in _survey_config().constructs.items():
        add(
            name,
            "outcome",
            "construct",
            name,
            construct.at_risk.op,
            float(construct.at_risk.threshold),
            f"{construct.scoring} of {', '.join(construct.items)} "
            f"{construct.at_risk.op} {construct.at_risk.threshold:g}",
            cfg.survey.construct_stages,
            "rules.md §5; config/survey.yaml",
        )
    names = [f.factor for f in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"two risk factors share a name: {sorted(dupes)}")
    unknown = set(cfg.weights.factors) - set(names)
    if unknown:
        raise ValueError(f"config/risk.yaml weights.factors: unknown factor(s) {sorted(unknown)}")
    return out


def rule_version(cfg: RiskConfig | None = None) -> str:
    """``<version>+<hash>``: the config version and a hash of every rule file's content."""
    cfg = cfg or load()
    digest = hashlib.sha256()
    for name in RULE_FILES:
        digest.update(name.encode())
        digest.update(json.dumps(load_yaml(name), sort_keys=True, default=str).encode())
    return f"{cfg.version}+{digest.hexdigest()[:12]}"


def parameter_rows(cfg: RiskConfig | None = None) -> list[tuple]:
    """``(parameter, key, number, text, source)`` rows for ``marts.risk_parameters``."""
    cfg = cfg or load()
    rows: list[tuple] = [
        (
            "rule_version",
            None,
            None,
            rule_version(cfg),
            "config/risk.yaml version + hash of " + ", ".join(RULE_FILES),
        ),
        (
            "attendance_wlz_risk_below",
            None,
            cfg.attendance.wlz_risk_below,
            None,
            "rules.md §2 (WLZ risk threshold)",
        ),
        (
            "attendance_persistent_absence_below",
            None,
            cfg.attendance.persistent_absence_below,
            None,
            "rules.md §2; DfE persistent absence (domain_facts §4)",
        ),
        ("behaviour_window_days", None, cfg.behaviour.window_days, None, "rules.md §4"),
        (
            "behaviour_at_risk_min_incidents",
            None,
            cfg.behaviour.at_risk_min_incidents,
            None,
            "rules.md §4",
        ),
        ("imd_decile_max", None, cfg.context.imd_decile_max, None, "rules.md §6"),
        ("identification_share", None, cfg.identification.share, None, "rules.md §7"),
        (
            "identification_min_outcome_factors",
            None,
            cfg.identification.min_outcome_factors,
            None,
            "rules.md §7",
        ),
        ("caliper", "risk_count", cfg.comparison.caliper.risk_count, None, "rules.md §13"),
        ("caliper", "need_score", cfg.comparison.caliper.need_score, None, "rules.md §13"),
    ]
    rows += [("sen_code", c, None, c, "rules.md §6") for c in cfg.context.sen_codes]
    rows += [
        ("exclude_sen", c, None, c, "rules.md §7 (EHC plan)")
        for c in cfg.identification.exclude_sen
    ]
    rows += [
        ("statutory_support_upn", u.strip().upper(), None, u.strip().upper(), "rules.md §7")
        for u in cfg.identification.statutory_support_upns
    ]
    for wave, terms in cfg.waves.survey_terms.items():
        rows += [("survey_term", t, None, wave, "rules.md §1 (waves)") for t in terms]
    for stage, spec in cfg.stages.items():
        rows += [("stage", yg, None, stage, "config/risk.yaml stages") for yg in spec.year_groups]
    return rows


def rule_rows(cfg: RiskConfig | None = None) -> list[tuple]:
    """Rows of ``marts.risk_rules`` in column order (see ``RULE_COLUMNS``)."""
    return [
        (
            f.factor,
            f.kind,
            f.group,
            f.measure,
            f.op,
            f.threshold,
            f.threshold_rule,
            f.weight,
            list(f.stages),
            f.summary_construct,
            f.source,
            f.sort_order,
        )
        for f in factors(cfg)
    ]


RULE_COLUMNS = (
    ("factor", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("factor_group", "VARCHAR"),
    ("measure", "VARCHAR"),
    ("op", "VARCHAR"),
    ("threshold", "DOUBLE"),
    ("threshold_rule", "VARCHAR"),
    ("weight", "DOUBLE"),
    ("stages", "VARCHAR[]"),
    ("summary_construct", "VARCHAR"),
    ("source", "VARCHAR"),
    ("sort_order", "INTEGER"),
)
PARAMETER_COLUMNS = (
    ("parameter", "VARCHAR"),
    ("key", "VARCHAR"),
    ("number", "DOUBLE"),
    ("text", "VARCHAR"),
    ("source", "VARCHAR"),
)


def build_rules(con) -> dict[str, object]:  # noqa: ANN001
    """Write ``marts.risk_rules`` (one row per factor) from config."""
    from wlz_pipeline.marts.tables import write_table

    rows = rule_rows()
    return {"rows": write_table(con, "marts.risk_rules", RULE_COLUMNS, rows, ("sort_order",))}


def build_parameters(con) -> dict[str, object]:  # noqa: ANN001
    """Write ``marts.risk_parameters`` (scalar settings, stages, survey terms) from config."""
    from wlz_pipeline.marts.tables import write_table

    rows = parameter_rows()
    n = write_table(
        con, "marts.risk_parameters", PARAMETER_COLUMNS, rows, ("parameter", "key", "text")
    )
    return {"rows": n, "rule_version": next(r[3] for r in rows if r[0] == "rule_version")}
