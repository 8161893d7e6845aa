"""Zone-scale partner templates, written cheaply but by the real template writer.

The template writer (:func:`wlz_pipeline.sources.partner_template.write_template`) costs
about 2 ms per child row in openpyxl (per-cell styles, then pure-Python XML), and filling
a workbook in (:func:`~wlz_pipeline.sources.partner_template.fill_template`) loads and
saves it again: ~110 s for the zone's ~21,000 allocated child rows. Here, per template:

1. the writer writes the template with its *first* child only (every sheet, heading,
   session, validation, protection and style is the writer's own output);
2. :func:`stamp_children` repeats that child's row on every child sheet for the other
   children (row numbers, WLZ ID and name changed), shifting the spare rows, the data
   validations and the sheet dimensions under them. The result is byte-identical to what
   the writer makes for the full list (tests/test_generator_zone_templates.py checks it);
3. :func:`fill_parts` types the partner's marks, ratings, scores and feedback into the
   empty input cells, as ``fill_template`` does (same cells, same styles; the reader sees
   the same thing: checked by the same test);
4. :func:`zip_parts` zips the parts the way ``save_workbook`` does (fixed timestamps), so
   the same plan always gives the same bytes.

A child whose WLZ ID or name the writer would not store as plain text (empty, spaces at
either end, formula-like: quote-prefix style) makes :func:`filled_template` fall back to
the writer for the whole list; the filling is the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openpyxl.compat import safe_string
from openpyxl.utils.datetime import to_excel

from wlz_pipeline.sources.partner_template import (
    META_SHEET,
    TemplateSpec,
    template_settings,
    write_template,
)
from wlz_pipeline.sources.partner_template_common import is_formula_like

#: the writer's save_workbook: every zip entry stamped 1980-01-01, deflated, mode 644
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

_ROW = re.compile(r'<row r="(\d+)"(?:[^>]*/>|[^>]*>.*?</row>)', re.S)
_CELL_REF = re.compile(r'(<c r="[A-Z]+)(\d+)(")')
_RANGE_REF = re.compile(r"([A-Z]+)(\d+)")
_EMPTY_CELL = re.compile(r'<c r="([A-Z]+)(\d+)"((?: s="\d+")?) t="n" />')
_TEXT_CELL = re.compile(
    r'<c r="([A-Z]+)(\d+)"(?: s="\d+")? t="inlineStr"><is><t>([^<]*)</t></is></c>'
)
_NUM_CELL = re.compile(r'<c r="([A-Z]+)(\d+)"(?: s="\d+")? t="n"><v>([^<]*)</v></c>')
#: elements whose cell references the stamping does not shift: refuse rather than guess
_UNSHIFTED = ("<mergeCells", "<conditionalFormatting", "<hyperlinks", "<autoFilter", "<tableParts")
_ROW_MARK = "\x00R\x00"
_ID_MARK = "\x00I\x00"
_NAME_MARK = "\x00N\x00"


def escape_text(s: str) -> str:
    """Text as ElementTree writes it inside ``<t>`` (what the writer's XML library does)."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain_text(s: str) -> bool:
    """Whether the writer stores ``s`` as a plain inline string: not empty, no spaces at
    either end (``xml:space``), not formula-like (quote-prefix style), no control
    characters."""
    return bool(s) and s == s.strip() and not is_formula_like(s) and all(ch >= " " for ch in s)


# -- the parts of a workbook ----------------------------------------------------------------
def read_parts(data: bytes) -> dict[str, bytes]:
    """The entries of an .xlsx, in their order in the zip."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i.filename) for i in z.infolist()}


def zip_parts(parts: Mapping[str, bytes]) -> bytes:
    """Zip ``parts`` as the writer's ``save_workbook`` does (same entry order, fixed
    timestamps, deflated): equal parts give equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            zi = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            z.writestr(zi, data)
    return buf.getvalue()


def sheet_parts(parts: Mapping[str, bytes]) -> dict[str, str]:
    """Sheet name -> zip entry of its XML (from xl/workbook.xml and its relationships)."""
    wb = parts["xl/workbook.xml"].decode("utf-8")
    rels = parts["xl/_rels/workbook.xml.rels"].decode("utf-8")
    targets = {}
    for rel in re.findall(r"<Relationship [^>]*/>", rels):
        rid = re.search(r'Id="([^"]+)"', rel)
        target = re.search(r'Target="([^"]+)"', rel)
        if rid and target:
            t = target.group(1)
            targets[rid.group(1)] = t.lstrip("/") if t.startswith("/") else f"xl/{t}"
    out = {}
    for sheet in re.findall(r"<sheet [^>]*/>", wb):
        name = re.search(r'name="([^"]*)"', sheet)
        rid = re.search(r'r:id="([^"]+)"', sheet)
        if name and rid and rid.group(1) in targets:
            out[_unescape_attr(name.group(1))] = targets[rid.group(1)]
    return out


def _unescape_attr(s: str) -> str:
    return s.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# -- 2. repeating the first child's rows ------------------------------------------------------
def _split_sheet(xml: str) -> tuple[str, list[tuple[int, str]], str]:
    head, sep, rest = xml.partition("<sheetData>")
    body, sep2, tail = rest.partition("</sheetData>")
    if not sep or not sep2:
        raise ValueError("no <sheetData> in the sheet")
    rows = [(int(m.group(1)), m.group(0)) for m in _ROW.finditer(body)]
    if "".join(r for _, r in rows) != body:
        raise ValueError("unexpected content between the rows of a sheet")
    return head, rows, tail


def _shift_refs(text: str, child_row: int, by: int) -> str:
    """A ``ref`` / ``sqref`` value after the child row became ``by + 1`` rows: cells below
    it move down, and a range ending on it grows (one starting on it does not move)."""

    def ref(s: str, end: bool) -> str:
        m = _RANGE_REF.fullmatch(s)
        if m is None:
            raise ValueError(f"unexpected cell reference {s!r}")
        row = int(m.group(2))
        moves = row > child_row or (end and row == child_row)
        return f"{m.group(1)}{row + by if moves else row}"

    out = []
    for token in text.split(" "):
        first, colon, last = token.partition(":")
        out.append(ref(first, False) + (colon + ref(last, True) if colon else ""))
    return " ".join(out)


def _shift_outside_rows(xml: str, after: int, by: int) -> str:
    for tag in _UNSHIFTED:
        if tag in xml:
            raise ValueError(f"the sheet has {tag[1:]}: not something stamping can shift")

    def attr(m: re.Match) -> str:
        return f'{m.group(1)}="{_shift_refs(m.group(2), after, by)}"'

    xml = re.sub(r'(<dimension ref)="([^"]*)"', attr, xml)
    return re.sub(r'(<dataValidation sqref)="([^"]*)"', attr, xml)


def _row_pattern(row_xml: str, row: int, wlz_id: str, name: str | None) -> str:
    """The row with its number, WLZ ID and (if given) name replaced by markers."""
    pat = row_xml.replace(f'<row r="{row}"', f'<row r="{_ROW_MARK}"', 1)
    pat = _CELL_REF.sub(
        lambda m: f"{m.group(1)}{_ROW_MARK if int(m.group(2)) == row else m.group(2)}{m.group(3)}",
        pat,
    )
    for text, mark in ((wlz_id, _ID_MARK), (name, _NAME_MARK)):
        if text is None:
            continue
        cell = f"<t>{escape_text(text)}</t>"
        if pat.count(cell) != 1:
            raise ValueError("the child's row does not hold its WLZ ID and name once each")
        pat = pat.replace(cell, f"<t>{mark}</t>")
    return pat


def _stamp_sheet(xml: str, first_row: int, children, with_name: bool) -> str:
    """Repeat the row of the only child (at ``first_row``) for every child."""
    head, rows, tail = _split_sheet(xml)
    by = len(children) - 1
    proto = dict(rows).get(first_row)
    if proto is None:
        raise ValueError(f"no child row {first_row}")
    first = children[0]
    pat = _row_pattern(proto, first_row, first.wlz_id, first.display_name if with_name else None)
    out: list[str] = []
    for r, row_xml in rows:
        if r < first_row:
            out.append(row_xml)
        elif r == first_row:
            for i, child in enumerate(children):
                s = pat.replace(_ROW_MARK, str(first_row + i)).replace(
                    _ID_MARK, escape_text(child.wlz_id)
                )
                out.append(s.replace(_NAME_MARK, escape_text(child.display_name)))
        else:
            shifted = row_xml.replace(f'<row r="{r}"', f'<row r="{r + by}"', 1)
            out.append(
                _CELL_REF.sub(lambda m: f"{m.group(1)}{int(m.group(2)) + by}{m.group(3)}", shifted)
            )
    return (
        _shift_outside_rows(head, first_row, by)
        + "<sheetData>"
        + "".join(out)
        + "</sheetData>"
        + _shift_outside_rows(tail, first_row, by)
    )


def _meta_child_row(rows: list[tuple[int, str]], wlz_id: str) -> int:
    for r, row_xml in rows:
        if f"<t>{escape_text(wlz_id)}</t>" in row_xml and "<t>child</t>" in row_xml:
            return r
    raise ValueError("the hidden template sheet lists no child")


def stamp_children(proto: Mapping[str, bytes], spec: TemplateSpec) -> dict[str, bytes]:
    """The parts of ``write_template(spec)`` from the parts of ``write_template`` of the
    same spec with its first child only (``proto``)."""
    if len(spec.children) <= 1:
        return dict(proto)
    cfg = template_settings()
    names = sheet_parts(proto)
    # sheet key -> (row of the first child in the generated layout, whether it has names)
    layout = {
        cfg.sheets["attendance"].name: 3,
        cfg.sheets["engagement"].name: 3,
        cfg.sheets["outcomes"].name: 2,
        cfg.sheets["feedback"].name: 2,
    }
    out = dict(proto)
    for sheet, first_row in layout.items():
        part = names[sheet]
        xml = proto[part].decode("utf-8")
        out[part] = _stamp_sheet(xml, first_row, spec.children, True).encode("utf-8")
    part = names[META_SHEET]
    xml = proto[part].decode("utf-8")
    row = _meta_child_row(_split_sheet(xml)[1], spec.children[0].wlz_id)
    out[part] = _stamp_sheet(xml, row, spec.children, False).encode("utf-8")
    return out


# -- 3. filling in ------------------------------------------------------------------------
@dataclasses.dataclass
class Filling:
    """What the partner types (the arguments of ``fill_template``)."""

    marks: Mapping[tuple[str, dt.date], str]
    engagement: Mapping[tuple[str, dt.date], Any]
    outcomes: Mapping[str, Mapping[str, Any]]
    feedback: Mapping[str, Mapping[str, Any]]


def _cell(ref: str, style: str, value: Any) -> str:
    if isinstance(value, str):
        if not plain_text(value):
            raise ValueError("only plain text is filled in")
        return f'<c r="{ref}"{style} t="inlineStr"><is><t>{escape_text(value)}</t></is></c>'
    if isinstance(value, bool) or not isinstance(value, int | float | dt.date):
        raise TypeError(f"cannot fill in a {type(value).__name__}")
    if isinstance(value, dt.date):
        value = to_excel(value)
    return f'<c r="{ref}"{style} t="n"><v>{safe_string(value)}</v></c>'


def _fill_sheet(xml: str, values: Mapping[tuple[str, int], Any]) -> str:
    """Type ``values`` ((column, row) -> value) into empty cells of the sheet."""
    done = 0

    def one(m: re.Match) -> str:
        nonlocal done
        key = (m.group(1), int(m.group(2)))
        if key not in values:
            return m.group(0)
        done += 1
        return _cell(f"{key[0]}{key[1]}", m.group(3), values[key])

    out = _EMPTY_CELL.sub(one, xml)
    if done != len(values):
        raise ValueError(f"{len(values) - done} of the cells to fill are not empty input cells")
    return out


def _id_rows(xml: str, header_row: int) -> dict[str, int]:
    return {
        text: int(row)
        for col, row, text in _TEXT_CELL.findall(xml)
        if col == "A" and int(row) > header_row
    }


def _grid_values(xml: str, values: Mapping[tuple[str, dt.date], Any]) -> dict:
    rows = _id_rows(xml, 2)
    cols = {
        float(v): col for col, row, v in _NUM_CELL.findall(xml) if row == "1"
    }  # session dates (serials) in the heading row
    out = {}
    for (wlz_id, day), value in values.items():
        out[(cols[float(to_excel(day))], rows[wlz_id])] = value
    return out


def _table_values(xml: str, labels: Mapping[str, str], values: Mapping[str, Mapping]) -> dict:
    heads = {text: col for col, row, text in _TEXT_CELL.findall(xml) if row == "1"}
    cols = {key: heads[escape_text(label)] for key, label in labels.items()}
    rows = _id_rows(xml, 1)
    out = {}
    for wlz_id, fields in values.items():
        for key, value in fields.items():
            if value is not None:
                out[(cols[key], rows[wlz_id])] = value
    return out


def fill_parts(parts: Mapping[str, bytes], filling: Filling) -> dict[str, bytes]:
    """``fill_template`` on the parts of an unedited template from the writer."""
    cfg = template_settings()
    names = sheet_parts(parts)
    out = dict(parts)

    def edit(key: str, make) -> None:
        part = names[cfg.sheets[key].name]
        xml = out[part].decode("utf-8")
        out[part] = _fill_sheet(xml, make(xml)).encode("utf-8")

    edit("attendance", lambda xml: _grid_values(xml, filling.marks))
    edit("engagement", lambda xml: _grid_values(xml, filling.engagement))
    scores = {k: cfg.label(k) for k in ("pre_score", "pre_date", "post_score", "post_date")}
    edit("outcomes", lambda xml: _table_values(xml, scores, filling.outcomes))
    items = {k: item.label for k, item in cfg.feedback.items.items()}
    edit("feedback", lambda xml: _table_values(xml, items, filling.feedback))
    return out


# -- all four -----------------------------------------------------------------------------
def unfilled_template(spec: TemplateSpec, tmp: Path) -> dict[str, bytes]:
    """The parts of ``write_template(spec)``, the writer run on the first child only when
    every child's ID and name can be stamped (else on the whole list)."""
    tmp = Path(tmp)
    stampable = spec.children and all(
        plain_text(c.wlz_id) and plain_text(c.display_name) for c in spec.children
    )
    if not stampable:
        return read_parts(write_template(spec, tmp / "full.xlsx").read_bytes())
    proto_spec = dataclasses.replace(spec, children=spec.children[:1])
    proto = read_parts(write_template(proto_spec, tmp / "proto.xlsx").read_bytes())
    return stamp_children(proto, spec)


def filled_template(spec: TemplateSpec, filling: Filling, tmp: Path) -> bytes:
    """The bytes of ``write_template(spec)`` then ``fill_template`` with ``filling``."""
    return zip_parts(fill_parts(unfilled_template(spec, tmp), filling))
