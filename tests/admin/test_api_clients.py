"""The admin API's client operations on the live provider (SQLite and PostgreSQL): a client
registered through the API works with the secret shown once; its settings change as the
console changes them; a new secret replaces the old at once; a disabled client is refused and
comes back when enabled; each audited with the client as actor and no secret in the audit log;
refused settings are problems that change nothing.
"""

from __future__ import annotations

import json

import pytest

from tests.admin.api_support import Api, api_client, conforms, openapi_document, problem
from tests.cli.helpers import audit_rows
from tests.support.oidc import (
    client_credentials_response,
    client_credentials_token,
    machine_client,
)

CB = "http://localhost:9/cb"


@pytest.fixture(scope="module")
def document(server):
    return openapi_document(server)


@pytest.fixture(scope="module")
def api(server) -> Api:
    return api_client(server, "admin")


def events(server, client_id: str) -> list[dict]:
    return [r for r in audit_rows(server) if r["client_id"] == client_id]


def actors(server, client_id: str, event: str) -> list[str]:
    return [r["actor"] for r in events(server, client_id) if r["event"] == event]


def cli_listed(server, client_id: str) -> dict | None:
    rows = [json.loads(line) for line in server.cli("clients", "list").stdout.splitlines()]
    return next((c for c in rows if c["client_id"] == client_id), None)


def test_a_client_registered_through_the_api_works_with_its_secret_shown_once(
    server, api, document
):
    body = {"name": "Nightly export", "grant_types": ["client_credentials"]}
    created = api.call("POST", "/clients", json=body)
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    answer = conforms(document, "/clients", "post", created)
    client, secret = answer["client"], answer["client_secret"]
    assert client["name"] == "Nightly export" and client["public"] is False and secret
    assert client_credentials_token(server, {**client, "client_secret": secret})
    assert cli_listed(server, client["client_id"]) == client

    shown = api.call("GET", f"/clients/{client['client_id']}")
    assert conforms(document, "/clients/{client_id}", "get", shown) == client
    assert secret not in shown.text
    assert actors(server, client["client_id"], "client_created") == [api.actor]
    assert secret not in json.dumps(events(server, client["client_id"]), default=str)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"name": "SPA", "public": True, "grant_types": ["client_credentials"]}, "public client"),
        ({"name": "Web", "redirect_uris": ["http://localhost:9/cb#frag"]}, "fragment"),
        ({"name": "Web", "redirect_uris": [CB], "minimum_acr": "platinum"}, "unknown acr"),
        ({"name": "Web", "grant_types": ["password"]}, "is not one of"),
        ({"name": "Web", "grant_types": []}, "should be non-empty"),
        ({"name": ""}, "is not valid"),
        ({"redirect_uris": [CB]}, "is not valid"),
        ({"name": "Web", "redirect_uris": [CB], "secret": "mine"}, "is not valid"),
    ],
)
def test_a_refused_registration_is_a_problem_and_registers_nothing(server, api, body, words):
    before = server.cli("clients", "list").stdout
    refused = problem(api.call("POST", "/clients", json=body), 400)
    assert words in json.dumps(refused)
    assert server.cli("clients", "list").stdout == before


def test_the_console_settings_change_and_the_old_redirect_uri_is_refused(server, api, document):
    rp = server.create_client("--name", "Web", "--redirect-uri", CB)
    path = f"/clients/{rp['client_id']}"
    changes = {"name": "Web shop", "redirect_uris": ["http://localhost:9/new"],
               "default_acr_values": [], "backchannel_logout_uri": None}  # fmt: skip
    changed = conforms(
        document, "/clients/{client_id}", "patch", api.call("PATCH", path, json=changes)
    )
    assert changed["name"] == "Web shop" and changed["redirect_uris"] == ["http://localhost:9/new"]
    assert cli_listed(server, rp["client_id"]) == changed
    assert actors(server, rp["client_id"], "client_changed") == [api.actor]

    for bad in ({"redirect_uris": ["ftp://x/cb"]}, {"grant_types": []}, {}, {"public": True}):
        problem(api.call("PATCH", path, json=bad), 400)
    assert cli_listed(server, rp["client_id"]) == changed
    assert actors(server, rp["client_id"], "client_changed") == [api.actor]


def test_a_new_secret_is_answered_once_and_the_old_one_stops_at_once(server, api, document):
    client = machine_client(server, name="Batch")
    client_credentials_token(server, client)  # the server caches it
    response = api.call("POST", f"/clients/{client['client_id']}/secret")
    rotated = conforms(document, "/clients/{client_id}/secret", "post", response)
    assert response.headers["Cache-Control"] == "no-store"
    assert rotated["client_id"] == client["client_id"]
    assert rotated["client_secret"] != client["client_secret"]
    assert client_credentials_response(server, client).status_code == 401
    assert client_credentials_token(server, {**client, **rotated})
    assert actors(server, client["client_id"], "client_secret_rotated") == [api.actor]
    logged = json.dumps(events(server, client["client_id"]), default=str)
    assert rotated["client_secret"] not in logged and client["client_secret"] not in logged

    public = server.create_client("--name", "SPA", "--public", "--redirect-uri", CB)
    problem(api.call("POST", f"/clients/{public['client_id']}/secret"), 400)


def test_a_disabled_client_is_refused_until_enabled(server, api, document):
    client = machine_client(server, name="Batch")
    path = f"/clients/{client['client_id']}/disabled"
    done = conforms(document, "/clients/{client_id}/disabled", "put",
                    api.call("PUT", path, json={"disabled": True}))  # fmt: skip
    assert done == {"client_id": client["client_id"], "disabled": True, "changed": True}
    refused = client_credentials_response(server, client)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert api.call("PUT", path, json={"disabled": True}).json()["changed"] is False
    problem(api.call("PUT", path, json={"disabled": "no"}), 400)
    assert cli_listed(server, client["client_id"])["disabled"] is True

    assert api.call("PUT", path, json={"disabled": False}).json()["disabled"] is False
    assert client_credentials_token(server, client)
    assert actors(server, client["client_id"], "client_disabled") == [api.actor]
    assert actors(server, client["client_id"], "client_enabled") == [api.actor]


def test_clients_page_by_key(server, api, document):
    made = [machine_client(server, name=f"Paged {n}")["client_id"] for n in range(3)]
    seen, after = [], 0
    while after is not None:
        page = api.call("GET", "/clients", params={"after": after, "limit": 50})
        body = conforms(document, "/clients", "get", page)
        assert len(body["clients"]) <= 50
        seen += [c["client_id"] for c in body["clients"]]
        after = body["next_after"]
    assert len(seen) == len(set(seen)) and [c for c in seen if c in made] == made
    one = api.call("GET", "/clients", params={"limit": 1}).json()
    assert len(one["clients"]) == 1 and one["next_after"] is not None


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("GET", "", None), ("PATCH", "", {"name": "x"}), ("POST", "/secret", None),
     ("PUT", "/disabled", {"disabled": True})],
)  # fmt: skip
def test_an_unknown_client_is_a_404(api, method, suffix, body):
    response = api.call(method, f"/clients/no-such-client{suffix}", json=body)
    problem(response, 404, "not_found")
