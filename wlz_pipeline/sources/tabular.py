"""Fixed-layout CSV sources: survey returns, interaction logs and reference files.

Their columns are ours (sources.md §3-5), so the header is matched by canonical name
(case- and space-insensitive); extra columns are reported and ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wlz_pipeline.sources.text import (
    HeaderAt,
    UnreadableFile,
    canonical_rows,
    decode,
    locate_header,
    normalise_header,
)

ENCODINGS = ("utf-8-sig", "cp1252")


@dataclass(frozen=True)
class FixedLayout:
    """A fixed-layout CSV's header: the decoded text, where the header is, canonical
    field -> column index (first match), and the columns that are not ours."""

    text: str
    encoding: str
    at: HeaderAt
    index: dict[str, int]
    fields: tuple[str, ...]
    ignored_columns: list[str]

    def read(self) -> FixedRead:
        """Every row, in Python."""
        return FixedRead(
            columns=list(self.index),
            ignored_columns=self.ignored_columns,
            rows=canonical_rows(self.text, self.at, self.index, self.fields),
        )


@dataclass(frozen=True)
class FixedRead:
    columns: list[str]  # canonical columns present in the file
    ignored_columns: list[str]
    rows: list[tuple[int, dict[str, str | None]]]


def fixed_layout(
    data: bytes,
    fields: Sequence[str],
    required: Sequence[str],
    any_of: Sequence[Sequence[str]] = (),
    what: str = "file",
) -> FixedLayout:
    """Decode a CSV and find its header, which holds ``required`` (and one of each
    ``any_of`` group)."""
    if not data.strip():
        raise UnreadableFile(f"the {what} is empty")
    text, encoding = decode(data, ENCODINGS)
    wanted = {normalise_header(f): f for f in fields}

    def is_header(rec: list[str]) -> bool:
        names = {normalise_header(c) for c in rec}
        return all(normalise_header(r) in names for r in required) and all(
            any(normalise_header(a) in names for a in group) for group in any_of
        )

    try:
        at = locate_header(text, is_header)
    except UnreadableFile as exc:
        need = ", ".join(required)
        raise UnreadableFile(f"not a {what}: expected a header with the columns {need}") from exc
    index: dict[str, int] = {}
    ignored: list[str] = []
    for i, h in enumerate(at.header):
        f = wanted.get(normalise_header(h))
        if f is not None and f not in index:
            index[f] = i
        elif h.strip():
            ignored.append(h)
    return FixedLayout(text, encoding, at, index, tuple(fields), ignored)


def read_fixed_csv(
    data: bytes,
    fields: Sequence[str],
    required: Sequence[str],
    any_of: Sequence[Sequence[str]] = (),
    what: str = "file",
) -> FixedRead:
    """Read a CSV whose header holds ``required`` (and one of each ``any_of`` group) in
    Python (``fixed_layout``, then every row)."""
    return fixed_layout(data, fields, required, any_of, what).read()
