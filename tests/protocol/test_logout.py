"""RP-initiated logout 1.0: exact post_logout_redirect_uri, id_token_hint checked, state echoed."""

from __future__ import annotations

import jwt

from tests.support.oidc import HostedPages, RelyingParty


def _session_with_token(server, rp, user):
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    token = relying.redeem(relying.sign_in(browser, user)).json()
    return relying, browser, token["id_token"]


def _still_signed_in(relying, browser) -> bool:
    url, *_ = relying.authorization_url(prompt="none")
    return "code=" in browser.follow(url, stop_at=relying.redirect_uri).headers["Location"]


def test_unregistered_post_logout_redirect_uri_is_refused_and_changes_nothing(server, rp, user):
    relying, browser, id_token = _session_with_token(server, rp, user)
    response = browser.get(
        relying.meta["end_session_endpoint"],
        params={"id_token_hint": id_token, "post_logout_redirect_uri": "http://evil.example/"},
        allow_redirects=False,
    )
    assert response.status_code == 400 and "Location" not in response.headers
    assert _still_signed_in(relying, browser)


def test_id_token_hint_with_bad_signature_is_refused_and_changes_nothing(server, rp, user):
    relying, browser, id_token = _session_with_token(server, rp, user)
    head, body, _ = id_token.split(".")
    response = browser.get(
        relying.meta["end_session_endpoint"],
        params={
            "id_token_hint": f"{head}.{body}.AAAA",
            "post_logout_redirect_uri": rp["post_logout_redirect_uris"][0],
        },
        allow_redirects=False,
    )
    assert response.status_code == 400 and "Location" not in response.headers
    assert _still_signed_in(relying, browser)


def test_id_token_hint_with_alg_none_is_refused(server, rp, user):
    relying, browser, id_token = _session_with_token(server, rp, user)
    claims = jwt.decode(id_token, options={"verify_signature": False})
    response = browser.get(
        relying.meta["end_session_endpoint"],
        params={"id_token_hint": jwt.encode(claims, None, algorithm="none")},
        allow_redirects=False,
    )
    assert response.status_code == 400
    assert _still_signed_in(relying, browser)


def test_logout_without_hint_asks_for_confirmation_before_ending_the_session(server, rp, user):
    relying, browser, _ = _session_with_token(server, rp, user)
    page = browser.get(relying.meta["end_session_endpoint"], allow_redirects=False)
    assert page.status_code == 200 and "Sign out" in page.text
    assert _still_signed_in(relying, browser)
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    done = browser.post(server.url + "/logout/confirm", data={"csrf_token": token})
    assert done.status_code == 200 and "signed out" in done.text
    assert not _still_signed_in(relying, browser)


def test_posted_logout_redirects_with_303(server, rp, user):
    relying, browser, id_token = _session_with_token(server, rp, user)
    response = browser.post(
        relying.meta["end_session_endpoint"],
        data={"id_token_hint": id_token, "post_logout_redirect_uri": "http://localhost:9/bye"},
        allow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "http://localhost:9/bye"
    assert not _still_signed_in(relying, browser)
