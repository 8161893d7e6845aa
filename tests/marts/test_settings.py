"""config/risk.yaml: the factor list derived from config, and bad edits refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from wlz_pipeline.config import DEFAULT_CONFIG_DIR, ConfigError
from wlz_pipeline.marts.settings import factors, load, parameter_rows, rule_version


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    monkeypatch.setenv("WLZ_CONFIG_DIR", str(target))
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_the_factors_of_rules_md_section_6():
    fs = {f.factor: f for f in factors()}
    assert [f for f, x in fs.items() if x.kind == "context"] == ["fsm", "imd_bottom_20", "sen"]
    outcome = [f for f, x in fs.items() if x.kind == "outcome"]
    # attendance, behaviour, 7 subjects, 6 SDQ scales, WEMWBS, 11 survey constructs
    assert len(outcome) == 2 + 7 + 6 + 1 + 11
    assert fs["attendance_below_96"].threshold == 0.96 and fs["attendance_below_96"].op == "<"
    assert fs["behaviour_5_plus"].threshold == 5 and fs["behaviour_5_plus"].op == ">="
    assert fs["imd_bottom_20"].threshold == 2 and fs["imd_bottom_20"].op == "<="
    assert fs["wemwbs_low"].threshold == 40 and fs["wemwbs_low"].stages == ("secondary",)
    assert fs["attainment_reading"].stages == ("primary",)
    assert fs["attainment_maths"].stages == ("primary", "secondary")
    assert fs["sdq_prosocial"].op == "<=" and fs["sdq_total"].op == ">="
    assert fs["fsm"].weight == 0.5 and fs["sdq_total"].weight == 1.0  # context weighs less
    assert fs["attainment_eyfs_psed"].summary_construct == "school_attainment"
    assert fs["behaviour_5_plus"].summary_construct is None
    assert fs["fsm"].summary_construct is None


def test_parameters_and_rule_version():
    rows = {(r[0], r[1]): r for r in parameter_rows()}
    assert rows[("identification_share", None)][2] == 0.2
    assert rows[("behaviour_window_days", None)][2] == 31
    assert rows[("stage", "R")][3] == "early_years"
    assert rows[("survey_term", "summer")][3] == "summer"
    assert rule_version().startswith("1+")


def test_a_new_survey_construct_becomes_a_factor_by_config_alone(config_dir):
    def add(data):
        data["constructs"]["no_breakfast"] = {
            "items": ["active_days"],
            "scoring": "value",
            "at_risk": {"op": "<", "threshold": 1},
        }

    before = rule_version()
    _edit(config_dir / "survey.yaml", add)
    fs = {f.factor: f for f in factors()}
    assert fs["no_breakfast"].kind == "outcome" and fs["no_breakfast"].threshold == 1
    assert fs["no_breakfast"].summary_construct == "no_breakfast"
    assert rule_version() != before  # any rule edit changes the recorded version


def test_weights_override(config_dir):
    _edit(config_dir / "risk.yaml", lambda d: d["weights"]["factors"].update({"sdq_total": 2}))
    assert {f.factor: f.weight for f in factors()}["sdq_total"] == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["stages"]["primary"]["year_groups"].remove("6"), "year group"),
        (lambda d: d["identification"].update({"share": 1.5}), "share"),
        (lambda d: d["survey"].update({"wemwbs_stages": ["sixth_form"]}), "unknown stage"),
        (lambda d: d["weights"]["factors"].update({"no_such_factor": 1}), "unknown factor"),
        (lambda d: d.update({"caliper": 1}), "caliper"),
    ],
)
def test_bad_edits_are_refused(config_dir, change, message):
    _edit(config_dir / "risk.yaml", change)
    with pytest.raises((ConfigError, ValueError), match=message):
        factors(load())
