"""Tokens end with the session they came from (OIDC Core 11): a refresh token only for
``offline_access`` or a client registered with ``--online-refresh``; an online one stops working
when its session ends (RP-initiated logout, ``idp users end-sessions``, a password change); an
offline one survives sign-out and is revoked from the account page. Live provider, SQLite and
PostgreSQL, real HTTP.
"""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.support.oidc import HostedPages, RelyingParty, csrf_token

ONLINE = "openid email profile"
OFFLINE = "openid email profile offline_access"
LOGOUT_URI = "http://localhost:9/bye-online"


@pytest.fixture(scope="module")
def online_rp(server):
    return server.create_client(
        "--name", "Online RP", "--redirect-uri", "http://localhost:9/online",
        "--post-logout-redirect-uri", LOGOUT_URI, "--first-party", "--online-refresh",
    )  # fmt: skip


@pytest.fixture(scope="module")
def person(server):
    return server.create_user()


def _tokens(server, client, person, scope, browser=None, **params):
    relying = RelyingParty(server, client, scope=scope)
    browser = browser or HostedPages(server.url)
    result = relying.sign_in(browser, person, **params)
    assert result.params.get("code"), result.location
    response = relying.redeem(result)
    assert response.status_code == 200, response.text
    return relying, browser, response.json()


def _refresh(relying, refresh_token):
    return relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
    )


def _logout(relying, browser, id_token):
    response = browser.get(
        relying.meta["end_session_endpoint"],
        params={"id_token_hint": id_token, "post_logout_redirect_uri": LOGOUT_URI},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text


def test_no_refresh_token_without_offline_access_or_online_refresh(server, rp, person):
    _, _, token = _tokens(server, rp, person, ONLINE)
    assert "refresh_token" not in token and token["access_token"]


def test_online_refresh_token_works_until_its_session_ends(server, online_rp, person):
    relying, browser, token = _tokens(server, online_rp, person, ONLINE)
    refreshed = _refresh(relying, token["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    live = refreshed.json()
    _logout(relying, browser, token["id_token"])
    ended = _refresh(relying, live["refresh_token"])
    assert ended.status_code == 400 and ended.json()["error"] == "invalid_grant"
    introspected = relying.post(
        relying.meta["introspection_endpoint"], {"token": live["access_token"]}
    )
    assert introspected.json() == {"active": False}


def test_offline_grant_survives_sign_out_and_is_revoked_from_the_account_page(
    server, online_rp, person
):
    relying, browser, token = _tokens(server, online_rp, person, OFFLINE)
    _logout(relying, browser, token["id_token"])
    survived = _refresh(relying, token["refresh_token"])
    assert survived.status_code == 200, survived.text

    account = HostedPages(server.url)
    page = account.submit_login(
        account.get(server.url + "/login"), person["email"], person["password"], stop_at="-"
    )
    page = account.get(server.url + "/account/")
    assert "Online RP" in page.text and "Remove access" in page.text
    action = unescape(re.search(r'action="(/account/apps/[^"]+/revoke)"', page.text).group(1))
    removed = account.post(
        server.url + action, data={"csrf_token": csrf_token(page.text)}, allow_redirects=False
    )
    assert removed.status_code == 303
    assert "Online RP" not in account.get(server.url + "/account/").text
    gone = _refresh(relying, survived.json()["refresh_token"])
    assert gone.status_code == 400 and gone.json()["error"] == "invalid_grant"


def test_reauthentication_continues_the_session_its_tokens_belong_to(server, online_rp, person):
    relying, browser, token = _tokens(server, online_rp, person, ONLINE)
    _tokens(server, online_rp, person, ONLINE, browser=browser, prompt="login")
    assert _refresh(relying, token["refresh_token"]).status_code == 200


def test_an_admin_ending_sessions_ends_online_tokens_not_offline_ones(server, online_rp, person):
    relying, _, online = _tokens(server, online_rp, person, ONLINE)
    _, _, offline = _tokens(server, online_rp, person, OFFLINE)
    result = server.cli("users", "end-sessions", person["email"])
    assert '"sessions_ended": ' in result.stdout
    assert _refresh(relying, online["refresh_token"]).json()["error"] == "invalid_grant"
    assert _refresh(relying, offline["refresh_token"]).status_code == 200


def test_a_password_change_ends_the_users_other_sessions(server, rp, person):
    other = HostedPages(server.url)
    _tokens(server, rp, person, ONLINE, browser=other)
    assert other.get(server.url + "/account/", allow_redirects=False).status_code == 200
    mine = HostedPages(server.url)
    _tokens(server, rp, person, ONLINE, browser=mine)
    page = mine.get(server.url + "/account/")
    changed = mine.post(
        server.url + "/account/password",
        data={
            "csrf_token": csrf_token(page.text),
            "username": person["email"],
            "current_password": person["password"],
            "password": person["password"] + "-2",
            "confirm": person["password"] + "-2",
        },
        allow_redirects=False,
    )
    assert changed.status_code == 303, changed.text
    person["password"] += "-2"
    assert mine.get(server.url + "/account/", allow_redirects=False).status_code == 200
    assert other.get(server.url + "/account/", allow_redirects=False).status_code == 302
