"""Inline SVG charts for the HTML reports: plain strings built in Python (no charting
dependency, nothing fetched when a page is opened).

Every chart is ``role="img"`` with a ``<title>`` and a ``<desc>`` (screen readers read
them; the figures are also in a table next to each chart), uses colours that keep a
contrast of at least 3:1 against white, and never relies on colour alone: series are
labelled in a legend and bars carry their value as text.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date

from markupsafe import Markup, escape

#: Series colours (WCAG non-text contrast >= 3:1 on white), in series order.
PALETTE = ("#1f4e79", "#b35900", "#4d6b1f", "#6b2d5c")
INK = "#1a1a1a"
GRID = "#8a8a8a"

#: Element ids of charts drawn outside ``page_ids`` (one sequence for the process).
_ids = itertools.count(1)
_page_ids: ContextVar[Iterator[int] | None] = ContextVar("svg_page_ids", default=None)


@contextmanager
def page_ids() -> Iterator[None]:
    """Number the charts drawn inside the block from 1: their ids (``weeks-t1``) then
    depend only on the page's own charts, so a page renders to the same bytes whatever
    was rendered before it (its body can be cached), and stay unique within the page."""
    token = _page_ids.set(itertools.count(1))
    try:
        yield
    finally:
        _page_ids.reset(token)


def _id(prefix: str) -> str:
    return f"{prefix}{next(_page_ids.get() or _ids)}"


def _open(width: int, height: int, title: str, desc: str, prefix: str) -> tuple[str, str]:
    tid, did = _id(f"{prefix}-t"), _id(f"{prefix}-d")
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="{tid} {did}" font-family="system-ui, sans-serif" font-size="12">'
        f'<title id="{tid}">{escape(title)}</title><desc id="{did}">{escape(desc)}</desc>'
    )
    return head, "</svg>"


@functools.lru_cache(maxsize=4096)
def _day(d: date) -> str:
    """``d`` as "05 Sep 2017" (a page draws thousands of points on a few hundred days)."""
    return f"{d:%d %b %Y}"


@functools.lru_cache(maxsize=16384)
def _session_tip(day: date, status: str, rating: int | None) -> str:
    """The escaped tooltip of one session point (the same few thousand on every page)."""
    return str(escape(f"{_day(day)}: {status}" + (f", engagement {rating}" if rating else "")))


@functools.lru_cache(maxsize=16384)
def _week_tip(week: date, value: float, unit: str) -> str:
    """The escaped tooltip of one week's column (weeks and minutes recur across pages)."""
    return str(escape(f"week of {_day(week)}: {value:g} {unit}"))


def _text(x: float, y: float, s: str, anchor: str = "start", size: int = 12, **attrs) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="{INK}"{extra}>{escape(s)}</text>'
    )


def grouped_bars(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    desc: str,
    missing_label: Sequence[Sequence[str]] | None = None,
    width: int = 720,
) -> Markup:
    """Horizontal grouped bars of shares (0-1), one group per category, one bar per
    series. A missing value draws no bar and writes ``missing_label[s][i]`` (e.g. the
    suppression mark) where the bar would be."""
    label_w, right = 210, 56
    bar_h, gap = 11, 8
    n = max(len(series), 1)
    group_h = n * bar_h + gap
    top, legend_h = 8, 26
    height = top + legend_h + len(categories) * group_h + 26
    plot_w = width - label_w - right
    head, tail = _open(width, height, title, desc, "bars")
    out = [head]
    # legend
    x = label_w
    for s, (name, _) in enumerate(series):
        out.append(
            f'<rect x="{x}" y="{top}" width="12" height="12" fill="{PALETTE[s % len(PALETTE)]}"/>'
        )
        out.append(_text(x + 16, top + 11, name))
        x += 24 + 7 * len(name) + 16
    y0 = top + legend_h
    # grid at 0, 25, 50, 75, 100 %
    for tick in range(0, 101, 25):
        gx = label_w + plot_w * tick / 100
        out.append(
            f'<line x1="{gx:.1f}" y1="{y0 - 2}" x2="{gx:.1f}" '
            f'y2="{y0 + len(categories) * group_h}" stroke="{GRID}" stroke-width="0.5"/>'
        )
        out.append(_text(gx, y0 + len(categories) * group_h + 16, f"{tick}%", "middle", 11))
    for i, cat in enumerate(categories):
        gy = y0 + i * group_h
        out.append(_text(label_w - 8, gy + n * bar_h / 2 + 4, cat, "end"))
        for s, (name, values) in enumerate(series):
            v = values[i] if i < len(values) else None
            by = gy + s * bar_h
            if v is None:
                mark = missing_label[s][i] if missing_label else "n/a"
                out.append(_text(label_w + 4, by + bar_h - 2, mark, size=10, font_style="italic"))
                continue
            w = max(plot_w * min(max(v, 0.0), 1.0), 0.5)
            out.append(
                f'<rect x="{label_w}" y="{by:.1f}" width="{w:.1f}" height="{bar_h - 1}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(f"{cat}, {name}: {v:.0%}")}'
                "</title></rect>"
            )
            out.append(_text(label_w + w + 4, by + bar_h - 2, f"{v:.0%}", size=10))
    out.append(tail)
    return Markup("".join(out))


def weekly_columns(
    weeks: Sequence[tuple[date, float, bool | None]],
    *,
    title: str,
    desc: str,
    unit: str = "min",
    width: int = 720,
    height: int = 190,
) -> Markup:
    """Columns per week (e.g. LW minutes), with a mark under each school week: a filled
    dot when the week's check-in was met, a hollow one when it was not (``None``: not a
    school week, no mark)."""
    left, right, top, bottom = 44, 10, 10, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    head, tail = _open(width, height, title, desc, "weeks")
    out = [head]
    vmax = max((v for _, v, _ in weeks), default=0) or 1
    step = 10 ** max(len(str(int(vmax))) - 1, 0)
    ymax = ((int(vmax) // step) + 1) * step
    for k in range(0, 5):
        val = ymax * k / 4
        gy = top + plot_h - plot_h * k / 4
        out.append(
            f'<line x1="{left}" y1="{gy:.1f}" x2="{width - right}" y2="{gy:.1f}" '
            f'stroke="{GRID}" stroke-width="0.5"/>'
        )
        out.append(_text(left - 4, gy + 4, f"{val:g}", "end", 10))
    n = max(len(weeks), 1)
    col = plot_w / n
    # what is the same for every week, formatted once (a page draws a few hundred weeks)
    inset, half, bottom_y = col * 0.1, col / 2, top + plot_h
    bar = f'width="{max(col * 0.8, 0.8):.1f}" '
    dot = f'cy="{top + plot_h + 8}" r="{min(col / 2.6, 3.2):.1f}" '
    last_month, last_label_x = None, -1e9
    for i, (week, value, met) in enumerate(weeks):
        x = left + i * col
        h = plot_h * value / ymax
        if value:
            out.append(
                f'<rect x="{x + inset:.1f}" y="{bottom_y - h:.1f}" {bar}height="{h:.1f}" '
                f'fill="{PALETTE[0]}"><title>{_week_tip(week, value, unit)}</title></rect>'
            )
        if met is not None:
            fill = PALETTE[1] if met else "#ffffff"
            out.append(
                f'<circle cx="{x + half:.1f}" {dot}fill="{fill}" stroke="{PALETTE[1]}" '
                'stroke-width="1"/>'
            )
        month = (week.year, week.month)
        first = last_month is None
        if month != last_month and (first or week.month in (1, 4, 9)) and x - last_label_x >= 64:
            out.append(_text(x, top + plot_h + 30, f"{week:%b %Y}", size=10))
            last_label_x = x
        last_month = month
    out.append(
        _text(left, height - 4, "● check-in met   ○ not met (school weeks)", size=10)
        + _text(width - right, height - 4, f"columns: {unit} per week", "end", 10)
    )
    out.append(tail)
    return Markup("".join(out))


def session_strip(
    sessions: Sequence[tuple[date, str, int | None]],
    *,
    title: str,
    desc: str,
    scale_max: int = 5,
    width: int = 720,
    height: int = 120,
) -> Markup:
    """A programme's sessions in date order: a dot at the engagement rating (1 to
    ``scale_max``) when attended, a cross on the baseline when missed, a grey tick when the
    mark is not counted (X, blank)."""
    left, right, top, bottom = 30, 10, 8, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    head, tail = _open(width, height, title, desc, "sessions")
    out = [head]
    for k in range(1, scale_max + 1):
        gy = top + plot_h - plot_h * (k - 1) / max(scale_max - 1, 1)
        out.append(
            f'<line x1="{left}" y1="{gy:.1f}" x2="{width - right}" y2="{gy:.1f}" '
            f'stroke="{GRID}" stroke-width="0.4"/>'
        )
        out.append(_text(left - 4, gy + 4, str(k), "end", 10))
    n = max(len(sessions), 1)
    step = plot_w / n
    span = max(scale_max - 1, 1)
    # the y of each mark, formatted once (a page draws a few hundred sessions)
    rated: dict[int, str] = {}  # rating -> y of its dot
    baseline = f"{top + plot_h:.1f}"
    below = top + plot_h + 12
    above_s, below_s = f"{below - 3:.1f}", f"{below + 3:.1f}"
    points = []
    for i, (day, status, rating) in enumerate(sessions):
        x = left + step * (i + 0.5)
        xs = f"{x:.1f}"
        tip = _session_tip(day, status, rating)
        if status == "attended" and rating:
            y = rated.get(rating)
            if y is None:
                y = rated[rating] = f"{top + plot_h - plot_h * (rating - 1) / span:.1f}"
            points.append(f"{xs},{y}")
            out.append(
                f'<circle cx="{xs}" cy="{y}" r="3.5" fill="{PALETTE[0]}">'
                f"<title>{tip}</title></circle>"
            )
        elif status == "attended":
            out.append(
                f'<circle cx="{xs}" cy="{baseline}" r="3.5" fill="#ffffff" '
                f'stroke="{PALETTE[0]}"><title>{tip}</title></circle>'
            )
        elif status == "missed":
            xm = f"{x - 3:.1f}"
            out.append(
                f'<path d="M{xm},{above_s} l6,6 M{xm},{below_s} l6,-6" '
                f'stroke="{PALETTE[1]}" stroke-width="1.6"><title>{tip}</title></path>'
            )
        else:
            out.append(
                f'<line x1="{xs}" y1="{above_s}" x2="{xs}" y2="{below_s}" '
                f'stroke="{GRID}" stroke-width="1"><title>{tip}</title></line>'
            )
    if len(points) > 1:
        out.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{PALETTE[0]}" '
            'stroke-width="1" stroke-opacity="0.6"/>',
        )
    if sessions:
        out.append(_text(left, height - 2, _day(sessions[0][0]), size=10))
        out.append(_text(width - right, height - 2, _day(sessions[-1][0]), "end", 10))
    out.append(tail)
    return Markup("".join(out))
