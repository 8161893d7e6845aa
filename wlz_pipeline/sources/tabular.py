"""Fixed-layout CSV sources: survey returns, interaction logs and reference files.

Their columns are ours (sources.md §3-5), so the header is matched by canonical name
(case- and space-insensitive); extra columns are reported and ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wlz_pipeline.sources.text import UnreadableFile, decode, normalise_header, read_table

ENCODINGS = ("utf-8-sig", "cp1252")


@dataclass(frozen=True)
class FixedRead:
    columns: list[str]  # canonical columns present in the file
    ignored_columns: list[str]
    rows: list[tuple[int, dict[str, str | None]]]


def read_fixed_csv(
    data: bytes,
    fields: Sequence[str],
    required: Sequence[str],
    any_of: Sequence[Sequence[str]] = (),
    what: str = "file",
) -> FixedRead:
    """Read a CSV whose header holds ``required`` (and one of each ``any_of`` group)."""
    if not data.strip():
        raise UnreadableFile(f"the {what} is empty")
    text, _ = decode(data, ENCODINGS)
    wanted = {normalise_header(f): f for f in fields}

    def is_header(rec: list[str]) -> bool:
        names = {normalise_header(c) for c in rec}
        return all(normalise_header(r) in names for r in required) and all(
            any(normalise_header(a) in names for a in group) for group in any_of
        )

    try:
        table = read_table(text, is_header)
    except UnreadableFile as exc:
        need = ", ".join(required)
        raise UnreadableFile(f"not a {what}: expected a header with the columns {need}") from exc
    index: dict[str, int] = {}
    ignored: list[str] = []
    for i, h in enumerate(table.header):
        f = wanted.get(normalise_header(h))
        if f is not None and f not in index:
            index[f] = i
        elif h.strip():
            ignored.append(h)
    rows = []
    for line, rec in table.rows:
        row: dict[str, str | None] = {}
        for f in fields:
            i = index.get(f)
            v = rec[i].strip() if i is not None and i < len(rec) else None
            row[f] = v or None
        rows.append((line, row))
    return FixedRead(columns=list(index), ignored_columns=ignored, rows=rows)
