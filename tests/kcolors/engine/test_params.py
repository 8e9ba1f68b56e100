"""The one parameter model: what every entry point (API, form, batches, CLI, engine) accepts."""

import math

import pytest

from kcolors import defaults
from kcolors.engine.params import QuantizeParams
from kcolors.errors import InvalidParameter


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, {"k": list(defaults.DEFAULT_KS)}),
        ({"k": "16,4, 4"}, {"k": [4, 16]}),
        ({"k": ["8", "2,3"]}, {"k": [2, 3, 8]}),
        ({"k": [256, 2]}, {"k": [2, 256]}),
        ({"k": "", "target_psnr": "38.5"}, {"k": [], "target_psnr": 38.5}),
        ({"target_psnr": 30}, {"k": [], "target_psnr": 30.0}),
        ({"seed": "4294967295"}, {"seed": 4294967295}),
        ({"seed": 7}, {"seed": 7}),
        ({"dither": "on", "space": "LAB", "format": "webp"},
         {"dither": True, "space": "lab", "format": "webp"}),
        ({"dither": False}, {"dither": False}),
        ({"optimize": "yes"}, {"optimize": True}),
        ({"optimize": False, "format": "webp"}, {"optimize": False, "format": "webp"}),
    ],
)  # fmt: skip
def test_plain_values_from_json_forms_and_the_command_line(fields, expected):
    params = QuantizeParams.parse(fields, max_k_values=16).to_dict()
    assert {name: params[name] for name in expected} == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"k": "²"}, "k must be whole numbers, each from 2 to 256"),
        ({"k": ["٣"]}, "k must be whole numbers, each from 2 to 256"),
        ({"k": [1]}, "not 1"),
        ({"k": "257"}, "not 257"),
        ({"k": [2.5]}, "k must be whole numbers"),
        ({"k": [True]}, "k must be whole numbers"),
        ({"k": {"a": 1}}, "k must be whole numbers"),
        ({"k": ","}, "give at least one k value, or a target_psnr"),
        ({"k": list(range(2, 20))}, "k: at most 16 k values per job, got 18"),
        ({"seed": "1e400"}, "seed must be a whole number from 0 to 4294967295"),
        ({"seed": 1e400}, "seed must be a whole number from 0 to 4294967295"),
        ({"seed": -1}, "seed must be a whole number from 0 to 4294967295, not -1"),
        ({"seed": "-1"}, "not -1"),
        ({"seed": 2**32}, "not 4294967296"),
        ({"seed": True}, "seed must be a whole number"),
        ({"seed": "1_0"}, "seed must be a whole number"),
        ({"seed": "5.0"}, "seed must be a whole number"),
        ({"seed": "9" * 5000}, "seed must be a whole number"),
        ({"seed": [1]}, "seed must be a whole number"),
        ({"target_psnr": "1e400"}, "target_psnr must be a number from 10 to 80"),
        ({"target_psnr": math.inf}, "target_psnr must be a number from 10 to 80"),
        ({"target_psnr": math.nan}, "target_psnr must be a number from 10 to 80"),
        ({"target_psnr": "nan"}, "target_psnr must be a number from 10 to 80"),
        ({"target_psnr": 100}, "not 100"),
        ({"target_psnr": False}, "target_psnr must be a number"),
        ({"space": "hsv"}, "space must be one of rgb, lab, not 'hsv'"),
        ({"format": ["png"]}, "format must be one of png, webp"),
        ({"dither": "maybe"}, "dither must be true or false"),
        ({"dither": 1}, "dither must be true or false"),
        ({"optimize": "maybe"}, "optimize must be true or false"),
        (
            {"optimize": True, "format": "webp"},
            "optimize: applies to PNG outputs only, not to format webp",
        ),
        ({"seeed": 1}, "unknown parameter 'seeed'"),
        ({"seed": "1\x00"}, "seed must be a whole number"),
    ],
)
def test_anything_but_a_plain_value_in_range_names_the_field_and_the_rule(fields, message):
    with pytest.raises(InvalidParameter) as caught:
        QuantizeParams.parse(fields, max_k_values=16)
    assert caught.value.code == "invalid_parameter" and caught.value.http_status == 422
    assert message in caught.value.message
    assert len(caught.value.message) < 300  # a huge value is cut, not echoed


def test_stored_parameters_round_trip_whatever_the_limit_of_their_day():
    params = QuantizeParams.parse({"k": list(range(2, 40))})  # no limit: the CLI and the engine
    assert QuantizeParams.from_dict(params.to_dict()) == params


def test_json_schema_states_the_same_ranges_the_model_enforces():
    schema = QuantizeParams.model_json_schema()["properties"]
    assert schema["k"]["items"] == {"type": "integer", "minimum": 2, "maximum": 256}
    assert schema["seed"]["minimum"] == 0 and schema["seed"]["maximum"] == 2**32 - 1
    psnr = next(s for s in schema["target_psnr"]["anyOf"] if s.get("type") == "number")
    for inside in (psnr["minimum"], psnr["maximum"]):
        QuantizeParams.parse({"target_psnr": inside})
    for outside in (psnr["minimum"] - 0.5, psnr["maximum"] + 0.5):
        with pytest.raises(InvalidParameter):
            QuantizeParams.parse({"target_psnr": outside})
    assert schema["space"]["enum"] == ["rgb", "lab"] and schema["format"]["enum"] == ["png", "webp"]


def test_a_document_stored_under_older_rules_still_loads():
    # Before the one model, the API took target_psnr up to 100 and documents had no seed.
    old = {"k": [], "dither": False, "space": "rgb", "target_psnr": 100, "format": "png"}
    params = QuantizeParams.from_dict(old)
    assert params.target_psnr == 100 and params.seed == 0 and params.k == ()
    assert params.optimize is False
