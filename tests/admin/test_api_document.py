"""Every operation of the admin API against its own OpenAPI document, on the live provider
(SQLite and PostgreSQL): each documented operation has a sample call here (a new operation
without one fails ``test_every_operation_has_a_sample``), and each sample's answer validates
against the schema the document declares for its status. Who may call is checked for every
operation the same way: no token is 401, and an auditor's token is 403 for every change.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
from flask import Blueprint
from jsonschema.exceptions import SchemaError

from idp.web.json_api import Operation, register
from tests.admin.api_support import Api, api_client, conforms, openapi_document
from tests.admin.support import person, show
from tests.support.attestation import CertificateAuthority
from tests.support.factors import enroll_totp, password_sign_in
from tests.support.oidc import HostedPages, csrf_token, machine_client

ROOT = CertificateAuthority("Sample Root")
POLICY = {"mode": "off", "factors": None, "remember_device": True, "factor_max_age": None,
          "grace_signins": 0, "grace_days": 0, "require_attested_passkeys": False}  # fmt: skip


def recovery_request(server, api: Api) -> int:
    """A user who lost their factor asks for recovery after the password step; its id."""
    account = enroll_totp(server)
    browser = HostedPages(server.url)
    assert password_sign_in(browser, account).status_code == 303
    page = browser.get(server.url + "/recovery/")
    asked = browser.post(server.url + "/recovery/", data={"csrf_token": csrf_token(page.text)})
    assert asked.ok, asked.text[:300]
    listed = api.call("GET", "/recovery-requests").json()["requests"]
    return next(r["id"] for r in listed if r["user"]["email"] == account["email"])


@pytest.fixture(scope="module")
def world(server) -> dict:
    """What the samples act on: a user with an authenticator app, a role, a client, an open
    recovery request."""
    admin = api_client(server, "admin")
    account = enroll_totp(server, person(server))
    found = admin.call("GET", "/users", params={"q": account["email"]}).json()["users"]
    role = f"sample{time.time_ns()}"
    server.cli("roles", "create", role)
    return {
        "admin": admin, "auditor": api_client(server, "auditor"), "user_id": found[0]["id"],
        "factor_id": show(server, account["email"])["factors"][0]["id"], "role": role,
        "client_id": machine_client(server, name="Sample")["client_id"],
        "request_id": recovery_request(server, admin), "aaguid": str(uuid.uuid4()),
    }  # fmt: skip


def _until() -> int:
    return int(time.time()) + 86400


#: (method, path) -> (the path's values and the request's keyword arguments, from the world)
SAMPLES = {
    ("GET", "/users"): lambda w: ({}, {"params": {"limit": 1}}),
    ("GET", "/users/{user_id}"): lambda w: ({}, {}),
    ("PUT", "/users/{user_id}/roles"): lambda w: ({}, {"json": {"roles": []}}),
    ("DELETE", "/users/{user_id}/factors/{factor_id}"): lambda w: ({}, {}),
    ("DELETE", "/users/{user_id}/factors"): lambda w: ({}, {}),
    # no remembered browser here: its documented 404 problem
    ("DELETE", "/users/{user_id}/browsers/{device_id}"): lambda w: ({"device_id": 999999}, {}),
    ("DELETE", "/users/{user_id}/sessions"): lambda w: ({}, {}),
    ("POST", "/users/{user_id}/unlock"): lambda w: ({}, {}),
    ("PUT", "/users/{user_id}/disabled"): lambda w: ({}, {"json": {"disabled": False}}),
    ("POST", "/users/{user_id}/password-reset"): lambda w: ({}, {}),
    ("PUT", "/users/{user_id}/override"): lambda w: (
        {}, {"json": {"kind": "exempt", "until": _until(), "reason": "sample"}}
    ),
    ("DELETE", "/users/{user_id}/override"): lambda w: ({}, {}),
    ("GET", "/policy"): lambda w: ({}, {}),
    ("PUT", "/policy/default"): lambda w: ({}, {"json": POLICY}),
    ("PUT", "/policy/roles/{name}"): lambda w: ({"name": w["role"]}, {"json": POLICY}),
    ("POST", "/roles"): lambda w: ({}, {"json": {"name": f"new{time.time_ns()}"}}),
    # another operation's window: the shared server's console step-up stays as it is
    ("PUT", "/policy/windows/{operation}"): lambda w: (
        {"operation": "revoke_devices"}, {"json": {"seconds": 300}}
    ),
    ("DELETE", "/policy/windows/{operation}"): lambda w: ({"operation": "revoke_devices"}, {}),
    ("GET", "/clients"): lambda w: ({}, {"params": {"limit": 2}}),
    ("GET", "/clients/{client_id}"): lambda w: ({}, {}),
    ("POST", "/clients"): lambda w: (
        {}, {"json": {"name": "Sample RP", "redirect_uris": ["http://localhost:9/cb"]}}
    ),
    ("PATCH", "/clients/{client_id}"): lambda w: ({}, {"json": {"name": "Sample renamed"}}),
    ("POST", "/clients/{client_id}/secret"): lambda w: ({}, {}),
    ("PUT", "/clients/{client_id}/disabled"): lambda w: ({}, {"json": {"disabled": False}}),
    ("GET", "/recovery-requests"): lambda w: ({}, {}),
    ("GET", "/recovery-requests/{request_id}"): lambda w: ({}, {}),
    ("POST", "/recovery-requests/{request_id}/deny"): lambda w: ({}, {"json": {"note": "sample"}}),
    ("GET", "/audit-events"): lambda w: ({}, {"params": {"limit": 3}}),
    ("GET", "/audit-chain/verify"): lambda w: ({}, {}),
    ("GET", "/authenticator-models"): lambda w: ({}, {}),
    ("PUT", "/authenticator-models/{aaguid}"): lambda w: ({}, {"json": {
        "description": "Sample key", "root_certificates": ROOT.pem.decode()}}),
    ("DELETE", "/authenticator-models/{aaguid}"): lambda w: ({}, {}),
    ("GET", "/dashboard"): lambda w: ({}, {}),
}  # fmt: skip


def operations(document: dict) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, methods in document["paths"].items() for m in methods}


def url(world: dict, path: str, values: dict) -> str:
    return re.sub(r"{(\w+)}", lambda m: str({**world, **values}[m.group(1)]), path)


def test_every_operation_has_a_sample(server):
    assert operations(openapi_document(server)) == set(SAMPLES)


@pytest.mark.parametrize(("method", "path"), list(SAMPLES), ids=" ".join)
def test_each_operation_answers_as_its_document_says(server, world, method, path):
    document = openapi_document(server)
    values, kwargs = SAMPLES[(method, path)](world)
    response = world["admin"].call(method, url(world, path, values), **kwargs)
    declared = document["paths"][path][method.lower()]
    success = next(iter(declared["responses"]))
    expected = "404" if "device_id" in values else success
    assert str(response.status_code) == expected, response.text
    conforms(document, path, method, response)
    assert response.headers["Cache-Control"] == "no-store"


def test_no_token_is_401_and_an_auditor_changes_nothing(server, world):
    document = openapi_document(server)
    for method, path in sorted(operations(document)):
        target = url(world, path, {"name": world["role"], "operation": "admin", "device_id": 1})
        assert Api(server, None).call(method, target).status_code == 401, (method, path)
        scopes = document["paths"][path][method.lower()]["security"][0]["clientCredentials"]
        if scopes == ["admin"]:
            refused = world["auditor"].call(method, target, json={})
            assert refused.status_code == 403, (method, path)
            assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
        else:
            assert method == "GET" and set(scopes) == {"admin", "auditor"}, (method, path)


def test_a_wrong_declaration_fails_at_registration_not_at_a_request():
    wrong = Operation(
        "GET", "/x", "wrong", "A response schema that is no schema.", ("admin",),
        handler=lambda *args: {}, response={"type": "whatever"},
    )  # fmt: skip
    with pytest.raises(SchemaError):
        register(Blueprint("wrong", __name__), [wrong], lambda op: None, problems="/problems")
