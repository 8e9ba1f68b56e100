"""Property tests (hypothesis) of what clients control: any value in any parameter field, any
bytes as an image. The answer is a valid model or a coded error, never anything else."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kcolors import defaults
from kcolors.engine.decode import decode_image
from kcolors.engine.params import QuantizeParams
from kcolors.engine.probe import probe_image
from kcolors.errors import InvalidParameter, KcolorsError
from tests.images import encode, gradient_image, icc_profile

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = st.dictionaries(
    st.sampled_from([*QuantizeParams.model_fields, "source", "colours"]),
    JSON_VALUES | st.text(),
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(FIELDS)
def test_any_fields_give_valid_parameters_or_invalid_parameter(fields):
    try:
        params = QuantizeParams.parse(fields, max_k_values=16)
    except InvalidParameter as exc:
        assert exc.code == "invalid_parameter" and exc.message and len(exc.message) < 400
        return
    assert all(defaults.MIN_K <= k <= defaults.MAX_K for k in params.k)
    assert list(params.k) == sorted(set(params.k)) and len(params.k) <= 16
    assert params.k or params.target_psnr is not None
    assert params.target_psnr is None or 10 <= params.target_psnr <= 80
    assert 0 <= params.seed <= 2**32 - 1
    assert QuantizeParams.parse(params.to_dict(), max_k_values=16) == params


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=defaults.MIN_K, max_value=defaults.MAX_K), max_size=16),
    st.sampled_from(["rgb", "lab"]),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.one_of(st.none(), st.floats(min_value=10, max_value=80)),
)
def test_every_valid_choice_is_accepted_from_json_and_from_form_strings(ks, space, seed, psnr):
    as_json = {"k": ks, "space": space, "seed": seed, "target_psnr": psnr}
    as_form = {"k": ",".join(map(str, ks)), "space": space, "seed": str(seed),
               "target_psnr": "" if psnr is None else repr(psnr)}  # fmt: skip
    if "e" in as_form["target_psnr"]:  # repr() of tiny floats uses exponents, which forms refuse
        return
    assert QuantizeParams.parse(as_json) == QuantizeParams.parse(as_form)


SAMPLE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "HEIF", "AVIF")
SAMPLES = [encode(gradient_image(24, 16), fmt) for fmt in SAMPLE_FORMATS]


@pytest.mark.parametrize("sample", SAMPLES, ids=[fmt.lower() for fmt in SAMPLE_FORMATS])
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_damage_to_a_picture_gives_a_coded_error_or_a_checked_header(sample, data):
    damaged = bytearray(sample)
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        position = data.draw(st.integers(min_value=0, max_value=len(damaged) - 1))
        damaged[position] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(damaged)))
    try:
        probed = probe_image(bytes(damaged[:cut]), max_pixels=10_000)
    except KcolorsError as exc:
        assert 400 <= exc.http_status < 500 and exc.code != "internal_error"
        return
    assert 0 < probed.width * probed.height <= 10_000


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_give_a_coded_error_or_a_checked_header(data):
    try:
        probed = probe_image(data, max_pixels=10_000)
    except KcolorsError as exc:
        assert 400 <= exc.http_status < 500
        return
    assert 0 < probed.width * probed.height <= 10_000


P3_PROFILE = icc_profile()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_damage_to_an_embedded_profile_still_decodes_the_picture(data):
    profile = bytearray(P3_PROFILE)
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        position = data.draw(st.integers(min_value=0, max_value=len(profile) - 1))
        profile[position] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=1, max_value=len(profile)))
    picture = encode(gradient_image(24, 16), "PNG", icc_profile=bytes(profile[:cut]))
    assert decode_image(picture).pixels.shape == (16, 24, 3)
