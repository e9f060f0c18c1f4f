"""The hosted pages as a person meets them: CSRF, session fixation, headers, consent, account."""

from __future__ import annotations

import time

import requests

from tests.support.oidc import HostedPages, RelyingParty, csrf_token

CALLBACK = "http://localhost:9/cb"  # the ``rp`` fixture's redirect URI


def _login_page(browser: HostedPages) -> requests.Response:
    return browser.get(browser.base + "/login")


def _post_login(browser, email, password, token=None) -> requests.Response:
    page = _login_page(browser)
    data = {"email": email, "password": password, "csrf_token": token or csrf_token(page.text)}
    return browser.post(browser.base + "/login", data=data, allow_redirects=False)


def test_sign_in_without_csrf_token_is_refused(server, user):
    browser = HostedPages(server.url)
    _login_page(browser)
    response = browser.post(
        server.url + "/login",
        data={"email": user["email"], "password": user["password"]},
        allow_redirects=False,
    )
    assert response.status_code == 400
    assert browser.get(server.url + "/account/", allow_redirects=False).status_code == 302


def test_successful_sign_in_answers_303_and_issues_a_new_session(server, user):
    browser = HostedPages(server.url)
    _login_page(browser)
    before = browser.cookies.get("idp_session")
    response = _post_login(browser, user["email"], user["password"])
    assert response.status_code == 303
    after = browser.cookies.get("idp_session")
    assert after and after != before
    planted = HostedPages(server.url)
    planted.cookies.set("idp_session", before, domain="localhost.local")
    assert planted.get(server.url + "/account/", allow_redirects=False).status_code == 302
    assert browser.get(server.url + "/account/").status_code == 200


def _set_cookie(response: requests.Response) -> str:
    return "".join(v for k, v in response.raw.headers.items() if k.lower() == "set-cookie")


def test_cookie_is_set_only_when_its_id_changes(server, rp, user):
    """The session lives server-side: after the first state, responses that change it (a CSRF
    token, a passkey challenge, a waiting request) send no cookie that a late answer could put
    back over a newer one; sign-in and sign-out give a new id or none."""
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    url, _, _, _ = relying.authorization_url()
    first = browser.get(url, allow_redirects=False)
    assert "idp_session=" in _set_cookie(first)
    waiting = browser.cookies.get("idp_session")
    login = browser.get(server.url + first.headers["Location"], allow_redirects=False)
    token = csrf_token(login.text)
    options = browser.post(
        server.url + "/login/passkey/options", json={}, headers={"X-CSRFToken": token}
    )
    again = browser.get(relying.authorization_url()[0], allow_redirects=False)
    assert options.status_code == 200 and again.status_code == 302
    assert [_set_cookie(r) for r in (login, options, again)] == ["", "", ""]

    signed_in = browser.submit_login(login, user["email"], user["password"], stop_at=CALLBACK)
    assert signed_in.headers["Location"].startswith(CALLBACK)
    assert browser.cookies.get("idp_session") not in (None, waiting)
    stale = HostedPages(server.url)
    stale.cookies.set("idp_session", waiting, domain="localhost.local")
    assert stale.get(server.url + "/account/", allow_redirects=False).status_code == 302
    assert _set_cookie(browser.get(server.url + "/account/")) == ""


def test_sid_changes_at_every_sign_in(server, rp, user):
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    sids = []
    for _ in range(2):
        result = relying.sign_in(browser, user, prompt="login")
        token = relying.redeem(result).json()
        sids.append(relying.verify_id_token(token["id_token"], None, None)["sid"])
    assert sids[0] != sids[1]


def test_session_cookie_is_httponly_and_samesite_lax(server):
    response = requests.get(server.url + "/login")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_unknown_user_and_wrong_password_get_the_same_response(server):
    """Three of each: fewer than the per-account back-off needs (IDP_PASSWORD_BACKOFF_AFTER), on
    a user of its own, whose run of failures no other test adds to.

    The time check catches a missing dummy hash (an unknown email answered without an argon2
    verification takes a third of the time or less), not a few percent. The attempts alternate
    and each kind's fastest is compared: load elsewhere on the machine only ever adds time."""
    user = server.create_user()

    def attempt(email):
        browser = HostedPages(server.url)
        started = time.perf_counter()
        response = _post_login(browser, email, "not the password")
        return response, time.perf_counter() - started

    unknown, wrong = [], []
    for i in range(3):
        unknown.append(attempt(f"nobody-{i}@example.com"))
        wrong.append(attempt(user["email"]))
    assert {r.status_code for r, _ in unknown + wrong} == {401}
    message = "That email and password do not match an account."
    assert all(message in r.text for r, _ in unknown + wrong)
    ratio = min(t for _, t in unknown) / min(t for _, t in wrong)
    assert 0.5 < ratio < 2.0, ratio


PAGES = [
    "/login",
    "/password/forgot",
    "/password/sent",
    "/signed-out",
    "/account/",
    "/authorize?client_id=nobody",
    "/no-such-page",
]


def test_security_headers_on_every_page(server):
    for path in PAGES:
        response = requests.get(server.url + path, allow_redirects=False)
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Cache-Control"] == "no-store", path


def test_token_and_protocol_responses_are_not_cached(server, rp):
    response = requests.post(server.url + "/token", data={"grant_type": "client_credentials"})
    assert response.headers["Cache-Control"] == "no-store"


def test_third_party_client_asks_consent_once_and_deny_gives_access_denied(server, user):
    third = server.create_client("--name", "Third Party", "--redirect-uri", "http://localhost:9/3p")
    relying, browser = RelyingParty(server, third), HostedPages(server.url)
    result = relying.sign_in(browser, user)
    assert result.response.status_code == 200 and "Third Party" in result.response.text
    url, *_ = relying.authorization_url()
    page = browser.follow(url, stop_at=relying.redirect_uri)
    denied = browser.post(
        page.url, data={"csrf_token": csrf_token(page.text), "consent": "deny"},
        allow_redirects=False,
    )  # fmt: skip
    assert denied.status_code == 303 and "error=access_denied" in denied.headers["Location"]
    page = browser.follow(url, stop_at=relying.redirect_uri)
    allowed = browser.post(
        page.url, data={"csrf_token": csrf_token(page.text), "consent": "allow"},
        allow_redirects=False,
    )  # fmt: skip
    assert allowed.status_code == 303
    done = browser.follow(server.url + allowed.headers["Location"], stop_at=relying.redirect_uri)
    assert "code=" in done.headers["Location"]
    again, *_ = relying.authorization_url()
    assert "code=" in browser.follow(again, stop_at=relying.redirect_uri).headers["Location"]


def test_consent_decision_without_csrf_token_is_refused(server, user):
    third = server.create_client("--name", "Third Two", "--redirect-uri", "http://localhost:9/3q")
    relying, browser = RelyingParty(server, third), HostedPages(server.url)
    result = relying.sign_in(browser, user)
    response = browser.post(result.response.url, data={"consent": "allow"}, allow_redirects=False)
    assert response.status_code == 400 and "Location" not in response.headers


def test_change_password_needs_the_current_one_and_revokes_refresh_tokens(server, rp):
    person = server.create_user(password="first password 1")
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    tokens = relying.redeem(relying.sign_in(browser, person)).json()
    page = browser.get(server.url + "/account/")
    form = {
        "csrf_token": csrf_token(page.text),
        "current_password": "wrong",
        "password": "second password 2",
        "confirm": "second password 2",
    }
    wrong = browser.post(server.url + "/account/password", data=form, allow_redirects=False)
    assert wrong.status_code == 400 and "not your current password" in wrong.text
    form["current_password"] = "first password 1"
    ok = browser.post(server.url + "/account/password", data=form, allow_redirects=False)
    assert ok.status_code == 303
    refresh = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refresh.json()["error"] == "invalid_grant"
    assert (
        _post_login(HostedPages(server.url), person["email"], "second password 2").status_code
        == 303
    )
