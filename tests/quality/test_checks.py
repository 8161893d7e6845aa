"""Checks in Dagster: ERROR blocks what depends on the asset in the same run, WARN only
reports; row rules quarantine bad rows and let the good rows of the file through."""

from __future__ import annotations

import datetime as dt
import random

import dagster as dg
from stdnum.gb import upn as stdnum_upn

from assets.resources import WarehouseResource
from wlz_pipeline.definitions import ALL_ASSETS, ALL_CHECKS
from wlz_pipeline.ingest import ingest_all
from wlz_pipeline.models import build_all

STAGING = [a for a in ALL_ASSETS if any(k.path[0] in ("raw", "staging") for k in a.keys)]
STAGING_CHECKS = [
    c for c in ALL_CHECKS if all(k.asset_key.path[0] == "staging" for k in c.check_keys)
]


def _materialize(landing, tmp_path):
    with dg.DagsterInstance.ephemeral() as instance:
        return dg.materialize(
            [*STAGING, *STAGING_CHECKS],
            resources={
                "wlz": WarehouseResource(
                    data_dir=str(landing), warehouse=str(tmp_path / "wh.duckdb")
                )
            },
            instance=instance,
            raise_on_error=False,
        )


def _materialized(result) -> set[str]:
    return {
        e.materialization.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
    }


def _check(result, asset: str, name: str):
    (e,) = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == asset and e.check_name == name
    ]
    return e


def test_a_failing_error_check_stops_what_depends_on_the_asset(landing, tmp_path):
    reg = landing / "reference/enrolments.csv"
    # a child recorded as both consenting and declining breaks a critical expectation
    reg.write_text(
        reg.read_text().replace(
            "WLZ000000001,K205200116001,140102,2017/18,2017-10-20,2017-11-01,2017-11-10,,",
            "WLZ000000001,K205200116001,140102,2017/18,2017-10-20,2017-11-01,2017-11-10,2017-11-12,",
        )
    )
    result = _materialize(landing, tmp_path)
    failed = _check(result, "staging/enrolments", "suite_errors")
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    done = _materialized(result)
    assert "staging/enrolments" in done
    assert "staging/interactions" not in done  # its row rules read the register
    assert "staging/pupils" in done  # independent of the register


def test_a_failing_warn_check_does_not_stop_anything(landing, tmp_path):
    lws = landing / "reference/link_workers.csv"
    lws.write_text(lws.read_text() + "LW03,Test Worker Three,999999,2017-01-01,\n")
    result = _materialize(landing, tmp_path)
    warned = _check(result, "staging/link_workers", "suite_warnings")
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert _check(result, "staging/link_workers", "suite_errors").passed
    assert "staging/interactions" in _materialized(result)
    md = warned.metadata["failures"].value
    assert "reference/link_workers.csv: 4" in md  # the file and row, not the values
    assert "Test Worker" not in md


def _upn(rng: random.Random) -> str:
    body = f"205{rng.randint(1000, 9999)}16{rng.randint(0, 999):03d}"
    return stdnum_upn.calc_check_digit(body) + body


def test_three_bad_rows_among_fifty_are_quarantined_and_47_staged(con, landing, archive):
    rng = random.Random(3)
    lines = [
        "UPN,Legal Surname,Legal Forename,DOB,Gender,Year,FSM Eligible,SEN Status,EAL,"
        "Postcode,Extract Date"
    ]
    upns = set()
    while len(upns) < 50:
        upns.add(_upn(rng))
    for i, u in enumerate(sorted(upns)):
        lines.append(
            f"{u},Surname{i},Forename{i},14/02/2010,Female,Year 2,No,SEN Support,No,"
            "W6 9AA,13/10/2017"
        )
    # line numbers: header is line 1, so data row i is on line i + 2
    lines[11] = lines[11].replace(
        lines[11][:1], "I" if lines[11][0] != "I" else "O", 1
    )  # check letter
    lines[21] = lines[21].replace("14/02/2010", "14/02/2001")  # 16 in Year 2
    lines[31] = lines[31].replace("Year 2", "Year 15")  # no such year group
    (landing / "mis/140102/sims_pupils.csv").write_text("\n".join(lines) + "\n")
    ingest_all(con, landing, archive)
    build_all(con, ("staging",))
    assert (
        con.execute("SELECT count(*) FROM staging.pupils WHERE anchor_urn = '140102'").fetchone()[0]
        == 47
    )
    got = con.execute(
        """SELECT q.row_number, q.rule FROM meta.quarantine q
           JOIN meta.file_registry f USING (file_hash)
           WHERE f.path = 'mis/140102/sims_pupils.csv' AND q.severity = 'error' ORDER BY 1"""
    ).fetchall()
    assert got == [
        (12, "upn_check_letter"),
        (22, "date_of_birth_fits_year_group"),
        (32, "year_group_known"),
    ]


def test_attendance_codes_are_valid_only_on_their_side_of_august_2024(con, landing, archive):
    (landing / "mis/140102/sims_marks.csv").write_text(
        "UPN,Date,Session,Mark\n"
        "K205200116001,02/10/2017,AM,H\n"  # holiday authorised: valid before 19/08/2024
        "K205200116001,01/10/2024,AM,H\n"  # retired
        "K205200116001,01/10/2024,PM,C1\n"  # new code: valid from 19/08/2024
        "K205200116001,02/10/2017,PM,C1\n"  # not yet a code
        "K205200116001,03/10/2017,AM,J\n"  # interview: approved activity before 2024
        "K205200116001,02/10/2024,AM,J1\n"  # its successor: authorised absence
    )
    ingest_all(con, landing, archive)
    build_all(con, ("staging",))
    staged = con.execute(
        "SELECT date::VARCHAR, code, code_category FROM staging.attendance_marks ORDER BY 1, 2"
    ).fetchall()
    assert staged == [
        ("2017-10-02", "H", "authorised"),
        ("2017-10-03", "J", "approved_activity"),
        ("2024-10-01", "C1", "authorised"),
        ("2024-10-02", "J1", "authorised"),
    ]
    bad = con.execute(
        "SELECT row_number FROM meta.quarantine WHERE rule = 'dfe_code_valid_on_date' ORDER BY 1"
    ).fetchall()
    assert bad == [(3,), (5,)]
    assert dt.date(2024, 8, 19)  # the changeover date the config encodes (domain_facts §4)
