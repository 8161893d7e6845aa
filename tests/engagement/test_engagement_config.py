"""config/engagement.yaml is validated, reaches the SQL only as literals, and every
column of every engagement table is described in its sidecar."""

from __future__ import annotations

import pytest
from engagement_scenario import ENGAGEMENT_MARTS

from wlz_pipeline.config import ConfigError
from wlz_pipeline.dictionary import table_doc
from wlz_pipeline.marts import engagement_settings as es


def test_config_defaults_come_from_the_rules():
    cfg = es.load()
    assert cfg.core_commitment.checkin_share_min == 0.8
    assert cfg.core_commitment.support_hours_min == 6
    assert cfg.alerts.no_checkin_term_time_days == 14
    assert cfg.alerts.missed_sessions_in_a_row == 2
    assert cfg.alerts.attendance_below == 0.9
    assert cfg.alerts.partner_return_grace_days == 14
    assert cfg.alerts.as_of_date == "latest_data"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["core_commitment"].update(checkin_share_min=1.5), "checkin_share_min"),
        (lambda c: c["interactions"].update(checkin_kinds=["chat"]), "checkin_kinds"),
        (lambda c: c["alerts"].update(as_of_date="next week"), "as_of_date"),
        (lambda c: c["alerts"].update(unknown_key=1), "unknown_key"),
        (
            lambda c: c["partner_report_card"]["dosage_bands"]["medium"].update(min_hours=7),
            "next begins",
        ),
    ],
)
def test_a_bad_edit_fails_with_the_field_named(tmp_path, monkeypatch, change, message):
    import yaml

    from wlz_pipeline.config import load_yaml

    cfg = yaml.safe_load(yaml.safe_dump(load_yaml("engagement.yaml"), sort_keys=False))
    change(cfg)
    (tmp_path / "engagement.yaml").write_text(
        yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8"
    )
    monkeypatch.setenv("WLZ_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=message):
        es.load()


def test_sql_values_are_literals():
    values = es.sql_values()
    assert values["checkin_share_min"] == "CAST(0.8 AS DOUBLE)"
    assert (
        values["checkin_kinds"] == "CAST(['check_in', 'one_to_one', 'formal_review'] AS VARCHAR[])"
    )
    assert values["as_of_fixed"] == "NULL"
    assert values["dosage_high_max_hours"] == "CAST(NULL AS DOUBLE)"


def test_every_column_is_described_in_its_sidecar(scenario):
    for table in ENGAGEMENT_MARTS:
        description, columns = table_doc("marts", table)
        assert description, f"sql/marts/{table}.yml has no description"
        actual = [r[0] for r in scenario.execute(f"DESCRIBE marts.{table}").fetchall()]
        assert set(columns) == set(actual), (
            table,
            sorted(set(actual) - set(columns)),
            sorted(set(columns) - set(actual)),
        )
        assert all(columns.values()), table


def test_every_table_the_sql_reads_is_a_dependency():
    # models._inputs drops a table whose name is also a CTE name: no engagement model
    # may name a CTE like a table it reads, or Dagster would not wait for that table
    import sqlglot
    from engagement_scenario import engagement_models

    for model in engagement_models():
        tree = sqlglot.parse_one(model.sql(), read="duckdb")
        read = {f"{t.db}.{t.name}" for t in tree.find_all(sqlglot.exp.Table) if t.db}
        assert read == set(model.inputs()), model.name
