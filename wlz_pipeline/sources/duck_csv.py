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
    """A CSV body loaded by DuckDB: ``table`` is a temporary table of ``_row_number``
    (the physical line, as the Python reader numbers it), then one text column per
    canonical field, stripped, blank rows dropped; made from (and replacing) the raw
    cells of the scan's temporary table ``scan``."""

    table: str
    scan: str
    rows: int
    fields: tuple[str, ...]

    def distinct(self, con: duckdb.DuckDBPyConnection, fields: Sequence[str]) -> list[str]:
        """The distinct non-empty values of ``fields`` (e.g. to find a file's period)."""
        parts = [f"SELECT {quote_ident(f)} AS v FROM {self.table}" for f in fields]
        if not parts:
            return []
        sql = f"SELECT DISTINCT v FROM ({' UNION ALL '.join(parts)}) WHERE v IS NOT NULL"
        return [r[0] for r in con.execute(sql).fetchall()]

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"DROP TABLE IF EXISTS {self.table}")
        con.execute(f"DROP TABLE IF EXISTS {self.scan}")


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
    return None, body.count("\n") + 1, _patterns()[0].search(body) is not None


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
) -> ScannedBody | None:
    """Load the body below ``at`` of the CSV ``stored`` (the bytes ``text`` was decoded
    from with ``encoding``) as the temporary table ``name``; None when the file must be
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
    # One thread reads the file (parallel = false), so the scan's table holds its rows in
    # the file's order and rowid counts its lines; extracts are megabytes, read in turn.
    width = len(at.header)
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    src = f"{name}_src"
    try:
        for macro in _patterns()[1]:
            con.execute(macro)
        strip = "wlz_strip" if other_space else "wlz_strip_spaces"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {src} AS SELECT * FROM read_csv(?,
                    header = false, skip = {at.body_line - 1}, columns = {columns},
                    delim = ',', quote = '"', escape = '"', null_padding = true,
                    strict_mode = true, auto_detect = false, encoding = 'utf-8',
                    parallel = false)""",
            [str(source)],
        )
        (records,) = con.execute(f"SELECT count(*) FROM {src}").fetchone()
        if records != lines:
            log.debug("%s read in Python: %d records on %d lines", stored.name, records, lines)
            con.execute(f"DROP TABLE IF EXISTS {src}")
            return None
        select = ", ".join(
            (f"{strip}(c{index[f]})" if f in index else "CAST(NULL AS VARCHAR)")
            + f" AS {quote_ident(f)}"
            for f in fields
        )
        cells = ", ".join(f"c{i}" for i in range(width))
        # stripped once, into a table of its own: the rows are counted, searched for the
        # file's period and inserted from it
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {name} AS
                SELECT rowid + {at.body_line} AS _row_number, {select}
                FROM {src}
                WHERE {strip}(concat_ws('', {cells})) IS NOT NULL"""
        )
        con.execute(f"DROP TABLE {src}")
        (rows,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
        return ScannedBody(table=name, scan=src, rows=rows, fields=tuple(fields))
    except duckdb.Error as exc:
        log.debug("%s read in Python: DuckDB could not read it (%s)", stored.name, type(exc))
        con.execute(f"DROP TABLE IF EXISTS {name}")
        con.execute(f"DROP TABLE IF EXISTS {src}")
        return None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
