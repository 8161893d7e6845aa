"""Writing files and recording them for MANIFEST.json.

Every generated file goes through :class:`Output`, which knows the physical line of
every data row it writes. That is how the manifest can say exactly which line of
which file carries a deliberately bad value, and how many data rows each file has
(header, title and blank lines excluded).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def csv_field(value: object) -> str:
    s = "" if value is None else str(value)
    if "\n" in s or "\r" in s:
        raise ValueError(f"line break inside a CSV value: {s!r}")
    if any(c in s for c in ',"') or s != s.strip():
        return '"' + s.replace('"', '""') + '"'
    return s


def csv_line(values: list[object]) -> str:
    return ",".join(csv_field(v) for v in values)


class Output:
    """The landing folder being written, and what the manifest will say about it."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.files: list[dict[str, Any]] = []
        self.planted_rows: list[dict[str, Any]] = []
        self.planted_files: list[dict[str, Any]] = []
        #: hand-edited cells in returned partner templates (file, defect, sheet, cells)
        self.planted_cells: list[dict[str, Any]] = []
        self.corrections: list[dict[str, Any]] = []
        #: templates written outside the landing folders, to arrive later (file, landing_path)
        self.held_back: list[dict[str, Any]] = []

    def path(self, relpath: str) -> Path:
        p = self.root / relpath
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def table(self, relpath: str, kind: str, header: list[str], **kw: Any) -> TableWriter:
        return TableWriter(self, relpath, kind, header, **kw)

    def write_bytes(self, relpath: str, kind: str, data: bytes, rows: int | None, **meta: Any):
        self.path(relpath).write_bytes(data)
        rec = {
            "path": relpath,
            "kind": kind,
            "rows": rows,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        rec.update(meta)
        self.files.append(rec)
        return rec

    def plant_row(self, file: str, line: int, column: str, rule: str, value: str, action: str):
        self.planted_rows.append(
            {
                "file": file,
                "line": line,
                "column": column,
                "rule": rule,
                "value": value,
                "expected_action": action,
            }
        )

    def record_of(self, relpath: str) -> dict[str, Any]:
        for rec in self.files:
            if rec["path"] == relpath:
                return rec
        raise KeyError(relpath)


class TableWriter:
    """A CSV table written line by line, in a given encoding and line ending."""

    def __init__(
        self,
        out: Output,
        relpath: str,
        kind: str,
        header: list[str],
        *,
        encoding: str = "utf-8",
        bom: bool = False,
        newline: str = "\n",
        title_lines: tuple[str, ...] = (),
        meta: dict[str, Any] | None = None,
    ):
        self.out = out
        self.relpath = relpath
        self.kind = kind
        self.header = list(header)
        self.encoding = encoding
        self.bom = bom
        self.nl = newline
        self.meta = dict(meta or {})
        self.lines_written = 0
        self.rows = 0
        self._hash = hashlib.sha256()
        self._size = 0
        self._fh = open(out.path(relpath), "wb")  # noqa: SIM115 - closed in close()
        if bom:
            self._put(b"\xef\xbb\xbf")
        for t in title_lines:
            self._text(t + self.nl)
            self.lines_written += 1
        self._text(csv_line(self.header) + self.nl)
        self.lines_written += 1
        self.header_line = self.lines_written

    def _put(self, data: bytes) -> None:
        self._fh.write(data)
        self._hash.update(data)
        self._size += len(data)

    def _text(self, s: str) -> None:
        self._put(s.encode(self.encoding))

    def row(self, values: list[object]) -> int:
        """Write one data row; returns its 1-based physical line number."""
        if len(values) != len(self.header):
            raise ValueError(f"{self.relpath}: {len(values)} values for {len(self.header)} columns")
        self._text(csv_line(values) + self.nl)
        self.lines_written += 1
        self.rows += 1
        return self.lines_written

    def plant(self, values: list[object], column: str, rule: str, action: str) -> int:
        """Write a deliberately bad row and list it in the manifest."""
        line = self.row(values)
        value = values[self.header.index(column)]
        self.out.plant_row(
            self.relpath, line, column, rule, "" if value is None else str(value), action
        )
        return line

    def block(self, text: str, n_lines: int) -> None:
        """Write pre-formatted data lines (already ending with this file's newline)."""
        self._text(text)
        self.lines_written += n_lines
        self.rows += n_lines

    def close(self, trailing_blank: int = 0, blank_style: str = "empty") -> dict[str, Any]:
        for _ in range(trailing_blank):
            filler = "," * (len(self.header) - 1) if blank_style == "commas" else ""
            self._text(filler + self.nl)
            self.lines_written += 1
        self._fh.close()
        rec: dict[str, Any] = {
            "path": self.relpath,
            "kind": self.kind,
            "rows": self.rows,
            "bytes": self._size,
            "sha256": self._hash.hexdigest(),
            "encoding": "utf-8-sig" if self.bom else self.encoding,
            "line_ending": "crlf" if self.nl == "\r\n" else "lf",
            "header_line": self.header_line,
            "trailing_blank_lines": trailing_blank,
        }
        rec.update(self.meta)
        self.out.files.append(rec)
        return rec
