"""Optional API tokens: with `KCOLORS_API_TOKENS` set, the JSON API wants a bearer token."""

import io

import pytest
import redis
from click.testing import CliRunner

from cli.main import main
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import open_storage
from tests.images import gradient_png
from web import create_app

TOKEN = "t0ken-for-tests"


@pytest.fixture
def settings(tmp_path, valkey_server):
    redis.Redis.from_url(valkey_server.connection_url).flushall()
    return Settings(
        storage_url=f"file://{tmp_path / 'store'}",
        broker_url=valkey_server.connection_url,
        api_tokens=(TOKEN, "another-token"),
    )


def post_image(client, **headers):
    form = {"image": (io.BytesIO(gradient_png()), "cat.png"), "k": "2"}
    return client.post("/api/jobs", data=form, headers=headers)


def assert_unauthorized(response):
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
)
def test_requests_without_a_valid_token_get_401_and_store_nothing(client, settings, headers):
    assert_unauthorized(post_image(client, **headers))
    assert_unauthorized(client.get("/api/jobs", headers=headers))
    assert open_storage(settings).list() == []


def test_any_configured_token_is_accepted_and_lists_its_own_jobs_only(client):
    made = {}
    for token in (TOKEN, "another-token"):
        response = post_image(client, Authorization=f"Bearer {token}")
        assert response.status_code == 202, response.get_data(as_text=True)
        assert "owner" not in response.get_json()
        made[token] = response.get_json()["id"]
    for token, job_id in made.items():
        listed = client.get("/api/jobs", headers={"Authorization": f"Bearer {token}"})
        assert [job["id"] for job in listed.get_json()["jobs"]] == [job_id]


def test_one_job_stays_readable_by_its_id_so_its_page_works(client):
    job = post_image(client, Authorization=f"Bearer {TOKEN}").get_json()
    assert client.get(f"/api/jobs/{job['id']}").get_json()["id"] == job["id"]
    assert client.get(f"/api/jobs/{job['id']}/input").data == gradient_png()
    assert client.get(f"/jobs/{job['id']}").status_code == 200


def test_health_and_api_description_stay_open_and_pages_ask_to_sign_in(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200
    for page in ("/", "/jobs"):
        response = client.get(page)
        assert response.status_code == 303
        assert response.headers["Location"] == f"/signin?next={page}"


def test_without_tokens_the_api_is_open(tmp_path, valkey_server):
    settings = Settings(
        storage_url=f"file://{tmp_path / 'store'}", broker_url=valkey_server.connection_url
    )
    client = create_app({"TESTING": True, "KCOLORS_SETTINGS": settings}).test_client()
    assert post_image(client).status_code == 202


def test_the_command_line_client_sends_its_token(settings, start_live_server, tmp_path,
                                                 monkeypatch):  # fmt: skip
    server = start_live_server(settings)
    image = tmp_path / "cat.png"
    image.write_bytes(gradient_png())
    command = ["submit", str(image), "-k", "2", "--server", server.url]
    monkeypatch.delenv("KCOLORS_API_TOKEN", raising=False)
    refused = CliRunner().invoke(main, command)
    assert refused.exit_code == 1 and "unauthorized" in refused.output
    monkeypatch.setenv("KCOLORS_API_TOKEN", TOKEN)
    accepted = CliRunner().invoke(main, command)
    assert accepted.exit_code == 0 and "queued" in accepted.output, accepted.output
