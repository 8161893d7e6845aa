"""The body of a regular CSV export read by DuckDB's CSV reader instead of row by row
in Python: the zone's 23 million attendance marks are a thousand regular files, and
reading them in Python (cells, a dict per row, Arrow, a date parse per row) took 390 s
of a 643 s cold run (issue 9).

The Python reader (``text.canonical_rows``) stays the definition of what a file means;
this is a faster way to the same rows, taken only when it provably gives them:

- the header was found by the Python reader (``text.locate_header``), so title lines,
  header matching and the kind of extract are decided in one place;
- physical line numbers must come out the same, so the body may have no blank line
  inside it (DuckDB skips those), no line break inside a quoted cell, no lone carriage
  return, no mixed line endings and no line with more cells than the header; and DuckDB
  must read exactly one record per physical line (checked after the scan; a one-column
  file with trailing blank lines fails this, as DuckDB takes them for empty cells);
- cells are stripped of exactly what Python's ``str.strip()`` strips, empty cells are
  NULL and blank rows are dropped, as in ``canonical_rows``.

Whenever one of these does not hold, or DuckDB raises, ``scan_body`` returns ``None``
with the reason, and the caller reads the file in Python. tests/sources/test_duck_csv.py
compares the two readers on the sample's files and on generated awkward files.
"""

from __future__ import annotations

import logging
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

from wlz_pipeline.models import quote_ident
from wlz_pipeline.sources.text import HeaderAt

log = logging.getLogger(__name__)

#: The in-memory database the scans are loaded into (``attach_scratch``). An attached
#: database belongs to the DuckDB instance, not to one connection as a temporary table
#: does: a file scanned on a worker thread's cursor is inserted by the connection that
#: commits its batch (ingest.Ingestor). Each source ingested has one of its own
#: (``SCRATCH`` + ``_<source>``), as two sources may be ingested at once by steps
#: running side by side (wlz_pipeline/executor.py), and each detaches its own at the end.
SCRATCH = "wlz_scan"


def attach_scratch(con: duckdb.DuckDBPyConnection, database: str = SCRATCH) -> None:
    """Attach the scans' in-memory database to ``con``'s instance (if not attached)."""
    con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {quote_ident(database)}")


def detach_scratch(con: duckdb.DuckDBPyConnection, database: str = SCRATCH) -> None:
    """Detach it, freeing every scan still in it (e.g. after a failed batch)."""
    con.execute(f"DETACH DATABASE IF EXISTS {quote_ident(database)}")


#: The characters Python's ``str.strip()`` removes, as an RE2 character class (a
#: regular expression is several times faster in DuckDB than ``trim`` with a set). A
#: body with no whitespace but spaces and line ends is stripped with plain ``trim``,
#: which is faster still and, for such a body, the same.
@cache
def _patterns() -> tuple[re.Pattern, tuple[str, str]]:
    """(whitespace other than spaces and line ends, in Python; the strip macros). Made on
    first use: finding the whitespace characters walks every code point."""
    space = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    other = re.compile(
        "[" + re.escape(space.replace(" ", "").replace("\n", "").replace("\r", "")) + "]"
    )
    cls = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in space) + "]"
    macros = (
        "CREATE OR REPLACE TEMP MACRO wlz_strip(v) AS "
        f"nullif(regexp_replace(v, '^{cls}+|{cls}+$', '', 'g'), '')",
        "CREATE OR REPLACE TEMP MACRO wlz_strip_spaces(v) AS nullif(trim(v), '')",
    )
    return other, macros


@dataclass(frozen=True)
class ScannedBody:
    """A CSV body loaded by DuckDB into the table ``table`` (in ``SCRATCH``): one text column
    per canonical field, stripped, and ``_blank`` (the record has no text); its rowid is
    the record's place in the body, so ``first_line + rowid`` is its physical line, as
    the Python reader numbers it. ``rows`` counts the records that are not blank."""

    table: str
    rows: int
    fields: tuple[str, ...]
    first_line: int

    def select(self) -> str:
        """The rows, blank ones left out: ``_row_number`` then the fields."""
        cols = ", ".join(quote_ident(f) for f in self.fields)
        return (
            f"SELECT rowid + {self.first_line} AS _row_number, {cols} "
            f"FROM {self.table} WHERE NOT _blank"
        )

    def distinct(self, con: duckdb.DuckDBPyConnection, fields: Sequence[str]) -> list[str]:
        """The distinct non-empty values of ``fields`` (e.g. to find a file's period)."""
        parts = [f"SELECT {quote_ident(f)} AS v FROM ({self.select()})" for f in fields]
        if not parts:
            return []
        sql = f"SELECT DISTINCT v FROM ({' UNION ALL '.join(parts)}) WHERE v IS NOT NULL"
        return [r[0] for r in con.execute(sql).fetchall()]

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"DROP TABLE IF EXISTS {self.table}")


#: The ASCII characters ``str.strip()`` removes, other than spaces and line ends.
_ASCII_OTHER_SPACE = "".join(
    chr(c) for c in range(128) if chr(c).isspace() and chr(c) not in " \r\n"
)


def _other_space(body: str) -> bool:
    """Whether ``body`` holds whitespace other than spaces and line ends (an ASCII body,
    the usual export, is searched for its seven such characters, several times faster
    than the pattern over every code point)."""
    if body.isascii():
        return any(c in body for c in _ASCII_OTHER_SPACE)
    return _patterns()[0].search(body) is not None


def _irregular(text: str, at: HeaderAt) -> tuple[str | None, int, bool]:
    """Why the body cannot be scanned line for line (None if it can), its number of
    physical lines (trailing line breaks not counted), and whether it holds whitespace
    other than spaces and line ends."""
    offset = 0
    for _ in range(at.body_line - 1):
        nl = text.find("\n", offset)
        if nl < 0:
            return "the header is the last line", 0, False
        offset = nl + 1
    head = text[:offset]
    if any(line.count('"') % 2 for line in head.split("\n")):
        return "a line break inside a quoted cell above the table", 0, False
    body = text[offset:].rstrip("\r\n")
    if not body:
        return "no rows below the header", 0, False
    if body.startswith(("\n", "\r")) or "\n\n" in body or "\n\r\n" in body:
        return "blank lines inside the table", 0, False
    if body.count("\r") != body.count("\r\n"):
        return "carriage returns that do not end a line", 0, False
    return None, body.count("\n") + 1, _other_space(body)


def scan_body(
    con: duckdb.DuckDBPyConnection,
    stored: Path,
    text: str,
    encoding: str,
    at: HeaderAt,
    index: dict[str, int],
    fields: Sequence[str],
    name: str = "_wlz_scan",
    scratch: Path | None = None,
    database: str = SCRATCH,
) -> ScannedBody | None:
    """Load the body below ``at`` of the CSV ``stored`` (the bytes ``text`` was decoded
    from with ``encoding``) as the table ``name`` of ``SCRATCH`` (attached to ``con``'s
    instance if it is not; a name per file, so files can be scanned on several cursors
    at once and wait for their commit together); None when the file must be
    read in Python (the reason is logged, without any of the file's values). A file not
    in UTF-8 is re-encoded into ``scratch`` (default: beside ``stored``, which is where
    the restricted data already is; never the shared /tmp) for the scan."""
    reason, lines, other_space = _irregular(text, at)
    if reason is not None:
        log.debug("%s read in Python: %s", stored.name, reason)
        return None
    source = stored
    tmp: Path | None = None
    if encoding not in ("utf-8", "utf-8-sig"):
        # DuckDB reads UTF-8; the decoded text is written back as UTF-8, line for line
        with tempfile.NamedTemporaryFile(
            "wb", suffix=".csv", dir=scratch or stored.parent, delete=False
        ) as fh:
            fh.write(text.encode("utf-8"))
        source = tmp = Path(fh.name)
    # One thread reads the file (parallel = false), so its records arrive in the file's
    # order and the table's rowid counts its lines (insertion order is kept). One table
    # is made per file: the cells stripped, and whether the record is blank.
    width = len(at.header)
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    table = f"{quote_ident(database)}.{quote_ident(name)}"
    try:
        attach_scratch(con, database)
        for macro in _patterns()[1]:
            con.execute(macro)
        strip = "wlz_strip" if other_space else "wlz_strip_spaces"
        select = ", ".join(
            (f"{strip}(c{index[f]})" if f in index else "CAST(NULL AS VARCHAR)")
            + f" AS {quote_ident(f)}"
            for f in fields
        )
        # A record is blank when every cell strips to nothing, mapped or not. Testing the
        # cells one by one (coalesce stops at the first with text) gives the same as
        # stripping them joined, since a text is all whitespace exactly when each of its
        # parts is, and costs less: the zone's 128 first marks files scanned in 2.3-2.7
        # CPU-s against 3.7-4.7 (issue 9).
        cells = ", ".join(f"{strip}(c{i})" for i in range(width))
        con.execute(
            f"""CREATE OR REPLACE TABLE {table} AS
                SELECT {select}, coalesce({cells}) IS NULL AS _blank
                FROM read_csv(?,
                    header = false, skip = {at.body_line - 1}, columns = {columns},
                    delim = ',', quote = '"', escape = '"', null_padding = true,
                    strict_mode = true, auto_detect = false, encoding = 'utf-8',
                    parallel = false)""",
            [str(source)],
        )
        records, rows = con.execute(
            f"SELECT count(*), count(*) FILTER (NOT _blank) FROM {table}"
        ).fetchone()
        if records != lines:
            log.debug("%s read in Python: %d records on %d lines", stored.name, records, lines)
            con.execute(f"DROP TABLE IF EXISTS {table}")
            return None
        return ScannedBody(table=table, rows=rows, fields=tuple(fields), first_line=at.body_line)
    except duckdb.Error as exc:
        log.debug("%s read in Python: DuckDB could not read it (%s)", stored.name, type(exc))
        con.execute(f"DROP TABLE IF EXISTS {table}")
        return None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
