"""Write a built :class:`~.world.World` into the landing layout of spec/sources.md."""

from __future__ import annotations

from datetime import date

from stdnum.gb.upn import calc_check_digit

from .ctf import write_ctf
from .interactions import HEADER as INTERACTION_HEADER
from .interactions import Interaction
from .mis import CANONICAL_PUPIL, EXTRACT_DATES, RESEND_DATE, STYLES, MisWriter, file_names
from .output import Output, csv_line
from .surveys import HEADER as SURVEY_HEADER
from .surveys import Response, response_row
from .util import sub_rng
from .world import World

BAD_URN = "999999"


def write_reference(w: World, out: Output) -> None:
    def table(name: str, header: list[str], rows: list[list[object]], kind: str) -> None:
        t = out.table(f"reference/{name}", kind, header, meta={"expected_status": "ingested"})
        for r in rows:
            t.row(r)
        t.close()

    table(
        "anchors.csv",
        ["urn", "name", "phase", "borough", "mis_profile"],
        [[a.urn, a.name, a.phase, a.borough, a.mis_profile] for a in w.anchors],
        "reference_anchors",
    )
    table(
        "partners.csv",
        ["partner_id", "name", "outcome_areas"],
        [[p.partner_id, p.name, "|".join(p.outcome_areas)] for p in w.partners],
        "reference_partners",
    )
    table(
        "link_workers.csv",
        ["lw_id", "name", "anchor_urn", "start_date", "end_date"],
        [
            [
                lw.lw_id,
                lw.name,
                lw.anchor_urn,
                lw.start_date.isoformat(),
                lw.end_date.isoformat() if lw.end_date else "",
            ]
            for lw in w.lws.workers
        ],
        "reference_link_workers",
    )
    table(
        "enrolments.csv",
        [
            "wlz_id",
            "upn",
            "anchor_urn",
            "cohort",
            "identified_on",
            "approached_on",
            "consent_on",
            "declined_on",
            "lw_id",
            "exit_on",
            "exit_reason",
            "target_outcomes",
        ],
        w.register.rows(),
        "reference_enrolments",
    )
    table(
        "allocations.csv",
        ["wlz_id", "partner_id", "programme", "academic_year", "term"],
        w.allocations,
        "reference_allocations",
    )
    table(
        "calendar.csv",
        ["academic_year", "term", "half_term", "start_date", "end_date"],
        w.cal.rows(),
        "reference_calendar",
    )
    table(
        "imd.csv",
        ["postcode", "lsoa_code", "imd_decile"],
        [[pc, lsoa, dec] for pc, (lsoa, dec) in sorted(w.geo.imd.items())],
        "reference_imd",
    )


def write_mis(w: World, out: Output) -> None:
    years = w.cal.academic_years
    first, last = years[0], years[-1]
    for anchor in w.anchors:
        mw = MisWriter(w, out, anchor)
        role = anchor.role
        for ay in years:
            names = file_names(anchor.mis_profile, ay)
            extract = EXTRACT_DATES[anchor.mis_profile][ay]
            pname = names["pupils"].format(
                extract=extract.isoformat(), compact=extract.strftime("%Y%m%d")
            )
            # -- pupils ----------------------------------------------------------------
            if role == "showcase_secondary" and ay == last:
                _arbor_resend(w, out, mw, ay, pname, extract)
            else:
                planted = ""
                trailing, style = 0, "empty"
                if role == "showcase_primary":
                    planted = "sims-first" if ay == first else "sims-dob"
                    trailing = 1 if ay == first else 0
                elif role == "showcase_nursery" and ay == first:
                    planted, trailing, style = "bromcom-dob", 2, "commas"
                t = mw.pupils(ay, extract, pname, planted=planted)
                t.close(trailing_blank=trailing, blank_style=style)
                if role == "showcase_nursery" and ay == last:
                    src = out.record_of(t.relpath)
                    dup = t.relpath[:-4] + " (1).csv"
                    out.write_bytes(
                        dup,
                        src["kind"],
                        out.path(t.relpath).read_bytes(),
                        src["rows"],
                        **{
                            k: v
                            for k, v in src.items()
                            if k
                            not in ("path", "kind", "rows", "bytes", "sha256", "expected_status")
                        },
                        expected_status="duplicate",
                        duplicate_of=t.relpath,
                    )
                    out.planted_files.append(
                        {
                            "file": dup,
                            "rule": "duplicate_file",
                            "expected_action": f"ignore as a duplicate of {t.relpath} "
                            "(same bytes, new name): ingest nothing new",
                        }
                    )
            # -- attendance --------------------------------------------------------------
            if w.marks_anchor(anchor, ay):
                mw.marks(ay, planted=role == "showcase_primary")
            else:
                mw.summaries(
                    ay,
                    planted=(role == "showcase_secondary" and ay == first)
                    or (role == "showcase_nursery" and ay == last),
                )
            # -- attainment and behaviour ----------------------------------------------
            att_plant = ""
            if role == "showcase_nursery" and ay == first:
                att_plant = "upn"
            elif role == "showcase_secondary" and ay == last:
                att_plant = "date"
            mw.attainment(ay, planted=att_plant)
            mw.behaviour(ay, planted="upn" if role == "showcase_secondary" and ay == last else "")
    sources = [a for a in w.anchors if a.role == "showcase_primary"]
    dests = [a for a in w.anchors if a.role == "showcase_secondary"]
    if sources and dests and len(years) > 1:
        write_ctf(w, out, sources[0], dests[0], years[-2])


def _arbor_resend(w: World, out: Output, mw: MisWriter, ay: str, pname: str, extract: date):
    """The first extract of the year has four wrong values; a later re-send corrects them."""
    rng = sub_rng(w.seed, "resend")
    style = STYLES["arbor"]
    roster = sorted(mw.roster(ay), key=lambda cs: cs[0].cid)
    corrections: dict[int, dict[str, str]] = {}
    picks = []
    fsm = [c for c, st in roster if st.fsm]
    sen = [c for c, st in roster if st.sen == "K"]
    anyone = [
        c
        for c, _ in roster
        if len(c.surname) > 4
        and " " not in c.surname
        and "-" not in c.surname
        and "'" not in c.surname
    ]
    if fsm:
        picks.append((rng.choice(fsm), "fsm", style.flags[1]))
    if sen:
        picks.append((rng.choice(sen), "sen", style.sen["N"]))
    if anyone:
        c = rng.choice(anyone)
        picks.append((c, "surname", c.surname[:-2] + c.surname[-1] + c.surname[-2]))
        c2 = rng.choice(anyone)
        picks.append((c2, "postcode", rng.choice(w.geo.by_la[mw.anchor.la])))
    resend_name = pname.replace(extract.isoformat(), RESEND_DATE.isoformat())
    seen: set[int] = set()
    for child, field_name, wrong in picks:
        if child.cid in seen:
            continue
        seen.add(child.cid)
        corrections[child.cid] = {field_name: wrong}
    first = mw.pupils(ay, extract, pname, corrections=corrections)
    first.close()
    rec = out.record_of(first.relpath)
    second = mw.pupils(ay, RESEND_DATE, resend_name)
    second.close()
    rec["expected_status"] = "superseded"
    rec["superseded_by"] = second.relpath
    out.record_of(second.relpath)["supersedes"] = first.relpath
    col = dict(zip(CANONICAL_PUPIL, style.pupils, strict=True))
    by_cid = {c.cid: (c, st) for c, st in roster}
    for cid, fields in corrections.items():
        child, st = by_cid[cid]
        for field_name, wrong in fields.items():
            right = {
                "fsm": style.flags[0],
                "sen": style.sen[st.sen],
                "surname": child.surname,
                "postcode": st.postcode,
            }[field_name]
            out.corrections.append(
                {
                    "superseded_file": first.relpath,
                    "superseding_file": second.relpath,
                    "upn": child.upn,
                    "column": col[field_name],
                    "superseded_value": wrong,
                    "corrected_value": right,
                }
            )


# --- surveys ----------------------------------------------------------------------------


def _survey_file(
    w: World,
    out: Output,
    name: str,
    responses: list[Response],
    as_text: bool,
    meta: dict,
    plant: dict[str, tuple[str, str]] | None = None,
    earlier: bool = False,
) -> None:
    rng = sub_rng(w.seed, "survey-case", name)
    t = out.table(
        f"surveys/{name}",
        "survey",
        SURVEY_HEADER,
        meta={"answers": "text" if as_text else "codes", "expected_status": "ingested", **meta},
    )
    for resp in responses:
        values = dict(resp.answers)
        if earlier:
            values.update(resp.earlier_values)
        row = response_row(resp, as_text, rng, values)
        if plant and resp.response_id in plant:
            col, rule = plant[resp.response_id]
            if rule == "answer_not_in_coding":
                row[SURVEY_HEADER.index(col)] = "maybe"
                t.plant(
                    row,
                    col,
                    rule,
                    "quarantine the row: 'maybe' is not an answer of the item's scale",
                )
            else:
                t.plant(
                    row,
                    col,
                    rule,
                    "quarantine the row: neither wlz_id nor upn identifies the child",
                )
        else:
            t.row(row)
    t.close()


def write_surveys(w: World, out: Output) -> dict[str, int]:
    years = w.cal.academic_years
    rng = sub_rng(w.seed, "survey-files")
    by_wave: dict[tuple[str, str], list[Response]] = {}
    for r in w.surveys.responses:
        by_wave.setdefault((r.ay, r.wave), []).append(r)
    for rs in by_wave.values():
        rs.sort(key=lambda r: (r.submitted_at, r.response_id))
    planted_ids: set[str] = set()

    def maybe_target(rs: list[Response], cols: list[str], exclude: set[str]) -> dict:
        cands = [
            r
            for r in rs
            if r.response_id not in exclude
            and not r.with_wlz
            and all(r.answers.get(c) is not None for c in cols)
        ]
        r = rng.choice(cands)
        col = rng.choice(cols)
        planted_ids.add(r.response_id)
        return {r.response_id: (col, "answer_not_in_coding")}

    first, last = years[0], years[-1]
    # first year: autumn as text (one "maybe"), summer as codes
    rs = by_wave.get((first, "autumn"), [])
    _survey_file(
        w,
        out,
        "MyVoice_export_2016-10-17.csv",
        rs,
        True,
        {"academic_year": first, "wave": "autumn"},
        plant=maybe_target(rs, [f"sdq_{i}" for i in range(1, 26)], set()),
    )
    _survey_file(
        w,
        out,
        "MyVoice_export_2017-07-03.csv",
        by_wave.get((first, "summer"), []),
        False,
        {"academic_year": first, "wave": "summer"},
    )
    # last year: autumn in two overlapping exports, the later repeating 20 responses
    rs = by_wave.get((last, "autumn"), [])
    cut = len(rs) // 2
    overlap = min(20, cut)
    part1, part2 = rs[:cut], rs[cut - overlap :]
    repeated = rs[cut - overlap : cut]
    for r in rng.sample(repeated, min(3, len(repeated))):
        answered = [c for c in (f"sdq_{i}" for i in range(1, 26)) if r.answers[c] is not None]
        col = rng.choice(answered)
        true = r.answers[col]
        r.earlier_values[col] = (true + 1) % 3  # type: ignore[operator]
        out.corrections.append(
            {
                "superseded_file": "surveys/MyVoice_export_2017-10-09.csv",
                "superseding_file": "surveys/MyVoice_export_2017-10-16.csv",
                "response_id": r.response_id,
                "values_are": "answer codes (the later file writes them as text)",
                "column": col,
                "superseded_value": str(r.earlier_values[col]),
                "corrected_value": str(true),
            }
        )
    _survey_file(
        w,
        out,
        "MyVoice_export_2017-10-09.csv",
        part1,
        False,
        {"academic_year": last, "wave": "autumn"},
        earlier=True,
    )
    later_only = {r.response_id for r in repeated}
    older = [
        r
        for r in part2
        if r.response_id not in later_only and r.answers.get("fam_mgmt_2") is not None
    ]
    plant = maybe_target(older, ["fam_mgmt_2", "bully_victim"], later_only)
    _survey_file(
        w,
        out,
        "MyVoice_export_2017-10-16.csv",
        part2,
        True,
        {
            "academic_year": last,
            "wave": "autumn",
            "repeats_from": "surveys/MyVoice_export_2017-10-09.csv",
            "repeated_response_ids": len(repeated),
        },
        plant=plant,
    )
    # last summer as codes, with one response that carries neither id
    rs = list(by_wave.get((last, "summer"), []))
    src = rng.choice(rs)
    orphan = Response(
        w.surveys.new_id(),
        src.submitted_at.replace(minute=(src.submitted_at.minute + 1) % 60),
        src.child,
        src.ay,
        src.wave,
        src.urn,
        src.informant,
        dict(src.answers),
        with_wlz=False,
        with_upn=False,
    )
    rs.append(orphan)
    rs.sort(key=lambda r: (r.submitted_at, r.response_id))
    planted_ids.add(orphan.response_id)
    _survey_file(
        w,
        out,
        "MyVoice_export_2018-07-02.csv",
        rs,
        False,
        {"academic_year": last, "wave": "summer"},
        plant={orphan.response_id: ("upn", "no_child_identifier")},
    )
    out.write_bytes(
        "surveys/MyVoice_export_2018-07-09.csv",
        "survey",
        b"",
        0,
        expected_status="quarantined",
        status_reason="empty file",
    )
    out.planted_files.append(
        {
            "file": "surveys/MyVoice_export_2018-07-09.csv",
            "rule": "empty_file",
            "expected_action": "quarantine the file: it is empty (no header, no rows); the other "
            "survey files still go through",
        }
    )
    ids = {r.response_id for r in w.surveys.responses} | {orphan.response_id}
    return {"unique": len(ids), "unique_valid": len(ids - planted_ids)}


# --- interactions -----------------------------------------------------------------------


def write_interactions(w: World, out: Output) -> dict[str, int]:
    items = w.interactions
    years = w.cal.academic_years
    autumn_end = w.cal.term_bounds(years[-1], "autumn")[1]
    year_start = w.cal.year_bounds(years[-1])[0]
    a_items = [i for i in items if i.started_at.date() <= autumn_end]
    b_items = [i for i in items if i.started_at.date() >= year_start]
    rng = sub_rng(w.seed, "bad-interactions")
    n = len(items)
    bad: list[tuple[Interaction, str, str, str]] = []
    known = {r.wlz_id for r in w.register.entries}
    cands = [i for i in b_items if i.kind == "check_in" and i.started_at.date() > autumn_end]
    for k, (col, rule, action) in enumerate(
        (
            (
                "duration_minutes",
                "duration_zero",
                "quarantine the row: a duration of 0 minutes is not an interaction",
            ),
            (
                "duration_minutes",
                "duration_implausible",
                "quarantine the row: 600 minutes (10 hours) is implausible for one interaction",
            ),
            (
                "lw_id",
                "unknown_lw_id",
                "quarantine the row: lw_id not in reference/link_workers.csv",
            ),
            (
                "wlz_id",
                "unknown_wlz_id",
                "quarantine the row: wlz_id not in reference/enrolments.csv",
            ),
        )
    ):
        src = rng.choice(cands)
        it = Interaction(
            src.started_at.replace(minute=(src.started_at.minute + 5) % 60),
            src.wlz_id,
            src.lw_id,
            src.duration,
            src.with_whom,
            src.kind,
            src.channel,
            src.notes,
            f"INT{100001 + n + k:08d}",
        )
        if rule == "duration_zero":
            it.duration = 0
        elif rule == "duration_implausible":
            it.duration = 600
        elif rule == "unknown_lw_id":
            it.lw_id = "LW99"
        else:
            while True:
                wid = f"WLZ{rng.randrange(100000000, 1000000000)}"
                if wid not in known:
                    break
            it.wlz_id = wid
        bad.append((it, col, rule, action))
    bad_ids = {b[0].interaction_id: b for b in bad}
    b_all = sorted(b_items + [b[0] for b in bad], key=lambda i: (i.started_at, i.interaction_id))
    for name, rows, meta in (
        ("CaseNotes_export_2018-01-05.csv", a_items, {"covers_to": autumn_end.isoformat()}),
        (
            "CaseNotes_export_2018-07-23.csv",
            b_all,
            {"covers_from": year_start.isoformat(), "overlaps": "CaseNotes_export_2018-01-05.csv"},
        ),
    ):
        t = out.table(
            f"interactions/{name}",
            "interactions",
            INTERACTION_HEADER,
            meta={"expected_status": "ingested", **meta},
        )
        for it in rows:
            if it.interaction_id in bad_ids:
                _, col, rule, action = bad_ids[it.interaction_id]
                t.plant(it.row(), col, rule, action)
            else:
                t.row(it.row())
        t.close()
    return {
        "unique": n + len(bad),
        "unique_valid": n,
        "repeated_in_both_exports": len([i for i in a_items if i.started_at.date() >= year_start]),
    }


# --- deliberately bad files ---------------------------------------------------------------


def write_bad_files(w: World, out: Output) -> None:
    rng = sub_rng(w.seed, "bad-files")
    nursery = next(a for a in w.anchors if a.role == "showcase_nursery")
    primary = next(a for a in w.anchors if a.role == "showcase_primary")
    # an Excel workbook renamed .csv: binary garbage
    garbage = bytearray(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00")
    garbage += bytes(rng.randrange(256) for _ in range(1500))
    garbage += b"\x81\x8d\x8f\x90\x9d\x00\x00\xff\xfe"
    path = f"mis/{primary.urn}/Attendance Export.csv"
    out.write_bytes(
        path,
        "corrupt",
        bytes(garbage),
        None,
        anchor_urn=primary.urn,
        expected_status="quarantined",
        status_reason="not a readable CSV",
    )
    out.planted_files.append(
        {
            "file": path,
            "rule": "corrupt_file",
            "expected_action": "quarantine the file whole: binary content (a workbook renamed "
            ".csv), not decodable as CSV text; every other file still goes through",
        }
    )
    # a CSV whose headers match no extract kind of the anchor's profile
    header = ["ChildRef", "Room", "KeyPerson", "SessionsBooked", "Allergies"]
    lines = [csv_line(header)]
    for i in range(8):
        lines.append(
            csv_line(
                [
                    f"C{1000 + i}",
                    rng.choice(("Butterflies", "Ladybirds")),
                    rng.choice(("Keyworker A", "Keyworker B")),
                    rng.choice((10, 15, 30)),
                    rng.choice(("", "", "nuts", "dairy")),
                ]
            )
        )
    path = f"mis/{nursery.urn}/KeyPersonRoomList.csv"
    out.write_bytes(
        path,
        "unknown_layout",
        ("\n".join(lines) + "\n").encode("utf-8"),
        8,
        anchor_urn=nursery.urn,
        encoding="utf-8",
        line_ending="lf",
        header_line=1,
        expected_status="quarantined",
        status_reason="headers match no extract of the anchor's profile",
    )
    out.planted_files.append(
        {
            "file": path,
            "rule": "unknown_layout",
            "expected_action": "quarantine the file whole: its headers match no extract kind of "
            "the bromcom profile",
        }
    )
    # an extract for an anchor that is not in reference/anchors.csv
    style = STYLES["sims"]
    lines = [csv_line(list(style.pupils))]
    for _ in range(12):
        body = f"209{2000 + rng.randrange(1, 999)}{11 + rng.randrange(4)}{rng.randrange(1000):03d}"
        lines.append(
            csv_line(
                [
                    calc_check_digit(body) + body,
                    rng.choice(("Ada", "Ben", "Cleo", "Dan")),
                    rng.choice(("Ames", "Bright", "Cole")),
                    f"{rng.randint(1, 28):02d}/0{rng.randint(1, 8)}/2010",
                    rng.choice(("Female", "Male")),
                    "Year 3",
                    "No",
                    "No Special Educational Need",
                    "No",
                    "W12 0AA",
                    "12/10/2017",
                ]
            )
        )
    path = f"mis/{BAD_URN}/Pupil Details 2017-18.csv"
    out.write_bytes(
        path,
        "mis_pupils",
        b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode(),
        12,
        anchor_urn=BAD_URN,
        profile="sims",
        academic_year="2017/18",
        encoding="utf-8-sig",
        line_ending="lf",
        header_line=1,
        expected_status="quarantined",
        status_reason="anchor 999999 not in reference/anchors.csv",
    )
    out.planted_files.append(
        {
            "file": path,
            "rule": "unknown_anchor",
            "expected_action": "quarantine the file whole: mis/999999/ is not an anchor in "
            "reference/anchors.csv (reported, not guessed at)",
        }
    )
