"""The admin API at /admin/api/v1/ on the live provider (SQLite and PostgreSQL): machine clients
registered for the ``admin`` or ``auditor`` scope call it with client-credentials tokens.

Who gets in (no token, a bad token, a token without the scope, a token for another API, an
auditor changing something: each refused as RFC 6750 says), what it answers (validated against
the schemas of its own OpenAPI document), paging by key, changes audited with the client as
actor, and malformed input answered as RFC 9457 problems that change nothing.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from jsonschema import Draft202012Validator

from tests.admin.api_support import API, Api, api_client, conforms, openapi_document, problem
from tests.admin.support import person, show
from tests.support.factors import enroll_totp
from tests.support.oidc import client_credentials_token, machine_client


def machine(server, *scopes: str, resources: tuple[str, ...] = ()) -> dict:
    return machine_client(server, name="Provisioning", scopes=scopes, resources=resources)


@pytest.fixture(scope="module")
def document(server):
    return openapi_document(server)


@pytest.fixture(scope="module")
def admin_api(server):
    return api_client(server, "admin")


@pytest.fixture(scope="module")
def auditor_api(server):
    return api_client(server, "auditor")


def test_the_document_describes_an_openapi_3_1_api_with_the_client_credentials_flow(
    server, document
):
    assert document["openapi"] == "3.1.0"
    flows = document["components"]["securitySchemes"]["clientCredentials"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == server.url + "/token"
    assert set(flows["clientCredentials"]["scopes"]) == {"admin", "auditor"}
    assert document["servers"] == [{"url": server.url + API}]
    assert {"/users", "/users/{user_id}", "/users/{user_id}/roles"} <= set(document["paths"])
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            Draft202012Validator.check_schema(
                spec["responses"][next(iter(spec["responses"]))]["content"]["application/json"][
                    "schema"
                ]
            )
            probe = re.sub(r"{\w+}", "1", path)
            answered = requests.request(method, server.url + API + probe, timeout=30)
            assert answered.status_code == 401, (method, path)  # routed, and behind a token


def test_without_a_token_the_answer_is_a_bare_bearer_challenge(server):
    response = Api(server, None).call("GET", "/users")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_that_is_not_ours_is_invalid_token(server):
    response = Api(server, "e30.e30.c2ln").call("GET", "/users")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_without_an_admin_api_scope_is_insufficient_scope(server):
    plain = machine(server)  # the default scopes, none of them the API's
    response = Api(server, client_credentials_token(server, plain)).call("GET", "/users")
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_a_token_restricted_to_another_api_is_refused_and_one_for_this_api_accepted(server):
    other, ours = "https://api.example.com/", server.url + API
    client = machine(server, "admin", resources=(other, ours))
    elsewhere = Api(server, client_credentials_token(server, client, scope="admin", resource=other))
    refused = elsewhere.call("GET", "/users")
    assert refused.status_code == 401 and "invalid_token" in refused.headers["WWW-Authenticate"]

    here = Api(server, client_credentials_token(server, client, scope="admin", resource=ours))
    assert here.call("GET", "/users").status_code == 200


def test_an_auditor_reads_and_changes_nothing(server, auditor_api, document):
    account = person(server)
    found = auditor_api.call("GET", "/users", params={"q": account["email"]})
    assert found.status_code == 200, found.text
    user_id = conforms(document, "/users", "get", found)["users"][0]["id"]
    refused = auditor_api.call("PUT", f"/users/{user_id}/roles", json={"roles": ["admin"]})
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert show(server, account["email"])["roles"] == []


def test_users_page_by_key_and_each_matches_the_document(server, admin_api, document):
    prefix = f"paging{id(document)}"
    emails = [person(server, email=f"{prefix}-{n}@example.com")["email"] for n in range(3)]
    first = admin_api.call("GET", "/users", params={"q": prefix, "limit": 2})
    body = conforms(document, "/users", "get", first)
    assert [u["email"] for u in body["users"]] == emails[:2]
    second = admin_api.call("GET", "/users", params={"q": prefix, "after": body["next_after"]})
    rest = conforms(document, "/users", "get", second)
    assert [u["email"] for u in rest["users"]] == emails[2:] and rest["next_after"] is None


def test_users_filter_by_two_step_verification_state_declared_as_an_enum(
    server, admin_api, document
):
    prefix = f"mfa{time.time_ns()}"
    plain = person(server, email=f"{prefix}-0@example.com")
    enrolled = enroll_totp(server, person(server, email=f"{prefix}-1@example.com"))
    [query] = [p for p in document["paths"]["/users"]["get"]["parameters"] if p["name"] == "mfa"]
    assert query["schema"]["enum"] == ["", "none", "enrolled", "grace", "locked"]

    def listed(mfa: str) -> list[str]:
        response = admin_api.call("GET", "/users", params={"q": prefix, "mfa": mfa})
        return [u["email"] for u in conforms(document, "/users", "get", response)["users"]]

    assert listed("enrolled") == [enrolled["email"]]
    assert listed("none") == [plain["email"]]
    assert listed("") == [plain["email"], enrolled["email"]]
    assert listed("grace") == [] and listed("locked") == []
    problem(admin_api.call("GET", "/users", params={"mfa": "unknown"}), 400)


def test_one_user_in_full(server, admin_api, document):
    account = person(server, "auditor", name="Ada Admin")
    user_id = admin_api.call("GET", "/users", params={"q": account["email"]}).json()["users"][0][
        "id"
    ]
    response = admin_api.call("GET", f"/users/{user_id}")
    body = conforms(document, "/users/{user_id}", "get", response)
    assert body["email"] == account["email"] and body["roles"] == ["auditor"]
    missing = admin_api.call("GET", "/users/999999999")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"


def test_setting_roles_is_audited_with_the_client_as_actor(server, document):
    client = machine(server, "admin")
    api = Api(server, client_credentials_token(server, client, scope="admin"))
    account = person(server)
    user_id = api.call("GET", "/users", params={"q": account["email"]}).json()["users"][0]["id"]
    response = api.call("PUT", f"/users/{user_id}/roles", json={"roles": ["auditor"]})
    assert conforms(document, "/users/{user_id}/roles", "put", response) == {
        "before": [],
        "after": ["auditor"],
    }
    shown = show(server, account["email"])
    assert shown["roles"] == ["auditor"]
    event = next(e for e in shown["recent_events"] if e["event"] == "roles_set")
    assert event["actor"] == f"client:{client['client_id']}"


@pytest.mark.parametrize(
    ("body", "kwargs", "code"),
    [
        ({"roles": "admin"}, {}, "invalid_request"),
        ({"roles": ["admin", "admin"]}, {}, "invalid_request"),
        ({"roles": [], "extra": 1}, {}, "invalid_request"),
        ({"roles": ["no-such-role"]}, {}, "unknown_role"),
        (None, {"data": "roles=admin"}, "invalid_request"),
    ],
)
def test_a_malformed_change_is_a_problem_and_changes_nothing(server, admin_api, body, kwargs, code):
    account = person(server)
    user_id = admin_api.call("GET", "/users", params={"q": account["email"]}).json()["users"][0][
        "id"
    ]
    if body is not None:
        kwargs = {"json": body}
    response = admin_api.call("PUT", f"/users/{user_id}/roles", **kwargs)
    problem(response, 400, code)
    assert show(server, account["email"])["roles"] == []


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "201"}, {"after": "abc"}])
def test_malformed_query_parameters_are_problems(admin_api, params):
    response = admin_api.call("GET", "/users", params=params)
    assert response.status_code == 400
    assert response.json()["type"].endswith("#invalid_request")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--scope", "admin"), "only grant type is client_credentials"),
        (("--scope", "admin", "--grant-type", "client_credentials", "--grant-type",
          "authorization_code"), "only grant type is client_credentials"),
        (("--scope", "admin", "--grant-type", "client_credentials", "--public"),
         "public client cannot use client_credentials"),
        (("--scope", "root", "--grant-type", "client_credentials"), "unknown scope(s) root"),
    ],
)  # fmt: skip
def test_only_a_confidential_machine_client_may_hold_an_admin_api_scope(server, args, reason):
    result = server.cli(
        "clients", "create", "--name", "Wrong", "--redirect-uri", "http://localhost:9/x", *args,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert reason in result.stderr


def test_audit_events_filter_and_page_by_key(server, admin_api, auditor_api, document):
    account = person(server)
    user_id = admin_api.call("GET", "/users", params={"q": account["email"]}).json()["users"][0][
        "id"
    ]
    for roles in (["auditor"], [], ["auditor"]):
        assert admin_api.call("PUT", f"/users/{user_id}/roles", json={"roles": roles}).ok
    wanted = {"email": account["email"], "event": "roles_set", "limit": 2}
    first = conforms(
        document, "/audit-events", "get", auditor_api.call("GET", "/audit-events", params=wanted)
    )
    assert [e["detail"]["after"] for e in first["events"]] == [["auditor"], []]
    rest = auditor_api.call(
        "GET", "/audit-events", params={**wanted, "before": first["next_before"]}
    )
    later = conforms(document, "/audit-events", "get", rest)
    assert [e["detail"]["after"] for e in later["events"]] == [["auditor"]]
    assert later["next_before"] is None
    assert {e["seq"] for e in first["events"]}.isdisjoint(e["seq"] for e in later["events"])


@pytest.mark.parametrize(
    "params", [{"since": "yesterday"}, {"email": "nobody@example.invalid"}, {"outcome": "maybe"}]
)
def test_bad_audit_filters_are_problems(auditor_api, params):
    response = auditor_api.call("GET", "/audit-events", params=params)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"


def api_user(api: Api, account: dict) -> int:
    return api.call("GET", "/users", params={"q": account["email"]}).json()["users"][0]["id"]


def test_user_actions_change_the_account_and_match_the_document(server, admin_api, document):
    account = enroll_totp(server)
    user_id = api_user(admin_api, account)
    factor_id = next(
        f["id"] for f in show(server, account["email"])["factors"] if f["kind"] == "totp"
    )

    def act(method: str, path: str, **kw) -> dict:
        response = admin_api.call(method, path.replace("{user_id}", str(user_id)), **kw)
        return conforms(document, path, method.lower(), response)

    done = admin_api.call("DELETE", f"/users/{user_id}/factors/{factor_id}")
    assert conforms(document, "/users/{user_id}/factors/{factor_id}", "delete", done) == {
        "revoked": [factor_id]
    }
    assert all(f["status"] == "revoked" for f in show(server, account["email"])["factors"])
    again = admin_api.call("DELETE", f"/users/{user_id}/factors/{factor_id}")
    assert again.status_code == 404 and again.json()["type"].endswith("#not_found")

    assert act("PUT", "/users/{user_id}/disabled", json={"disabled": True, "reason": "left"}) == {
        "disabled": True,
        "changed": True,
    }
    assert show(server, account["email"])["disabled_reason"] == "left"
    assert act("PUT", "/users/{user_id}/disabled", json={"disabled": False})["disabled"] is False
    assert show(server, account["email"])["disabled_at"] is None
    assert act("DELETE", "/users/{user_id}/sessions") == {"ended": 0}
    assert act("POST", "/users/{user_id}/unlock")["factors_unlocked"] == 0
    assert act("POST", "/users/{user_id}/password-reset") == {"sent": True}
    assert act("DELETE", "/users/{user_id}/factors") == {"revoked": []}
    missing = admin_api.call("DELETE", f"/users/{user_id}/browsers/999999999")
    assert missing.status_code == 404
    actors = {e["actor"] for e in show(server, account["email"])["recent_events"]}
    assert any((a or "").startswith("client:") for a in actors)


def override_events(server, account: dict) -> list[tuple[str, str]]:
    events = show(server, account["email"])["recent_events"]
    return [(e["event"], e["actor"]) for e in events if e["event"].startswith("policy_override")]


def test_an_mfa_override_is_set_and_cleared_with_the_client_as_actor(server, admin_api, document):
    account = person(server)
    user_id = api_user(admin_api, account)
    until = int(time.time()) + 7 * 86400
    wanted = {"kind": "exempt", "until": until, "reason": "travelling without the phone"}

    response = admin_api.call("PUT", f"/users/{user_id}/override", json=wanted)
    assert conforms(document, "/users/{user_id}/override", "put", response) == {"override": wanted}
    assert show(server, account["email"])["override"] == wanted
    assert override_events(server, account) == [("policy_override_set", admin_api.actor)]

    cleared = admin_api.call("DELETE", f"/users/{user_id}/override")
    assert conforms(document, "/users/{user_id}/override", "delete", cleared) == {"cleared": True}
    assert show(server, account["email"])["override"] is None
    assert ("policy_override_cleared", admin_api.actor) in override_events(server, account)
    again = admin_api.call("DELETE", f"/users/{user_id}/override")
    assert again.json() == {"cleared": False}


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "sometimes", "until": 4102444800, "reason": "x"},
        {"kind": "require", "until": 1000, "reason": "the end is in the past"},
        {"kind": "require", "until": 4102444800, "reason": "   "},
        {"kind": "require", "until": 4102444800},
        {"kind": "require", "until": "2100-01-01", "reason": "x"},
        {"kind": "require", "until": 4102444800, "reason": "x", "by": "me"},
    ],
)
def test_a_malformed_override_is_a_problem_and_changes_nothing(server, admin_api, body):
    account = person(server)
    response = admin_api.call("PUT", f"/users/{api_user(admin_api, account)}/override", json=body)
    problem(response, 400)
    assert show(server, account["email"])["override"] is None
    assert override_events(server, account) == []


def test_an_override_of_an_unknown_user_is_a_404(admin_api):
    body = {"kind": "require", "until": 4102444800, "reason": "x"}
    problem(admin_api.call("PUT", "/users/999999999/override", json=body), 404, "not_found")
    problem(admin_api.call("DELETE", "/users/999999999/override"), 404, "not_found")
