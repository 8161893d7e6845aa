"""What the publication holds: the contract tables that exist, pseudonymous keys, no
restricted values anywhere, small-number suppression, the data dictionary, data quality
and the publication row. Expected values are computed here from the restricted warehouse
and the HMAC definition, not taken from the publisher."""

from __future__ import annotations

import hashlib
import hmac
import re

import duckdb
import pyarrow.parquet as pq
import pytest

from wlz_pipeline.config import load_yaml
from wlz_pipeline.dictionary import markdown_preview, table_doc, table_schema
from wlz_pipeline.publish import PrivacyViolation, load_config, publish

CONFIG = load_yaml("publication.yaml")
DEMO_KEY = CONFIG["pseudonym"]["demo_key"].encode()
ENROLLED = ("WLZ000000001", "K205200116001")  # tests/data/landing/reference/enrolments.csv


def expected_key(secret: bytes, wlz_id: str) -> str:
    return hmac.new(secret, wlz_id.encode(), hashlib.sha256).hexdigest()[:32]


def expected_screened_key(secret: bytes, anchor: str, upn: str) -> str:
    msg = f"upn:{anchor}:{upn}".encode()
    return "s" + hmac.new(secret, msg, hashlib.sha256).hexdigest()[:31]


def bi_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'bi' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


# -- privacy ------------------------------------------------------------------------------
def restricted_values(warehouse) -> set[str]:
    """Every name, UPN, date of birth (as text, several spellings), postcode, WLZ ID and
    note in the restricted warehouse, as received (raw) and as staged."""
    con = duckdb.connect(str(warehouse), read_only=True)
    values: set[str] = set()
    try:
        queries = [
            "SELECT forename, surname, forename || ' ' || surname, upn, postcode, "
            "replace(postcode, ' ', ''), date_of_birth FROM raw.pupils",
            "SELECT forename, surname, upn, postcode, date_of_birth::VARCHAR, "
            "strftime(date_of_birth, '%d/%m/%Y'), strftime(date_of_birth, '%d/%m/%y') "
            "FROM staging.pupils",
            "SELECT upn, wlz_id FROM raw.ref_enrolments",
            "SELECT upn, wlz_id FROM staging.enrolments",
            "SELECT upn, wlz_id FROM raw.survey_responses",
            "SELECT notes, wlz_id FROM raw.interactions",
            "SELECT notes, wlz_id FROM staging.interactions",
        ]
        for q in queries:
            for row in con.execute(q).fetchall():
                values |= {str(v).strip() for v in row if v is not None and len(str(v)) >= 4}
    finally:
        con.close()
    return values


def scan(con: duckdb.DuckDBPyConnection, values: set[str]) -> list[str]:
    """Every text (or list) cell of every bi table that contains a restricted value as a
    whole word or phrase (any letter case): "Smith" in "Hammersmith" is not a hit."""
    hits = []
    patterns = [re.compile(rf"(?<!\w){re.escape(v)}(?!\w)", re.IGNORECASE) for v in values]
    for table in bi_tables(con):
        for column, dtype, *_ in con.execute(f'DESCRIBE bi."{table}"').fetchall():
            if "VARCHAR" not in str(dtype):
                continue
            cells = con.execute(
                f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM bi."{table}" '
                f'WHERE "{column}" IS NOT NULL'
            ).fetchall()
            if any(p.search(cell) for (cell,) in cells for p in patterns):
                hits.append(f"{table}.{column}")
    return hits


def test_no_published_column_holds_a_name_upn_dob_postcode_or_note(published, bi):
    values = restricted_values(published.warehouse)
    # the fixture has names, UPNs, dates of birth, postcodes and notes to look for
    assert {"Okafor", "Chloé", "K205200116001", "W6 9AA", "2009-02-14", "14/02/2009"} <= values
    assert "Invented note about a check-in" in values
    assert scan(bi, values) == []
    # and the Parquet files hold the same rows as the tables
    for table, rows in published.report.tables.items():
        assert pq.read_metadata(published.report.parquet_dir / f"{table}.parquet").num_rows == rows


def test_the_scan_finds_a_planted_name():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA bi")
    con.execute("CREATE TABLE bi.t AS SELECT 'seen by LW: Chloé Okafor' AS evidence, 1 AS n")
    assert scan(con, {"Okafor"}) == ["t.evidence"]
    assert scan(con, {"Okaf", "Chlo"}) == []


def test_a_restricted_value_in_a_mart_stops_the_publication(fresh, fingerprint):
    """The publisher's own guard: a mart column that leaks a name (or a UPN inside text)
    makes the whole publication fail, and the previous one stays byte-identical."""
    before = fingerprint(fresh.report.path)
    con = duckdb.connect(str(fresh.warehouse))
    con.execute("DROP TABLE IF EXISTS marts.alerts")
    con.execute(
        """CREATE TABLE marts.alerts AS SELECT 'A1' AS alert_id, 'WLZ000000001' AS wlz_id,
           'LW01' AS lw_id, 'no_check_in' AS alert_type, DATE '2017-12-01' AS opened_on,
           NULL::DATE AS closed_on, 'last seen with Chloé Okafor' AS evidence"""
    )
    con.close()
    with pytest.raises(PrivacyViolation, match=r"bi\.alerts\.evidence"):
        publish(fresh.warehouse, data_dir=fresh.landing, demo_key=True, run_id="leaky")
    con = duckdb.connect(str(fresh.warehouse))
    con.execute("UPDATE marts.alerts SET evidence = 'UPN K205200116001 missed two sessions'")
    con.close()
    with pytest.raises(PrivacyViolation, match="a UPN"):
        publish(fresh.warehouse, data_dir=fresh.landing, demo_key=True, run_id="leaky")
    assert fingerprint(fresh.report.path) == before
    assert not list(fresh.report.path.parent.glob(".wlz_bi.duckdb.*.tmp*"))


def test_identifying_columns_are_never_published(bi):
    pattern = re.compile(r"(^|_)(upn|wlz_id|forename|surname|postcode|date_of_birth|notes?)($|_)")
    for table in bi_tables(bi):
        for column, _ in [(r[0], r[1]) for r in bi.execute(f'DESCRIBE bi."{table}"').fetchall()]:
            assert not pattern.search(column), f"bi.{table}.{column}"


# -- keys -------------------------------------------------------------------------------------
def test_same_child_same_key_in_every_table(published, bi):
    key = expected_key(DEMO_KEY, ENROLLED[0])
    wh = duckdb.connect(str(published.warehouse), read_only=True)
    checked = 0
    try:
        for name, spec in load_config().tables.items():
            if not spec.source or name not in published.report.tables:
                continue
            cols = {r[0] for r in wh.execute(f"DESCRIBE {spec.source}").fetchall()}
            if "wlz_id" not in cols and "upn" not in cols:
                continue
            cond = " OR ".join(f"{c} = ?" for c in ("wlz_id", "upn") if c in cols)
            params = [v for c, v in zip(("wlz_id", "upn"), ENROLLED, strict=True) if c in cols]
            n = wh.execute(f"SELECT count(*) FROM {spec.source} WHERE {cond}", params).fetchall()
            published_n = bi.execute(
                f'SELECT count(*) FROM bi."{name}" WHERE child_key = ?', [key]
            ).fetchall()
            assert published_n == n, name
            checked += n[0][0] > 0
    finally:
        wh.close()
    assert bi.execute(
        "SELECT count(*) FROM bi.dim_child WHERE child_key = ?", [key]
    ).fetchall() == [(1,)]
    assert checked >= 1  # the enrolled child has rows in at least one mart
    screened = expected_screened_key(DEMO_KEY, "140102", "C205200116004")
    rows = bi.execute(
        "SELECT enrolment_status FROM bi.dim_child WHERE child_key = ?", [screened]
    ).fetchall()
    assert rows == [("not_in_register",)]


def test_keys_are_stable_across_runs_and_change_with_the_secret(published, monkeypatch, tmp_path):
    first = duckdb.connect(str(published.report.path), read_only=True)
    keys = first.execute("SELECT child_key FROM bi.dim_child ORDER BY 1").fetchall()
    first.close()
    again = publish(published.warehouse, demo_key=True, out=tmp_path / "again.duckdb")
    con = duckdb.connect(str(again.path), read_only=True)
    assert con.execute("SELECT child_key FROM bi.dim_child ORDER BY 1").fetchall() == keys
    con.close()
    monkeypatch.setenv("WLZ_PSEUDONYM_KEY", "another-secret-key-0123456789")
    other = publish(published.warehouse, data_dir=published.landing, out=tmp_path / "o.duckdb")
    con = duckdb.connect(str(other.path), read_only=True)
    other_keys = con.execute("SELECT child_key FROM bi.dim_child ORDER BY 1").fetchall()
    source = con.execute("SELECT key_source FROM bi.publication").fetchall()
    con.close()
    assert set(other_keys).isdisjoint(keys) and len(other_keys) == len(keys)
    assert source == [("environment",)]
    expected = expected_key(b"another-secret-key-0123456789", ENROLLED[0])
    assert (expected,) in other_keys


# -- suppression -----------------------------------------------------------------------------
def leaving_tables(report) -> list[str]:
    cfg = load_config()
    return [n for n, s in cfg.tables.items() if s.leaves_organisation and n in report.tables]


def test_no_small_count_leaves_the_organisation(published, bi):
    threshold = load_config().suppression.threshold
    leaving = leaving_tables(published.report)
    assert leaving, "no table that leaves the organisation was published"
    for table in leaving:
        spec = load_config().tables[table]
        # not_counts count sessions or marks, not children: small values identify no one
        dims = set(spec.dimensions) | set(spec.not_counts)
        for column, dtype, *_ in bi.execute(f'DESCRIBE bi."{table}"').fetchall():
            if column in dims or dtype not in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT"):
                continue
            small = bi.execute(
                f'SELECT count(*) FROM bi."{table}" WHERE "{column}" > 0 AND "{column}" < ?',
                [threshold],
            ).fetchall()[0][0]
            assert small == 0, f"bi.{table}.{column} has counts below {threshold}"


def test_whole_numbers_stay_whole_numbers_in_the_parquet_files(published, bi):
    # BI tools read the Parquet files: a count must arrive as an integer there, as in the
    # DuckDB file (a HUGEINT column, e.g. a sum of sessions, became a DOUBLE in Parquet)
    integer = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
    parquet_int = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"}
    checked = 0
    for (table,) in bi.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'bi'"
    ).fetchall():
        columns = dict(
            bi.execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE schema_name = 'bi' AND table_name = ?",
                [table],
            ).fetchall()
        )
        assert "HUGEINT" not in columns.values(), f"bi.{table}: {columns}"
        schema = pq.read_schema(published.report.parquet_dir / f"{table}.parquet")
        for column, dtype in columns.items():
            if dtype in integer:
                assert str(schema.field(column).type) in parquet_int, (table, column)
                checked += 1
    assert checked  # the sample publishes counts


def test_summary_constructs_suppresses_whole_groups(published, bi):
    if "summary_constructs" not in published.report.tables:
        pytest.skip("marts.summary_constructs is not built yet")
    wh = duckdb.connect(str(published.warehouse), read_only=True)
    source = {
        (r[0], r[1], r[2]): r[3:]
        for r in wh.execute(
            "SELECT academic_year, wave, construct, wlz_n, wlz_at_risk, wlz_unknown, wlz_pct "
            "FROM marts.summary_constructs"
        ).fetchall()
    }
    wh.close()
    out = bi.execute(
        "SELECT academic_year, wave, construct, wlz_n, wlz_at_risk, wlz_unknown, wlz_pct, "
        "suppressed, suppressed_columns FROM bi.summary_constructs"
    ).fetchall()
    assert len(out) == len(source)
    seen_suppressed = False
    for row in out:
        original = source[row[:3]]
        small = any(v is not None and 0 < v < 5 for v in original[:3])
        if small:
            seen_suppressed = True
            assert row[3:7] == (None, None, None, None)
            assert row[7] is True and "wlz_pct" in row[8] and "wlz_n" in row[8]
        else:
            assert row[3:7] == original
    assert seen_suppressed  # the fixture is tiny: something must have been suppressed


def test_a_kpi_table_below_the_threshold_is_suppressed(fresh):
    con = duckdb.connect(str(fresh.warehouse))
    con.execute(
        # the real mart is replaced by a planted one with counts either side of the threshold
        """CREATE OR REPLACE TABLE marts.programme_kpis AS SELECT * FROM (VALUES
           ('2017/18', '140102', 3, 4.5, 0.2, 0.0, 0.9),
           ('2017/18', '140103', 12, 6.0, 0.1, 0.25, 0.8),
           ('2017/18', '140101', 0, NULL, NULL, NULL, NULL))
           AS t(cohort, anchor_urn, children_supported, interactions_per_child,
                decline_rate, dropout_rate, support_attendance_rate)"""
    )
    con.execute(
        "CREATE OR REPLACE TABLE marts.partner_report_card AS SELECT 'P01' AS partner_id, 0.5 AS x"
    )
    con.close()
    report = publish(fresh.warehouse, data_dir=fresh.landing, demo_key=True)
    bi = duckdb.connect(str(report.path), read_only=True)
    rows = bi.execute(
        "SELECT anchor_urn, children_supported, interactions_per_child, dropout_rate, "
        "suppressed, suppressed_columns FROM bi.programme_kpis ORDER BY anchor_urn"
    ).fetchall()
    publication = bi.execute("SELECT tables_skipped FROM bi.publication").fetchall()[0][0]
    bi.close()
    assert rows[0] == ("140101", 0, None, None, False, None)  # 0 identifies no one
    assert rows[1][1:5] == (None, None, None, True)
    assert set(rows[1][5].split(", ")) == {
        "children_supported",
        "interactions_per_child",
        "decline_rate",
        "dropout_rate",
        "support_attendance_rate",
    }
    assert rows[2] == ("140103", 12, 6.0, 0.25, False, None)
    # a leaving table with no count cannot be suppressed: not published, and said so
    assert "partner_report_card" not in report.tables
    assert "partner_report_card (leaves the organisation but has no count" in publication


def test_a_partner_card_withholds_only_the_groups_with_a_small_count(fresh):
    """Each group of partner_report_card (config/publication.yaml) describes one set of
    children: a small count withholds its group and leaves the rest of the card."""
    base = {
        "children_allocated": 12,
        "children_on_template": 12,
        "children_started": 10,
        "children_retained": 9,
        "retained_rate": 0.9,
        "sessions_planned": 3,
        "attendance_rate": 0.8,
        "feedback_n": 8,
        "enjoyment_n": 8,
        "outcome_pre_n": 10,
        "outcome_n": 10,
        "improved_n": 6,
        "improved_rate": 0.6,
    }
    bands = {
        # 3 + 3 + 4 = outcome_n 10: every band small, all three withheld
        "P-small": (3, 3, 4),
        # 6 + 0 + 4 = 10: only 'high' is small (0 identifies no one), but withholding it
        # alone would let a reader work it back (10 - 6 - 0), so all three go
        "P-one": (6, 0, 4),
        # 5 + 0 + 5: nothing small, nothing withheld
        "P-big": (5, 0, 5),
    }
    con = duckdb.connect(str(fresh.warehouse))
    con.execute("CREATE TEMP TABLE one_row AS SELECT * FROM marts.partner_report_card LIMIT 1")
    selects = []
    for pid, (low, medium, high) in bands.items():
        values = {
            **base,
            "dosage_low_n": low,
            "dosage_medium_n": medium,
            "dosage_high_n": high,
        }
        # the mart's types: counts BIGINT, rates DOUBLE
        replace = ", ".join(
            f"{v!r}::{'DOUBLE' if isinstance(v, float) else 'BIGINT'} AS {c}"
            for c, v in values.items()
        )
        selects.append(f"SELECT * REPLACE ('{pid}' AS partner_id, {replace}) FROM one_row")
    con.execute(
        "CREATE OR REPLACE TABLE marts.partner_report_card AS " + " UNION ALL ".join(selects)
    )
    con.close()
    report = publish(fresh.warehouse, data_dir=fresh.landing, demo_key=True)
    bi = duckdb.connect(str(report.path), read_only=True)
    got = {
        r[0]: r[1:]
        for r in bi.execute(
            "SELECT partner_id, children_started, attendance_rate, feedback_n, outcome_n, "
            "improved_rate, sessions_planned, dosage_low_n, dosage_medium_n, dosage_high_n, "
            "suppressed, suppressed_columns FROM bi.partner_report_card"
        ).fetchall()
    }
    bi.close()
    dosage = {
        f"dosage_{band}_{what}"
        for band in ("low", "medium", "high")
        for what in ("n", "improved_n", "improvement_rate")
    }
    for pid in ("P-small", "P-one"):
        started, rate, feedback, n, improved, planned, low, med, high, flag, cols = got[pid]
        # reach, participation, satisfaction and outcome are all 5 or more: shown
        assert (started, rate, feedback, n, improved) == (10, 0.8, 8, 10, 0.6), pid
        assert planned == 3  # sessions count no child: never withheld
        assert (low, med, high) == (None, None, None), pid
        assert flag is True and set(cols.split(", ")) == dosage, pid
    assert got["P-big"][5:] == (3, 5, 0, 5, False, None)


# -- dictionary, data quality, publication row -------------------------------------------------
def test_every_published_column_is_described(bi):
    columns = {
        (t, c, str(d))
        for t in bi_tables(bi)
        for c, d, *_ in bi.execute(f'DESCRIBE bi."{t}"').fetchall()
    }
    dictionary = bi.execute(
        "SELECT table_name, column_name, type, description FROM bi.data_dictionary"
    ).fetchall()
    assert {(t, c, d) for t, c, d, _ in dictionary} == columns
    missing = sorted(f"{t}.{c}" for t, c, _, text in dictionary if not (text or "").strip())
    assert missing == [], f"columns without a description (add them to the sidecars): {missing}"


def test_data_quality_has_every_file_and_every_failing_rule(published, bi):
    wh = duckdb.connect(str(published.warehouse), read_only=True)
    files = {
        r[0]
        for r in wh.execute(
            "SELECT path FROM meta.file_registry WHERE status <> 'duplicate'"
        ).fetchall()
    }
    failing = wh.execute(
        """SELECT f.path, replace(q.table_name, 'staging.', '') || ': ' || q.rule, count(*)
           FROM meta.quarantine q
           JOIN (SELECT file_hash, min(path) AS path FROM meta.file_registry
                 WHERE status <> 'duplicate' GROUP BY ALL) f USING (file_hash)
           GROUP BY ALL"""
    ).fetchall()
    wh.close()
    readable = bi.execute(
        "SELECT file FROM bi.data_quality WHERE \"check\" = 'file_readable'"
    ).fetchall()
    assert {r[0] for r in readable} == files
    dq = {
        (r[0], r[1]): r[2]
        for r in bi.execute(
            'SELECT file, "check", failing_rows FROM bi.data_quality WHERE NOT passed'
        ).fetchall()
    }
    assert failing  # the fixture has bad rows
    for path, check, n in failing:
        assert dq[(path, check)] == n
    assert bi.execute(
        "SELECT count(*) FROM bi.data_quality WHERE passed AND failing_rows > 0"
    ).fetchall() == [(0,)]


def test_publication_row_and_skipped_tables(published, bi):
    wh = duckdb.connect(str(published.warehouse), read_only=True)
    as_of, files = wh.execute(
        "SELECT max(as_of), count(*) FROM meta.file_registry WHERE status = 'ingested'"
    ).fetchall()[0]
    existing = {
        f"{s}.{t}"
        for s, t in wh.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
    }
    wh.close()
    row = bi.execute(
        "SELECT run_id, as_of_date, source_files, checks_passed, tables_published, "
        "tables_skipped, suppression_threshold, key_source FROM bi.publication"
    ).fetchall()
    assert len(row) == 1
    run_id, as_of_date, source_files, checks_passed, tables, skipped, threshold, key = row[0]
    assert (run_id, as_of_date, source_files) == ("first-run", as_of, files)
    assert checks_passed is None  # published outside Dagster
    assert (threshold, key) == (5, "demo")
    published_tables = set(tables.split(", "))
    assert set(bi_tables(bi)) == published_tables
    for name, spec in load_config().tables.items():
        if spec.source and spec.contract:
            if spec.source in existing:
                assert name in published_tables
            else:
                assert f"{name} ({spec.source} does not exist" in (skipped or "")
    assert {
        "publication",
        "data_dictionary",
        "data_quality",
        "dim_child",
        "dim_anchor",
        "dim_partner",
        "dim_link_worker",
    } <= published_tables


def test_dimensions(bi):
    assert bi.execute("SELECT urn, name FROM bi.dim_anchor ORDER BY urn").fetchall()[0] == (
        "140101",
        "Test Nursery",
    )
    assert bi.execute("SELECT lw_id, name FROM bi.dim_link_worker ORDER BY 1").fetchall() == [
        ("LW01", "Test Worker One"),
        ("LW02", "Test Worker Two"),
    ]
    statuses = dict(
        bi.execute("SELECT enrolment_status, count(*) FROM bi.dim_child GROUP BY ALL").fetchall()
    )
    assert statuses["enrolled"] == 1 and statuses["declined"] == 1 and statuses["exited"] == 1


def test_metadata_helpers_describe_columns_and_show_no_identifier(published, bi):
    description, columns = table_doc("bi", "dim_child")
    assert description and columns["imd_decile"]
    schema = table_schema(bi, "bi", "dim_child")
    assert {c.name: c.description for c in schema.columns}["fsm"] == columns["fsm"]
    values = restricted_values(published.warehouse)
    wh = duckdb.connect(str(published.warehouse), read_only=True)
    try:
        for table in ("staging.pupils", "staging.interactions", "staging.enrolments"):
            md = markdown_preview(wh, table)
            rows = wh.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            assert md.startswith(f"**{rows:,} rows**")
            assert not [v for v in values if v in md], table
    finally:
        wh.close()
    assert "gender" in markdown_preview(bi, "bi.dim_child")
