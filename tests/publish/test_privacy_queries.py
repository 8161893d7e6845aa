"""The privacy scan's building blocks on small hand-made warehouses with awkward values
(NULLs, blanks, spaces, dates, one-letter values, a mart that must not count): the
restricted values against a straightforward row-by-row definition, the full-name search
on long texts, and the child keys of ``_Keys`` against the HMAC definition."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

import duckdb
import pytest

from wlz_pipeline.pseudonym import PseudonymKey
from wlz_pipeline.publish import _Keys, privacy_scan, restricted_values_sql

SECRET = b"test-only-pseudonym-key-0123456789"


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS wh")
    con.execute("ATTACH ':memory:' AS pub")
    for schema in ("wh.raw", "wh.staging", "wh.marts", "pub.bi"):
        con.execute(f"CREATE SCHEMA {schema}")
    yield con
    con.close()


def _awkward_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    # raw: everything as text, as received
    con.execute(
        """CREATE TABLE wh.raw.pupils AS SELECT * FROM (VALUES
             ('K205 2001 16001', ' Chloé ', 'Okafor', '14/02/2009', 'W6 9AA'),
             ('K205200116001', 'Chloé', 'Okafor', '2009-02-14', 'w6 9aa '),
             (NULL, NULL, 'Smith', NULL, NULL),
             ('  ', 'A', 'B', ' ', ' '),
             ('L213200117002', 'Lee', 'Lee', '01/09/2010', 'SW1A 1AA'))
           AS t(upn, forename, surname, date_of_birth, postcode)"""
    )
    # staging: typed, with a DATE column and NULL dates
    con.execute(
        """CREATE TABLE wh.staging.pupils AS SELECT * FROM (VALUES
             ('K205200116001', 'Chloé', 'Okafor', DATE '2009-02-14', 'W6 9AA'),
             ('L213200117002', 'Lee', 'Lee', DATE '2010-09-01', 'SW1A 1AA'),
             ('N304200118003', 'Ana María', 'de la Cruz', NULL, NULL))
           AS t(upn, forename, surname, date_of_birth, postcode)"""
    )
    # many rows, few values (the attendance marks' shape), with NULLs and blanks
    con.execute(
        """CREATE TABLE wh.staging.attendance_marks AS
           SELECT CASE i % 5 WHEN 0 THEN 'K205200116001' WHEN 1 THEN 'L213 2001 17002'
                             WHEN 2 THEN NULL WHEN 3 THEN '' ELSE ' XY ' END AS upn,
                  'P' AS mark
           FROM range(5000) AS r(i)"""
    )
    # a forename without a surname: no full names from this table
    con.execute(
        """CREATE TABLE wh.raw.survey_responses AS SELECT * FROM (VALUES
             ('Zed', 'x'), (NULL, 'y')) AS t(forename, answer)"""
    )
    con.execute(
        """CREATE TABLE wh.staging.interactions AS SELECT * FROM (VALUES
             ('  Invented note about a check-in  '), ('ok'), ('z'), (NULL))
           AS t(notes)"""
    )
    # marts are not where restricted values are taken from
    con.execute("CREATE TABLE wh.marts.child_register AS SELECT 'Q999999999999' AS upn")


RESTRICTED = ("upn", "forename", "surname", "date_of_birth", "postcode", "notes")


def _by_hand(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The definition, row by row in Python: every value of a restricted column of a raw
    or staging table as text, dates also as dd/mm/yyyy, UPNs and postcodes also without
    spaces, "forename surname" and "surname, forename" where a table has both; trimmed
    of spaces, kept when at least two characters long."""
    out: set[str] = set()
    tables = con.execute(
        """SELECT DISTINCT schema_name, table_name FROM duckdb_columns()
           WHERE database_name = 'wh' AND schema_name IN ('raw', 'staging')"""
    ).fetchall()
    for schema, table in tables:
        cur = con.execute(f"SELECT * FROM wh.{schema}.{table}")
        names = [d[0] for d in cur.description]
        for row in cur.fetchall():
            r = dict(zip(names, row, strict=True))
            spelt: list[str | None] = []
            for c, v in r.items():
                if c not in RESTRICTED or v is None:
                    continue
                spelt.append(str(v))
                if isinstance(v, date):
                    spelt.append(v.strftime("%d/%m/%Y"))
                if c in ("upn", "postcode"):
                    spelt.append(str(v).replace(" ", ""))
            if "forename" in r and "surname" in r and None not in (r["forename"], r["surname"]):
                spelt.append(f"{r['forename']} {r['surname']}")
                spelt.append(f"{r['surname']}, {r['forename']}")
            out |= {s.strip(" ") for s in spelt if len(s.strip(" ")) >= 2}
    return out


def test_restricted_values_are_every_spelling_of_every_value_row_by_row(con):
    _awkward_warehouse(con)
    got = [v for (v,) in con.execute(restricted_values_sql(con)).fetchall()]
    assert len(got) == len(set(got))  # distinct
    assert set(got) == _by_hand(con)
    # the awkward cases are really there
    assert {"K205200116001", "K205 2001 16001", "14/02/2009", "2009-02-14"} <= set(got)
    assert {"Chloé Okafor", "Okafor, Chloé", "Lee Lee", "W69AA", "w6 9aa", "w69aa"} <= set(got)
    assert {"Invented note about a check-in", "ok", "XY", "L213200117002", "A B"} <= set(got)
    assert not {"z", "A", "", "Q999999999999"} & set(got)
    assert not any(v.startswith("Zed ") for v in got)


def test_no_restricted_column_no_query(con):
    con.execute("CREATE TABLE wh.staging.anchors AS SELECT '100001' AS urn, 'A school' AS name")
    assert restricted_values_sql(con) is None


def _publish_cells(con: duckdb.DuckDBPyConnection) -> None:
    long_text = " ".join(f"word{i}" for i in range(400))
    con.execute(
        """CREATE TABLE pub.bi.alerts AS SELECT * FROM (VALUES
             (1, ? || ' then Okafor met with Chloé, ' || ?),   -- both words, apart: a hit
             (2, ? || ' Okafor only'),                          -- surname alone: no hit
             (3, 'met Chloé and Ana'),                          -- two children's forenames
             (4, 'saw Lee today'),                              -- forename = surname: a hit
             (5, 'okafor chloé'),                               -- other letter case: no hit
             (6, 'Ana de la Cruz, Maths'),                      -- first / last word: a hit
             (7, 'Chloé-Okafor'),                               -- one word: no space
             (8, NULL)) AS t(n, evidence)""",
        [long_text, long_text, long_text],
    )
    con.execute(
        """CREATE TABLE pub.bi.dim_anchor AS SELECT * FROM (VALUES
             ('100001', 'Chloé Okafor Academy')) AS t(urn, name)"""
    )
    con.execute(
        """CREATE TABLE pub.bi.dim_partner AS SELECT * FROM (VALUES
             ('P1', 'Chloé Okafor Trust')) AS t(partner_id, name)"""
    )


def test_the_full_name_search_finds_a_childs_names_anywhere_in_a_long_text(con):
    _awkward_warehouse(con)
    _publish_cells(con)
    findings = privacy_scan(con, {"dim_anchor": {"name"}})
    assert findings == [
        "bi.alerts.evidence: 3 values containing a child's full name",
        "bi.dim_partner.name: 1 values containing a child's full name",
    ]


def test_whole_restricted_values_are_found_and_allowed_columns_skip_names(con):
    _awkward_warehouse(con)
    con.execute(
        """CREATE TABLE pub.bi.outcomes AS SELECT * FROM (VALUES
             (' 14/02/2009 ', 'a'), ('Okafor, Chloé', 'b'), ('nothing', 'Lee Lee'))
           AS t(note, label)"""
    )
    assert privacy_scan(con, {"outcomes": {"label"}}) == [
        "bi.outcomes.note: 2 values equal to restricted values (names, UPNs, dates of "
        "birth, postcodes, notes)",
        "bi.outcomes.note: 1 values containing a child's full name",
    ]


def test_child_keys_follow_the_hmac_definition_in_every_table(con):
    con.execute(
        """CREATE TABLE wh.staging.enrolments AS SELECT * FROM (VALUES
             ('WLZ000000001', 'K205200116001')) AS t(wlz_id, upn)"""
    )
    keys = _Keys(con, PseudonymKey(SECRET, "environment", 32))
    enrolled = hmac.new(SECRET, b"WLZ000000001", hashlib.sha256).hexdigest()[:32]
    screened = "s" + hmac.new(SECRET, b"upn:100002:L213200117002", hashlib.sha256).hexdigest()[:31]
    ident = {"wlz_id": "wlz_id", "upn": "upn", "anchor_urn": "anchor_urn"}
    sources = [
        "SELECT 'WLZ000000001' AS wlz_id, 'K205200116001' AS upn, '100001' AS anchor_urn "
        "UNION ALL SELECT NULL, 'L213200117002', '100002'",
        # the same children again (the enrolled one by UPN only), and one with no identity
        "SELECT NULL AS wlz_id, 'K205 2001 16001' AS upn, '100001' AS anchor_urn "
        "UNION ALL SELECT NULL, 'L213200117002', '100002' UNION ALL SELECT NULL, NULL, NULL",
    ]
    got = []
    for sql in sources:
        view = keys.register(sql, ident)
        got.append(dict(con.execute(f"SELECT coalesce(u, '-'), k FROM {view}").fetchall()))
    assert got[0] == {"K205200116001": enrolled, "L213200117002": screened}
    assert got[1] == {"K205 2001 16001": enrolled, "L213200117002": screened, "-": None}
