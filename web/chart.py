"""The job page's chart: PSNR against file size, one point per k, and a caption read off the data.

Both axes are plain linear scales with round ticks (steps of 1, 2 or 5 times a power of ten).
The size axis starts at zero, so that a file twice as large is drawn twice as far. A lossless
output has no PSNR (it is infinite): it sits on a row of its own above the plot, never at a
made-up number.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

WIDTH = 400  # narrow, so that its text stays readable when a phone shrinks it
LEFT, RIGHT, TOP, BOTTOM = 44, 18, 30, 46  # margins: tick labels left and below, titles
PLOT_HEIGHT = 190  # the finite PSNR values
BAND_HEIGHT, BAND_GAP = 24, 16  # the row of lossless outputs, and its distance from the plot
MAX_TICKS = 6
LABEL_FONT_PX = 13  # the text's size in the SVG (kcolors.css), to keep labels apart
SAME_PLACE_PX = 4  # points closer than this share one label
# Where a point's label may go, in order of preference: (dx, dy of its baseline, text-anchor).
CANDIDATES = (
    (-7, -7, "end"),  # above left: clear of a rising line
    (9, 5, "start"),  # right
    (7, 17, "start"),  # below right
    (7, -7, "start"),  # above right
    (-9, 5, "end"),  # left
    (-7, 17, "end"),  # below left
)
UNITS = ((1024 * 1024, "MiB"), (1024, "KiB"), (1, "B"))


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in the SVG
    label: str


@dataclass(frozen=True)
class ChartPoint:
    k: int
    x: float
    y: float
    lossless: bool
    title: str  # what the point says, in words (a tooltip)
    # (x, y, text-anchor, text) of its label, e.g. "k = 4" or "k = 8, 16" for outputs drawn at
    # one place; None when another point's label says it, or there is no room
    label: tuple[float, float, str, str] | None


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float  # the top of the finite PSNR values (below the lossless row, if any)
    plot_bottom: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    x_title: str
    lossless_y: float | None  # the row of lossless outputs, when there are any

    @property
    def lossless_rule(self) -> float | None:
        """Where the line between the lossless row and the plot goes."""
        return None if self.lossless_y is None else TOP + BAND_HEIGHT + BAND_GAP / 2

    points: list[ChartPoint]
    description: str  # every point in words, for screen readers
    caption: str  # what the data says of the trade-off

    @property
    def polyline(self) -> str:
        """The finite points in increasing k, as an SVG `points` attribute."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points if not p.lossless)


def quality_size_chart(results: Sequence[dict[str, Any]]) -> Chart | None:
    """Lay out PSNR (up) against bytes (right), one point per k; None for fewer than 2 outputs
    (one point is not a trade-off: the table says it all)."""
    rows = sorted((r for r in results if r.get("k")), key=lambda r: r["k"])
    if len(rows) < 2:
        return None
    finite = [float(r["psnr"]) for r in rows if r.get("psnr") is not None]
    has_lossless = len(finite) < len(rows)
    plot_height = PLOT_HEIGHT if finite else 0
    band = BAND_HEIGHT + BAND_GAP if has_lossless else 0
    left, right = LEFT, WIDTH - RIGHT
    top = TOP + band
    bottom = top + plot_height
    height = int(bottom + BOTTOM)

    divisor, unit = size_unit(max(r["bytes"] for r in rows))
    x_values = nice_ticks(0, max(r["bytes"] for r in rows) / divisor)
    x_max = x_values[-1] or 1

    def x_of(size: float) -> float:
        return left + size / divisor / x_max * (right - left)

    y_values = nice_ticks(min(finite), max(finite)) if finite else []
    y_lo, y_hi = (y_values[0], y_values[-1]) if y_values else (0.0, 1.0)

    def y_of(psnr: float) -> float:
        return bottom - (psnr - y_lo) / ((y_hi - y_lo) or 1) * (bottom - top)

    lossless_y = TOP + BAND_HEIGHT / 2 if has_lossless else None
    spots: list[tuple[float, float, list[int]]] = []  # outputs drawn at one place: one label
    points = []
    for row in rows:
        lossless = row.get("psnr") is None
        x = x_of(row["bytes"])
        y = TOP + BAND_HEIGHT / 2 if lossless else y_of(float(row["psnr"]))
        points.append(ChartPoint(row["k"], x, y, lossless, describe_point(row), None))
        same = [s for s in spots if abs(s[0] - x) < SAME_PLACE_PX and abs(s[1] - y) < SAME_PLACE_PX]
        if same:
            same[0][2].append(row["k"])
        else:
            spots.append((x, y, [row["k"]]))
    placed: list[tuple[float, float, float, float]] = []
    for x, y, ks in spots:
        text = f"k = {', '.join(map(str, ks))}"
        spot = _place_label(x, y, text, placed, (left, TOP, WIDTH, bottom))
        if spot is not None:
            i = next(i for i, p in enumerate(points) if p.k == ks[0])
            points[i] = dataclasses.replace(points[i], label=(*spot, text))
    return Chart(
        width=WIDTH,
        height=height,
        plot_left=left,
        plot_right=right,
        plot_top=top,
        plot_bottom=bottom,
        x_ticks=[Tick(x_of(v * divisor), tick_label(v)) for v in x_values],
        y_ticks=[Tick(y_of(v), tick_label(v)) for v in y_values],
        x_title=f"File size ({unit})",
        lossless_y=lossless_y,
        points=points,
        description="; ".join(describe_point(r) for r in rows),
        caption=trade_off(rows),
    )


def _place_label(
    x: float,
    y: float,
    text: str,
    placed: list[tuple[float, float, float, float]],
    bounds: tuple[float, float, float, float],
) -> tuple[float, float, str] | None:
    """Put a point's label beside it where it overlaps no other label; None if nowhere fits."""
    width, height = len(text) * LABEL_FONT_PX * 0.6, LABEL_FONT_PX
    for dx, dy, anchor in CANDIDATES:
        x0 = x + dx - (width if anchor == "end" else 0)
        box = (x0, y + dy - height, x0 + width, y + dy + 2)
        inside = bounds[0] <= box[0] and box[2] <= bounds[2] and bounds[1] <= box[1]
        inside = inside and box[3] <= bounds[3] + 2
        if inside and not any(_overlap(box, other) for other in placed):
            placed.append(box)
            return (x + dx, y + dy, anchor)
    return None


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def nice_step(span: float, max_ticks: int = MAX_TICKS) -> float:
    """The smallest step of 1, 2 or 5 times a power of ten that covers `span` in at most
    `max_ticks - 1` intervals."""
    if span <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(span / (max_ticks - 1)))
    for factor in (1, 2, 5, 10):
        if span / (factor * power) <= max_ticks - 1 + 1e-9:
            return factor * power
    return 10 * power  # not reached: a factor of 10 always fits


def nice_ticks(lo: float, hi: float, max_ticks: int = MAX_TICKS) -> list[float]:
    """Round tick values from a multiple of the step at or below `lo` to one at or above `hi`."""
    if hi - lo < 1e-9:  # one value: a small round range around it
        lo, hi = lo - 1, hi + 1
    step = nice_step(hi - lo, max_ticks)
    # The rounded ends can add an interval: widen the step until the ticks fit.
    while True:
        # Within a billionth of a step of a tick is on it, and within the floats' own rounding
        # far from zero (1000 / 0.00002 is 49999999.99999999).
        slack = 1e-9 + 8 * math.ulp(max(abs(lo), abs(hi))) / step
        first, last = math.floor(lo / step + slack), math.ceil(hi / step - slack)
        if last - first <= max_ticks - 1:
            # Rounded to the step's own digits: 21000003 x 0.2 is 4200000.600000001 in floats.
            digits = max(0, 1 - math.floor(math.log10(step)))
            return [round(i * step, digits) for i in range(first, last + 1)]
        step = nice_step(step * (max_ticks - 1) * 1.0001, max_ticks)


def tick_label(value: float) -> str:
    """A round tick value as people write it: 20, 2.5, 0.05."""
    return f"{value:g}"


def size_unit(largest: float) -> tuple[int, str]:
    """The unit the size axis counts in: the largest that keeps the biggest size at 1 or more."""
    for divisor, unit in UNITS:
        if largest >= divisor:
            return divisor, unit
    return 1, "B"


def describe_point(result: dict[str, Any]) -> str:
    """Say one output in words: its k, quality and size."""
    psnr = "lossless" if result.get("psnr") is None else f"PSNR {result['psnr']:.1f} dB"
    return f"k = {result['k']}: {psnr}, {human_bytes(result['bytes'])}"


def trade_off(results: Sequence[dict[str, Any]]) -> str:
    """What the outputs show of quality against size, said only as far as the numbers hold."""
    rows = sorted(results, key=lambda r: r["k"])
    if not rows:
        return ""
    finite = [r for r in rows if r.get("psnr") is not None]
    lossless = [r for r in rows if r.get("psnr") is None]
    if len(rows) == 1:
        return f"One output: {describe_point(rows[0])}."
    if not finite:
        colours = rows[0].get("distinct_colors")
        has = f"has {colours:,} colours or fewer" if colours else "has few colours"
        return (
            f"Every output is lossless: the picture {has}, so each k keeps them all; "
            f"{_sizes(rows)}."
        )
    sentences = []
    if len(finite) >= 2:
        first, last = finite[0], finite[-1]
        change = _change(first["psnr"], last["psnr"], "dB", "rises", "falls", ".1f")
        sentences.append(
            f"From k = {first['k']} to k = {last['k']}, PSNR {change}, while {_sizes(finite)}."
        )
        sentences.append(_returns(finite))
    if lossless:
        ks = _and([str(r["k"]) for r in lossless])
        colours = lossless[0].get("distinct_colors")
        exact = f"all {colours:,} colours of the picture" if colours else "every colour"
        verb = "is" if len(lossless) == 1 else "are"
        sentences.append(f"k = {ks} {verb} lossless (keeping {exact}), on the top row.")
    return " ".join(s for s in sentences if s)


def _returns(finite: list[dict[str, Any]]) -> str:
    """Whether each step buys less quality per byte than the one before: said only if so."""
    if len(finite) < 3:
        return ""
    steps = list(itertools.pairwise(finite))
    if any(b["bytes"] <= a["bytes"] or b["psnr"] <= a["psnr"] for a, b in steps):
        return ""  # a step that costs no bytes or buys no quality: no slope to compare
    divisor, unit = size_unit(max(r["bytes"] for r in finite))
    slopes = [(b["psnr"] - a["psnr"]) / ((b["bytes"] - a["bytes"]) / divisor) for a, b in steps]

    def step(i: int) -> str:
        return f"k = {steps[i][0]['k']} to {steps[i][1]['k']}"

    if all(later < earlier for earlier, later in itertools.pairwise(slopes)):
        return (
            f"Each step buys less quality per byte than the one before: from "
            f"{_number(slopes[0])} dB per {unit} ({step(0)}) down to {_number(slopes[-1])} "
            f"({step(len(steps) - 1)})."
        )
    best = max(range(len(steps)), key=lambda i: slopes[i])
    others = [slopes[i] for i in range(len(steps)) if i != best]
    if len(others) == 1:
        rest = f"the other step gives {_number(others[0])}"
    else:
        rest = f"the other steps give {_number(min(others))} to {_number(max(others))}"
    return (
        f"The best value is the step from {step(best)} ({_number(slopes[best])} dB per {unit}); "
        f"{rest} dB per {unit}."
    )


def _sizes(rows: list[dict[str, Any]]) -> str:
    first, last = rows[0]["bytes"], rows[-1]["bytes"]
    if human_bytes(first) == human_bytes(last):
        return f"the file stays at {human_bytes(first)}"
    verb = "grows" if last > first else "shrinks"
    return f"the file {verb} from {human_bytes(first)} to {human_bytes(last)}"


def _change(a: float, b: float, unit: str, up: str, down: str, fmt: str) -> str:
    if f"{a:{fmt}}" == f"{b:{fmt}}":
        return f"stays at {a:{fmt}} {unit}"
    return f"{up if b > a else down} from {a:{fmt}} to {b:{fmt}} {unit}"


def _number(value: float) -> str:
    """Two significant figures, without an exponent."""
    digits = max(0, 1 - math.floor(math.log10(abs(value)))) if value else 0
    return f"{value:.{digits}f}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def human_bytes(n: float) -> str:
    """Format a byte count in B, KiB or MiB (the upload limit is set in MiB)."""
    if n < 1024:
        return f"{n:.0f} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.3g} MiB"
