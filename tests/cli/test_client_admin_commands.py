"""``idp clients rotate-secret | disable | enable`` against a serving provider (SQLite and
PostgreSQL): the CLI is another process than the server, so these prove that a new secret and a
disabled client take effect at once in a worker that had the client cached (``query_client``).
"""

from __future__ import annotations

import json

import pytest
import requests

from tests.cli.helpers import audit_rows, one_line_error
from tests.support.live import backend_server
from tests.support.oidc import (
    authorization_params,
    authorize,
    client_credentials_response,
    client_credentials_token,
    machine_client,
)

API = "https://api.example/orders"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    with backend_server(request, tmp_path_factory, "client_admin_cli") as server:
        yield server


@pytest.fixture(scope="module")
def api(live):
    """An API client that may introspect tokens issued for ``API`` (RFC 7662 4)."""
    return machine_client(live, "--serves", API, name="Orders API")


def machine(live) -> dict:
    return machine_client(live, name="Batch", resources=(API,))


def introspect(live, by: dict, token: str) -> requests.Response:
    auth = (by["client_id"], by["client_secret"])
    return requests.post(live.url + "/introspect", data={"token": token}, auth=auth, timeout=30)


def events(live, client_id: str) -> list[dict]:
    return [row for row in audit_rows(live) if row["client_id"] == client_id]


def test_rotate_secret_prints_a_new_one_once_and_the_old_stops_at_once(live):
    client = machine(live)
    client_credentials_token(live, client, resource=API)  # the server now caches the client
    out = json.loads(live.cli("clients", "rotate-secret", client["client_id"]).stdout)
    assert out["client_id"] == client["client_id"] and out["client_secret"]
    assert out["client_secret"] != client["client_secret"]

    old = client_credentials_response(live, client, resource=API)
    assert old.status_code == 401 and old.json()["error"] == "invalid_client"
    rotated = {**client, "client_secret": out["client_secret"]}
    assert client_credentials_token(live, rotated, resource=API)

    rows = [r for r in events(live, client["client_id"]) if r["event"] == "client_secret_rotated"]
    assert [r["actor"] for r in rows] == ["cli"]
    everything = json.dumps([{k: str(v) for k, v in r.items()} for r in audit_rows(live)])
    assert out["client_secret"] not in everything and client["client_secret"] not in everything
    listed = live.cli("clients", "list").stdout
    assert out["client_secret"] not in listed


def test_a_public_client_has_no_secret_to_rotate(live):
    public = live.create_client(
        "--name", "SPA", "--public", "--redirect-uri", "http://localhost:9/cb"
    )
    assert "no secret" in one_line_error(
        live.cli("clients", "rotate-secret", public["client_id"], check=False)
    )
    assert "no client" in one_line_error(live.cli("clients", "disable", "nope", check=False))


def test_disable_refuses_the_client_everywhere_and_revokes_its_tokens(live, api):
    client = machine(live)
    token = client_credentials_token(live, client, resource=API)
    assert introspect(live, api, token).json()["active"] is True

    out = json.loads(live.cli("clients", "disable", client["client_id"]).stdout)
    assert out == {"client_id": client["client_id"], "disabled": True, "changed": True}
    refused = client_credentials_response(live, client, resource=API)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert introspect(live, api, token).json() == {"active": False}
    own = introspect(live, client, token)  # a disabled client authenticates nowhere
    assert own.status_code == 401 and own.json()["error"] == "invalid_client"
    listed = [json.loads(line) for line in live.cli("clients", "list").stdout.splitlines()]
    assert next(c for c in listed if c["client_id"] == client["client_id"])["disabled"] is True

    again = json.loads(live.cli("clients", "enable", client["client_id"]).stdout)
    assert again["changed"] is True and again["disabled"] is False
    fresh = client_credentials_token(live, client, resource=API)
    assert introspect(live, api, fresh).json()["active"] is True
    assert introspect(live, api, token).json() == {"active": False}  # revoked stays revoked

    rows = [(r["event"], r["actor"]) for r in events(live, client["client_id"])]
    assert ("client_disabled", "cli") in rows and ("client_enabled", "cli") in rows


def test_authorize_for_a_disabled_client_is_an_error_page_never_a_redirect(live):
    rp = live.create_client("--name", "Web", "--redirect-uri", "http://localhost:9/cb")
    before = authorize(live, authorization_params(rp))
    assert before.status_code in (302, 303)
    assert not before.headers["Location"].startswith("http://localhost:9/")
    live.cli("clients", "disable", rp["client_id"])

    page = authorize(live, authorization_params(rp))
    assert page.status_code == 400 and "Location" not in page.headers
    assert "invalid_client" in page.text
