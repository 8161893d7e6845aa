"""The risk_profile expectation suite, generated from the factor list of config.

``expectations/risk_profile.json`` is a plain GX suite file (readable and editable
without Python); this module writes it, so that a factor added to config gets its
checks. A test fails when the file and the config disagree. Regenerate with::

    python -m wlz_pipeline.marts.suites > expectations/risk_profile.json

Every query selects key columns only (anchor, academic year, wave), never a UPN.
"""

from __future__ import annotations

import json

from wlz_pipeline.marts.settings import factors

KEY = "b.anchor_urn, b.academic_year, b.wave"
#: GX fills {batch} with "(query) AS subselect": wrap it to give it our own alias
B = "(select * from {batch}) as b"
OPS = (("<", "<"), ("<=", "<="), (">", ">"), (">=", ">="), ("==", "="), ("!=", "<>"))


def _rows(query: str, description: str) -> dict:
    return {
        "type": "unexpected_rows_expectation",
        "kwargs": {"unexpected_rows_query": query},
        "severity": "critical",
        "description": description,
    }


def risk_profile_suite() -> dict:
    fs = factors()
    outcome = [f.factor for f in fs if f.kind == "outcome"]
    exp: list[dict] = [
        {
            "type": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["anchor_urn", "upn", "academic_year", "wave"]},
            "severity": "critical",
            "description": "one row per child (anchor and UPN), academic year and wave",
        }
    ]
    for c in (
        "anchor_urn",
        "upn",
        "academic_year",
        "wave",
        "risk_count",
        "need_score",
        "rule_version",
    ):
        exp.append(
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": c},
                "severity": "critical",
                "description": f"{c} is always known",
            }
        )
    exp.append(
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "wave", "value_set": ["autumn", "summer"]},
            "severity": "critical",
            "description": "the two waves of rules.md §1",
        }
    )
    exp.append(
        _rows(
            "select p.anchor_urn, p.academic_year, w.wave from staging.pupils as p "
            "join marts.wave_dates as w on w.academic_year = p.academic_year "
            "where p.upn is not null and not exists (select 1 from (select * from {batch}) as b "
            "where b.anchor_urn = p.anchor_urn and b.upn = p.upn "
            "and b.academic_year = p.academic_year and b.wave = w.wave)",
            "every screened child (a pupil on a register in the year) has a row for each wave",
        )
    )
    exp.append(
        _rows(
            f"select {KEY} from {B} where b.risk_count <> "
            + " + ".join(f"coalesce(b.{f}::integer, 0)" for f in outcome),
            "risk_count = the number of true outcome factor columns (rules.md §6)",
        )
    )
    exp.append(
        _rows(
            f"select {KEY} from {B} where b.risk_count > b.outcome_factors_known "
            "or b.outcome_factors_known < 0 or b.outcome_factors_unknown < 0",
            "risk_count counts known factors only; counts are never negative",
        )
    )
    exp.append(
        _rows(
            f"select {KEY} from {B} left join (select anchor_urn, upn, academic_year, "
            "wave, sum(weight) filter (where at_risk) as weighted from marts.risk_factors "
            "group by all) as f on f.anchor_urn = b.anchor_urn and f.upn = b.upn "
            "and f.academic_year = b.academic_year and f.wave = b.wave "
            "where abs(b.need_score - coalesce(f.weighted, 0)) > 0.000001",
            "need_score = the weighted sum of the true factors (weights: marts.risk_rules, "
            "config/risk.yaml)",
        )
    )
    for f in fs:
        n = f.factor
        if n == "fsm":
            exp.append(
                _rows(
                    f"select {KEY} from {B} where b.fsm is distinct from b.fsm_value",
                    "fsm is true exactly when the register says the child is eligible for free "
                    "school meals",
                )
            )
        elif n == "sen":
            exp.append(
                _rows(
                    f"select {KEY} from {B} where (b.sen_value is not null and b.sen "
                    "is distinct from (select list_contains(list(key), b.sen_value) "
                    "from marts.risk_parameters where parameter = 'sen_code')) "
                    "or (b.sen_value is null and b.sen is not null)",
                    "sen is true exactly when the SEN status is one of the configured codes",
                )
            )
        elif f.group == "attainment":
            exp.append(
                _rows(
                    f"select {KEY} from {B} where b.{n} is not null "
                    f"and (b.{n}_value is null or b.{n}_rule is null)",
                    f"{n}: a known factor has its assessment result and the rule that decided it",
                )
            )
        else:
            cases = " ".join(
                f"when '{op}' then b.{n}_value {sql} b.{n}_threshold" for op, sql in OPS
            )
            exp.append(
                _rows(
                    f"select {KEY} from {B} join marts.risk_rules as r "
                    f"on r.factor = '{n}' where (b.{n}_value is null) <> (b.{n} is null) "
                    f"or b.{n} is distinct from case r.op {cases} end",
                    f"{n}: true exactly when its value meets its threshold (value "
                    f"{f.op} threshold, the comparison from marts.risk_rules); known exactly "
                    "when its value is",
                )
            )
    return {
        "name": "risk_profile",
        "meta": {
            "table": "marts.risk_profile",
            "description": "Risk profile invariants (quality.md: every risk factor that is "
            "true has the value that made it so; rules.md §6). Generated from the factor "
            "list of config/risk.yaml by wlz_pipeline/marts/suites.py: regenerate when a "
            "factor is added.",
            "severity_note": "critical = ERROR (blocking: nothing downstream is built, "
            "nothing is published); warning = WARN (reported only)",
        },
        "expectations": exp,
    }


def render() -> str:
    return json.dumps(risk_profile_suite(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
