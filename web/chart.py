"""Geometry of the small inline SVG chart of PSNR and file size against k."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 480, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 68, 16, 36  # margins for the axis labels


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Series:
    name: str
    points: list[Point]
    ticks: list[tuple[float, str]]  # (y, label) on the series' own axis

    @property
    def polyline(self) -> str:
        """Return the points as an SVG `points` attribute."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    x_ticks: list[tuple[float, str]]
    psnr: Series
    size: Series
    description: str  # the same figures as text, for screen readers


def quality_size_chart(results: Sequence[dict]) -> Chart | None:
    """Lay out PSNR (left axis) and output bytes (right axis) against k on a log2 axis."""
    rows = sorted((r for r in results if r.get("k")), key=lambda r: r["k"])
    if len(rows) < 2:
        return None  # one point is not a curve; the table says it all
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    k_min, k_max = math.log2(rows[0]["k"]), math.log2(rows[-1]["k"])

    def x_of(k: int) -> float:
        return left + (math.log2(k) - k_min) / ((k_max - k_min) or 1) * (right - left)

    def series(name: str, values: list[tuple[int, float]], fmt) -> Series:
        lo, hi = _nice_range([v for _, v in values])

        def y_of(v: float) -> float:
            return bottom - (v - lo) / ((hi - lo) or 1) * (bottom - top)

        points = [Point(x_of(k), y_of(v), fmt(v)) for k, v in values]
        ticks = [(y_of(lo + (hi - lo) * i / 4), fmt(lo + (hi - lo) * i / 4)) for i in range(5)]
        return Series(name, points, ticks)

    psnr_values = [(r["k"], float(r["psnr"])) for r in rows if r.get("psnr") is not None]
    size_values = [(r["k"], float(r["bytes"])) for r in rows]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=left,
        plot_right=right,
        plot_top=top,
        plot_bottom=bottom,
        x_ticks=[(x_of(r["k"]), str(r["k"])) for r in rows],
        psnr=series("PSNR", psnr_values, lambda v: f"{v:.1f}"),
        size=series("Size", size_values, human_bytes),
        description="; ".join(_describe(r) for r in rows),
    )


def _describe(result: dict) -> str:
    """Say one point of the chart in words."""
    psnr = "lossless" if result.get("psnr") is None else f"PSNR {result['psnr']:.1f} dB"
    return f"k={result['k']}: {psnr}, {human_bytes(result['bytes'])}"


def _nice_range(values: list[float]) -> tuple[float, float]:
    """Return a (low, high) range covering the values, padded so flat lines stay visible."""
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
    return max(0.0, lo - pad), hi + pad


def human_bytes(n: float) -> str:
    """Format a byte count in B, KiB or MiB (the upload limit is set in MiB)."""
    if n < 1024:
        return f"{n:.0f} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.3g} MiB"
