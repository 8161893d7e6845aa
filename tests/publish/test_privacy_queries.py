"""The privacy scan's building blocks on small hand-made warehouses with awkward values
(NULLs, blanks, spaces, dates, one-letter values, a mart that must not count): the
restricted values against a straightforward row-by-row definition, the full-name search
on long texts, and the child keys of ``_Keys`` against the HMAC definition."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import date

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wlz_pipeline.pseudonym import PseudonymKey
from wlz_pipeline.publish import (
    _TOKEN_PATTERNS,
    _TRIMMED_CELL,
    _WORD_SEPARATOR,
    _WORD_SPLIT,
    _Keys,
    privacy_scan,
    restricted_names_sql,
    restricted_values_sql,
)

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


def test_a_full_name_joined_by_other_separators_than_a_space_is_found(con):
    # file names and paths join words with _ . / rather than spaces; a hyphen joins
    # the parts of one word (a double-barrelled surname), as in the test above
    _awkward_warehouse(con)
    con.execute(
        """CREATE TABLE pub.bi.outcomes AS SELECT * FROM (VALUES
             ('Chloé_Okafor'),                        -- a hit
             ('partners/P1/Okafor.Chloé.xlsx'),       -- a hit (either order)
             ('Lee/2018'),                            -- Lee is a forename and a surname
             ('Chloé-Okafor'),                        -- one word: no hit
             ('Chloé_Ana'),                           -- two forenames: no hit
             ('ChloéOkafor')                          -- one word: no hit
           ) AS t(note)"""
    )
    assert privacy_scan(con, {}) == [
        "bi.outcomes.note: 3 values containing a child's full name",
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


def test_each_element_of_a_list_of_text_is_scanned_as_a_cell(con):
    _awkward_warehouse(con)
    # a source file named with a child's full name; a UPN and a postcode among factor
    # names (each a restricted value as a whole, and of its shape); NULL lists, empty
    # lists and NULL elements are skipped
    con.execute(
        """CREATE TABLE pub.bi.outcomes AS SELECT * FROM (VALUES
             (['partners/P1/notes on Chloé Okafor.xlsx'], ['fsm']),
             (['mis/100001/marks.csv'], ['fsm', 'K205200116001', NULL]),
             (NULL, []),
             ([NULL], ['W6 9AA']))
           AS t(source_files, factors_true)"""
    )
    assert sorted(privacy_scan(con, {})) == [
        "bi.outcomes.factors_true: 1 values containing a UPN",
        "bi.outcomes.factors_true: 1 values containing a postcode",
        "bi.outcomes.factors_true: 2 values equal to restricted values (names, UPNs, dates "
        "of birth, postcodes, notes)",
        "bi.outcomes.source_files: 1 values containing a child's full name",
    ]
    # lists of harmless words give no finding
    con.execute(
        "CREATE OR REPLACE TABLE pub.bi.outcomes AS SELECT ['fsm', 'sen'] AS factors_true, "
        "['mis/100001/marks.csv'] AS source_files"
    )
    assert privacy_scan(con, {}) == []


@dataclass(frozen=True)
class _CountingKey(PseudonymKey):
    """A key that records the identities it was asked for."""

    asked: list = field(default_factory=list, compare=False)

    def child_key(self, wlz_id, upn=None, anchor_urn=None):
        self.asked.append((wlz_id, upn, anchor_urn))
        return super().child_key(wlz_id, upn, anchor_urn)


def _keyed(con: duckdb.DuckDBPyConnection, keys: _Keys, sql: str) -> list[tuple]:
    """(upn, key) of every row of ``sql``, joined to the key table as _plan_table does."""
    table = keys.register(sql, {"wlz_id": "wlz_id", "upn": "upn", "anchor_urn": "anchor_urn"})
    return con.execute(
        f"""SELECT coalesce(s.upn, '-'), k.k FROM ({sql}) AS s
            LEFT JOIN {table} AS k ON k.w IS NOT DISTINCT FROM CAST(s.wlz_id AS VARCHAR)
             AND k.u IS NOT DISTINCT FROM CAST(s.upn AS VARCHAR)
             AND k.a IS NOT DISTINCT FROM CAST(s.anchor_urn AS VARCHAR)
            ORDER BY ALL"""
    ).fetchall()


def test_child_keys_follow_the_hmac_definition_in_every_table(con):
    con.execute(
        """CREATE TABLE wh.staging.enrolments AS SELECT * FROM (VALUES
             ('WLZ000000001', 'K205200116001')) AS t(wlz_id, upn)"""
    )
    key = _CountingKey(SECRET, "environment", 32)
    keys = _Keys(con, key)
    enrolled = hmac.new(SECRET, b"WLZ000000001", hashlib.sha256).hexdigest()[:32]
    screened = "s" + hmac.new(SECRET, b"upn:100002:L213200117002", hashlib.sha256).hexdigest()[:31]
    first = (
        "SELECT 'WLZ000000001' AS wlz_id, 'K205200116001' AS upn, '100001' AS anchor_urn "
        "UNION ALL SELECT NULL, 'L213200117002', '100002' "
        "UNION ALL SELECT NULL, 'L213200117002', '100002'"
    )
    # the same children again (the enrolled one by UPN only), and one with no identity
    second = (
        "SELECT NULL AS wlz_id, 'K205 2001 16001' AS upn, '100001' AS anchor_urn "
        "UNION ALL SELECT NULL, 'L213200117002', '100002' UNION ALL SELECT NULL, NULL, NULL "
        "UNION ALL SELECT NULL, NULL, NULL"
    )
    assert _keyed(con, keys, first) == [
        ("K205200116001", enrolled),
        ("L213200117002", screened),
        ("L213200117002", screened),
    ]
    assert _keyed(con, keys, second) == [
        ("-", None),
        ("-", None),
        ("K205 2001 16001", enrolled),
        ("L213200117002", screened),
    ]
    # each identity is keyed once per publication, however many rows and tables hold it
    assert sorted(key.asked, key=str) == sorted(
        [
            ("WLZ000000001", "K205200116001", "100001"),
            (None, "L213200117002", "100002"),
            ("WLZ000000001", "K205 2001 16001", "100001"),  # through the register
            (None, None, None),
        ],
        key=str,
    )
    # a source without an anchor column, and an integer-typed WLZ ID column
    table = keys.register("SELECT 7 AS wlz_id, NULL AS upn", {"wlz_id": "wlz_id", "upn": "upn"})
    assert con.execute(f"SELECT k FROM {table} WHERE w = '7' AND a IS NULL").fetchall() == [
        (hmac.new(SECRET, b"7", hashlib.sha256).hexdigest()[:32],)
    ]
    assert con.execute(f"SELECT count(*), count(DISTINCT (w, u, a)) FROM {table}").fetchall() == [
        (5, 5)
    ]


def test_each_shape_is_reported_per_column_as_its_own_pattern_finds_it(con):
    """UPN-, WLZ ID- and postcode-shaped text, counted per column and pattern exactly as
    each pattern alone finds it (Python's re reads these ASCII patterns as RE2 does). No
    restricted tables: only the shapes are looked for."""
    cells = {
        ("alerts", "evidence"): [
            '{"upn":"K205200116001"}',  # a UPN inside JSON
            "K2052001160011",  # 14 characters: not a UPN
            "ref WLZ000000001, WLZ000000002",  # WLZ IDs
            "no shape at all",
            "W6 9AA and K205200116001",  # a postcode and a UPN
        ],
        ("outcomes", "measure"): ["SW1A 1AA", "sw1a 1aa", "WLZ12345678", "N304200118003."],
    }
    for (table, column), values in cells.items():
        con.execute(
            f"CREATE TABLE pub.bi.{table} AS SELECT unnest(?::VARCHAR[]) AS {column}", [values]
        )
    expected = []
    for what, pattern in _TOKEN_PATTERNS.items():
        for (table, column), values in sorted(cells.items()):
            n = sum(1 for v in set(values) if re.search(pattern, v))
            if n:
                expected.append(f"bi.{table}.{column}: {n} values containing {what}")
    assert privacy_scan(con, {}) == expected
    assert len(expected) == 5  # every pattern finds something, in both tables


#: Characters that make word splitting awkward: separators of every kind (spaces, NBSP,
#: tab, quotes, JSON punctuation, combining marks, emoji), word characters that are not
#: letters (digits, hyphens, apostrophes) and letters beyond ASCII.
_AWKWARD = " \"{}[]:,._/\t\u00a0\u3000\u2019'-\u0301😀é9"
_NAMES = [("Chloé", "Okafor"), ("Ana", "Cruz"), ("Lee", "Lee"), ("O'Neil", "Smith-Jones")]


def _full_names_by_definition(con: duckdb.DuckDBPyConnection, cells: list[str]) -> int:
    """How many cells hold a child's forename and surname as words, by the definition: a
    cell's words are ``regexp_split_to_array(v, _WORD_SPLIT)``, the children's name words
    those of restricted_names_sql; only cells with a separator are looked at (a cell of
    one word holds no full name)."""
    names = con.execute(restricted_names_sql(con) or "SELECT NULL, NULL WHERE false").fetchall()
    hits = 0
    for v in set(cells):
        if not con.execute("SELECT regexp_matches(?, ?)", [v, _WORD_SEPARATOR]).fetchone()[0]:
            continue
        words = set(
            con.execute("SELECT regexp_split_to_array(?, ?)", [v, _WORD_SPLIT]).fetchall()[0][0]
        )
        hits += any(f in words and s in words for f, s in names)
    return hits


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.sampled_from([w for pair in _NAMES for w in pair] + ["(Ann", "Jones)"]),
                st.text(alphabet=_AWKWARD, min_size=1, max_size=3),
            ),
            min_size=1,
            max_size=8,
        ).map("".join),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
)
@example(["O'Neil", "Smith-Jones"], False)  # apostrophes and hyphens are word characters
@example(['{"who":"O\'Neil","with":"Smith-Jones"}', "x"], False)  # in JSON, no space between
@example(['{"a":"Chloé"}', "Okafor_x"], False)  # quotes and _ separate words
@example([" (Ann", "Jones) "], True)  # empty first and last words, names cut to them
@example(["Chloé\u00a0Okafor"], False)  # a no-break space is no space: not looked at
@example(["Lee", "x"], False)  # forename and surname the same word
@example(["Chloé\u0301 Okafor", "Ana’s Cruz"], False)  # a combining mark separates; ’ does not
def test_the_full_name_search_finds_what_the_word_split_definition_finds(con, texts, odd_names):
    """The search cuts cells at spaces and quotes before splitting words (to be fast); it
    must find exactly the cells the plain definition finds, awkward characters, empty
    first or last words and names that start or end with a separator included."""
    for table in ("raw.pupils", "staging.pupils"):
        con.execute(f"DROP TABLE IF EXISTS wh.{table}")
    con.execute("DROP TABLE IF EXISTS pub.bi.alerts")
    pairs = _NAMES + ([("(Ann", "Jones)"), (" -Bo", "Ek. ")] if odd_names else [])
    con.execute(
        "CREATE TABLE wh.staging.pupils AS SELECT unnest(?::VARCHAR[]) AS forename, "
        "unnest(?::VARCHAR[]) AS surname",
        [[f for f, _ in pairs], [s for _, s in pairs]],
    )
    cells = [*texts, " ".join(texts)]
    con.execute("CREATE TABLE pub.bi.alerts AS SELECT unnest(?::VARCHAR[]) AS evidence", [cells])
    expected = _full_names_by_definition(con, cells)
    found = [f for f in privacy_scan(con, {}) if "full name" in f]
    assert found == (
        [f"bi.alerts.evidence: {expected} values containing a child's full name"]
        if expected
        else []
    )


def test_whole_values_are_compared_trimmed_as_trim_does(con):
    """The whole-value comparison trims only texts that can change; for every text that
    is the same as trim(v), and trim() leaves printable ASCII alone (the shortcut's
    premise: a DuckDB whose trim() did not would fail here)."""
    odd = [" ", "\t", "\n", "\u00a0", "\u3000", "\u2003", "\u200b", "\u0301", "é", "😀", "~", "!"]
    values = ["", "x", "ab", *odd, *(a + "x" + b for a in odd for b in odd)]
    values += [a + "Okafor" for a in odd] + ["Okafor" + b for b in odd] + ["x" * 5000 + " "]
    con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS v", [values])
    assert con.execute(
        f"SELECT count(*) FROM t WHERE ({_TRIMMED_CELL}) IS DISTINCT FROM trim(v)"
    ).fetchall() == [(0,)]
    assert con.execute(
        "SELECT count(*) FROM range(33, 127) AS r(c) WHERE trim(chr(c::INTEGER)) <> chr(c::INTEGER)"
    ).fetchall() == [(0,)]
    # and the scan finds a name padded with a no-break space as a whole restricted value
    _awkward_warehouse(con)
    con.execute(
        "CREATE TABLE pub.bi.outcomes AS SELECT * FROM (VALUES ('\u00a0Okafor'), ('Okafor\u3000'),"
        " ('Okafor\t')) AS t(note)"
    )
    assert privacy_scan(con, {})[0] == (
        "bi.outcomes.note: 2 values equal to restricted values (names, UPNs, dates of "
        "birth, postcodes, notes)"
    )
