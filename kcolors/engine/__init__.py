"""The engine: one image's bytes in, k-colour outputs and their statistics out (numpy, Pillow,
and the compiled kernels of `_kernels.c`).

Its entry point is `kcolors.engine.quantize.quantize_image`; what may be asked of it is
`kcolors.engine.params.QuantizeParams`. No I/O beyond bytes, no service libraries.
"""

from __future__ import annotations


def warm_up() -> None:
    """Load the engine and its compiled kernels and run one tiny job through every stage.

    A worker calls it when its process starts, so that its first real job pays no import or
    first-call cost (numpy, Pillow's codecs, the kernels). The kernels are C compiled at install
    time: there is nothing to compile here, and nothing is written to disk. Takes a few tens of
    milliseconds.
    """
    import io

    import numpy as np
    from PIL import Image

    from kcolors.engine.params import QuantizeParams
    from kcolors.engine.quantize import quantize_image

    y, x = np.mgrid[0:48, 0:64]
    pixels = np.stack([x * 4, y * 5, (x * y) % 256], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    # k = 2 and k = 32 take both of the kernels' nearest-centre searches.
    quantize_image(buffer.getvalue(), QuantizeParams(k=[2, 32]))
    quantize_image(buffer.getvalue(), QuantizeParams(k=[4], format="webp", dither=True))
