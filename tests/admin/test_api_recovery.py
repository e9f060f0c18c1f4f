"""The admin API's recovery operations on the live provider (SQLite and PostgreSQL): a user who
lost their factor asks for recovery; the API lists the open request and shows it; a client
denies it with a note (audited with the client as actor, the user told by mail), after which
it is no longer open and cannot be decided again. Approval is not offered: the two-person rule
binds people, and a client token names none.
"""

from __future__ import annotations

import email

import pytest

from tests.admin.api_support import Api, api_client, conforms, openapi_document, problem
from tests.admin.support import show
from tests.support.factors import enroll_totp, password_sign_in
from tests.support.oidc import HostedPages, csrf_token


@pytest.fixture(scope="module")
def document(server):
    return openapi_document(server)


@pytest.fixture(scope="module")
def api(server) -> Api:
    return api_client(server, "admin")


def asked(server, api: Api) -> tuple[dict, int]:
    """A user with an authenticator app who asks for recovery after the password step."""
    account = enroll_totp(server)
    browser = HostedPages(server.url)
    assert password_sign_in(browser, account).status_code == 303
    page = browser.get(server.url + "/recovery/")
    done = browser.post(server.url + "/recovery/", data={"csrf_token": csrf_token(page.text)})
    assert done.ok, done.text[:300]
    listed = api.call("GET", "/recovery-requests").json()["requests"]
    return account, next(r["id"] for r in listed if r["user"]["email"] == account["email"])


def subjects(server, to: str) -> list[str]:
    messages = [email.message_from_bytes(p.read_bytes()) for p in server.instance.glob("outbox/*")]
    return [m["Subject"] for m in messages if m["To"] == to]


def test_an_open_request_is_listed_shown_and_denied_with_the_client_as_actor(server, api, document):
    account, rid = asked(server, api)
    listed = conforms(document, "/recovery-requests", "get", api.call("GET", "/recovery-requests"))
    mine = next(r for r in listed["requests"] if r["id"] == rid)
    assert mine["status"] == "requested" and mine["user"]["email"] == account["email"]
    shown = api.call("GET", f"/recovery-requests/{rid}")
    assert conforms(document, "/recovery-requests/{request_id}", "get", shown) == mine

    note = "Called the number on record: they did not ask for this."
    response = api.call("POST", f"/recovery-requests/{rid}/deny", json={"note": note})
    denied = conforms(document, "/recovery-requests/{request_id}/deny", "post", response)
    assert denied["status"] == "denied" and denied["decision_note"] == note
    assert denied["finished_at"] is not None
    events = [e for e in show(server, account["email"])["recent_events"]
              if e["event"] == "recovery_denied"]  # fmt: skip
    assert [e["actor"] for e in events] == [api.actor]
    assert "Account recovery denied" in subjects(server, account["email"])

    after = api.call("GET", "/recovery-requests").json()["requests"]
    assert rid not in [r["id"] for r in after]
    again = api.call("POST", f"/recovery-requests/{rid}/deny", json={"note": note})
    problem(again, 409, "conflict")
    assert api.call("GET", f"/recovery-requests/{rid}").json() == denied


@pytest.mark.parametrize("body", [{"note": ""}, {"note": "   "}, {}, {"note": 5}])
def test_a_denial_without_a_note_is_a_problem_and_the_request_stays_open(server, api, body):
    _, rid = asked(server, api)
    problem(api.call("POST", f"/recovery-requests/{rid}/deny", json=body), 400)
    assert api.call("GET", f"/recovery-requests/{rid}").json()["status"] == "requested"


def test_an_auditor_reads_requests_and_denies_none(server, api):
    _, rid = asked(server, api)
    auditor = api_client(server, "auditor")
    assert auditor.call("GET", f"/recovery-requests/{rid}").status_code == 200
    refused = auditor.call("POST", f"/recovery-requests/{rid}/deny", json={"note": "no"})
    assert refused.status_code == 403
    assert api.call("GET", f"/recovery-requests/{rid}").json()["status"] == "requested"


def test_approval_is_not_offered_and_the_document_says_why(server, api, document):
    _, rid = asked(server, api)
    assert not any("approve" in path for path in document["paths"])
    assert "two-person rule" in document["info"]["description"]
    listed = document["paths"]["/recovery-requests"]["get"]["summary"]
    assert "names no person" in listed
    response = api.call("POST", f"/recovery-requests/{rid}/approve", json={"note": "ok"})
    assert response.status_code in (404, 405)
    assert api.call("GET", f"/recovery-requests/{rid}").json()["status"] == "requested"


def test_an_unknown_request_is_a_404(api):
    problem(api.call("GET", "/recovery-requests/999999999"), 404, "not_found")
    deny = api.call("POST", "/recovery-requests/999999999/deny", json={"note": "x"})
    problem(deny, 404, "not_found")
