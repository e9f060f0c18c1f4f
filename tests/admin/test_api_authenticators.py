"""The admin API's authenticator allow-list and dashboard on a live provider of its own (SQLite
and PostgreSQL): a model allowed through the API is what ``idp authenticators list`` reads,
audited with the client as actor, and taken off the list again; a model without its roots, a
file that holds no certificate or a malformed AAGUID change nothing; the dashboard's figures
count the users, enrolments and sign-ins made in the test."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.admin.api_support import Api, api_client, conforms, openapi_document, problem
from tests.admin.support import person
from tests.support.attestation import CertificateAuthority
from tests.support.factors import enroll_totp
from tests.support.live import backend_server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """A provider of its own: the dashboard counted at every read (no figures kept)."""
    with backend_server(
        request, tmp_path_factory, "admin_api_models", ADMIN_DASHBOARD_TTL=0
    ) as live:
        yield live


@pytest.fixture(scope="module")
def document(server):
    return openapi_document(server)


@pytest.fixture(scope="module")
def api(server) -> Api:
    return api_client(server, "admin")


def listed(server) -> dict[str, dict]:
    """The allow-list as the CLI reads it, past the API."""
    lines = server.cli("authenticators", "list").stdout.splitlines()
    return {row["aaguid"]: row for row in map(json.loads, lines)}


def actors(api: Api, event: str) -> list[str]:
    found = api.call("GET", "/audit-events", params={"event": event, "limit": 200}).json()
    return [e["actor"] for e in found["events"]]


def test_a_model_allowed_through_the_api_is_listed_audited_and_removed(server, api, document):
    aaguid, root = str(uuid.uuid4()), CertificateAuthority("API Test Root")
    body = {"description": "API Test Key", "root_certificates": root.pem.decode()}
    allowed = conforms(document, "/authenticator-models/{aaguid}", "put",
                       api.call("PUT", f"/authenticator-models/{aaguid}", json=body))  # fmt: skip
    stored = listed(server)[aaguid]
    assert allowed == {k: stored[k] for k in allowed} and allowed["allowed"] is True
    assert allowed["description"] == "API Test Key" and len(allowed["roots"]) == 1
    models = api.call("GET", "/authenticator-models").json()["models"]
    assert allowed in models
    assert f"client:{api.client_id}" in actors(api, "authenticator_allowed")
    removed = api.call("DELETE", f"/authenticator-models/{aaguid}")
    assert conforms(document, "/authenticator-models/{aaguid}", "delete", removed) == {
        "removed": True
    }
    assert listed(server)[aaguid]["allowed"] is False
    again = api.call("DELETE", f"/authenticator-models/{aaguid}").json()
    assert again == {"removed": False}
    assert api.call("PUT", f"/authenticator-models/{aaguid}", json={}).json()["allowed"] is True


@pytest.mark.parametrize(
    ("aaguid", "body"),
    [
        ("5f6c7f2a-1d4b-4f43-9a51-0e3c2b7d9a10", {"description": "No roots"}),
        ("0b8e4c1d-2a6f-4e1b-8c3d-7f9a5b2e6d40", {"description": "Not PEM",
                                                  "root_certificates": "hello"}),
        ("not-an-aaguid", {"description": "Bad", "root_certificates": "x"}),
        ("c2d9e7f1-3b5a-4c8e-9d1f-6a4b8e2c7f50", {"description": "Extra", "colour": "red"}),
    ],
    ids=["no roots", "not PEM", "bad AAGUID", "unknown field"],
)  # fmt: skip
def test_a_refused_model_is_a_problem_and_changes_nothing(server, api, aaguid, body):
    before = listed(server)
    problem(api.call("PUT", f"/authenticator-models/{aaguid}", json=body), 400)
    assert listed(server) == before


def test_the_dashboard_counts_what_happened(server, api, document):
    before = conforms(document, "/dashboard", "get", api.call("GET", "/dashboard"))
    person(server)
    enroll_totp(server, person(server))
    after = conforms(document, "/dashboard", "get", api.call("GET", "/dashboard"))
    assert after["users"]["total"] == before["users"]["total"] + 2
    assert after["users"]["enrolled"] == before["users"]["enrolled"] + 1
    assert after["per_kind"].get("totp", 0) == before["per_kind"].get("totp", 0) + 1
    assert after["sign_ins_day"].get("success", 0) > before["sign_ins_day"].get("success", 0)
    assert before["as_of"] <= after["as_of"] <= time.time() + 1
