"""Every route in the URL map, with every method it takes (and one it does not), answers with
the security headers: pages, the API, files, errors, 404s and 405s alike (web/security.py)."""

from __future__ import annotations

import pytest

from kcolors.jobs.settings import Settings
from web import create_app

TOKEN = "a-token-for-the-walk"
# Values for the URL converters: unknown ids, so that most answers are 404s with bodies.
ARGUMENTS = {"job_id": "01M97330NEZMSXVBAX0P7ECHNC", "batch_id": "01M97330NEZMSXVBAX0P7ECHNC",
             "k": 2, "filename": "app.css"}  # fmt: skip
REQUIRED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def walk(app):
    """(method, path) of every rule in the URL map, and a method each one refuses."""
    for rule in app.url_map.iter_rules():
        path = rule.build({name: ARGUMENTS[name] for name in rule.arguments}, append_unknown=False)[
            1
        ]
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        yield from ((method, path) for method in methods)
        yield ("PATCH", path)  # no route takes it: a 405
    yield ("GET", "/no/such/page")


@pytest.mark.parametrize("tokens", [(), (TOKEN,)], ids=["open", "with tokens"])
def test_every_route_and_error_carries_the_security_headers(tmp_path, tokens):
    settings = Settings(storage_url=f"file://{tmp_path / 'store'}", api_tokens=tokens)
    app = create_app({"TESTING": True, "KCOLORS_SETTINGS": settings, "WTF_CSRF_ENABLED": True})
    client = app.test_client()
    walked = []
    for method, path in walk(app):
        if path == "/readyz" or path == "/metrics" or method in ("POST", "DELETE"):
            headers = {"Authorization": f"Bearer {TOKEN}"} if tokens else {}
        else:
            headers = {}
        response = client.open(path, method=method, headers=headers)
        walked.append((method, path, response.status_code))
        for name, value in REQUIRED.items():
            assert response.headers.get(name) == value, (method, path, response.status_code, name)
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy or "sandbox" in policy, (method, path)
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP here
    statuses = {status for _, _, status in walked}
    assert {200, 404, 405} <= statuses and len(walked) > 40, walked


def test_hsts_is_sent_over_tls(client):
    response = client.get("/healthz", base_url="https://kcolors.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
