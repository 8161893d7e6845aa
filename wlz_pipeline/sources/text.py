"""Decoding and tabulating the CSV files people export from other systems.

Handles what real exports do (sources.md §1): UTF-8 with or without a BOM or
Windows-1252, a title line (or several) above the header, trailing blank rows, and
Windows line endings. Row numbers are the physical line numbers a person sees when
opening the file in a text editor or Excel (1-based, counting the header and any title
lines), so a finding can point at the exact line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass


class UnreadableFile(Exception):
    """The file cannot be read as text in any accepted encoding, or is not a table."""


def decode(data: bytes, encodings: Sequence[str]) -> tuple[str, str]:
    """Decode ``data`` with the first encoding that decodes all of it.

    Returns ``(text, encoding)``. A NUL byte means a binary file, whatever decodes.
    """
    if b"\x00" in data[:65536]:
        raise UnreadableFile("the file is binary, not a text (CSV) export")
    for enc in encodings:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise UnreadableFile(f"the file is not text in any accepted encoding ({', '.join(encodings)})")


def normalise_header(name: str) -> str:
    """Header cells compare case-insensitively, ignoring surrounding and repeated spaces."""
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


@dataclass(frozen=True)
class Table:
    header: list[str]
    header_line: int  # 1-based physical line of the header
    rows: list[tuple[int, list[str]]]  # (physical line number, cells)


def _physical_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the physical line each starts on (quoted newlines allowed)."""
    buf = io.StringIO(text, newline="")
    reader = csv.reader(buf)
    line = 1
    for record in reader:
        yield line, record
        line = reader.line_num + 1


@dataclass(frozen=True)
class HeaderAt:
    """Where a file's header is: its cells, the physical line it starts on, and the first
    physical line after it (a header cell may hold a quoted line break)."""

    header: list[str]
    header_line: int
    body_line: int


def _find_header(
    rows: Iterator[tuple[int, list[str]]],
    is_header: Callable[[list[str]], bool],
    max_title_lines: int,
) -> tuple[list[str], int]:
    for line, record in rows:
        if is_header(record):
            return record, line
        if line >= max_title_lines:
            break
    raise UnreadableFile(
        "no recognised header row in the first "
        f"{max_title_lines} lines (the column names do not match any known layout)"
    )


def locate_header(
    text: str,
    is_header: Callable[[list[str]], bool],
    max_title_lines: int = 10,
) -> HeaderAt:
    """The header line (the first within ``max_title_lines`` that ``is_header`` accepts),
    reading no further than it; the body is left to a reader of its own."""
    buf = io.StringIO(text, newline="")
    reader = csv.reader(buf)
    line = 1

    def records() -> Iterator[tuple[int, list[str]]]:
        nonlocal line
        for record in reader:
            yield line, record
            line = reader.line_num + 1

    header, header_line = _find_header(records(), is_header, max_title_lines)
    return HeaderAt(header=header, header_line=header_line, body_line=reader.line_num + 1)


def read_table(
    text: str,
    is_header: Callable[[list[str]], bool],
    max_title_lines: int = 10,
) -> Table:
    """Find the header line (the first within ``max_title_lines`` that ``is_header``
    accepts) and return the rows below it, skipping blank rows."""
    rows = _physical_rows(text)
    header, header_line = _find_header(rows, is_header, max_title_lines)
    body = [(ln, rec) for ln, rec in rows if any(cell.strip() for cell in rec)]
    return Table(header=header, header_line=header_line, rows=body)


Rows = list[tuple[int, dict[str, str | None]]]


def canonical_rows(text: str, at: HeaderAt, index: dict[str, int], fields: Sequence[str]) -> Rows:
    """The body below ``at`` as (physical line, canonical field -> text) rows: cells
    stripped, empty cells None, a field the file lacks None, blank rows skipped."""
    rows: Rows = []
    for line, rec in _physical_rows(text):
        if line < at.body_line or not any(cell.strip() for cell in rec):
            continue
        row: dict[str, str | None] = {}
        for f in fields:
            i = index.get(f)
            value = rec[i].strip() if i is not None and i < len(rec) else None
            row[f] = value or None
        rows.append((line, row))
    return rows
