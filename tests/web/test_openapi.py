"""The OpenAPI document states the constraints the code enforces: it is made from the one
parameter model, and the API refuses exactly what it says is out of range."""

import io
import json
import re

import pytest

from kcolors import defaults
from kcolors.engine.params import FALSE_WORDS, TRUE_WORDS, QuantizeParams
from kcolors.jobs.settings import Settings
from tests.fixtures.openapi import check_response
from tests.images import gradient_png
from web.openapi import openapi_document


@pytest.fixture
def settings(tmp_path, valkey_server, broker):
    return Settings(
        storage_url=f"file://{tmp_path / 'store'}",
        broker_url=valkey_server.connection_url,
        max_k_values=7,
        source_prefix="inbox/",
    )


def bodies(document: dict, path: str) -> dict:
    return document["paths"][path]["post"]["requestBody"]["content"]


@pytest.mark.parametrize(("path", "source"), [("/api/jobs", "source"), ("/api/batches", "prefix")])
def test_request_bodies_state_every_field_with_the_models_rules(settings, path, source):
    model = QuantizeParams.model_json_schema()["properties"]
    content = bodies(openapi_document(settings), path)
    for media_type in ("multipart/form-data", "application/json"):
        properties = content[media_type]["schema"]["properties"]
        assert set(properties) == {*model, "image" if "multipart" in media_type else source}
        for name, schema in model.items():
            # First the model's own schema (a choice may also be empty: its default) ...
            stated = properties[name]["anyOf"]
            expected = {k: v for k, v in schema.items() if k not in ("title", "default",
                                                                      "description")}  # fmt: skip
            if "enum" in expected:
                expected["enum"] = [*expected["enum"], ""]
            if name == "k":  # with this server's limit
                expected["maxItems"] = 7
            assert stated[0] == expected, name
            assert properties[name]["default"] == schema.get("default"), name
            # ... then the other forms the parser reads, and null for the default.
            assert {"type": "null"} in stated or {"type": "null"} in stated[0].get("anyOf", [])
            if expected.get("type") == "boolean":
                words = re.compile(stated[1]["pattern"])
                assert all(words.match(w) for w in (*TRUE_WORDS, *FALSE_WORDS, " ON ")), name
                assert not any(words.match(w) for w in ("2", "yes please", "")), name
    json_body = content["application/json"]["schema"]
    assert json_body["additionalProperties"] is False and json_body["required"] == [source]
    assert json_body["properties"][source]["pattern"] == "^inbox/"


def test_documents_and_the_list_limit_state_the_same_rules(settings):
    document = openapi_document(settings)
    params = document["components"]["schemas"]["Params"]
    assert set(params["required"]) == set(QuantizeParams.model_fields)
    assert params["properties"]["k"]["items"]["maximum"] == defaults.MAX_K
    [limit] = document["paths"]["/api/jobs"]["get"]["parameters"]
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, defaults.MAX_LIST_LIMIT)


def numeric_bounds() -> list[tuple[str, float, float]]:
    """Each numeric field with the bounds the OpenAPI document states for it."""
    bounds = []
    for name, schema in QuantizeParams.model_json_schema()["properties"].items():
        schema = schema.get("items", schema)
        number = next((s for s in schema.get("anyOf", [schema]) if "minimum" in s), None)
        if number is not None:
            bounds.append((name, number["minimum"], number["maximum"]))
    return bounds


@pytest.mark.parametrize(("name", "low", "high"), numeric_bounds())
def test_the_api_accepts_the_stated_bounds_and_refuses_just_beyond(client, name, low, high):
    step = 1 if isinstance(low, int) else 0.5

    def post(value):
        form = {"image": (io.BytesIO(gradient_png()), "cat.png"), name: str(value)}
        if name != "k":
            form["k"] = "2"
        return client.post("/api/jobs", data=form, content_type="multipart/form-data")

    for inside in (low, high):
        assert post(inside).status_code == 202, (name, inside)
    for outside in (low - step, high + step):
        response = post(outside)
        assert response.status_code == 422, (name, outside)
        assert name in response.get_json()["error"]["message"]


@pytest.mark.parametrize("field", ["format", "space"])
def test_an_empty_choice_is_the_default_as_the_document_says(client, field):
    """Found by schemathesis: `format=""` was accepted but not stated in the document."""
    data = {"image": (io.BytesIO(gradient_png()), "cat.png"), "k": "2", field: ""}
    response = check_response(client.post("/api/jobs", data=data))
    assert response.status_code == 202
    assert response.get_json()["params"][field] == QuantizeParams.model_fields[field].default


def test_every_operation_is_named_and_tagged_and_every_ref_names_a_whole_schema(settings):
    """What client generators need: `createJob`, not `post_api_jobs` under "default"; and no
    reference into a schema's properties (openapi-python-client drops such schemas)."""
    document = openapi_document(settings)
    tags = {tag["name"] for tag in document["tags"]}
    operations = [op for path in document["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) == 15
    assert all(len(op["tags"]) == 1 and op["tags"][0] in tags for op in operations)
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(document))
    schemas = document["components"]["schemas"]
    assert refs and all(
        ref.startswith("#/components/schemas/")
        and ref.rsplit("/", 1)[1] in schemas
        and ref.count("/") == 3
        for ref in refs
    ), sorted(set(refs))
