"""One dialect for every command's output: the same words, units and number formats, and one
table renderer (`kcolors quantize`, `kcolors submit`, `kcolors status`, batch reports)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 colour`, `2 colours`, `1,024 images`."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def count(value: Any) -> str:
    """A whole number with thousands separators; `-` when unknown."""
    return "-" if value is None else f"{int(value):,}"


def psnr(value: Any, lossless: bool = True) -> str:
    """PSNR in dB to two decimals; `lossless` when the output equals the input (no PSNR)."""
    if value is None:
        return "lossless" if lossless else "-"
    return f"{float(value):.2f}"


def ratio(value: Any) -> str:
    """A compression ratio (input bytes / output bytes), two decimals."""
    return "-" if value is None else f"{float(value):.2f}"


def picture(width: Any, height: Any, format_name: Any) -> str:
    """`451x300 png`."""
    return f"{width}x{height} {format_name}"


@dataclass(frozen=True)
class Column:
    """A table column: its heading and whether its cells align right (numbers)."""

    heading: str
    right: bool = True


# The statistics columns every output table shows, in this order and with these headings.
OUTPUT_COLUMNS = (
    Column("k"),
    Column("bytes"),
    Column("ratio"),
    Column("truecolour PNG"),
    Column("PSNR dB"),
    Column("colours"),
)


def output_cells(output: dict[str, Any]) -> list[str]:
    """One output's statistics as the cells of `OUTPUT_COLUMNS` (an auto-k output's k as `k*`)."""
    return [
        f"{output['k']}*" if output.get("auto") else str(output["k"]),
        count(output.get("bytes")),
        ratio(output.get("compression_ratio")),
        count(output.get("truecolor_png_bytes")),
        psnr(output.get("psnr")),
        count(output.get("distinct_colors")),
    ]


def auto_k_notes(outputs: Sequence[dict[str, Any]]) -> list[str]:
    """The footnote of each auto-k output (`k*`): its target, and whether it was reached."""
    notes = []
    for output in outputs:
        if not output.get("auto"):
            continue
        target = f"{float(output['target_psnr']):g} dB"
        if output.get("target_reached") is False:  # absent in results made before it existed
            best = psnr(output.get("search_psnr", output.get("psnr")))
            notes.append(f"* target {target} out of reach: the most colours, "
                         f"{output['k']}, give {best} dB")  # fmt: skip
        else:
            notes.append(f"* the fewest colours reaching the target, {target}")
    return notes


def render(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: a heading line, then one line per row, columns two spaces apart."""
    widths = [
        max([len(column.heading), *(len(row[i]) for row in rows)])
        for i, column in enumerate(columns)
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if column.right else cell.ljust(width)
            for cell, column, width in zip(cells, columns, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line([c.heading for c in columns]), *(line(row) for row in rows)])
