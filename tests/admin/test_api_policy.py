"""The admin API's MFA policy operations on a provider of their own (SQLite and PostgreSQL),
since they change what every sign-in there is asked: a role made ``required`` through the API
sends its members to enroll at their next sign-in; the default, new roles and the windows of
sensitive operations change as the API says, audited with the client as actor; a malformed
policy, a duplicate role, an unknown role or operation are problems that change nothing.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.admin.api_support import Api, api_client, conforms, openapi_document, problem
from tests.admin.support import person
from tests.support.live import backend_server
from tests.support.oidc import HostedPages, RelyingParty

POLICY = {"mode": "off", "factors": None, "remember_device": True, "factor_max_age": None,
          "grace_signins": 0, "grace_days": 0, "require_attested_passkeys": False}  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    settings = {"STEPUP_WINDOWS": "admin=300"}
    with backend_server(request, tmp_path_factory, "admin_api_policy", **settings) as server:
        yield server


@pytest.fixture(scope="module")
def document(live):
    return openapi_document(live)


@pytest.fixture(scope="module")
def api(live) -> Api:
    return api_client(live, "admin")


def new_role(live) -> str:
    name = f"ops{time.time_ns()}"
    live.cli("roles", "create", name)
    return name


def stored(live) -> dict:
    """The policy as ``idp policy show`` prints it: read past the API."""
    return json.loads(live.cli("policy", "show").stdout)


def actors(api: Api, event: str) -> list[str]:
    found = api.call("GET", "/audit-events", params={"event": event, "limit": 200}).json()
    return [e["actor"] for e in found["events"]]


def test_a_role_made_required_through_the_api_sends_its_members_to_enroll(live, api, document):
    created = api.call("POST", "/roles", json={"name": f"ops{time.time_ns()}",
                                               "description": "Operations"})  # fmt: skip
    role = conforms(document, "/roles", "post", created)
    assert created.status_code == 201 and role["policy"] == POLICY
    member = person(live, role["name"])
    required = {**POLICY, "mode": "required", "factors": ["passkey", "totp"]}

    response = api.call("PUT", f"/policy/roles/{role['name']}", json=required)
    change = conforms(document, "/policy/roles/{name}", "put", response)
    assert change == {"before": POLICY, "after": required}
    assert stored(live)["roles"][role["name"]] == required
    assert api.actor in actors(api, "role_policy_changed")
    assert api.actor in actors(api, "role_created")

    client = live.create_client(
        "--name", "Policy RP", "--redirect-uri", "http://localhost:9/cb", "--first-party"
    )
    result = RelyingParty(live, client).sign_in(HostedPages(live.url), member)
    assert "/enroll" in result.response.url and not result.location
    assert "requires two-step verification" in result.response.text


def test_get_policy_reports_the_default_every_role_and_the_windows(live, api, document):
    name = new_role(live)
    body = conforms(document, "/policy", "get", api.call("GET", "/policy"))
    assert body["default"] == stored(live)["default"]
    assert next(r for r in body["roles"] if r["name"] == name)["policy"] == POLICY
    admin = next(w for w in body["windows"] if w["operation"] == "admin")
    assert admin == {"operation": "admin", "seconds": 300, "source": "configuration",
                     "configured": 300}  # fmt: skip


def test_the_default_policy_is_replaced_and_audited(live, api, document):
    recommended = {**POLICY, "mode": "recommended", "grace_days": 7, "factor_max_age": 3600}
    try:
        response = api.call("PUT", "/policy/default", json=recommended)
        assert conforms(document, "/policy/default", "put", response)["after"] == recommended
        assert stored(live)["default"] == recommended
        assert api.actor in actors(api, "default_policy_changed")
    finally:
        assert api.call("PUT", "/policy/default", json=POLICY).ok
    assert stored(live)["default"] == POLICY


@pytest.mark.parametrize(
    "changes",
    [
        {"mode": "sometimes"},
        {"factors": []},
        {"factors": ["carrier-pigeon"]},
        {"factors": ["totp", "totp"]},
        {"grace_days": -1},
        {"factor_max_age": 0},
        {"remember_device": "yes"},
        {"extra": 1},
    ],
)
def test_a_malformed_policy_is_a_problem_and_changes_nothing(live, api, changes):
    name = new_role(live)
    before = stored(live)
    problem(api.call("PUT", f"/policy/roles/{name}", json={**POLICY, **changes}), 400)
    problem(api.call("PUT", "/policy/default", json={**POLICY, **changes}), 400)
    incomplete = {k: v for k, v in POLICY.items() if k != "grace_days"}
    problem(api.call("PUT", f"/policy/roles/{name}", json=incomplete), 400)
    assert stored(live) == before


def test_an_unknown_role_is_a_404(api):
    problem(api.call("PUT", "/policy/roles/nobody-has-this", json=POLICY), 404, "not_found")


def test_a_duplicate_role_is_a_409_and_a_bad_name_a_400(live, api):
    name = new_role(live)
    before = stored(live)["roles"]
    problem(api.call("POST", "/roles", json={"name": name}), 409, "conflict")
    problem(api.call("POST", "/roles", json={"name": "-starts with a dash"}), 400)
    problem(api.call("POST", "/roles", json={"description": "no name"}), 400)
    assert stored(live)["roles"] == before


def window(api: Api, operation: str) -> dict:
    windows = api.call("GET", "/policy").json()["windows"]
    return next(w for w in windows if w["operation"] == operation)


def test_a_window_set_through_the_api_is_what_get_policy_reports_until_cleared(api, document):
    path = "/policy/windows/{operation}"
    response = api.call("PUT", "/policy/windows/admin", json={"seconds": 120})
    wanted = {"operation": "admin", "seconds": 120, "source": "console", "configured": 300}
    assert conforms(document, path, "put", response) == {"window": wanted, "changed": True}
    assert window(api, "admin") == wanted
    assert api.actor in actors(api, "operation_window_changed")
    same = api.call("PUT", "/policy/windows/admin", json={"seconds": 120}).json()
    assert same["changed"] is False

    cleared = conforms(document, path, "delete", api.call("DELETE", "/policy/windows/admin"))
    assert cleared["changed"] is True and cleared["window"]["source"] == "configuration"
    assert window(api, "admin")["seconds"] == 300


@pytest.mark.parametrize("body", [{"seconds": 5}, {"seconds": 10**6}, {"seconds": "120"}, {}])
def test_a_malformed_window_is_a_problem_and_changes_nothing(api, body):
    problem(api.call("PUT", "/policy/windows/admin", json=body), 400)
    assert window(api, "admin")["source"] == "configuration"


def test_an_unknown_operation_is_a_404(api):
    problem(api.call("PUT", "/policy/windows/teleport", json={"seconds": 120}), 404, "not_found")
    problem(api.call("DELETE", "/policy/windows/teleport"), 404, "not_found")
