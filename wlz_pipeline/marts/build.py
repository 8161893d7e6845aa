"""The marts layer: SQL models (``sql/marts/*.sql``) and the Python-computed tables
that apply the scoring package, built in dependency order without Dagster.

``models.build_all`` knows SQL models only; a SQL mart that reads a Python table (e.g.
``marts.survey_scores``) needs that table first, so tests and offline runs use
``build_marts`` (or ``build_everything``). Dagster runs the same functions as assets
(``assets/scores.py``), wired by the same declared inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import duckdb

from wlz_pipeline.models import Model, build_all, dependency_order, discover, run_model


@dataclass(frozen=True)
class PythonMart:
    table: str  # marts.<name>
    inputs: tuple[str, ...]  # tables read (schema.name)
    build: Callable[[duckdb.DuckDBPyConnection], dict[str, object]]
    description: str
    #: inputs of which it reads only the rows a condition keeps (table -> SQL condition):
    #: their version is those rows' (versions.rows_version), so a change elsewhere in
    #: the table does not rebuild it; tests/marts/test_python_mart_inputs.py builds it
    #: from those rows alone
    rows: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.table.split(".", 1)[1]


def python_marts() -> list[PythonMart]:
    from wlz_pipeline.marts import attainment, matching, settings, survey

    return [
        PythonMart(
            "marts.risk_rules",
            (),
            settings.build_rules,
            "One row per risk factor (rules.md §6): kind, comparison, threshold, weight, "
            "stages and where the rule comes from, from config/risk.yaml and the scoring "
            "config.",
        ),
        PythonMart(
            "marts.risk_parameters",
            (),
            settings.build_parameters,
            "Scalar settings of config/risk.yaml (windows, shares, caliper, stages, survey "
            "terms) and the rule version, for the SQL marts to join to.",
        ),
        PythonMart(
            "marts.attainment_value_risk",
            ("staging.attainment",),
            attainment.build,
            "Attainment risk of each distinct (anchor, measure type, value), by "
            "scoring.attainment_risk (rules.md §3).",
        ),
        PythonMart(
            "marts.survey_scores",
            (
                "staging.survey_responses",
                "staging.survey_answers",
                "staging.enrolments",
                "staging.pupils",
                "marts.wave_dates",
            ),
            survey.build,
            "Every survey response scored (SDQ scales with bands, WEMWBS, each construct), "
            "with the response that counts per child, wave and measure (rules.md §5).",
        ),
        PythonMart(
            "marts.comparison_matches",
            ("marts.risk_profile", "marts.identification", "staging.enrolments"),
            matching.build_matches,
            "Each enrolled child's 1:1 comparison child (rules.md §13): greedy, exact on "
            "gender and year group, nearest baseline risk_count then need_score, within "
            "the caliper; unmatched children with the reason.",
            rows=dict(matching.BASELINE_ROWS),
        ),
        PythonMart(
            "marts.comparison_balance",
            (
                "marts.comparison_matches",
                "marts.risk_profile",
                "marts.risk_factors",
                "marts.risk_rules",
                "marts.identification",
                "staging.enrolments",
            ),
            matching.build_balance,
            "Standardised mean differences of the matching variables and baseline outcomes, "
            "before and after matching (rules.md §13).",
            rows={**matching.BASELINE_ROWS, **matching.OUTCOME_ROWS},
        ),
    ]


Node = Model | PythonMart


def _inputs(node: Node) -> set[str]:
    return set(node.inputs()) if isinstance(node, Model) else set(node.inputs)


def in_order(nodes: list[Node]) -> list[Node]:
    """SQL and Python marts sorted so that each comes after the marts it reads."""
    by_table = {n.table: n for n in nodes}
    order = dependency_order(sorted(by_table), lambda t: sorted(_inputs(by_table[t])), "marts")
    return [by_table[t] for t in order]


#: The marts of the scoring and risk layer (issue 5), e.g. for building only them.
RISK_MARTS = (
    "marts.school_attendance",
    "marts.school_attendance_year",
    "marts.risk_profile",
    "marts.identification",
    "marts.identification_differences",
    "marts.risk_change",
    "marts.risk_change_summary",
    "marts.comparison_matches",
    "marts.comparison_balance",
    "marts.summary_constructs",
)


def closure(nodes: list[Node], targets: Iterable[str]) -> list[Node]:
    """The nodes ``targets`` need (themselves included)."""
    by_table = {n.table: n for n in nodes}
    keep: set[str] = set()
    todo = [t for t in targets]
    while todo:
        t = todo.pop()
        if t in keep or t not in by_table:
            continue
        keep.add(t)
        todo.extend(_inputs(by_table[t]))
    return [n for n in nodes if n.table in keep]


def build_marts(
    con: duckdb.DuckDBPyConnection, targets: Iterable[str] | None = None
) -> dict[str, dict[str, object]]:
    """Build every mart (SQL and Python) in dependency order, or only what ``targets``
    (``marts.x`` names) need; staging must exist."""
    nodes: list[Node] = [*discover("marts"), *python_marts()]
    if targets is not None:
        nodes = closure(nodes, targets)
    out: dict[str, dict[str, object]] = {}
    for node in in_order(nodes):
        out[node.table] = run_model(con, node) if isinstance(node, Model) else node.build(con)
    return out


def build_everything(
    con: duckdb.DuckDBPyConnection, targets: Iterable[str] | None = None
) -> dict[str, dict[str, object]]:
    """Staging (``models.build_all``) then every mart (or only what ``targets`` need)."""
    out: dict[str, dict[str, object]] = dict(build_all(con, ("staging",)))
    out.update(build_marts(con, targets))
    return out
