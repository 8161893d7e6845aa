"""School MIS extracts in three vendor styles (config/mis_profiles/*.yaml).

Headers are the first alias of each column in the profile; value spellings are keys of
the profile's ``values`` maps; flags, year groups and dates follow each profile's
comment. tests/generator checks these tables against the profile files, so a profile
edit that the generator does not follow fails a test rather than the sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from wlz_pipeline.canonical import MIS_KINDS

from .output import Output, TableWriter
from .reference import YEAR_OFFSET, Anchor
from .school import mark_lines, summary_rows
from .school_calendar import TERMS
from .util import dmy, iso, sub_rng

if TYPE_CHECKING:  # pragma: no cover
    from .people import Child, Stint
    from .world import World

#: The canonical pupil fields in the order a profile's pupils headers are listed
#: (the contract of wlz_pipeline/canonical.py, which ingestion maps them back to).
CANONICAL_PUPIL = MIS_KINDS["pupils"]


def _sims_year(yg: str) -> str:
    return {"N1": "Nursery 1", "N2": "Nursery 2", "R": "Reception"}.get(yg, f"Year {yg}")


def _arbor_year(yg: str) -> str:
    return {"R": "Reception"}.get(yg, yg if yg.startswith("N") else f"Y{yg}")


@dataclass(frozen=True)
class Style:
    name: str
    pupils: tuple[str, ...]
    pupils_extra: tuple[str, ...]
    marks: tuple[str, ...]
    summary: tuple[str, ...]  # upn, start, end, possible, attended|None, auth, unauth, pct|None
    attainment: tuple[str, ...]
    behaviour: tuple[str, ...]
    behaviour_extra: tuple[str, ...]
    date: Callable[[date], str]
    flags: tuple[str, str]
    year_group: Callable[[str], str]
    gender: dict[str, str]
    sen: dict[str, str]
    measure: dict[str, str]
    subject: dict[str, str]
    encoding: str
    bom: bool
    newline: str
    titled: bool
    pct_suffix: str


STYLES: dict[str, Style] = {
    "sims": Style(
        name="sims",
        pupils=(
            "UPN",
            "Legal Forename",
            "Legal Surname",
            "DOB",
            "Gender",
            "Year",
            "FSM Eligible",
            "SEN Status",
            "EAL",
            "Postcode",
            "Extract Date",
        ),
        pupils_extra=("Reg Group",),
        marks=("UPN", "Date", "Session", "Mark"),
        summary=(
            "UPN",
            "From",
            "To",
            "Possible Sessions",
            "Attended",
            "Authorised Absence",
            "Unauthorised Absence",
            "Attendance %",
        ),
        attainment=("UPN", "Subject", "Date", "Method", "Result"),
        behaviour=("UPN", "Incident Date", "Incident Type", "Points"),
        behaviour_extra=(),
        date=dmy,
        flags=("Yes", "No"),
        year_group=_sims_year,
        gender={"F": "Female", "M": "Male", "other": "Other"},
        sen={"N": "No Special Educational Need", "K": "SEN Support", "E": "EHC Plan"},
        measure={
            "standardised": "Standardised Score",
            "scaled": "KS2 Scaled Score",
            "teacher_assessment": "Teacher Assessment",
            "level": "School Level",
            "gcse": "GCSE",
            "eyfs": "EYFS Profile",
        },
        subject={
            "reading": "Reading",
            "writing": "Writing",
            "maths": "Maths",
            "english": "English",
            "gps": "Grammar, Punctuation and Spelling",
            "eyfs_communication": "Communication and Language",
            "eyfs_physical": "Physical Development",
            "eyfs_psed": "Personal, Social and Emotional Development",
        },
        encoding="utf-8",
        bom=True,
        newline="\n",
        titled=False,
        pct_suffix="",
    ),
    "arbor": Style(
        name="arbor",
        pupils=(
            "Student UPN",
            "First name",
            "Last name",
            "Date of birth",
            "Gender",
            "Year group",
            "Eligible for FSM",
            "SEN status",
            "EAL",
            "Postcode",
            "Snapshot date",
        ),
        pupils_extra=("Form", "House", "Dinner money balance"),
        marks=("Student UPN", "Session date", "AM/PM", "Attendance mark"),
        summary=(
            "Student UPN",
            "Start date",
            "End date",
            "Possible sessions",
            "Sessions attended",
            "Authorised absences",
            "Unauthorised absences",
            "",
        ),
        attainment=("Student UPN", "Subject", "Assessment date", "Assessment type", "Grade"),
        behaviour=("Student UPN", "Date", "Behaviour type", "Points"),
        behaviour_extra=("Notes",),
        date=dmy,
        flags=("TRUE", "FALSE"),
        year_group=_arbor_year,
        gender={"F": "Female", "M": "Male", "other": "Other"},
        sen={"N": "None", "K": "SEN support", "E": "EHC plan"},
        measure={
            "standardised": "Standardised",
            "scaled": "Scaled score",
            "teacher_assessment": "Teacher assessment",
            "level": "Internal level",
            "gcse": "GCSE grade",
            "eyfs": "EYFS",
        },
        subject={
            "reading": "Reading",
            "writing": "Writing",
            "maths": "Maths",
            "english": "English",
            "gps": "GPS",
        },
        encoding="cp1252",
        bom=False,
        newline="\r\n",
        titled=True,
        pct_suffix="",
    ),
    "bromcom": Style(
        name="bromcom",
        pupils=(
            "PupilUPN",
            "Forename",
            "Surname",
            "DateOfBirth",
            "Sex",
            "NCYear",
            "FreeSchoolMeals",
            "SENProvision",
            "EALFlag",
            "PostCode",
            "ExtractDate",
        ),
        pupils_extra=("Room",),
        marks=("PupilUPN", "SessionDate", "SessionName", "AttendanceCode"),
        summary=(
            "PupilUPN",
            "PeriodStart",
            "PeriodEnd",
            "PossibleSessions",
            "",
            "AuthorisedAbsences",
            "UnauthorisedAbsences",
            "AttendancePercent",
        ),
        attainment=("PupilUPN", "AspectName", "AssessmentDate", "ResultType", "ResultValue"),
        behaviour=("PupilUPN", "EventDate", "EventType", "EventPoints"),
        behaviour_extra=(),
        date=iso,
        flags=("1", "0"),
        year_group=lambda yg: yg,
        gender={"F": "F", "M": "M", "other": "X"},
        sen={"N": "N", "K": "K", "E": "E"},
        measure={
            "standardised": "STD",
            "scaled": "SCALED",
            "teacher_assessment": "TA",
            "level": "LEVEL",
            "gcse": "GCSE",
            "eyfs": "EYFSP",
        },
        subject={
            "reading": "READ",
            "writing": "WRIT",
            "maths": "MATH",
            "english": "ENG",
            "eyfs_communication": "EYFS-CL",
            "eyfs_physical": "EYFS-PD",
            "eyfs_psed": "EYFS-PSED",
        },
        encoding="utf-8",
        bom=False,
        newline="\n",
        titled=False,
        pct_suffix="%",
    ),
}

#: extract (snapshot) dates by profile and academic year; the arbor re-send is later
EXTRACT_DATES = {
    "sims": {"2016/17": date(2016, 10, 13), "2017/18": date(2017, 10, 12)},
    "arbor": {"2016/17": date(2016, 10, 14), "2017/18": date(2017, 10, 16)},
    "bromcom": {"2016/17": date(2016, 10, 14), "2017/18": date(2017, 10, 13)},
}
RESEND_DATE = date(2017, 11, 3)
YEAR_EXPORT = {"2016/17": date(2017, 7, 24), "2017/18": date(2018, 7, 23)}
TERM_EXPORT = {
    ("2016/17", "autumn"): date(2017, 1, 5),
    ("2016/17", "spring"): date(2017, 4, 19),
    ("2016/17", "summer"): date(2017, 7, 24),
    ("2017/18", "autumn"): date(2018, 1, 5),
    ("2017/18", "spring"): date(2018, 4, 17),
    ("2017/18", "summer"): date(2018, 7, 23),
}
HOUSES = ("Thames", "Severn", "Avon", "Tyne")
ROOMS = ("Butterflies", "Ladybirds", "Caterpillars", "Dragonflies")
NOTES_WITH_POUND = (
    "Damaged a library book (£6.99 replacement)",
    "Lost locker key, £5 charge",
    "Broke a calculator - parent asked to pay £8.50",
)
NOTES_PLAIN = (
    "Refused to hand over phone",
    "Left lesson without permission",
    "Shouting in corridor",
    "Pushed another pupil in the lunch queue",
)


def _dash(ay: str) -> str:
    return ay.replace("/", "-")


def file_names(style: str, ay: str) -> dict[str, str]:
    d = _dash(ay)
    if style == "sims":
        return {
            "pupils": f"Pupil Details {d}.csv",
            "summary": f"Attendance Summary {d}.csv",
            "marks": f"Attendance Marks {d} {{Term}}.csv",
            "attainment": f"Assessment Results {d}.csv",
            "behaviour": f"Behaviour Incidents {d}.csv",
        }
    if style == "arbor":
        return {
            "pupils": "Students {extract}.csv",
            "summary": f"Attendance summary {d}.csv",
            "marks": f"Attendance marks {d} {{term}}.csv",
            "attainment": f"Assessments {d}.csv",
            "behaviour": f"Behaviour {d}.csv",
        }
    return {
        "pupils": "PupilDetails_{compact}.csv",
        "summary": f"AttendanceSummary_{d}.csv",
        "marks": f"AttendanceMarks_{d}_{{Term}}.csv",
        "attainment": f"Assessments_{d}.csv",
        "behaviour": f"BehaviourEvents_{d}.csv",
    }


class MisWriter:
    """All MIS files of one anchor."""

    def __init__(self, world: World, out: Output, anchor: Anchor):
        self.w = world
        self.out = out
        self.anchor = anchor
        self.style = STYLES[anchor.mis_profile]
        self.showcase = anchor.role
        self.bad = sub_rng(world.seed, "bad-rows", anchor.urn)

    # --- helpers -----------------------------------------------------------------------
    def _table(
        self, name: str, kind: str, header: tuple[str, ...], ay: str, title: str, **meta
    ) -> TableWriter:
        s = self.style
        titles = (title, "") if s.titled else ()
        return self.out.table(
            f"mis/{self.anchor.urn}/{name}",
            kind,
            [h for h in header if h],
            encoding=s.encoding,
            bom=s.bom,
            newline=s.newline,
            title_lines=titles,
            meta={
                "anchor_urn": self.anchor.urn,
                "profile": s.name,
                "academic_year": ay,
                "expected_status": "ingested",
                **meta,
            },
        )

    def roster(self, ay: str) -> list[tuple[Child, Stint]]:
        return self.w.roster.get((self.anchor.urn, ay), [])

    # --- pupils ------------------------------------------------------------------------
    def pupils(
        self,
        ay: str,
        extract: date,
        name: str,
        corrections: dict | None = None,
        planted: str = "",
        **meta,
    ) -> TableWriter:
        s = self.style
        header = s.pupils + s.pupils_extra
        title = f"Students - exported {dmy(extract)}"
        t = self._table(
            name, "mis_pupils", header, ay, title, extract_date=extract.isoformat(), **meta
        )
        rng = sub_rng(self.w.seed, "pupil-extras", self.anchor.urn, ay)
        rows = [
            (c, st)
            for c, st in self.roster(ay)
            if st.start <= extract and (st.leave is None or st.leave >= extract)
        ]
        rows.sort(
            key=lambda cs: (YEAR_OFFSET[cs[1].year_group], cs[0].surname, cs[0].forename, cs[0].upn)
        )
        yn_rows = set()
        if planted == "sims-first" and len(rows) > 10:
            yn_rows = {rows[3][0].cid, rows[7][0].cid}
        dob_target = None
        if planted in ("sims-dob", "bromcom-dob"):
            cands = [
                c
                for c, st in rows
                if c.reg is None and st.from_urn is None and st.year_group in ("N2", "3", "4", "5")
            ]
            dob_target = self.bad.choice(cands).cid if cands else None
        nospace = set()
        if planted == "bromcom-dob":
            nospace = {c.cid for c, _ in rows[5:8]}
        for child, st in rows:
            values = {
                "upn": child.upn,
                "forename": child.forename,
                "surname": child.surname,
                "date_of_birth": s.date(child.dob),
                "gender": s.gender[child.gender],
                "year_group": s.year_group(st.year_group),
                "fsm": s.flags[0] if st.fsm else s.flags[1],
                "sen": s.sen[st.sen],
                "eal": s.flags[0] if child.eal else s.flags[1],
                "postcode": st.postcode,
                "extract_date": s.date(extract),
            }
            if child.cid in yn_rows:
                values["fsm"] = "Y" if st.fsm else "N"
                values["eal"] = "Y" if child.eal else "N"
            if child.cid in nospace:
                values["postcode"] = st.postcode.replace(" ", "")
            if corrections and child.cid in corrections:
                for field_name, wrong in corrections[child.cid].items():
                    values[field_name] = wrong
            extras = self._pupil_extras(rng, st)
            vals = [values[k] for k in CANONICAL_PUPIL] + extras
            if child.cid == dob_target:
                bad_dob = date(
                    child.dob.year + (5 if st.year_group != "N2" else -5),
                    child.dob.month,
                    min(child.dob.day, 28),
                )
                vals[3] = s.date(bad_dob)
                t.plant(
                    vals,
                    s.pupils[3],
                    "dob_implausible_for_year_group",
                    "quarantine the row: date of birth does not fit the year group",
                )
            else:
                t.row(vals)
        return t

    def _pupil_extras(self, rng, st: Stint) -> list[str]:
        if self.style.name == "sims":
            return [f"{st.year_group}{rng.choice('RBGY')}"]
        if self.style.name == "arbor":
            pence = rng.choice((0, 0, 0, 340, 1240, 580, -210, 95))
            money = f"{'-' if pence < 0 else ''}£{abs(pence) // 100}.{abs(pence) % 100:02d}"
            return [f"{st.year_group}{rng.choice('KLMN')}", rng.choice(HOUSES), money]
        return [rng.choice(ROOMS) if st.year_group.startswith("N") else f"Class {st.year_group}"]

    # --- attendance --------------------------------------------------------------------
    def summaries(self, ay: str, planted: bool = False) -> None:
        s = self.style
        name = file_names(s.name, ay)["summary"]
        t = self._table(
            name,
            "mis_attendance_summary",
            s.summary,
            ay,
            f"Attendance summary - exported {dmy(YEAR_EXPORT[ay])}",
        )
        rows = []
        for child, st in self.roster(ay):
            for _term, lo, hi, possible, attended, auth, unauth in summary_rows(
                self.w.seed, self.w.cal, self.w.closures, self.anchor, child, st
            ):
                if possible > 0:
                    rows.append((lo, child.upn, hi, possible, attended, auth, unauth))
        rows.sort()
        target = self.bad.randrange(len(rows)) if planted and rows else -1
        for i, (lo, upn, hi, possible, attended, auth, unauth) in enumerate(rows):
            pct = f"{100 * attended / possible:.1f}{s.pct_suffix}"
            full = [upn, s.date(lo), s.date(hi), possible, attended, auth, unauth, pct]
            vals = [v for h, v in zip(s.summary, full, strict=True) if h]
            if i == target:
                vals[3] = -possible
                t.plant(
                    vals,
                    s.summary[3],
                    "negative_possible_sessions",
                    "quarantine the row: possible sessions cannot be negative",
                )
            else:
                t.row(vals)
        t.close()

    def marks(self, ay: str, planted: bool = False) -> None:
        s = self.style
        cal, nl = self.w.cal, s.newline
        fmt = {d: s.date(d) for d in cal.register_days(ay)}
        roster = sorted(self.roster(ay), key=lambda cs: cs[0].upn)
        by_term: dict[str, list[list[str]]] = {term: [] for term in TERMS}
        bounds = {term: cal.term_bounds(ay, term) for term in TERMS}
        days = cal.register_days(ay)
        full = {t: 2 * sum(1 for d in days if b[0] <= d <= b[1]) for t, b in bounds.items()}
        for child, st in roster:
            lines = mark_lines(
                self.w.seed,
                cal,
                self.w.closures,
                self.anchor,
                child,
                st,
                fmt,
                nl,
                self.anchor.phase,
            )
            # split the year's lines by term (lines are in date order, 2 per day)
            idx = 0
            for term in TERMS:
                t0, t1 = bounds[term]
                n = (
                    full[term]
                    if st.leave is None
                    else 2 * sum(1 for d in days if t0 <= d <= t1 and d <= st.leave)
                )
                by_term[term].append(lines[idx : idx + n])
                idx += n
        for term in TERMS:
            name = file_names(s.name, ay)["marks"].format(Term=term.title(), term=term)
            t = self._table(
                name,
                "mis_attendance_marks",
                s.marks,
                ay,
                f"Attendance marks - exported {dmy(TERM_EXPORT[(ay, term)])}",
                term=term,
            )
            blocks = by_term[term]
            plant_at: dict[int, tuple[str, str]] = {}
            if planted and term == "autumn":
                plant_at[self.bad.randrange(len(blocks))] = ("date", "31/09/2017")
            if planted and term == "spring":
                for bi in self.bad.sample(range(len(blocks)), 2):
                    plant_at[bi] = ("code", "?")
            for bi, block in enumerate(blocks):
                if bi in plant_at and block:
                    j = self.bad.randrange(len(block))
                    parts = block[j].rstrip("\r\n").split(",")
                    what, bad = plant_at[bi]
                    if what == "date":
                        parts[1] = bad
                        rule, col = "unparseable_date", s.marks[1]
                        action = "quarantine the row: the date cannot be parsed"
                    else:
                        parts[3] = bad
                        rule, col = "unknown_attendance_code", s.marks[3]
                        action = "quarantine the row: not a DfE attendance code"
                    block = list(block)
                    block[j] = ",".join(parts) + nl
                    self.out.plant_row(t.relpath, t.lines_written + j + 1, col, rule, bad, action)
                t.block("".join(block), len(block))
            t.close()

    # --- attainment and behaviour --------------------------------------------------------
    def attainment(self, ay: str, planted: str = "") -> None:
        s = self.style
        name = file_names(s.name, ay)["attainment"]
        t = self._table(
            name,
            "mis_attainment",
            s.attainment,
            ay,
            f"Assessments - exported {dmy(YEAR_EXPORT[ay])}",
        )
        rows = []
        for child, st in self.roster(ay):
            for subject, d, measure, value in st.assessments:
                if subject not in s.subject or measure not in s.measure:
                    continue  # the profile cannot express it
                subj = s.subject[subject]
                if s.name == "sims" and subject == "maths" and measure == "scaled":
                    subj = "Mathematics"
                if s.name == "arbor" and measure == "gcse" and subject == "english":
                    subj = "English Language"
                rows.append((d, child.upn, subj, s.measure[measure], value))
        rows.sort()
        target = self.bad.randrange(len(rows)) if planted and rows else -1
        for i, (d, upn, subj, measure, value) in enumerate(rows):
            vals = [upn, subj, s.date(d), measure, value]
            if i == target and planted == "upn":
                vals[0] = _wrong_letter(upn)
                t.plant(
                    vals,
                    s.attainment[0],
                    "upn_check_letter",
                    "quarantine the row: the UPN check letter is wrong",
                )
            elif i == target and planted == "date":
                vals[2] = "31/11/2017" if s.date is dmy else "2017-11-31"
                t.plant(
                    vals,
                    s.attainment[2],
                    "unparseable_date",
                    "quarantine the row: the date cannot be parsed",
                )
            else:
                t.row(vals)
        t.close()

    def behaviour(self, ay: str, planted: str = "") -> None:
        s = self.style
        name = file_names(s.name, ay)["behaviour"]
        header = s.behaviour + s.behaviour_extra
        t = self._table(
            name, "mis_behaviour", header, ay, f"Behaviour - exported {dmy(YEAR_EXPORT[ay])}"
        )
        rng = sub_rng(self.w.seed, "behaviour-notes", self.anchor.urn, ay)
        rows = []
        for child, st in self.roster(ay):
            for d, kind, points in st.incidents:
                rows.append((d, child.upn, kind, points))
        rows.sort()
        target = self.bad.randrange(len(rows)) if planted and rows else -1
        for i, (d, upn, kind, points) in enumerate(rows):
            vals: list[object] = [upn, s.date(d), kind, points]
            if s.behaviour_extra:
                r = rng.random()
                vals.append(
                    rng.choice(NOTES_WITH_POUND)
                    if r < 0.05
                    else rng.choice(NOTES_PLAIN)
                    if r < 0.3
                    else ""
                )
            if i == target:
                vals[0] = _wrong_letter(upn)
                t.plant(
                    vals,
                    s.behaviour[0],
                    "upn_check_letter",
                    "quarantine the row: the UPN check letter is wrong",
                )
            else:
                t.row(vals)
        t.close()


def _wrong_letter(upn: str) -> str:
    alphabet = "ABCDEFGHJKLMNPQRTUVWXYZ"
    return alphabet[(alphabet.index(upn[0]) + 7) % len(alphabet)] + upn[1:]
