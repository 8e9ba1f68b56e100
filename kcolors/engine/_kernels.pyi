# Types of the compiled kernels (kcolors/engine/_kernels.c); kernels.py is their typed front.
from typing import Any

def histogram(pixels: Any, n: int, channels: int, inverse: Any, /) -> tuple[bytes, bytes]: ...
def spread(inverse: Any, n: int, values: Any, distinct: int, out: Any, /) -> None: ...
def nearest(
    points: Any, n: int, d: int, centers: Any, k: int, labels: Any, distances: Any, /
) -> None: ...
def seed(
    points: Any,
    n: int,
    d: int,
    weights: Any,
    centers: Any,
    given: int,
    k: int,
    uniforms: Any,
    n_uniforms: int,
    n_candidates: int,
    /,
) -> None: ...
def lloyd(
    points: Any,
    n: int,
    d: int,
    weights: Any,
    centers: Any,
    k: int,
    labels: Any,
    max_iter: int,
    tol: float,
    /,
) -> tuple[float, int]: ...
def group(codes: Any, n: int, index: Any, /) -> bytes: ...
def group_sums(
    index: Any,
    n: int,
    groups: int,
    weights: Any,
    columns: Any,
    m: int,
    totals: Any,
    sums: Any,
    /,
) -> None: ...
def truecolor_rows(
    indices: Any, rows: int, width: int, palette: Any, k: int, channels: int, out: Any, /
) -> None: ...
def sse(
    colors: Any, counts: Any, labels: Any, palette: Any, n: int, k: int, channels: int, /
) -> int: ...
def dither_weights(
    pixels: Any, h: int, w: int, channels: int, undithered: Any, out: Any, /
) -> None: ...
def dither(
    pixels: Any,
    h: int,
    w: int,
    channels: int,
    palette: Any,
    k: int,
    undithered: Any,
    weights: Any,
    out: Any,
    /,
) -> None: ...
