"""A Common Transfer File (CTF) for the showcase secondary's Year 7 intake.

The showcase primary sends, at the end of the year, one CTF with its Year 6 leavers
who move to the showcase secondary: pupil details, FSM and SEN history, first
language, address, the year's attendance totals and the KS2 test results (the same
scaled scores as in the primary's own assessment extract). Element names follow
domain_facts.md §5; the XML layout is fixed (two-space indent, LF), so the bytes are
deterministic.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from .output import Output
from .school import KS2_RESULTS, summary_rows
from .school_calendar import ay_start_year
from .util import sub_rng

if TYPE_CHECKING:  # pragma: no cover
    from .reference import Anchor
    from .world import World

KS2_SUBJECTS = {"reading": "REA", "maths": "MAT", "gps": "GPS"}


class _Xml:
    def __init__(self) -> None:
        self.lines = ['<?xml version="1.0" encoding="UTF-8"?>']
        self.depth = 0

    def open(self, tag: str) -> None:
        self.lines.append("  " * self.depth + f"<{tag}>")
        self.depth += 1

    def close(self, tag: str) -> None:
        self.depth -= 1
        self.lines.append("  " * self.depth + f"</{tag}>")

    def leaf(self, tag: str, value: object = "") -> None:
        text = escape(str(value))
        pad = "  " * self.depth
        self.lines.append(f"{pad}<{tag}>{text}</{tag}>" if text else f"{pad}<{tag}/>")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def write_ctf(world: World, out: Output, source: Anchor, dest: Anchor, ay: str) -> None:
    """CTF from ``source`` (end of ``ay``) for its leavers joining ``dest`` next year."""
    years = world.cal.academic_years
    nxt = years[years.index(ay) + 1]
    rng = sub_rng(world.seed, "ctf")
    pupils = []
    for child, st in world.roster.get((source.urn, ay), []):
        nst = child.stints.get(nxt)
        if st.year_group == "6" and nst is not None and nst.urn == dest.urn:
            pupils.append((child, st))
    pupils.sort(key=lambda cs: (cs[0].surname, cs[0].forename, cs[0].upn))
    x = _Xml()
    x.open("CTfile")
    x.open("Header")
    x.leaf("DocumentName", "Common Transfer File")
    x.leaf("CTFversion", "17.0")
    x.leaf("DateTime", datetime(2017, 7, 21, 15, 42, 10).isoformat())
    x.leaf("DocumentQualifier", "full")
    x.leaf("DataQualifier")
    x.leaf("DataDescriptor")
    x.leaf("SupplierID", "SIMS")
    x.open("SourceSchool")
    x.leaf("LEA", source.la)
    x.leaf("Estab", source.estab)
    x.leaf("URN", source.urn)
    x.leaf("SchoolName", source.name)
    x.leaf("AcademicYear", ay_start_year(ay))
    x.close("SourceSchool")
    x.open("DestSchool")
    x.leaf("LEA", dest.la)
    x.leaf("Estab", dest.estab)
    x.leaf("URN", dest.urn)
    x.close("DestSchool")
    x.close("Header")
    x.open("CTFpupilData")
    for child, st in pupils:
        x.open("Pupil")
        x.leaf("UPN", child.upn)
        x.leaf("Surname", child.surname)
        x.leaf("Forename", child.forename)
        x.leaf("DOB", child.dob.isoformat())
        x.leaf("Sex", {"F": "F", "M": "M"}.get(child.gender, "U"))
        x.open("BasicDetails")
        x.leaf("NCyearActual", st.year_group)
        x.open("Languages")
        x.open("Type")
        x.leaf("LanguageType", "F")
        x.leaf("Language", child.language)
        x.close("Type")
        x.close("Languages")
        x.close("BasicDetails")
        x.open("FSMhistory")
        if st.fsm or rng.random() < 0.08:
            x.open("FSMinstance")
            x.leaf(
                "FSMstartDate",
                date(ay_start_year(ay) - rng.randint(1, 5), 9, rng.randint(2, 28)).isoformat(),
            )
            if not st.fsm:
                x.leaf(
                    "FSMendDate",
                    date(ay_start_year(ay), rng.randint(1, 3), rng.randint(1, 28)).isoformat(),
                )
            x.leaf("UKcountry", "ENG")
            x.close("FSMinstance")
        x.close("FSMhistory")
        x.open("SENhistory")
        x.open("SEN")
        x.leaf("StartDate", date(ay_start_year(ay) - rng.randint(0, 3), 9, 1).isoformat())
        x.leaf("SENprovision", st.sen)
        x.close("SEN")
        x.close("SENhistory")
        x.open("Address")
        x.open("BS7666Address")
        x.leaf("PostCode", st.postcode)
        x.close("BS7666Address")
        x.close("Address")
        rows = summary_rows(world.seed, world.cal, world.closures, source, child, st)
        x.open("Attendance")
        x.open("YearData")
        x.leaf("Year", ay_start_year(ay))
        x.leaf("LEA", source.la)
        x.leaf("Estab", source.estab)
        x.leaf("SchoolName", source.name)
        x.leaf("SessionsPossible", sum(r[3] for r in rows))
        x.leaf("SessionsAuthorised", sum(r[5] for r in rows))
        x.leaf("SessionsAttended", sum(r[4] for r in rows))
        x.leaf("SessionsUnauthorised", sum(r[6] for r in rows))
        x.close("YearData")
        x.close("Attendance")
        results = [(s, d, v) for s, d, m, v in st.assessments if m == "scaled"]
        if results:
            x.open("StageAssessments")
            x.open("KeyStage")
            x.leaf("Stage", "KS2")
            for subject, d, value in results:
                x.open("StageAssessment")
                x.leaf("Locale", "ENG")
                x.leaf("Year", KS2_RESULTS[ay].year)
                x.leaf("Subject", KS2_SUBJECTS[subject])
                x.leaf("Method", "TT")
                x.leaf("Component", KS2_SUBJECTS[subject])
                x.leaf("ResultStatus", "R")
                x.leaf("ResultQualifier", "SS")
                x.leaf("Result", value)
                x.leaf("ResultDate", d.isoformat())
                x.close("StageAssessment")
            x.close("KeyStage")
            x.close("StageAssessments")
        x.close("Pupil")
    x.close("CTFpupilData")
    x.close("CTfile")
    name = f"{source.la}{source.estab}_CTF_{dest.la}{dest.estab}_001.xml"
    out.write_bytes(
        f"mis/{dest.urn}/{name}",
        "mis_ctf",
        x.text().encode("utf-8"),
        len(pupils),
        anchor_urn=dest.urn,
        profile="ctf",
        academic_year=ay,
        encoding="utf-8",
        line_ending="lf",
        expected_status="ingested",
        source_urn=source.urn,
    )
