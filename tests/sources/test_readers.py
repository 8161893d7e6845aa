"""Each reader on small hand-made files: encodings, title lines, header recognition."""

from __future__ import annotations

import pytest

from tests.conftest import LANDING
from wlz_pipeline.sources.ctf import read_ctf
from wlz_pipeline.sources.mis import load_profiles, read_mis_csv
from wlz_pipeline.sources.survey import read_survey
from wlz_pipeline.sources.tabular import read_fixed_csv
from wlz_pipeline.sources.text import UnreadableFile

PROFILES = load_profiles()


def test_sims_pupils_with_bom_maps_headers_and_keeps_values_as_received():
    data = (LANDING / "mis/140102/sims_pupils.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    ext = read_mis_csv(data, PROFILES["sims"])
    assert ext.kind == "pupils"
    assert ext.encoding == "utf-8-sig"
    assert ext.header_line == 1
    assert ext.ignored_columns == ["Form"]
    line, first = ext.rows[0]
    assert line == 2
    assert first["upn"] == "K205200116001"
    assert first["forename"] == "Chloé"  # accented name survives
    assert first["date_of_birth"] == "14/02/2009"  # raw text; typed in staging
    assert first["year_group"] == "Year 3"
    assert first["sen"] == "SEN Support"
    # the trailing blank line is not a row
    assert [ln for ln, _ in ext.rows] == [2, 3, 4, 5]


def test_arbor_windows_1252_with_title_line():
    data = (LANDING / "mis/140103/arbor_pupils.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    ext = read_mis_csv(data, PROFILES["arbor"])
    assert ext.kind == "pupils"
    assert ext.encoding == "cp1252"
    assert ext.header_line == 3  # title line, blank line, then the header
    names = [(r["forename"], r["surname"]) for _, r in ext.rows]
    assert names == [("José", "Müller"), ("Zoë", "Baños")]
    assert [ln for ln, _ in ext.rows] == [4, 5]


def test_kind_is_recognised_from_headers_not_file_name(tmp_path):
    marks = read_mis_csv((LANDING / "mis/140102/sims_marks.csv").read_bytes(), PROFILES["sims"])
    assert marks.kind == "attendance_marks"
    assert marks.rows[1][1] == {
        "upn": "K205200116001",
        "date": "02/10/2017",
        "session": "PM",
        "code": "\\",
    }
    summary = read_mis_csv(
        (LANDING / "mis/140101/bromcom_attendance.csv").read_bytes(), PROFILES["bromcom"]
    )
    assert summary.kind == "attendance_summary"
    assert summary.rows[0][1]["attendance_pct"] == "95.7%"
    assert summary.rows[0][1]["attended_sessions"] is None


def test_unknown_layout_and_binary_files_are_unreadable_with_a_reason():
    with pytest.raises(UnreadableFile, match="unknown MIS layout"):
        read_mis_csv(b"Name,Shoe size\nA,5\n", PROFILES["sims"])
    with pytest.raises(UnreadableFile, match="binary"):
        read_mis_csv(b"\x89PNG\r\n\x1a\n\x00\x00\x00", PROFILES["sims"])


def test_ctf_pupils_attendance_and_ks2_results():
    out = read_ctf((LANDING / "mis/140103/transfer.xml").read_bytes(), PROFILES["ctf"])
    ((n, pupil),) = out["pupils"]
    assert pupil["upn"] == "J205200116008"
    assert pupil["year_group"] == "7"
    assert pupil["gender"] == "M"
    assert pupil["fsm"] == "true"  # FSM instance open on the file date
    assert pupil["sen"] == "K"
    assert pupil["eal"] == "true"  # first language YOR
    assert pupil["postcode"] == "W12 7BB"
    assert pupil["extract_date"] == "2017-09-08"
    ((_, att),) = out["attendance_summary"]
    assert (att["period_start"], att["period_end"]) == ("2016-09-01", "2017-08-31")
    assert (att["possible_sessions"], att["attended_sessions"]) == ("380", "362")
    results = {(r["subject"], r["measure_type"], r["value"]) for _, r in out["attainment"]}
    assert results == {("reading", "scaled", "96"), ("maths", "scaled", "104")}


def test_ctf_parser_refuses_entity_expansion():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<CTfile><CTFpupilData><Pupil><UPN>&lol2;</UPN></Pupil></CTFpupilData></CTfile>"
    )
    with pytest.raises(UnreadableFile, match="not a readable CTF"):
        read_ctf(bomb, PROFILES["ctf"])
    external = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<CTfile><CTFpupilData><Pupil><UPN>&e;</UPN></Pupil></CTFpupilData></CTfile>"
    )
    with pytest.raises(UnreadableFile):
        read_ctf(external, PROFILES["ctf"])


def test_survey_export_requires_a_child_identifier_column():
    read = read_survey((LANDING / "surveys/my_voice_2017-10-20.csv").read_bytes())
    assert read.rows[0][1]["sdq_2"] == "somewhat true"
    assert read.rows[1][1]["bully_victim"] == "About once a week"
    with pytest.raises(UnreadableFile, match="not a survey export"):
        read_survey(b"response_id,submitted_at,anchor_urn,informant,sdq_1\nR1,x,1,self,0\n")


def test_fixed_csv_reports_extra_columns_and_rejects_empty_files():
    read = read_fixed_csv(
        b"\xef\xbb\xbfurn,name,extra\n1,A,zzz\n", ("urn", "name"), required=("urn", "name")
    )
    assert read.ignored_columns == ["extra"]
    assert read.rows == [(2, {"urn": "1", "name": "A"})]
    with pytest.raises(UnreadableFile, match="empty"):
        read_fixed_csv(b"  \n", ("urn",), required=("urn",))
