"""The synthetic-Zone generator: determinism, an honest committed sample, coherent data.

Fast by design (< 20 s): small scales only; the zone scale is never generated here.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import random
import re
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from stdnum.gb import upn as upn_mod

from wlz_pipeline.generator import REPO_ROOT, generate
from wlz_pipeline.generator.__main__ import main as cli_main
from wlz_pipeline.generator.mis import STYLES
from wlz_pipeline.generator.names import EXCLUDED_NAMES
from wlz_pipeline.generator.partners import partner_attendance_plan
from wlz_pipeline.generator.surveys import HEADER as SURVEY_HEADER
from wlz_pipeline.generator.world import build_world

SAMPLE = REPO_ROOT / "data" / "sample"
CONFIG = REPO_ROOT / "config"
SEED = 20170901
#: what the generator owns inside a landing folder (partners/ and README.md are not its)
OWNED = ("reference", "mis", "surveys", "interactions", "MANIFEST.json")


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_a")
    generate(out, "tiny", 7)
    return out


@pytest.fixture(scope="module")
def regenerated_sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, "sample", SEED)
    return out


@pytest.fixture(scope="module")
def sample_manifest() -> dict:
    return json.loads((SAMPLE / "MANIFEST.json").read_text(encoding="utf-8"))


def tree(root: Path) -> dict[str, bytes]:
    out = {}
    for top in OWNED:
        p = root / top
        files = [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file())
        for f in files:
            out[f.relative_to(root).as_posix()] = f.read_bytes()
    return out


def manifest(root: Path) -> dict:
    return json.loads((root / "MANIFEST.json").read_text(encoding="utf-8"))


def read_table(root: Path, rec: dict) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A CSV file as (header, [(physical line, row)]), skipping title and blank lines."""
    data = (root / rec["path"]).read_bytes()
    text = data.decode(rec.get("encoding", "utf-8"))
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] = []
    rows = []
    for values in reader:
        line = reader.line_num
        if line < rec.get("header_line", 1):
            continue
        if line == rec.get("header_line", 1):
            header = values
            continue
        if not any(v.strip() for v in values):
            continue
        rows.append((line, dict(zip(header, values, strict=True))))
    return header, rows


def planted_lines(m: dict) -> set[tuple[str, int]]:
    return {(r["file"], r["line"]) for r in m["planted_rows"]}


@functools.cache
def profile(name: str) -> dict:
    return yaml.safe_load((CONFIG / "mis_profiles" / f"{name}.yaml").read_text())


def first_alias(name: str, kind: str, field: str) -> str:
    return profile(name)["extracts"][kind]["columns"][field][0]


def parse_date(value: str) -> date:
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            pass
    raise ValueError(value)


def year_offset(spelling: str) -> int:
    s = spelling.strip()
    if s in ("Reception", "R"):
        return 0
    m = re.fullmatch(r"(?:Nursery |N)([12])", s)
    if m:
        return int(m.group(1)) - 3
    m = re.fullmatch(r"(?:Year |Y)?(\d{1,2})", s)
    assert m, spelling
    return int(m.group(1))


# --- determinism and the committed sample ------------------------------------------------------


def test_same_seed_gives_byte_identical_files(tiny, tmp_path):
    generate(tmp_path, "tiny", 7)
    assert tree(tmp_path) == tree(tiny)


def test_different_seed_gives_different_files(tiny, tmp_path):
    generate(tmp_path, "tiny", 8)
    a, b = tree(tiny), tree(tmp_path)
    assert a["reference/enrolments.csv"] != b["reference/enrolments.csv"]
    assert sum(a.get(k) != v for k, v in b.items()) > len(b) // 2


def test_committed_sample_is_what_the_generator_makes(regenerated_sample):
    committed, fresh = tree(SAMPLE), tree(regenerated_sample)
    assert sorted(committed) == sorted(fresh)
    differing = [k for k in fresh if committed[k] != fresh[k]]
    assert not differing, f"data/sample is stale; regenerate it ({differing[:5]})"


def test_existing_output_is_not_overwritten_silently(tiny):
    with pytest.raises(FileExistsError):
        generate(tiny, "tiny", 7)


def test_zone_output_is_refused_inside_the_repository():
    with pytest.raises(ValueError, match="outside the repository"):
        generate(REPO_ROOT / "data" / "zone-test", "zone", 1)


def test_command_line(tmp_path, capsys):
    assert cli_main(["--scale", "tiny", "--seed", "7", "--out", str(tmp_path / "z")]) == 0
    assert "enrolled by cohort" in capsys.readouterr().out
    assert (tmp_path / "z" / "MANIFEST.json").is_file()


def test_sample_is_under_10_mb():
    size = sum(f.stat().st_size for f in SAMPLE.rglob("*") if f.is_file())
    assert size < 10 * 1024 * 1024, size


# --- the manifest is exact ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["sample", "tiny"])
def test_manifest_row_counts_match_a_naive_count(where, tiny):
    root = SAMPLE if where == "sample" else tiny
    m = manifest(root)
    listed = {f["path"] for f in m["files"]}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert listed == on_disk - {"MANIFEST.json", "README.md"}
    for rec in m["files"]:
        data = (root / rec["path"]).read_bytes()
        assert len(data) == rec["bytes"], rec["path"]
        if rec["rows"] is None:  # workbooks: rows are per sheet, checked by their reader
            continue
        if rec["path"].endswith(".xml"):
            count = data.count(b"<Pupil>")
        elif not data:
            count = 0
        else:
            text = data.decode(rec.get("encoding", "utf-8"))
            lines = text.split("\r\n" if rec.get("line_ending") == "crlf" else "\n")
            start = rec.get("header_line", 1)
            count = sum(1 for ln in lines[start:] if ln.strip(", "))
        assert count == rec["rows"], rec["path"]


def test_planted_rows_are_where_the_manifest_says(sample_manifest):
    assert len(sample_manifest["planted_rows"]) >= 15
    recs = {f["path"]: f for f in sample_manifest["files"]}
    rules = Counter(r["rule"] for r in sample_manifest["planted_rows"])
    for rule in (
        "upn_check_letter",
        "dob_implausible_for_year_group",
        "unparseable_date",
        "unknown_attendance_code",
        "negative_possible_sessions",
        "answer_not_in_coding",
        "no_child_identifier",
        "duration_zero",
        "duration_implausible",
        "unknown_lw_id",
        "unknown_wlz_id",
    ):
        assert rules[rule] >= 1, rule
    for r in sample_manifest["planted_rows"]:
        _, rows = read_table(SAMPLE, recs[r["file"]])
        row = dict(rows)[r["line"]]
        assert row[r["column"]] == r["value"], r
    kinds = {f["rule"] for f in sample_manifest["planted_files"]}
    assert kinds == {
        "corrupt_file",
        "unknown_layout",
        "empty_file",
        "unknown_anchor",
        "duplicate_file",
        "not_a_template",
    }


def test_readme_lists_every_planted_row_and_file(sample_manifest):
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    for r in sample_manifest["planted_rows"]:
        assert f"{r['file']}` line {r['line']}" in readme, r
    for f in sample_manifest["planted_files"]:
        assert f["file"] in readme, f


def test_file_registry_expectations(sample_manifest):
    status = Counter(f["expected_status"] for f in sample_manifest["files"])
    # superseded: an MIS register extract and a partner template, each re-sent corrected
    assert status["duplicate"] == 1 and status["superseded"] == 2
    assert status["quarantined"] == 5
    dup = next(f for f in sample_manifest["files"] if f["expected_status"] == "duplicate")
    assert (SAMPLE / dup["path"]).read_bytes() == (SAMPLE / dup["duplicate_of"]).read_bytes()
    superseded = [f for f in sample_manifest["files"] if f["expected_status"] == "superseded"]
    (template,) = [f for f in superseded if f["kind"] == "partner_template"]
    resend = next(f for f in sample_manifest["files"] if f["path"] == template["superseded_by"])
    assert (resend["programme"], resend["academic_year"], resend["term"]) == (
        template["programme"],
        template["academic_year"],
        template["term"],
    )
    old = next(f for f in superseded if f["kind"] != "partner_template")
    new = next(f for f in sample_manifest["files"] if f["path"] == old["superseded_by"])
    assert new["extract_date"] > old["extract_date"]
    assert new["academic_year"] == old["academic_year"]
    corrected = [c for c in sample_manifest["corrections"] if c["superseded_file"] == old["path"]]
    assert len(corrected) >= 3


# --- coherent children -----------------------------------------------------------------------


def pupil_files(m: dict):
    return [
        f
        for f in m["files"]
        if f["kind"] == "mis_pupils"
        and f["expected_status"] in ("ingested", "superseded", "duplicate")
    ]


@pytest.mark.parametrize("where", ["sample", "tiny"])
def test_ages_fit_year_groups(where, tiny):
    root = SAMPLE if where == "sample" else tiny
    m = manifest(root)
    bad = planted_lines(m)
    checked = 0
    for rec in pupil_files(m):
        prof = rec["profile"]
        dob_col = first_alias(prof, "pupils", "date_of_birth")
        yg_col = first_alias(prof, "pupils", "year_group")
        start = int(rec["academic_year"][:4])
        _, rows = read_table(root, rec)
        for line, row in rows:
            dob = parse_date(row[dob_col])
            cohort = dob.year if dob.month >= 9 else dob.year - 1
            fits = start - cohort - 5 == year_offset(row[yg_col])
            assert fits != ((rec["path"], line) in bad), (rec["path"], line, row)
            checked += 1
    assert checked > 100


def test_every_enrolled_child_is_a_pupil_in_an_extract(sample_manifest):
    upns = set()
    for rec in pupil_files(sample_manifest):
        _, rows = read_table(SAMPLE, rec)
        col = first_alias(rec["profile"], "pupils", "upn")
        upns |= {row[col] for _, row in rows}
    rec = next(f for f in sample_manifest["files"] if f["path"] == "reference/enrolments.csv")
    _, rows = read_table(SAMPLE, rec)
    enrolled = [r for _, r in rows if r["consent_on"]]
    assert len(enrolled) >= 100
    assert all(r["upn"] in upns for _, r in rows)
    assert len({r["wlz_id"] for _, r in rows}) == len(rows)
    assert all(re.fullmatch(r"WLZ\d{9}", r["wlz_id"]) for _, r in rows)


def test_interactions_fall_on_term_weekdays_within_enrolment(sample_manifest):
    recs = {f["path"]: f for f in sample_manifest["files"]}
    _, cal = read_table(SAMPLE, recs["reference/calendar.csv"])
    spans = [
        (date.fromisoformat(r["start_date"]), date.fromisoformat(r["end_date"])) for _, r in cal
    ]
    _, enr = read_table(SAMPLE, recs["reference/enrolments.csv"])
    window = {
        r["wlz_id"]: (
            date.fromisoformat(r["consent_on"]),
            date.fromisoformat(r["exit_on"]) if r["exit_on"] else date.max,
        )
        for _, r in enr
        if r["consent_on"]
    }
    bad = planted_lines(sample_manifest)
    n = 0
    for rec in sample_manifest["files"]:
        if rec["kind"] != "interactions":
            continue
        _, rows = read_table(SAMPLE, rec)
        for line, row in rows:
            d = datetime.strptime(row["started_at"], "%d/%m/%Y %H:%M").date()
            assert d.weekday() < 5 and any(a <= d <= b for a, b in spans), row
            if (rec["path"], line) not in bad:
                lo, hi = window[row["wlz_id"]]
                assert lo <= d <= hi, row
            n += 1
    assert n > 5000


def test_upns_are_valid_except_the_planted_ones(sample_manifest):
    bad_cells = {(r["file"], r["line"], r["column"]) for r in sample_manifest["planted_rows"]}
    n = 0
    for rec in sample_manifest["files"]:
        if rec["rows"] is None or rec["kind"] in ("unknown_layout", "interactions"):
            continue
        if rec["path"].endswith(".xml"):
            text = (SAMPLE / rec["path"]).read_text(encoding="utf-8")
            found = re.findall(r"<UPN>([^<]*)</UPN>", text)
            assert found and all(upn_mod.is_valid(u) for u in found)
            continue
        header, rows = read_table(SAMPLE, rec)
        cols = [h for h in header if h in ("upn", "UPN", "Student UPN", "PupilUPN")]
        for line, row in rows:
            for c in cols:
                if row[c] == "":
                    continue  # surveys of non-enrolled children carry the UPN; some omit it
                n += 1
                planted = (rec["path"], line, c) in bad_cells
                assert upn_mod.is_valid(row[c]) != planted, (rec["path"], line, row[c])
    assert n > 100000


# --- the profiles and the survey follow config/ -------------------------------------------------


@pytest.mark.parametrize("name", ["sims", "arbor", "bromcom"])
def test_mis_headers_and_values_follow_the_profile(name):
    prof = profile(name)["extracts"]
    style = STYLES[name]
    canon = (
        "upn",
        "forename",
        "surname",
        "date_of_birth",
        "gender",
        "year_group",
        "fsm",
        "sen",
        "eal",
        "postcode",
        "extract_date",
    )
    assert list(style.pupils) == [prof["pupils"]["columns"][f][0] for f in canon]
    marks = ("upn", "date", "session", "code")
    assert list(style.marks) == [prof["attendance_marks"]["columns"][f][0] for f in marks]
    summary = (
        "upn",
        "period_start",
        "period_end",
        "possible_sessions",
        "attended_sessions",
        "authorised_absences",
        "unauthorised_absences",
        "attendance_pct",
    )
    for field, header in zip(summary, style.summary, strict=True):
        if header:
            assert header == prof["attendance_summary"]["columns"][field][0]
        else:
            assert field in prof["attendance_summary"].get("optional", [])
    att = ("upn", "subject", "assessed_on", "measure_type", "value")
    assert list(style.attainment) == [prof["attainment"]["columns"][f][0] for f in att]
    beh = ("upn", "incident_date", "incident_type", "points")
    assert list(style.behaviour) == [prof["behaviour"]["columns"][f][0] for f in beh]
    values = prof["pupils"]["values"]
    assert set(style.gender.values()) <= set(values["gender"])
    assert {values["gender"][v] for v in style.gender.values()} == {"F", "M", "other"}
    assert all(values["sen"][v] == k for k, v in style.sen.items())
    avalues = prof["attainment"]["values"]
    assert all(avalues["measure_type"][v] == k for k, v in style.measure.items())
    assert all(avalues["subject"][v] == k for k, v in style.subject.items())


def test_survey_columns_follow_config():
    cfg = yaml.safe_load((CONFIG / "survey.yaml").read_text())
    expected = ["response_id", "submitted_at", "wlz_id", "upn", "anchor_urn", "informant"]
    expected += [f"sdq_{i}" for i in range(1, 26)] + [f"wemwbs_{i}" for i in range(1, 15)]
    expected += [k for k in cfg["items"] if k not in ("sdq", "wemwbs")]
    assert expected == SURVEY_HEADER


# --- content: both sides of the rules -------------------------------------------------------------

_SUBSCALES = {
    "emotion": (3, 8, 13, 16, 24),
    "conduct": (5, 7, 12, 18, 22),
    "hyper": (2, 10, 15, 21, 25),
    "peer": (6, 11, 14, 19, 23),
}
_TOTAL_CUTS = {"parent": (13, 16, 19), "teacher": (11, 15, 18), "self": (14, 17, 19)}
_SDQ_TEXT = {"not true": 0, "somewhat true": 1, "certainly true": 2}


def test_every_sdq_band_occurs_for_every_informant(sample_manifest):
    bands: Counter = Counter()
    for rec in sample_manifest["files"]:
        if rec["kind"] != "survey" or not rec["rows"]:
            continue
        _, rows = read_table(SAMPLE, rec)
        for _, row in rows:
            sub = []
            for items in _SUBSCALES.values():
                vals = []
                for i in items:
                    v = row[f"sdq_{i}"].strip().lower()
                    if v in ("", "maybe"):
                        continue
                    code = int(v) if v.isdigit() else _SDQ_TEXT[v]
                    vals.append(2 - code if i in (7, 11, 14, 21, 25) else code)
                if len(vals) >= 3:
                    sub.append(int(sum(vals) / len(vals) * 5 + 0.5))
            if len(sub) == 4:
                total, cuts = sum(sub), _TOTAL_CUTS[row["informant"]]
                bands[(row["informant"], sum(total > c for c in cuts))] += 1
    for informant in ("self", "parent", "teacher"):
        assert all(bands[(informant, b)] for b in range(4)), (informant, bands)


def test_survey_answers_come_as_text_and_as_codes(sample_manifest):
    kinds = Counter(
        f["answers"] for f in sample_manifest["files"] if f["kind"] == "survey" and f["rows"]
    )
    assert kinds["text"] >= 1 and kinds["codes"] >= 1
    text = (SAMPLE / "surveys" / "MyVoice_export_2016-10-17.csv").read_text(encoding="utf-8")
    assert "CERTAINLY TRUE" in text and "not true" in text and "Somewhat true" in text


def test_special_file_properties(sample_manifest):
    files = {f["path"]: f for f in sample_manifest["files"]}
    sims = SAMPLE / "mis/140102/Pupil Details 2017-18.csv"
    assert sims.read_bytes().startswith(b"\xef\xbb\xbf")
    arbor = SAMPLE / "mis/140103/Students 2017-11-03.csv"
    raw = arbor.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("cp1252")
    assert text.startswith("Students - exported 03/11/2017\r\n\r\n")
    assert "£" in text and re.search("[éëóñçü]", text)
    assert any(f["trailing_blank_lines"] for f in files.values() if "trailing_blank_lines" in f)
    years = {r["profile"]: Counter() for r in files.values() if r["kind"] == "mis_pupils"}
    for rec in files.values():
        if rec["kind"] == "mis_pupils" and rec["expected_status"] == "ingested":
            col = first_alias(rec["profile"], "pupils", "year_group")
            years[rec["profile"]].update(r[col] for _, r in read_table(SAMPLE, rec)[1])
    assert "Year 5" in years["sims"] and "Reception" in years["sims"]
    assert "Y7" in years["arbor"] and "N2" in years["bromcom"] and "R" in years["bromcom"]
    ctf = (SAMPLE / "mis/140103/2052153_CTF_2074310_001.xml").read_text(encoding="utf-8")
    assert 30 <= ctf.count("<Pupil>") <= 50 and "<CTFversion>17.0</CTFversion>" in ctf
    marks = [f for f in files.values() if f["kind"] == "mis_attendance_marks"]
    assert sum(f["rows"] for f in marks) > 100000


def test_no_real_names_from_the_programme_reports(sample_manifest):
    for rec in pupil_files(sample_manifest):
        _, rows = read_table(SAMPLE, rec)
        for _, row in rows:
            for col in (
                first_alias(rec["profile"], "pupils", "forename"),
                first_alias(rec["profile"], "pupils", "surname"),
            ):
                assert row[col] not in EXCLUDED_NAMES


@pytest.fixture(scope="module")
def sample_world():
    return build_world("sample", SEED)


def test_attendance_behaviour_and_engagement_cover_both_sides(sample_world):
    w = sample_world
    from wlz_pipeline.generator.school import behaviour_windows, summary_rows

    for ay in w.cal.academic_years:
        rates, starts = [], []
        (a0, a1), _ = behaviour_windows(w.cal, ay)
        for (urn, year), rows in w.roster.items():
            if year != ay:
                continue
            for child, st in rows:
                srows = summary_rows(w.seed, w.cal, w.closures, w.by_urn[urn], child, st)
                possible = sum(r[3] for r in srows)
                if possible:
                    rates.append(sum(r[4] for r in srows) / possible)
                starts.append(sum(a0 <= d <= a1 for d, _, _ in st.incidents))
        assert any(r < 0.9 for r in rates) and any(0.9 <= r < 0.96 for r in rates)
        assert any(r >= 0.96 for r in rates)
        assert any(n >= 5 for n in starts) and any(n < 5 for n in starts)
    per_child = Counter(
        i.wlz_id for i in w.interactions if i.kind in ("check_in", "one_to_one", "formal_review")
    )
    assert min(per_child.values()) < 10 < max(per_child.values())


def test_partner_plan_has_both_sides_of_every_rule(sample_world):
    plans = partner_attendance_plan(sample_world.allocations, sample_world.cal, random.Random(3))
    again = partner_attendance_plan(sample_world.allocations, sample_world.cal, random.Random(3))
    assert [(k, [c.marks for c in p.children]) for k, p in plans.items()] == [
        (k, [c.marks for c in p.children]) for k, p in again.items()
    ]
    met = unmet = dropped = consecutive = x_between = 0
    for p in plans.values():
        assert all(d.weekday() == p.weekday for d in p.session_dates)
        for ch in p.children:
            rate = ch.attended / max(1, ch.attended + ch.missed)
            hours = ch.attended * p.planned_minutes / 60
            if rate >= 0.6 and hours >= 6:
                met += 1
            else:
                unmet += 1
            dropped += ch.dropped_out
            ran = [m for m in ch.marks if m != "X"]
            consecutive += any(
                a in ("A", "E") and b in ("A", "E") for a, b in zip(ran, ran[1:], strict=False)
            )
            s = "".join(m or "." for m in ch.marks)
            x_between += bool(re.search("[AE]X+[AE]", s))
            assert all(
                (e is not None) == (m in ("P", "L"))
                for m, e in zip(ch.marks, ch.engagement, strict=True)
            )
    assert met and unmet and dropped and consecutive and x_between


def test_link_worker_leaves_and_is_replaced(sample_manifest):
    _, rows = read_table(
        SAMPLE,
        next(f for f in sample_manifest["files"] if f["path"] == "reference/link_workers.csv"),
    )
    ended = [r for _, r in rows if r["end_date"]]
    assert len(ended) == 1
    successor = [
        r
        for _, r in rows
        if r["anchor_urn"] == ended[0]["anchor_urn"] and r["start_date"] > ended[0]["end_date"]
    ]
    assert successor
    assert date.fromisoformat(successor[0]["start_date"]) - date.fromisoformat(
        ended[0]["end_date"]
    ) < timedelta(days=14)
