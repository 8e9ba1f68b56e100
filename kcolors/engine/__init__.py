"""The engine: one image's bytes in, k-colour outputs and their statistics out (numpy, Pillow).

Its entry point is `kcolors.engine.quantize.quantize_image`; what may be asked of it is
`kcolors.engine.params.QuantizeParams`. No I/O beyond bytes, no service libraries.
"""
