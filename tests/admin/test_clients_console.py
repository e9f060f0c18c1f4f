"""The console's client pages on the live provider (SQLite and PostgreSQL): an admin registers
a client and sees its secret once, edits its redirect URIs (the old one is refused at once),
is shown a refused setting with nothing changed, makes a new secret (the old one stops at once),
disables a client (refused everywhere, its tokens inactive) and enables it again; every change
audited with the admin's email. An auditor changes nothing; every POST needs the CSRF token.
"""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
import requests

from tests.admin.support import console_browser, person
from tests.cli.helpers import audit_rows
from tests.support.live import backend_server
from tests.support.oidc import (
    HostedPages,
    RelyingParty,
    authorization_params,
    authorize,
    client_credentials_response,
    client_credentials_token,
    csrf_token,
    machine_client,
)

API = "https://api.example/orders"
OLD, NEW = "http://localhost:9/old", "http://localhost:9/new"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def console(request, tmp_path_factory):
    settings = {"ADMIN_REQUIRE_PASSKEY": "false"}
    with backend_server(request, tmp_path_factory, "admin_clients", **settings) as live:
        yield live


@pytest.fixture(scope="module")
def admin(console):
    return console_browser(console, "admin")


@pytest.fixture(scope="module")
def api(console):
    """An API client that may introspect the tokens issued for ``API`` (RFC 7662 4)."""
    return machine_client(console, "--serves", API, name="Orders API")


def machine(console) -> dict:
    return machine_client(console, name="Batch", resources=(API,))


def with_secret(client: dict, secret: str) -> dict:
    return {**client, "client_secret": secret}


def refused_client(response: requests.Response) -> bool:
    return response.status_code == 401 and response.json()["error"] == "invalid_client"


def listed(console, client_id: str) -> dict:
    rows = [json.loads(line) for line in console.cli("clients", "list").stdout.splitlines()]
    return next(row for row in rows if row["client_id"] == client_id)


def actors(console, event: str, client_id: str) -> list[str]:
    rows = audit_rows(console)
    return [r["actor"] for r in rows if (r["event"], r["client_id"]) == (event, client_id)]


def secret_on(page: requests.Response) -> str | None:
    match = re.search(r'<code class="secret" id="client-secret">([^<]+)</code>', page.text)
    return unescape(match.group(1)) if match else None


def _value(form: str, name: str) -> str:
    return unescape(re.search(rf'name="{name}"[^>]*value="([^"]*)"', form).group(1))


def _text(form: str, name: str) -> str:
    return unescape(re.search(rf'name="{name}"[^>]*>([^<]*)</textarea>', form).group(1)).strip()


def settings_form(page_html: str, **changes) -> dict:
    """The client page's settings form as shown, with ``changes``."""
    form = page_html.split('id="settings-h"')[1]
    data = {
        "csrf_token": csrf_token(form),
        "name": _value(form, "name"),
        "redirect_uris": _text(form, "redirect_uris"),
        "post_logout_redirect_uris": _text(form, "post_logout_redirect_uris"),
        "grant_types": re.findall(r'name="grant_types" value="(\w+)" checked', form),
        "minimum_acr": _value(form, "minimum_acr"),
        "default_acr_values": _value(form, "default_acr_values"),
        "backchannel_logout_uri": _value(form, "backchannel_logout_uri"),
    }
    for box in ("first_party", "allow_no_pkce"):
        if re.search(rf'<input[^>]*checked[^>]*name="{box}"|name="{box}"[^>]*checked', form):
            data[box] = "y"
    data.update(changes)
    return data


def post_action(browser: HostedPages, console, client_id: str, action: str, token: str):
    url = f"{console.url}/admin/clients/{client_id}/{action}"
    return browser.post(url, data={"csrf_token": token}, allow_redirects=False)


def test_a_client_registered_in_the_console_works_and_its_secret_is_shown_once(console, admin):
    browser, account = admin
    form = browser.get(console.url + "/admin/clients/new")
    assert form.status_code == 200 and "Register a client" in form.text
    created = browser.post(
        console.url + "/admin/clients/new",
        data={"csrf_token": csrf_token(form.text), "name": "Nightly export",
              "kind": "confidential", "grant_types": ["client_credentials"]},
        allow_redirects=False,
    )  # fmt: skip
    assert created.status_code == 200, created.text[:500]
    assert created.headers["Cache-Control"] == "no-store"
    client_id = re.search(r"<dt>Client ID</dt><dd><code>([^<]+)</code>", created.text).group(1)
    secret = secret_on(created)
    assert secret and "shown only this once" in created.text

    token = requests.post(
        console.url + "/token", data={"grant_type": "client_credentials"},
        auth=(client_id, secret), timeout=30,
    )  # fmt: skip
    assert token.status_code == 200, token.text
    for page in (f"/admin/clients/{client_id}", "/admin/clients"):
        shown = browser.get(console.url + page)
        assert shown.status_code == 200 and "Nightly export" in shown.text
        assert secret not in shown.text and secret_on(shown) is None
    assert listed(console, client_id)["grant_types"] == ["client_credentials"]
    assert actors(console, "client_created", client_id) == [account["email"]]
    assert secret not in json.dumps(
        [{k: str(v) for k, v in r.items()} for r in audit_rows(console)]
    )


def test_a_public_client_is_registered_without_a_secret(console, admin):
    browser, _ = admin
    form = browser.get(console.url + "/admin/clients/new")
    created = browser.post(
        console.url + "/admin/clients/new",
        data={"csrf_token": csrf_token(form.text), "name": "SPA", "kind": "public",
              "redirect_uris": f"{OLD}\n\n{NEW}\n", "first_party": "y",
              "grant_types": ["authorization_code", "refresh_token"]},
    )  # fmt: skip
    assert created.status_code == 200 and secret_on(created) is None
    client_id = re.search(r"<dt>Client ID</dt><dd><code>([^<]+)</code>", created.text).group(1)
    stored = listed(console, client_id)
    assert stored["public"] is True and stored["first_party"] is True
    assert stored["redirect_uris"] == [OLD, NEW]


def test_edited_redirect_uris_take_effect_at_once_and_are_audited(console, admin):
    browser, account = admin
    rp = console.create_client("--name", "Web", "--redirect-uri", OLD)
    assert authorize(console, authorization_params(rp)).status_code in (302, 303)  # cached now
    page = browser.get(f"{console.url}/admin/clients/{rp['client_id']}")
    saved = browser.post(page.url, data=settings_form(page.text, redirect_uris=NEW),
                         allow_redirects=False)  # fmt: skip
    assert saved.status_code == 303, saved.text[:500]

    old = authorize(console, authorization_params(rp, redirect_uri=OLD))
    assert old.status_code == 400 and "Location" not in old.headers
    new = authorize(console, authorization_params(rp, redirect_uri=NEW))
    assert new.status_code in (302, 303) and not new.headers["Location"].startswith(OLD)
    assert listed(console, rp["client_id"])["redirect_uris"] == [NEW]
    assert actors(console, "client_changed", rp["client_id"]) == [account["email"]]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"redirect_uris": "ftp://rp.example/cb"}, "must be http(s) or a private-use scheme"),
        ({"redirect_uris": "https://rp.example/cb#frag"}, "must not contain a fragment"),
        ({"minimum_acr": "gold"}, "unknown acr value(s) gold"),
        ({"backchannel_logout_uri": "not a uri"}, "must be an absolute http(s) URI"),
        ({"grant_types": []}, "Tick at least one grant type."),
        ({"name": ""}, "Give the client a name."),
    ],
)
def test_a_refused_setting_is_shown_with_a_400_and_nothing_changes(console, admin, changes, words):
    browser, _ = admin
    rp = console.create_client("--name", "Web", "--redirect-uri", OLD)
    page = browser.get(f"{console.url}/admin/clients/{rp['client_id']}")
    response = browser.post(page.url, data=settings_form(page.text, **changes))
    assert response.status_code == 400 and words in unescape(response.text)
    stored = listed(console, rp["client_id"])
    assert stored["redirect_uris"] == [OLD] and stored["name"] == "Web"
    assert stored["minimum_acr"] is None and stored["backchannel_logout_uri"] is None
    assert actors(console, "client_changed", rp["client_id"]) == []


def test_a_new_secret_is_shown_once_and_the_old_one_stops_at_once(console, admin):
    browser, account = admin
    client = machine(console)
    client_credentials_token(console, client, resource=API)  # the server caches it
    page = browser.get(f"{console.url}/admin/clients/{client['client_id']}")
    rotated = post_action(browser, console, client["client_id"], "secret", csrf_token(page.text))
    assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
    secret = secret_on(rotated)
    assert secret and secret != client["client_secret"]

    assert refused_client(client_credentials_response(console, client, resource=API))
    assert client_credentials_token(console, with_secret(client, secret), resource=API)
    again = browser.get(page.url)
    assert secret not in again.text and secret_on(again) is None
    assert actors(console, "client_secret_rotated", client["client_id"]) == [account["email"]]


def test_a_disabled_client_is_refused_everywhere_and_its_tokens_are_inactive(console, admin, api):
    browser, account = admin
    client = machine(console)
    token = client_credentials_token(console, client, resource=API)
    rp = console.create_client("--name", "Shop", "--redirect-uri", OLD, "--first-party")
    party = RelyingParty(console, rp)
    signed_in = party.sign_in(HostedPages(console.url), person(console))
    access = party.redeem(signed_in).json()["access_token"]
    userinfo = {"Authorization": f"Bearer {access}"}
    assert requests.get(console.url + "/userinfo", headers=userinfo, timeout=30).ok

    for target in (client, rp):
        page = browser.get(f"{console.url}/admin/clients/{target['client_id']}")
        done = post_action(browser, console, target["client_id"], "disable", csrf_token(page.text))
        assert done.status_code == 303
    assert "<strong>Disabled</strong>" in browser.get(page.url).text

    assert refused_client(client_credentials_response(console, client, resource=API))
    auth = (api["client_id"], api["client_secret"])
    seen = requests.post(console.url + "/introspect", data={"token": token}, auth=auth, timeout=30)
    assert seen.json() == {"active": False}
    assert requests.get(console.url + "/userinfo", headers=userinfo, timeout=30).status_code == 401
    error_page = authorize(console, authorization_params(rp))
    assert error_page.status_code == 400 and "Location" not in error_page.headers
    assert "invalid_client" in error_page.text

    page = browser.get(f"{console.url}/admin/clients/{client['client_id']}")
    enabled = post_action(browser, console, client["client_id"], "enable", csrf_token(page.text))
    assert enabled.status_code == 303
    assert client_credentials_token(console, client, resource=API)
    email = account["email"]
    assert actors(console, "client_disabled", client["client_id"]) == [email]
    assert actors(console, "client_enabled", client["client_id"]) == [email]


def test_an_auditor_reads_the_client_pages_and_every_post_is_refused(console):
    auditor, _ = console_browser(console, "auditor")
    client = machine(console)
    page = auditor.get(f"{console.url}/admin/clients/{client['client_id']}")
    assert page.status_code == 200 and '<form method="post"' not in page.text
    assert "Batch" in auditor.get(console.url + "/admin/clients").text
    token = csrf_token(auditor.get(console.url + "/account").text)
    for action in ("secret", "disable", "enable"):
        refused = post_action(auditor, console, client["client_id"], action, token)
        assert refused.status_code == 403, action
    for url in (page.url, console.url + "/admin/clients/new"):
        data = {"csrf_token": token, "name": "Mine", "kind": "confidential",
                "grant_types": ["client_credentials"]}  # fmt: skip
        assert auditor.post(url, data=data, allow_redirects=False).status_code == 403
    assert listed(console, client["client_id"])["name"] == "Batch"
    assert client_credentials_token(console, client, resource=API)


def test_without_a_csrf_token_nothing_changes(console, admin):
    browser, _ = admin
    client = machine(console)
    for action in ("secret", "disable"):
        refused = post_action(browser, console, client["client_id"], action, "")
        assert refused.status_code == 400, action
    page = browser.get(f"{console.url}/admin/clients/{client['client_id']}")
    data = {**settings_form(page.text, name="Renamed"), "csrf_token": ""}
    assert browser.post(page.url, data=data).status_code == 400
    assert listed(console, client["client_id"])["name"] == "Batch"
    assert listed(console, client["client_id"])["disabled"] is False
    assert client_credentials_token(console, client, resource=API)


def test_the_client_list_is_paged_by_id_and_an_unknown_client_is_a_404(console, admin):
    browser, _ = admin
    first = browser.get(console.url + "/admin/clients")
    assert first.status_code == 200 and '<th scope="col">Client ID</th>' in first.text
    assert browser.get(console.url + "/admin/clients/no-such-client").status_code == 404
    assert browser.get(console.url + "/admin/clients?after=-5").status_code == 200
