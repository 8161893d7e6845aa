"""sql/marts/risk_factors.sql and risk_profile.sql against their plain definitions
(tests/marts/data/*_reference.sql, the versions before they were made faster) on small
random warehouses with awkward inputs: children on two registers, duplicated register
rows, unknown anchors, year groups and postcodes, assessments tied on the day, rules
whose stage lists repeat a stage, factors without a rule. Both must give the same rows
(as multisets) with the same column types."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from wlz_pipeline.models import PARTS, Model, discover, tables_with_column

DATA = Path(__file__).parent / "data"

TABLES = {
    "staging.pupils": "anchor_urn VARCHAR, academic_year VARCHAR, upn VARCHAR, "
    "year_group VARCHAR, fsm BOOLEAN, sen VARCHAR, postcode VARCHAR, gender VARCHAR",
    "staging.anchors": "urn VARCHAR, phase VARCHAR",
    "staging.imd": "postcode_key VARCHAR, imd_decile BIGINT",
    "staging.behaviour": "anchor_urn VARCHAR, upn VARCHAR, incident_date DATE, "
    "academic_year VARCHAR",
    "staging.attainment": "anchor_urn VARCHAR, upn VARCHAR, subject VARCHAR, "
    "assessed_on DATE, measure_type VARCHAR, value VARCHAR",
    "marts.wave_dates": "academic_year VARCHAR, wave VARCHAR, cut_off DATE, "
    "behaviour_start DATE, behaviour_end DATE",
    "marts.risk_rules": "factor VARCHAR, kind VARCHAR, factor_group VARCHAR, measure VARCHAR, "
    "op VARCHAR, threshold DOUBLE, threshold_rule VARCHAR, weight DOUBLE, stages VARCHAR[], "
    "sort_order INTEGER",
    "marts.risk_parameters": "parameter VARCHAR, key VARCHAR, number DOUBLE, text VARCHAR",
    "marts.wave_attendance": "upn VARCHAR, academic_year VARCHAR, wave VARCHAR, "
    "attendance_year VARCHAR, source VARCHAR, period_start DATE, period_end DATE, "
    "possible_sessions BIGINT, attended_sessions BIGINT, attendance_rate DOUBLE",
    "marts.attainment_value_risk": "anchor_urn VARCHAR, measure_type VARCHAR, value VARCHAR, "
    "at_risk BOOLEAN, value_used DOUBLE, value_used_text VARCHAR, threshold DOUBLE, "
    "threshold_text VARCHAR, rule VARCHAR",
    "marts.survey_scores": "upn VARCHAR, academic_year VARCHAR, wave VARCHAR, measure VARCHAR, "
    "score DOUBLE, band VARCHAR, at_risk BOOLEAN, op VARCHAR, threshold DOUBLE, "
    "informant VARCHAR, response_id VARCHAR, submitted_at TIMESTAMP, counts BOOLEAN, "
    "measure_group VARCHAR",
    "marts.child_register": "upn VARCHAR, wlz_id VARCHAR, enrolled BOOLEAN, cohort VARCHAR",
}

YEARS = ["2016/17", "2017/18"]
ANCHORS = ["100001", "100002", None]
STAGES = {"N2": "early_years", "R": "early_years", "3": "primary", "8": "secondary"}
SUBJECTS = ["reading", "maths", "english"]
SURVEY = ["sdq_total", "sdq_peer", "wemwbs_low", "not_a_factor"]
OPS = ["<", "<=", ">", ">=", "==", "!=", None]


def _rules(rng: random.Random) -> list[tuple]:
    names = ["fsm", "imd_bottom_20", "sen", "attendance_below_96", "behaviour_5_plus"]
    names += [f"attainment_{s}" for s in SUBJECTS] + SURVEY[:3] + ["no_values_factor"]
    stage_lists = [
        ["early_years", "primary", "secondary"],
        ["primary", "primary"],  # a repeated stage
        ["secondary"],
        ["early_years", "secondary"],
    ]
    rows = []
    for order, name in enumerate(names, start=1):
        op = "in" if name == "sen" else rng.choice(OPS)
        rows.append(
            (
                name,
                "context" if name in ("fsm", "imd_bottom_20", "sen") else "outcome",
                "group",
                name,
                op,
                rng.choice([None, 0.96, 2.0, 5.0]),
                f"rule of {name}",
                rng.choice([0.5, 1.0, 1.5]),
                rng.choice(stage_lists),
                order,
            )
        )
    return rows


def _warehouse(seed: int, distinct_children: bool) -> duckdb.DuckDBPyConnection:
    """A random warehouse; ``distinct_children``: no two register rows share anchor, year
    and UPN (risk_profile's any_value would otherwise pick between them arbitrarily)."""
    rng = random.Random(seed)
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging")
    con.execute("CREATE SCHEMA marts")
    for table, cols in TABLES.items():
        con.execute(f"CREATE TABLE {table} ({cols})")

    def insert(table: str, rows: list[tuple]) -> None:
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)

    upns = [f"U{i}" for i in range(12)]
    pupils, seen = [], set()
    for _ in range(30):
        key = (rng.choice(ANCHORS), rng.choice(YEARS), rng.choice(upns))
        if distinct_children and key in seen:
            continue
        seen.add(key)
        row = (
            *key,
            rng.choice([*STAGES, "Y9", None]),  # Y9: a year group with no stage
            rng.choice([True, False, None]),
            rng.choice(["K", "E", "N", None]),
            rng.choice(["W6 9AA", "w12 7bb", "SW1 1AA", None]),
            rng.choice(["F", "M", None]),
        )
        pupils.append(row)
        if not distinct_children and rng.random() < 0.2:
            pupils.append(row)  # the same register row twice
    insert("staging.pupils", pupils)
    insert("staging.anchors", [("100001", "primary"), ("100002", "secondary")])
    insert("staging.imd", [("W69AA", 2), ("W69AA", 4), ("W127BB", 7)])
    waves = []
    for y in YEARS:
        start = date(int(y[:4]), 9, 5)
        waves.append((y, "autumn", start + timedelta(45), start, start + timedelta(30)))
        end = date(int(y[:4]) + 1, 7, 20)
        waves.append((y, "summer", end, end - timedelta(30), end))
    insert("marts.wave_dates", waves)
    rules = _rules(rng)
    insert("marts.risk_rules", rules)
    params = [("stage", yg, None, stage) for yg, stage in STAGES.items()]
    params += [("sen_code", "E", None, "E"), ("sen_code", "K", None, "K")]
    params += [("rule_version", None, None, "1+test")]
    insert("marts.risk_parameters", params)
    insert(
        "marts.wave_attendance",
        [
            (u, y, w, y, "marks", date(2017, 9, 1), date(2018, 7, 1), 100, n, n / 100)
            for u in upns
            for y in YEARS
            for w in ("autumn", "summer")
            if rng.random() < 0.6
            for n in [rng.randint(80, 100)]
        ],
    )
    day0 = date(2016, 9, 1)
    insert(
        "staging.behaviour",
        [
            (rng.choice(ANCHORS[:2]), rng.choice(upns), day0 + timedelta(rng.randint(0, 700)), y)
            for _ in range(60)
            for y in [rng.choice(YEARS)]
        ],
    )
    values = ["95", "105", "WTS", None]
    insert(
        "staging.attainment",
        [
            (
                rng.choice(ANCHORS[:2]),
                rng.choice(upns),
                rng.choice(SUBJECTS),
                day0 + timedelta(rng.choice([10, 40, 40, 300, 400, 650])),  # ties on the day
                rng.choice(["standardised", "teacher_assessment", None]),
                rng.choice(values),
            )
            for _ in range(50)
        ],
    )
    insert(
        "marts.attainment_value_risk",
        [
            (
                a,
                mt,
                v,
                rng.choice([True, False, None]),
                rng.choice([None, 90.0]),
                None,
                85.0,
                rng.choice([None, "percentile < 20"]),
                "a rule",
            )
            for a in ANCHORS[:2]
            for mt in ("standardised", "teacher_assessment")
            for v in values[:3]
        ],
    )
    scores = []
    for u in upns:
        for y in YEARS:
            for w in ("autumn", "summer"):
                informant = rng.choice(["self", "parent"])
                for measure in SURVEY:
                    if rng.random() < 0.5:
                        scores.append(
                            (
                                u,
                                y,
                                w,
                                measure,
                                rng.choice([3.0, 12.5, 40.0]),
                                rng.choice(["high", None]),
                                rng.choice([True, False, None]),
                                rng.choice([">=", "<="]),
                                10.0,
                                informant,
                                f"R{len(scores)}",
                                None,
                                rng.random() < 0.8,
                                "sdq" if measure.startswith("sdq") else "other",
                            )
                        )
    insert("marts.survey_scores", scores)
    insert(
        "marts.child_register", [(u, f"WLZ{u}", rng.random() < 0.5, "2017/18") for u in upns[:6]]
    )
    return con


def _model(name: str) -> Model:
    return {m.name: m for m in discover("marts")}[name]


def _same(con: duckdb.DuckDBPyConnection, a: str, b: str) -> None:
    assert [r[:2] for r in con.execute(f"DESCRIBE {a}").fetchall()] == [
        r[:2] for r in con.execute(f"DESCRIBE {b}").fetchall()
    ]
    n = con.execute(f"SELECT count(*) FROM {a}").fetchall()[0][0]
    assert n == con.execute(f"SELECT count(*) FROM {b}").fetchall()[0][0]
    for x, y in ((a, b), (b, a)):
        extra = con.execute(f"SELECT * FROM {x} EXCEPT ALL SELECT * FROM {y}").fetchall()
        assert extra == [], f"rows of {x} not in {y}: {extra[:3]}"


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("distinct_children", [True, False])
def test_risk_factors_equals_its_plain_definition(seed, distinct_children):
    con = _warehouse(seed, distinct_children)
    reference = Model("marts", "risk_factors", DATA / "risk_factors_reference.sql")
    con.execute(f"CREATE TABLE ref AS {reference.sql()}")
    con.execute(f"CREATE TABLE marts.behaviour_coverage AS {_model('behaviour_coverage').sql()}")
    con.execute(f"CREATE TABLE new AS {_model('risk_factors').sql()}")
    assert con.execute("SELECT count(*) FROM ref").fetchall()[0][0] > 0
    _same(con, "new", "ref")
    _same_in_part(con, _model("risk_factors"), "new", seed)


def _same_in_part(con: duckdb.DuckDBPyConnection, model: Model, whole: str, seed: int) -> None:
    """``model`` says it is local to a pupil (-- partitioned by: upn): built for some
    pupils only, from its inputs filtered to them, it gives exactly their rows of the
    whole build (what models.build_model relies on to rebuild a night's pupils only)."""
    assert model.partitioned_by == "upn"
    upns = [r[0] for r in con.execute(f"SELECT DISTINCT upn FROM {whole} ORDER BY 1").fetchall()]
    some = random.Random(seed).sample(upns, max(1, len(upns) // 3))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {PARTS} AS SELECT unnest(?) AS part", [some])
    filtered = tables_with_column(con, model.inputs(), "upn")
    assert "staging.pupils" in filtered
    con.execute(f"CREATE OR REPLACE TABLE part AS {model.sql(partitioned=True, filtered=filtered)}")
    con.execute(
        f"CREATE OR REPLACE TABLE whole_part AS SELECT * FROM {whole} "
        f"WHERE upn IN (SELECT part FROM {PARTS})"
    )
    assert con.execute("SELECT count(*) FROM part").fetchall()[0][0] > 0
    _same(con, "part", "whole_part")


@pytest.mark.parametrize("seed", range(12))
def test_risk_profile_equals_its_plain_definition(seed):
    con = _warehouse(seed, distinct_children=True)
    reference = Model("marts", "risk_factors", DATA / "risk_factors_reference.sql")
    con.execute(f"CREATE TABLE marts.risk_factors AS {reference.sql()}")
    profile = Model("marts", "risk_profile", DATA / "risk_profile_reference.sql")
    con.execute(f"CREATE TABLE ref AS {profile.sql()}")
    con.execute(f"CREATE TABLE new AS {_model('risk_profile').sql()}")
    assert con.execute("SELECT count(*) FROM ref WHERE len(factors_true) > 0").fetchall()[0][0]
    _same(con, "new", "ref")
    _same_in_part(con, _model("risk_profile"), "new", seed)
