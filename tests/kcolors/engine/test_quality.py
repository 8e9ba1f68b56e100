"""Quality and determinism of real outputs: PSNR against full k-means on every pixel."""

import hashlib

import numpy as np
import pytest
from PIL import Image
from sklearn.cluster import KMeans

from kcolors.engine.params import QuantizeParams
from kcolors.engine.quantize import quantize_image
from tests.images import chelsea_png, decode, encode, output_digests_in_another_process, psnr


def full_kmeans_psnr(pixels: np.ndarray, k: int) -> float:
    """The article's method: scikit-learn's KMeans over every pixel, palette rounded to uint8."""
    flat = pixels.reshape(-1, 3).astype(float)
    model = KMeans(n_clusters=k, random_state=0).fit(flat)
    palette = np.clip(np.rint(model.cluster_centers_), 0, 255).astype(np.uint8)
    return psnr(palette[model.labels_].reshape(pixels.shape), pixels)


def small_cat(width: int) -> np.ndarray:
    image = decode(chelsea_png())
    height = round(image.height * width / image.width)
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))


@pytest.mark.parametrize(
    ("width", "k"),
    [(451, 2), (451, 8), (451, 16), (300, 64), (160, 256)],
)
def test_psnr_is_at_least_full_kmeans_minus_a_twentieth_of_a_db(width, k):
    pixels = small_cat(width)
    output = quantize_image(encode(pixels), QuantizeParams(k=[k])).outputs[0]
    out = np.asarray(decode(output.data).convert("RGB"))
    assert len(np.unique(out.reshape(-1, 3), axis=0)) <= k
    measured = psnr(out, pixels)
    assert output.stats["psnr"] == pytest.approx(measured, abs=1e-3)
    assert measured >= full_kmeans_psnr(pixels, k) - 0.05


def test_outputs_are_the_same_bytes_in_another_process():
    data = encode(small_cat(300))
    params = QuantizeParams(k=[2, 24, 64, 256], seed=3)
    here = [hashlib.sha256(o.data).hexdigest() for o in quantize_image(data, params).outputs]
    there = output_digests_in_another_process(data, "QuantizeParams(k=[2, 24, 64, 256], seed=3)")
    assert there == here


def test_warm_up_runs_the_engine():
    from kcolors.engine import warm_up

    warm_up()  # loads the kernels and runs a tiny job; raises if anything is missing
