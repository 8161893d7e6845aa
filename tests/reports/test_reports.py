"""The HTML reports of the committed sample, opened in headless Chromium.

Every expected figure comes from our own SQL on the warehouse or the publication, never
from the renderer. The reports were written by the ``reports/html`` asset inside the
session's Dagster run (tests/conftest.py ``sample_run``)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from wlz_pipeline.payments.ledger import pounds

pytestmark = pytest.mark.slow

MARK = "‹5"


def day(d: date) -> str:
    return f"{d:%d %b %Y}"


def pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def text_of(page, selector: str) -> str:
    return " ".join(page.locator(selector).first.inner_text().split())


# -- the asset ------------------------------------------------------------------------------
def test_the_reports_asset_runs_in_the_dagster_run_and_writes_the_index(sample, wh, bi):
    result = sample.result
    assert result.success
    mats = [
        m
        for m in result.get_asset_materialization_events()
        if m.asset_key == dg.AssetKey(["reports", "html"])
    ]
    assert len(mats) == 1
    meta = mats[0].materialization.metadata
    index = Path(meta["index"].value)
    assert index == sample.reports / "index.html" and index.is_file()
    children = wh.execute(
        "SELECT count(*) FROM marts.child_register WHERE enrolled AND wlz_id IS NOT NULL"
    ).fetchone()[0]
    cards = bi.execute(
        "SELECT count(DISTINCT (partner_id, academic_year, term)) FROM bi.partner_report_card"
    ).fetchone()[0]
    claims = wh.execute("SELECT count(*) FROM marts.payment_claims").fetchone()[0]
    assert children > 0 and cards > 0 and claims > 0
    assert meta["pages_child"].value == children
    assert meta["pages_partner"].value == cards
    assert meta["pages_claim"].value == claims
    assert meta["pages_summary"].value == 1
    assert len(list((sample.reports / "restricted" / "children").glob("*.html"))) == children
    assert len(list((sample.reports / "partners").glob("*.html"))) == cards
    assert len(list((sample.reports / "restricted" / "claims").glob("*.html"))) == claims
    # metadata carries counts and paths, never a child identifier
    assert not re.search(r"WLZ[0-9]{9}", repr(dict(meta)))


def test_the_restricted_folder_is_owner_only(sample):
    for d in ("restricted", "restricted/children", "restricted/claims"):
        assert (sample.reports / d).stat().st_mode & 0o777 == 0o700
    child = next((sample.reports / "restricted" / "children").glob("*.html"))
    assert child.stat().st_mode & 0o077 == 0


# -- index ----------------------------------------------------------------------------------
def test_index_shows_the_as_of_date_and_every_link_resolves(sample, bi, open_page):
    as_of, run_id = bi.execute("SELECT as_of_date, run_id FROM bi.publication").fetchone()
    for rel, shot in (("index.html", "index"), ("restricted/index.html", "restricted_index")):
        path = sample.reports / rel
        opened = open_page(path, shot)
        page = opened.page
        assert day(as_of) in text_of(page, "header")
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        assert hrefs
        for href in hrefs:
            assert not re.match(r"[a-z]+:", href), href  # relative links only
            assert (path.parent / href).resolve().is_file(), href
    page = open_page(sample.reports / "index.html", "index").page
    assert page.locator("h1").inner_text() == "Reports"
    assert page.locator("#as-of").inner_text() == day(as_of)
    assert run_id in page.locator("#publication").inner_text()
    n_cards = bi.execute(
        "SELECT count(DISTINCT (partner_id, academic_year, term)) FROM bi.partner_report_card"
    ).fetchone()[0]
    assert page.locator("#partner-cards tbody tr").count() == n_cards
    assert page.locator("a[href='summary.html']").count() == 1
    assert page.locator("a[href='restricted/index.html']").count() == 1


# -- WLZ summary ----------------------------------------------------------------------------
def test_summary_shows_the_construct_table_with_n_and_a_chart(sample, bi, open_page):
    page = open_page(sample.reports / "summary.html", "summary").page
    assert page.locator("h1").inner_text() == "WLZ summary: children at risk"
    waves = bi.execute(
        "SELECT DISTINCT academic_year, wave FROM bi.summary_constructs ORDER BY ALL"
    ).fetchall()
    headings = page.locator("h2").all_inner_texts()
    for year, wave in waves:
        assert f"{year}, {wave} wave" in headings
    # one bar chart per wave, accessible (role img with a title)
    assert page.locator("svg[role='img']").count() == len(waves)
    assert page.locator("svg[role='img'] > title").count() == len(waves)
    # a row with nothing suppressed: every figure as published
    year, wave, construct, wp, wn, cp, cn, pp, pn = bi.execute(
        """SELECT academic_year, wave, construct, wlz_pct, wlz_n, comparison_pct, comparison_n,
                  population_pct, population_n
           FROM bi.summary_constructs
           WHERE suppressed_columns IS NULL AND wlz_n > 0 AND comparison_n > 0
           ORDER BY academic_year DESC, wave DESC, construct LIMIT 1"""
    ).fetchone()
    slug = f"wave-{year.replace('/', '-')}-{wave}"
    cells = page.locator(f"#{slug} tr[data-construct='{construct}'] td").all_inner_texts()
    assert cells == [pct(wp), f"{wn:,}", pct(cp), f"{cn:,}", pct(pp), f"{pn:,}"]


def test_summary_shows_the_suppression_mark_where_bi_suppressed(sample, bi, open_page):
    page = open_page(sample.reports / "summary.html", "summary").page
    rows = bi.execute(
        """SELECT academic_year, wave, construct, suppressed_columns FROM bi.summary_constructs
           WHERE suppressed AND contains(suppressed_columns, 'comparison_pct')"""
    ).fetchall()
    assert rows, "the sample has suppressed comparison groups"
    for year, wave, construct, _ in rows:
        slug = f"wave-{year.replace('/', '-')}-{wave}"
        cells = page.locator(f"#{slug} tr[data-construct='{construct}'] td").all_inner_texts()
        assert cells[2:4] == [MARK, MARK], (year, wave, construct)
    assert MARK in page.locator("p.legend").inner_text()


# -- partner report card --------------------------------------------------------------------
def test_partner_card_shows_every_section_and_the_suppression_mark(sample, bi, open_page):
    pid, year, term, name = bi.execute(
        """SELECT c.partner_id, c.academic_year, c.term, p.name
           FROM bi.partner_report_card c JOIN bi.dim_partner p USING (partner_id)
           WHERE c.suppressed AND c.template_returned
           ORDER BY c.partner_id, c.academic_year, c.term LIMIT 1"""
    ).fetchone()
    path = sample.reports / "partners" / f"{pid}_{year.replace('/', '-')}_{term}.html"
    page = open_page(path, "partner").page
    assert page.locator("h1").inner_text() == f"Partner report card: {name}"
    assert page.locator("h2").all_inner_texts() == [
        "Reach",
        "Amount of support",
        "Participation",
        "Child satisfaction",
        "Outcome measure",
        "Data completeness",
        "Dosage",
    ]
    assert page.locator("table th[scope='col']").count() > 0
    assert page.locator("table caption").count() == 7
    rows = bi.execute(
        """SELECT programme, suppressed_columns, return_status, outcome_measure,
                  children_allocated
           FROM bi.partner_report_card WHERE partner_id = ? AND academic_year = ? AND term = ?""",
        [pid, year, term],
    ).fetchall()
    programmes = page.locator("#reach tbody tr th").all_inner_texts()
    assert sorted(programmes) == sorted(r[0] for r in rows)
    for programme, suppressed, status, measure, allocated in rows:
        reach = page.locator(f"#reach tr[data-programme='{programme}'] td").all_inner_texts()
        if "children_allocated" in (suppressed or ""):
            assert reach[0] == MARK
        else:
            assert reach[0] == f"{allocated:,}"
        done = page.locator(f"#completeness tr[data-programme='{programme}'] td").all_inner_texts()
        assert done[0] == (status or "–").replace("_", " ")
        out = page.locator(f"#outcome tr[data-programme='{programme}'] td").first.inner_text()
        assert out.startswith((measure or "–").replace("_", " "))
    assert MARK in page.locator("p.legend").inner_text()


def test_partner_card_shows_published_figures_when_not_suppressed(tmp_path):
    """The sample's cards are all suppressed (small programmes), so the unsuppressed path
    is checked on the template with a hand-made published row."""
    from wlz_pipeline.reports.published import PartnerCard, Publication, Row
    from wlz_pipeline.reports.render import _environment

    row = Row(
        {"programme": "P99-demo", "children_allocated": 12, "children_started": 11,
         "started_rate": 0.9167, "children_retained": 9, "retained_rate": 0.75,
         "outcome_measure": "sdq_total", "higher_is_better": False, "return_status": "returned"},
        frozenset({"dosage_low_n", "dosage_low_improvement_rate"}),
    )  # fmt: skip
    card = PartnerCard("P99", "Demo Trust", "2017/18", "spring", [row])
    pub = Publication("run-1", None, date(2018, 3, 1), 5)
    html = (
        _environment(5)
        .get_template("partner.html")
        .render(pub=pub, generated_at=None, card=card, root="", restricted_page=False)
    )
    reach = re.search(r'id="reach".*?</table>', html, re.S).group(0)
    assert [c for c in re.findall(r'<td class="num">([^<]*)</td>', reach)] == [
        "12",
        "11",
        "92%",
        "9",
        "75%",
    ]
    dosage = re.search(r'id="dosage".*?</table>', html, re.S).group(0)
    assert dosage.count(MARK) == 2


# -- privacy of the public pages ------------------------------------------------------------
def test_public_pages_contain_no_child_identifiers(sample, wh, bi):
    public = [p for p in sample.reports.rglob("*.html") if "restricted" not in p.parts]
    assert len(public) > 2
    ids: set[str] = set()
    for sql in (
        "SELECT wlz_id FROM staging.enrolments",
        "SELECT wlz_id FROM marts.child_register",
        "SELECT wlz_id FROM marts.risk_profile",
        "SELECT upn FROM staging.pupils",
        "SELECT upn FROM staging.enrolments",
        "SELECT forename || ' ' || surname FROM staging.pupils",
        "SELECT surname || ', ' || forename FROM staging.pupils",
    ):
        ids |= {v for (v,) in wh.execute(sql).fetchall() if v}
    ids |= {v for (v,) in bi.execute("SELECT child_key FROM bi.dim_child").fetchall() if v}
    names = {
        v
        for (v,) in wh.execute(
            "SELECT forename FROM staging.pupils UNION SELECT surname FROM staging.pupils"
        ).fetchall()
        if v and len(v) >= 3
    }
    assert len(ids) > 1000 and len(names) > 50
    # partner and school names are organisations' names (a surname may be a word of one,
    # e.g. "Young"): their words are not checked alone (full names still are)
    organisations = {
        w
        for (n,) in bi.execute(
            "SELECT name FROM bi.dim_partner UNION SELECT name FROM bi.dim_anchor"
        ).fetchall()
        for w in re.findall(r"[A-Za-z][A-Za-z'’-]+", n or "")
    }
    names -= organisations
    for path in public:
        html = path.read_text(encoding="utf-8")
        found = [v for v in ids if v in html]
        assert found == [], (path.name, len(found))
        words = set(re.findall(r"[A-Za-z][A-Za-z'’-]+", re.sub(r"<[^>]+>", " ", html)))
        clash = sorted(words & names)
        assert clash == [], (path.name, clash)


# -- child profile ----------------------------------------------------------------------------
def test_child_profile_shows_details_risk_payments_support_contact_and_alerts(
    sample, wh, open_page
):
    wlz_id, upn, anchor = wh.execute(
        """SELECT r.wlz_id, r.upn, r.anchor_urn FROM marts.child_register r
           WHERE r.enrolled
             AND r.wlz_id IN (SELECT wlz_id FROM marts.alerts WHERE is_open)
             AND r.wlz_id IN (SELECT wlz_id FROM marts.payment_ledger)
             AND r.wlz_id IN (SELECT wlz_id FROM marts.engagement_programme)
           ORDER BY r.wlz_id LIMIT 1"""
    ).fetchone()
    forename, surname, dob, postcode = wh.execute(
        """SELECT forename, surname, date_of_birth, postcode FROM staging.pupils
           WHERE upn = ? AND anchor_urn = ? ORDER BY academic_year DESC, extract_date DESC
           LIMIT 1""",
        [upn, anchor],
    ).fetchone()
    path = sample.reports / "restricted" / "children" / f"{wlz_id}.html"
    opened = open_page(path, "child")
    page = opened.page
    assert page.locator("h1").inner_text() == f"Child profile: {forename} {surname}"
    assert wlz_id in text_of(page, "dl.details")
    assert "RESTRICTED" in text_of(page, "header")
    assert page.locator("h2").all_inner_texts() == [
        "Child details",
        "Risk profile",
        "Payment outcomes",
        "Support delivery",
        "Link worker contact over time",
        "Open alerts",
    ]
    # the latest wave's factors: each fired one says yes, with its value
    year, wave = wh.execute(
        """SELECT academic_year, wave FROM marts.risk_profile WHERE wlz_id = ?
           ORDER BY academic_year DESC, cut_off DESC LIMIT 1""",
        [wlz_id],
    ).fetchone()
    factors = wh.execute(
        """SELECT factor, at_risk, value_text FROM marts.risk_factors
           WHERE upn = ? AND anchor_urn = ? AND academic_year = ? AND wave = ?""",
        [upn, anchor, year, wave],
    ).fetchall()
    assert f"{year} {wave}" in page.locator("#risk-factors caption").inner_text()
    assert page.locator("#risk-factors tbody tr").count() == len(factors)
    for factor, at_risk, value in factors:
        cells = page.locator(f"#risk-factors tr[data-factor='{factor}'] td").all_inner_texts()
        assert cells[1] == ("unknown" if at_risk is None else "yes" if at_risk else "no")
        assert cells[2] == (value if value is not None else "–")
    # payments so far
    total = wh.execute(
        "SELECT sum(amount_pence) FROM marts.payment_ledger WHERE wlz_id = ?", [wlz_id]
    ).fetchone()[0]
    assert page.locator("#payments-total").inner_text() == pounds(int(total))
    statuses = dict(
        wh.execute(
            "SELECT outcome, status FROM marts.outcomes WHERE wlz_id = ?", [wlz_id]
        ).fetchall()
    )
    for outcome, status in statuses.items():
        cells = page.locator(f"#outcomes tr[data-outcome='{outcome}'] td").all_inner_texts()
        assert cells[4] == status.replace("_", " ")
    # support per programme, with its chart of sessions
    programmes = wh.execute(
        "SELECT DISTINCT programme FROM marts.engagement_programme WHERE wlz_id = ?", [wlz_id]
    ).fetchall()
    assert page.locator("section.programme").count() == len(programmes)
    for (programme,) in programmes:
        attended = wh.execute(
            """SELECT sum(sessions_attended) FROM marts.engagement_programme
               WHERE wlz_id = ? AND programme = ?""",
            [wlz_id, programme],
        ).fetchone()[0]
        col = page.locator(f"table[data-programme='{programme}'] tbody tr td:nth-of-type(2)")
        assert sum(int(t) for t in col.all_inner_texts()) == attended
    # LW contact over time: an inline SVG chart and the termly totals
    assert page.locator("#h-contact ~ figure svg[role='img']").count() == 1
    minutes = wh.execute(
        "SELECT sum(lw_minutes) FROM marts.engagement_term WHERE wlz_id = ?", [wlz_id]
    ).fetchone()[0]
    col = page.locator("#terms tbody tr td:nth-of-type(2)").all_inner_texts()
    assert sum(int(t.replace(",", "")) for t in col) == minutes
    # open alerts
    alerts = wh.execute(
        "SELECT alert_id FROM marts.alerts WHERE wlz_id = ? AND is_open", [wlz_id]
    ).fetchall()
    assert page.locator("#alerts tbody tr").count() == len(alerts)
    for (alert_id,) in alerts:
        assert page.locator(f"#alerts tr[data-alert='{alert_id}']").count() == 1
    # restricted, but never the UPN, date of birth or postcode
    html = path.read_text(encoding="utf-8")
    for secret in (upn, dob.isoformat(), f"{dob:%d/%m/%Y}", day(dob), postcode):
        assert secret not in html


# -- claim pack -------------------------------------------------------------------------------
def test_claim_pack_shows_totals_lines_and_evidence(sample, wh, open_page):
    period, commissioner, lines, amount, children = wh.execute(
        """SELECT claim_period, commissioner, lines, amount_pence, children
           FROM marts.payment_claims ORDER BY lines DESC, claim_period, commissioner LIMIT 1"""
    ).fetchone()
    path = (
        sample.reports / "restricted" / "claims" / f"{period.replace('/', '-')}_{commissioner}.html"
    )
    page = open_page(path, "claim").page
    assert page.locator("h1").inner_text() == (
        f"Claim pack: {commissioner.replace('_', ' ')}, {period}"
    )
    assert page.locator("h2").all_inner_texts() == ["Totals", "Lines and evidence"]
    assert page.locator("#total-amount").inner_text() == pounds(int(amount))
    assert page.locator("#total-lines").inner_text() == f"{lines:,}"
    assert page.locator("#children").inner_text() == f"{children:,}"
    ledger = wh.execute(
        """SELECT line_id, wlz_id, amount_pence FROM marts.payment_ledger
           WHERE claim_period = ? AND commissioner = ?""",
        [period, commissioner],
    ).fetchall()
    assert page.locator("#lines tbody tr").count() == len(ledger)
    for line_id, wlz_id, pence in ledger:
        cells = page.locator(f"#lines tr[data-line='{line_id}'] td").all_inner_texts()
        assert cells[0] == wlz_id
        assert cells[5] == pounds(int(pence))
        assert cells[6].strip()  # the evidence in words
    assert "add up to the total" in page.locator("main").inner_text()


# -- printable ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rel",
    ["index.html", "summary.html", "partners/*.html", "restricted/children/*.html",
     "restricted/claims/*.html"],
)  # fmt: skip
def test_every_page_type_prints_on_a4(sample, open_page, rel, tmp_path):
    path = sorted(sample.reports.glob(rel))[0]
    page = open_page(
        path, "print_" + rel.replace("/*.html", "").replace(".html", "").replace("/", "_")
    ).page
    sizes = page.evaluate(
        """() => [...document.styleSheets].flatMap(s => [...s.cssRules])
                 .filter(r => r instanceof CSSPageRule)
                 .map(r => r.style.getPropertyValue('size'))"""
    )
    assert [x.lower() for x in sizes] == ["a4"]
    media = page.evaluate(
        """() => [...document.styleSheets].flatMap(s => [...s.cssRules])
                 .filter(r => r instanceof CSSMediaRule).map(r => r.conditionText)"""
    )
    assert "print" in media
    pdf = page.pdf(format="A4", prefer_css_page_size=True, print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    # every page of the PDF is A4 (595 x 842 points, within a point)
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]", pdf)
    assert boxes and all(
        abs(float(w) - 595.3) < 1.5 and abs(float(h) - 841.9) < 1.5 for w, h in boxes
    ), boxes[:3]
    (tmp_path / "page.pdf").write_bytes(pdf)
    # semantic structure: one h1, header and main landmarks, captioned tables with scopes
    assert page.locator("h1").count() == 1
    assert page.locator("header").count() >= 1 and page.locator("main").count() == 1
    tables = page.locator("table")
    assert tables.count() == page.locator("table > caption").count() > 0
    assert page.locator("th[scope]").count() > 0


# -- the command -------------------------------------------------------------------------------
def test_wlz_report_renders_everything_into_out(rendered_copy, tmp_path, wh):
    from wlz_pipeline.cli import app

    out = tmp_path / "pages"
    result = CliRunner().invoke(
        app, ["report", "--warehouse", str(rendered_copy), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "index.html").is_file() and (out / "summary.html").is_file()
    children = wh.execute(
        "SELECT count(*) FROM marts.child_register WHERE enrolled AND wlz_id IS NOT NULL"
    ).fetchone()[0]
    assert len(list((out / "restricted" / "children").glob("*.html"))) == children
    assert f"child: {children} pages" in result.output
    # a page that is no longer produced is removed on the next render
    stale = out / "restricted" / "children" / "WLZ000000000.html"
    stale.write_text("old", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["report", "--warehouse", str(rendered_copy), "--out", str(out)]
    )
    assert result.exit_code == 0 and not stale.exists()


def test_wlz_report_without_a_publication_fails_clearly(tmp_path):
    from wlz_pipeline.cli import app

    (tmp_path / "wlz.duckdb").write_bytes(b"")
    result = CliRunner().invoke(app, ["report", "--warehouse", str(tmp_path / "wlz.duckdb")])
    assert result.exit_code == 1
    assert "no publication" in result.output
