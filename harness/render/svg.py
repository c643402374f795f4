"""Drawings and grids for the HTML report: the padded input as SVG, tensors as heat maps.

Everything here returns :class:`markupsafe.Markup` built from numbers and
from text passed through :func:`markupsafe.escape`, so the report's
autoescaping template can place it as is. Markup is kept terse on purpose: a
conformance run has thousands of verdicts and the report must stay small.

A record is untrusted input: what is drawn is bounded by what a record holds,
never by what it claims. A drawing has at most 17 rows and columns whatever the
sizes say; a tensor is drawn only when its data has the shape the record
gives it (:func:`stored`), and a grid shows at most ``MAX_SIDE`` x ``MAX_SIDE`` cells.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np
from markupsafe import Markup, escape

from harness.record.run_record import FULL_ARRAY_LIMIT   # a whole stored tensor has at most this many

CELL = 28            # px, one cell of the padded-input drawing
MARGIN = 32          # px, room for the index labels
KEEP = {"before": 2, "data": 3, "after": 2, "crop": 2}   # cells kept at each end of a region
MAX_SIDE = 12        # a grid shows at most MAX_SIDE x MAX_SIDE cells (around the worst)
LANE = 16            # px, one output window's lane under the padded-input drawing
# Heat-map scale of |err| / bound: half-decade bins from 1e-3 to 1, then "over the bound".
HEAT_EDGES = (1e-3, 10 ** -2.5, 1e-2, 10 ** -1.5, 1e-1, 10 ** -0.5, 1.0)
HEAT_LEGEND = ("< 1e-3", "1e-3", "3e-3", "1e-2", "3e-2", "0.1", "0.3 – 1", "> 1", "nan / inf")


# --------------------------------------------------------------------- padded input

@dataclass(frozen=True)
class Slot:
    """One drawn row or column of the padded input: a region's cell, or a gap for hidden ones."""

    kind: str   # "before", "data", "after", "crop" (cut off by a negative pad) or "gap"
    lo: int     # first padded position it stands for (0 = first pad-before cell)
    hi: int     # last padded position it stands for (== lo unless a gap)


def _region(kind: str, start: int, n: int) -> list[Slot]:
    keep = KEEP[kind]
    if n <= 2 * keep + 1:
        return [Slot(kind, start + i, start + i) for i in range(n)]
    head = [Slot(kind, start + i, start + i) for i in range(keep)]
    tail = [Slot(kind, start + n - keep + i, start + n - keep + i) for i in range(keep)]
    return head + [Slot("gap", start + keep, start + n - keep - 1)] + tail


def axis_slots(axis: dict) -> list[Slot]:
    """Rows (or columns) drawn for one spatial axis: pads before, data, pads after. A
    negative pad crops: those data cells are drawn as ``crop`` outside the padded input
    (positions below 0, or past its end), where no window reaches."""
    before, size, after = axis["before"], axis["size"], axis["after"]
    lead = _region("before", 0, before) if before >= 0 else _region("crop", before, -before)
    start = max(before, 0)
    kept = max(size - max(-before, 0) - max(-after, 0), 0)
    trail = (_region("after", start + kept, after) if after >= 0
             else _region("crop", start + kept, -after))
    return lead + _region("data", start, kept) + trail


def cell_kind(a: Slot, b: Optional[Slot] = None) -> Optional[str]:
    """The class of one cell: data, a pad before / after the data, or a corner of both."""
    kinds = {a.kind} | ({b.kind} if b else set())
    if "gap" in kinds:
        return None
    if kinds == {"data"}:
        return "cell-data"
    if "crop" in kinds:
        return "cell-crop"
    if {"before", "after"} <= kinds:
        return "cell-pad-mixed"
    return "cell-pad-before" if "before" in kinds else "cell-pad-after"


def _slot_of(slots: Sequence[Slot], pos: int) -> int:
    """The slot that stands for padded position ``pos`` (the last one past the end)."""
    return next((i for i, s in enumerate(slots) if s.lo <= pos <= s.hi), len(slots) - 1)


def _label(slot: Slot, before: int) -> str:
    return "…" if slot.kind == "gap" else str(slot.lo - before)


def _headers(slots: Sequence[Slot], before: int, vertical: bool) -> list[str]:
    out = []
    for i, s in enumerate(slots):
        c = MARGIN + i * CELL + CELL / 2
        x, y = (MARGIN - 5, c + 4) if vertical else (c, MARGIN - 8)
        anchor = "end" if vertical else "middle"
        out.append(f'<text class="idx idx-{s.kind}" x="{x:g}" y="{y:g}" '
                   f'text-anchor="{anchor}">{_label(s, before)}</text>')
    return out


def _cells(rows: Sequence[Slot], cols: Sequence[Slot], rb: int, cb: int) -> list[str]:
    out = []
    for (i, r), (j, c) in itertools.product(enumerate(rows), enumerate(cols)):
        kind = cell_kind(c) if r is None else cell_kind(r, c)
        if kind is None:
            continue
        x, y = MARGIN + j * CELL, MARGIN + i * CELL
        row = "" if r is None else f' data-row="{r.lo - rb}"'
        out.append(f'<rect class="{kind}" x="{x}" y="{y}" width="{CELL}" height="{CELL}"'
                   f'{row} data-col="{c.lo - cb}"/>')
        if kind not in ("cell-data", "cell-crop"):
            out.append(f'<text class="zero" x="{x + CELL / 2:g}" y="{y + CELL / 2 + 4:g}">0</text>')
    return out


def _window(rows: Sequence, cols: Sequence[Slot], raxis: Optional[dict], caxis: dict) -> list[str]:
    """The first output element's window: its outline and the taps the kernel reads."""
    def span(slots, axis):
        return _slot_of(slots, 0), _slot_of(slots, axis["effective_kernel"] - 1)

    def taps(slots, axis):   # the drawn cells at k * dilation, k < kernel: one pass over slots
        d = max(axis["dilation"], 1)
        return {i for i, s in enumerate(slots) if s.kind != "gap" and s.lo % d == 0
                and s.lo // d < axis["kernel"]}

    c0, c1 = span(cols, caxis)
    r0, r1 = span(rows, raxis) if raxis else (0, 0)
    out = [f'<rect class="window" x="{MARGIN + c0 * CELL}" y="{MARGIN + r0 * CELL}" '
           f'width="{(c1 - c0 + 1) * CELL}" height="{(r1 - r0 + 1) * CELL}"/>']
    for i, j in itertools.product(taps(rows, raxis) if raxis else {0}, taps(cols, caxis)):
        out.append(f'<circle class="tap" cx="{MARGIN + j * CELL + CELL / 2:g}" '
                   f'cy="{MARGIN + i * CELL + CELL / 2:g}" r="3"/>')
    return out


@dataclass(frozen=True)
class Lane:
    """One lane under the drawing: an output window along the columns, or a run of windows
    that lie wholly in hidden cells (``first < last``)."""

    first: int   # output index of the (first) window
    last: int    # output index of the last window it stands for (== first: one window)
    lo: int      # padded position of the first window's first cell
    hi: int      # padded position of the last window's last cell


def window_count(axis: dict) -> int:
    """Output windows along one axis, computed from its sizes (not taken from the record)."""
    padded = axis["size"] + axis["before"] + axis["after"]
    span = padded - axis["effective_kernel"]
    return span // max(axis["stride"], 1) + 1 if span >= 0 else 0


def lanes(slots: Sequence[Slot], axis: dict) -> list[Lane]:
    """Every output window along one axis, in order (the last one too): a lane of its own
    for each window whose first or last cell is drawn, and one lane for each run of
    windows in between that lie wholly in hidden cells. Bounded by the drawn cells, never
    by the window count a record implies."""
    stride, eff, n = max(axis["stride"], 1), axis["effective_kernel"], window_count(axis)
    if n <= 0:
        return []
    shown = {0, n - 1}
    for s in slots:
        if s.kind in ("gap", "crop"):
            continue
        if s.lo % stride == 0:                       # a window starts at this cell
            shown.add(s.lo // stride)
        if (s.lo - eff + 1) >= 0 and (s.lo - eff + 1) % stride == 0:   # one ends here
            shown.add((s.lo - eff + 1) // stride)
    shown = sorted(j for j in shown if 0 <= j < n)
    out: list[Lane] = []
    for j in shown:
        if out and j > out[-1].last + 1:             # the windows between are hidden
            a, b = out[-1].last + 1, j - 1
            out.append(Lane(a, b, a * stride, b * stride + eff - 1))
        out.append(Lane(j, j, j * stride, j * stride + eff - 1))
    return out


def _lanes(cols: Sequence[Slot], caxis: dict, top: int) -> list[str]:
    """The windows along the columns, one lane each under the drawing, with their taps."""
    d, before = max(caxis["dilation"], 1), caxis["before"]
    drawn = {s.lo: i for i, s in enumerate(cols) if s.kind != "gap"}
    out = []
    for n, lane in enumerate(lanes(cols, caxis)):
        c0, c1 = _slot_of(cols, lane.lo), _slot_of(cols, lane.hi)
        y = top + n * LANE
        hidden = lane.first != lane.last
        label = f"{lane.first}–{lane.last}" if hidden else str(lane.first)
        out.append(f'<g class="lane{" hidden" if hidden else ""}" data-out="{label}" '
                   f'data-from="{lane.lo - before}" data-to="{lane.hi - before}">'
                   f'<text class="idx" x="{MARGIN - 5}" y="{y + LANE / 2 + 4:g}" '
                   f'text-anchor="end">{label}</text>'
                   f'<rect class="lane" x="{MARGIN + c0 * CELL + 2}" y="{y + 2}" '
                   f'width="{(c1 - c0 + 1) * CELL - 4}" height="{LANE - 4}"/>')
        if hidden:
            out.append(f'<text class="zero" x="{MARGIN + (c0 + c1 + 1) * CELL / 2:g}" '
                       f'y="{y + LANE / 2 + 4:g}">…</text>')
        else:
            for pos in sorted(p for p in drawn if lane.lo <= p <= lane.hi
                              and (p - lane.lo) % d == 0):
                out.append(f'<circle class="tap" cx="{MARGIN + drawn[pos] * CELL + CELL / 2:g}" '
                           f'cy="{y + LANE / 2:g}" r="2.5"/>')
        out.append("</g>")
    return out


def padded_input(axes: Sequence[dict], window: bool = True) -> Markup:
    """One SVG of the padded input over one or two spatial axes (rows, columns).

    ``window``: outline the first output element's window, and draw under the
    input one lane per window along the columns on that output row (the first),
    so the last window's place is seen too; there is none when the output is
    empty (the kernel is larger than the padded input somewhere).
    """
    raxis, caxis = (None, axes[0]) if len(axes) == 1 else axes
    cols = axis_slots(caxis)
    rows = axis_slots(raxis) if raxis else [None]
    grid_height = MARGIN + len(rows) * CELL
    below = _lanes(cols, caxis, grid_height + 6) if window else []
    n_lanes = sum(part.startswith("<g ") for part in below)
    width = MARGIN + len(cols) * CELL + 4
    height = grid_height + (6 + n_lanes * LANE if n_lanes else 0) + 4
    names = "".join(str(a["dim"]) for a in axes)
    parts = [f'<svg class="padded-input" data-axes="{escape(names)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="padded input over {escape(names)}">']
    parts += _headers(cols, caxis["before"], vertical=False)
    if raxis:
        parts += _headers(rows, raxis["before"], vertical=True)
    parts += _cells(rows, cols, raxis["before"] if raxis else 0, caxis["before"])
    if window:
        parts += _window(rows, cols, raxis, caxis)
        parts += below
    parts.append("</svg>")
    return Markup("".join(parts))


def axis_pairs(rank: int) -> list[tuple[int, ...]]:
    """Which axes each drawing shows: the axis (1-D), both (2-D), each pair (3-D)."""
    return [(0,)] if rank == 1 else [(0, 1)] if rank == 2 else [(1, 2), (0, 1), (0, 2)]


def too_small(axes: Sequence[dict]) -> list[dict]:
    """The axes where the dilated kernel is larger than the padded input (no output)."""
    return [a for a in axes if a["effective_kernel"] > a["size"] + a["before"] + a["after"]]


def empty_output_text(axes: Sequence[dict]) -> str:
    """Why a case's output is empty, per axis; "" when it is not."""
    return "; ".join(f"{a['dim']}: kernel extent {a['effective_kernel']} > padded input "
                     f"{a['size'] + a['before'] + a['after']}" for a in too_small(axes))


def drawings(axes: Sequence[dict]) -> list[tuple[str, Markup]]:
    """(caption, svg) per drawing of a case's padded input (none for an axis a record gives
    inconsistently).

    When the output is empty no window fits anywhere: none is drawn, and the
    caption says which dimension is too small.
    """
    out = []
    if not 1 <= len(axes) <= 3 or any(a["size"] < 1 or a["kernel"] < 1 for a in axes):
        return out
    window = not too_small(axes)
    for pair in axis_pairs(len(axes)):
        shown = [axes[i] for i in pair]
        what = " x ".join(f"{a['dim']} ({'columns' if i == len(shown) - 1 else 'rows'})"
                          for i, a in enumerate(shown))
        if not window:
            what += f"; no output window fits ({empty_output_text(axes)})"
        else:
            rows = f" on output row 0 of {shown[0]['dim']}" if len(shown) == 2 else ""
            what += (f"; lanes: the {window_count(shown[-1])} windows along "
                     f"{shown[-1]['dim']}{rows}")
        out.append((what, padded_input(shown, window)))
    return out


# --------------------------------------------------------------------- tensors as grids

def floats(data: object) -> np.ndarray:
    """A stored array (nested lists, NaN / inf as strings) as float64."""
    return np.array(data, dtype=np.float64)   # NumPy parses "nan" / "inf"; None is NaN


class BadView(ValueError):
    """A stored tensor whose data does not match what the record says about it."""


def stored(view: dict) -> np.ndarray:
    """The data of a stored view as float64, checked against its shape, layout and plane
    (:class:`BadView` if they disagree): nothing is allocated from a claimed shape."""
    shape, layout = list(view["shape"]), view["layout"]
    if len(layout) != len(shape) or not 3 <= len(shape) <= 8:
        raise BadView(f"layout {layout!r} does not fit shape {shape}")
    try:
        data = floats(view["data"])
    except (ValueError, TypeError, OverflowError):
        raise BadView("its data is not a rectangular array of numbers") from None
    if "plane" not in view:
        if list(data.shape) != shape or data.size > FULL_ARRAY_LIMIT:
            raise BadView(f"data of shape {list(data.shape)} stored for shape {shape}")
        return data
    plane, at = list(view["plane"]), list(view.get("at") or [])
    if (len(plane) != 2 or plane[0] == plane[1] or max(plane) >= len(shape)
            or len(at) != len(shape) or data.ndim != 2
            or data.shape != (shape[min(plane)], shape[max(plane)])):
        raise BadView(f"a plane {plane} of shape {list(data.shape)} stored for shape {shape}")
    return data


def fmt(v: float) -> str:
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if v == int(v) and abs(v) < 1e7:
        return str(int(v))
    return f"{v:.4g}"


def heat_class(r: float) -> str:
    """Colour class of one |err| / bound value: h0 (below 1e-3) .. h6 (up to 1), hx, hn."""
    if not math.isfinite(r):
        return "hn"
    if r > 1.0:
        return "hx"
    return f"h{sum(r >= e for e in HEAT_EDGES[:-1])}"


@dataclass
class Plane:
    """A 2-D grid of a stored tensor: which axes, which part of them, and its values."""

    label: str
    rows: int                      # axis shown as rows (None-free index into the layout)
    cols: int
    fixed: list                    # full index with the rows / cols entries to be filled in
    row0: int                      # first row / col shown (grids are cropped around a focus)
    col0: int
    values: np.ndarray             # the 2-D values shown
    extent: tuple[int, int]        # full number of rows / cols

    def index(self, i: int, j: int) -> tuple[int, ...]:
        idx = list(self.fixed)
        idx[self.rows], idx[self.cols] = self.row0 + i, self.col0 + j
        return tuple(idx)


def display_axes(layout: str) -> tuple[int, int]:
    """(rows, cols) axes: the last two spatial axes; 1-D: channels as rows, W as columns."""
    spatial = [i for i, letter in enumerate(layout) if letter in "DHW"]
    if len(spatial) >= 2:
        return spatial[-2], spatial[-1]
    return next(i for i, letter in enumerate(layout) if letter in "CO"), spatial[0]


def _crop(a: np.ndarray, focus: Sequence[int]) -> tuple[np.ndarray, int, int]:
    starts = [min(max(f - MAX_SIDE // 2, 0), max(n - MAX_SIDE, 0))
              for f, n in zip(focus, a.shape)]
    return a[starts[0]:starts[0] + MAX_SIDE, starts[1]:starts[1] + MAX_SIDE], *starts


def _fixed_label(layout: str, fixed: Sequence) -> str:
    return ", ".join(f"{layout[i]}={v}" for i, v in enumerate(fixed) if v is not None)


def planes(view: dict, focus: Optional[Sequence[int]] = None) -> list[Plane]:
    """The grids of a stored view: one per (other axes) index of a whole tensor, or its plane."""
    layout, shape = view["layout"], view["shape"]
    data = stored(view)
    rows, cols = display_axes(layout)
    focus = list(focus) if focus and len(focus) == len(shape) else [0] * len(shape)
    if "plane" in view:
        plane = view["plane"]
        if list(plane) != sorted((rows, cols)):
            rows, cols = plane[0], plane[1]
        if rows > cols:
            data = data.T
        fixed = list(view["at"])
        return [_plane(fixed, layout, rows, cols, data, focus, shape)]
    others = [i for i in range(len(shape)) if i not in (rows, cols)]
    out = []
    combos = list(itertools.product(*(range(shape[i]) for i in others)))
    for combo in combos:
        fixed = [None] * len(shape)
        index: list = [slice(None)] * len(shape)
        for i, v in zip(others, combo):
            fixed[i] = index[i] = v
        values = data[tuple(index)]
        out.append(_plane(fixed, layout, rows, cols, values.T if rows > cols else values,
                          focus, shape))
    if len(combos) == 1:
        out[0].label = ""   # "N=0, C=0" says nothing when there is only one grid
    return out


def _plane(fixed, layout, rows, cols, values, focus, shape) -> Plane:
    shown, r0, c0 = _crop(values, (focus[rows], focus[cols]))
    return Plane(_fixed_label(layout, fixed), rows, cols, fixed, r0, c0, shown,
                 (shape[rows], shape[cols]))


def _caption(p: Plane, layout: str) -> str:
    parts = [p.label] if p.label else []
    for axis, start, n, full in ((p.rows, p.row0, p.values.shape[0], p.extent[0]),
                                 (p.cols, p.col0, p.values.shape[1], p.extent[1])):
        if n < full:
            parts.append(f"{layout[axis]} {start}–{start + n - 1} of {full}")
    return "; ".join(parts)


def _header_row(p: Plane, layout: str) -> str:
    r, c = escape(layout[p.rows]), escape(layout[p.cols])
    corner = f'<th title="rows {r}, columns {c}">{r}\\{c}</th>'
    return f"<tr>{corner}" + "".join(f"<th>{p.col0 + j}</th>"
                                      for j in range(p.values.shape[1])) + "</tr>"


def _td(value: float, classes: list[str], title: str) -> str:
    # Unquoted when one class: a valid attribute value, and thousands of cells add up.
    c = f" class={classes[0]}" if len(classes) == 1 else \
        f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{c}{title}>{escape(fmt(value))}</td>"


def _heat(heat: Plane, expected: Optional[Plane], i: int, j: int, tips: bool) -> tuple[str, str]:
    """(colour class, tooltip attribute) of one heat-map cell."""
    r = float(heat.values[i, j])
    if not tips:
        return heat_class(r), ""
    e = f"expected {fmt(float(expected.values[i, j]))}, " if expected else ""
    return heat_class(r), f' title="{e}|err|/bound {fmt(r)}"'


def grid(p: Plane, layout: str, *, heat: Optional[Plane] = None, expected: Optional[Plane] = None,
         worst: Optional[Sequence[int]] = None, differ: Optional[np.ndarray] = None,
         css: str = "", tips: bool = True) -> Markup:
    """One 2-D grid as a table; ``heat`` colours cells by |err| / bound, ``worst`` frames one.

    ``tips``: a tooltip per heat cell with the expected value and the ratio (left out
    for passing verdicts: thousands of them would double the page).
    """
    worst_t = tuple(worst) if worst else None

    def cell(i: int, j: int) -> str:
        classes, title = [], ""
        if heat is not None:
            colour, title = _heat(heat, expected, i, j, tips)
            classes.append(colour)
        if differ is not None and differ[i, j]:
            classes.append("differ")
        if worst_t is not None and p.index(i, j) == worst_t:
            classes.append("worst")
        return _td(float(p.values[i, j]), classes, title)

    rows, cols = p.values.shape
    body = "".join(f"<tr><th>{p.row0 + i}</th>{''.join(cell(i, j) for j in range(cols))}</tr>"
                   for i in range(rows))
    cap = escape(_caption(p, layout))
    cap = f"<caption>{cap}</caption>" if cap else ""
    return Markup(f'<table class="grid {css}">{cap}{_header_row(p, layout)}{body}</table>')


def is_empty(view: dict) -> bool:
    """A stored tensor with a 0 in its shape: no values, nothing to draw."""
    return math.prod(view["shape"]) == 0


def empty_note(view: dict, css: str = "") -> Markup:
    """What stands in for the grids of an empty tensor."""
    shape = ", ".join(str(n) for n in view["shape"])
    return Markup(f'<p class="empty-tensor {escape(css)}" data-shape="{escape(shape)}">'
                  f'empty tensor, shape ({escape(shape)}) {escape(view["layout"])}</p>')


def not_shown(exc: BadView) -> Markup:
    return Markup('<p class="muted">not shown: the record\'s tensor is inconsistent '
                  f"({escape(str(exc))})</p>")


def _same_grid(a: Plane, b: Optional[Plane]) -> bool:
    return b is None or b.values.shape == a.values.shape


def grids(view: dict, *, focus: Optional[Sequence[int]] = None, **kw) -> Markup:
    """All grids of one stored view (see :func:`grid` for the keywords, given as views)."""
    if is_empty(view):
        return empty_note(view, kw.get("css", ""))
    heat_view, exp_view = kw.pop("heat", None), kw.pop("expected", None)
    try:
        own = planes(view, focus)
        heat = planes(heat_view, focus) if heat_view else [None] * len(own)
        exp = planes(exp_view, focus) if exp_view else [None] * len(own)
        if not all(_same_grid(p, h) and _same_grid(p, e) for p, h, e in zip(own, heat, exp)):
            raise BadView("the heat map or the oracle's values do not match the values")
    except BadView as exc:
        return not_shown(exc)
    return Markup("").join(grid(p, view["layout"], heat=h, expected=e, **kw)
                           for p, h, e in zip(own, heat, exp))


def differing(claimed: dict, expected: dict, focus: Optional[Sequence[int]] = None,
              rtol: float = 1e-6) -> list[np.ndarray]:
    """Per grid of a claim, the elements that differ from the oracle (relative ``rtol``)."""
    out = []
    for c, e in zip(planes(claimed, focus), planes(expected, focus)):
        if c.values.shape != e.values.shape:
            raise BadView("the claimed and the oracle's values differ in shape")
        with np.errstate(invalid="ignore"):
            same = np.isclose(c.values, e.values, rtol=rtol, atol=0, equal_nan=True)
        out.append(~same)
    return out


def claim_grids(claimed: dict, expected: dict, worst: Optional[Sequence[int]],
                marked: bool) -> Iterable[tuple[Markup, Markup]]:
    """(claimed grid, oracle grid) pairs, differing elements marked when ``marked``."""
    if is_empty(claimed) or is_empty(expected) or claimed["shape"] != expected["shape"]:
        yield grids(claimed), grids(expected)   # nothing to pair element by element
        return
    try:
        diffs = differing(claimed, expected, worst)
        pairs = list(zip(planes(claimed, worst), planes(expected, worst), diffs))
        if not all(c.values.shape == e.values.shape for c, e, _ in pairs):
            raise BadView("the claimed and the oracle's values differ in shape")
    except BadView as exc:
        yield not_shown(exc), Markup("")
        return
    for c, e, d in pairs:
        yield (grid(c, claimed["layout"], worst=worst, differ=d if marked else None),
               grid(e, expected["layout"], worst=worst, differ=d if marked else None))
