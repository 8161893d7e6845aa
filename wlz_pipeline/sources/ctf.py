"""DfE Common Transfer File (CTF) XML into the canonical MIS fields.

Parsed with ``defusedxml`` so entity-expansion ("billion laughs") and external-entity
files are rejected instead of expanded (quality.md, "files are parsed defensively").
Element names follow domain_facts.md §5; the mapping lives in
``config/mis_profiles/ctf.yaml``. Rows are numbered by their order in the file within
each kind (XML has no lines a person would count).
"""

from __future__ import annotations

from datetime import date
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from wlz_pipeline.sources.mis import MisProfile
from wlz_pipeline.sources.text import UnreadableFile

MAX_CTF_BYTES = 200 * 1024 * 1024


def _text(el: Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None


def _iso(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def ctf_source_urn(data: bytes) -> str | None:
    """The URN of the school that produced the CTF (``Header/SourceSchool/URN``)."""
    try:
        root = fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException):
        return None
    return _text(root.find("Header"), "SourceSchool/URN")


def read_ctf(
    data: bytes, profile: MisProfile
) -> dict[str, list[tuple[int, dict[str, str | None]]]]:
    """Canonical rows per kind (``pupils``, ``attendance_summary``, ``attainment``)."""
    if len(data) > MAX_CTF_BYTES:
        raise UnreadableFile(f"CTF file larger than {MAX_CTF_BYTES // 2**20} MB")
    try:
        root = fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise UnreadableFile(f"not a readable CTF XML file: {type(exc).__name__}: {exc}") from exc
    if root.tag != "CTfile":
        raise UnreadableFile(f"not a CTF: the root element is <{root.tag}>, expected <CTfile>")
    cfg = profile.ctf or {}
    fields: dict = cfg.get("pupil_fields", {})
    header = root.find("Header")
    extract_on = _iso(_text(header, "DateTime"))
    extract_date = extract_on.isoformat() if extract_on else None
    english = set(cfg.get("english_language_codes", ["ENG"]))
    methods: dict = cfg.get("methods", {})
    subjects: dict = cfg.get("subjects", {})

    out: dict[str, list[tuple[int, dict[str, str | None]]]] = {
        "pupils": [],
        "attendance_summary": [],
        "attainment": [],
    }
    pupils = root.findall("CTFpupilData/Pupil")
    for n, pupil in enumerate(pupils, start=1):
        row: dict[str, str | None] = {}
        for field, paths in fields.items():
            for p in [paths] if isinstance(paths, str) else paths:
                row[field] = _text(pupil, p)
                if row[field] is not None:
                    break
        upn = row.get("upn")
        if row.get("gender") is not None:
            row["gender"] = cfg.get("gender_values", {}).get(row["gender"], row["gender"])
        # FSM: an FSM instance open on the extract date.
        fsm = False
        for inst in pupil.findall("FSMhistory/FSMinstance"):
            start = _iso(_text(inst, "FSMstartDate"))
            end = _iso(_text(inst, "FSMendDate"))
            on = extract_on or date.max
            if start is not None and start <= on and (end is None or end >= on):
                fsm = True
        row["fsm"] = "true" if fsm else "false"
        # SEN: the latest SEN record's provision.
        sen_records = sorted(
            (
                (_iso(_text(s, "StartDate")) or date.min, _text(s, "SENprovision"))
                for s in pupil.findall("SENhistory/SEN")
            ),
            key=lambda t: t[0],
        )
        sen = sen_records[-1][1] if sen_records else "N"
        row["sen"] = cfg.get("sen_values", {}).get(sen, sen)
        first = [
            _text(t, "Language")
            for t in pupil.findall("BasicDetails/Languages/Type")
            if _text(t, "LanguageType") == "F"
        ]
        row["eal"] = None if not first else ("false" if first[0] in english else "true")
        row["extract_date"] = extract_date
        out["pupils"].append((n, row))

        for yd in pupil.findall("Attendance/YearData"):
            year = _text(yd, "Year")
            start_year = int(year) if year and year.isdigit() else None
            out["attendance_summary"].append(
                (
                    len(out["attendance_summary"]) + 1,
                    {
                        "upn": upn,
                        "period_start": f"{start_year}-09-01" if start_year else None,
                        "period_end": f"{start_year + 1}-08-31" if start_year else None,
                        "possible_sessions": _text(yd, "SessionsPossible"),
                        "attended_sessions": _text(yd, "SessionsAttended"),
                        "authorised_absences": _text(yd, "SessionsAuthorised"),
                        "unauthorised_absences": _text(yd, "SessionsUnauthorised"),
                        "attendance_pct": None,
                    },
                )
            )
        for ks in pupil.findall("StageAssessments/KeyStage"):
            for sa in ks.findall("StageAssessment"):
                method = _text(sa, "Method")
                subject = _text(sa, "Subject")
                year = _text(sa, "Year")
                assessed = _text(sa, "ResultDate") or (f"{year}-07-01" if year else None)
                out["attainment"].append(
                    (
                        len(out["attainment"]) + 1,
                        {
                            "upn": upn,
                            "subject": subjects.get(subject, subject),
                            "assessed_on": assessed,
                            "measure_type": methods.get(method, method),
                            "value": _text(sa, "Result"),
                        },
                    )
                )
    if not pupils:
        raise UnreadableFile("the CTF holds no <Pupil> records")
    return out
