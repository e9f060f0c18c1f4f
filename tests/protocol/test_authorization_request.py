"""Negative and edge cases of the authorization endpoint (RFC 6749 4.1, RFC 7636, OIDC 3.1.2)."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.support.oidc import (
    HostedPages,
    RelyingParty,
    authorization_params,
    authorize,
    redirect_query,
)


def test_unregistered_redirect_uri_shows_error_page_and_never_redirects(server, rp):
    response = authorize(server, authorization_params(rp, redirect_uri="http://localhost:9/evil"))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_request" in response.text


def test_redirect_uri_with_added_query_is_not_the_registered_one(server, rp):
    response = authorize(
        server, authorization_params(rp, redirect_uri=rp["redirect_uris"][0] + "?x=1")
    )
    assert response.status_code == 400 and "Location" not in response.headers


def test_unknown_client_shows_error_page(server, rp):
    response = authorize(server, authorization_params(rp, client_id="nobody"))
    assert response.status_code == 400 and "Location" not in response.headers
    assert "invalid_client" in response.text


def test_missing_response_type_is_invalid_request_sent_to_the_client(server, rp):
    params = authorization_params(rp)
    del params["response_type"]
    response = authorize(server, params)
    assert response.status_code == 302
    assert redirect_query(response)["error"] == "invalid_request"
    assert redirect_query(response)["state"] == "st"
    assert redirect_query(response)["iss"] == server.url  # RFC 9207, on errors Authlib raised too


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token"])
def test_other_response_types_are_unsupported(server, rp, response_type):
    response = authorize(server, authorization_params(rp, response_type=response_type))
    assert response.status_code == 302
    assert redirect_query(response)["error"] == "unsupported_response_type"
    assert redirect_query(response)["state"] == "st"  # RFC 6749 4.1.2.1: state, if sent


def test_plain_pkce_is_refused(server, public_rp):
    params = authorization_params(public_rp, code_challenge="a" * 43, code_challenge_method="plain")
    response = authorize(server, params)
    assert redirect_query(response)["error"] == "invalid_request"


def test_pkce_challenge_without_method_is_refused_as_plain(server, public_rp):
    response = authorize(
        server, authorization_params(public_rp, pkce=False, code_challenge="a" * 43)
    )
    assert redirect_query(response)["error"] == "invalid_request"


def test_public_client_without_pkce_is_refused(server, public_rp):
    response = authorize(server, authorization_params(public_rp, pkce=False))
    assert redirect_query(response)["error"] == "invalid_request"
    assert "PKCE" in redirect_query(response)["error_description"]


def test_prompt_none_without_session_gives_login_required(server, rp):
    response = authorize(server, authorization_params(rp, prompt="none"))
    assert redirect_query(response)["error"] == "login_required"
    assert redirect_query(response)["state"] == "st"


def test_prompt_none_with_another_value_is_invalid_request(server, rp):
    response = authorize(server, authorization_params(rp, prompt="none login"))
    assert redirect_query(response)["error"] == "invalid_request"


@pytest.mark.parametrize("max_age", ["-1", "abc", "1.5"])
def test_malformed_max_age_is_invalid_request(server, rp, max_age):
    assert (
        redirect_query(authorize(server, authorization_params(rp, max_age=max_age)))["error"]
        == "invalid_request"
    )


def test_malformed_claims_parameter_is_invalid_request(server, rp):
    assert (
        redirect_query(authorize(server, authorization_params(rp, claims="{not json")))["error"]
        == "invalid_request"
    )


def _id_token(server, rp, user) -> tuple[RelyingParty, HostedPages, dict]:
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    result = relying.sign_in(browser, user)
    return relying, browser, relying.redeem(result).json()


def test_id_token_hint_with_alg_none_is_refused(server, rp, user):
    _, _, token = _id_token(server, rp, user)
    claims = jwt.decode(token["id_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, None, algorithm="none")
    response = authorize(server, authorization_params(rp, id_token_hint=forged))
    assert redirect_query(response)["error"] == "invalid_request"


def test_id_token_hint_with_bad_signature_is_refused(server, rp, user):
    _, _, token = _id_token(server, rp, user)
    head, body, sig = token["id_token"].split(".")
    tampered = f"{head}.{body}.{sig[:-4]}AAAA"
    response = authorize(server, authorization_params(rp, id_token_hint=tampered))
    assert redirect_query(response)["error"] == "invalid_request"


def test_valid_id_token_hint_with_prompt_none_reuses_the_session(server, rp, user):
    relying, browser, token = _id_token(server, rp, user)
    url, *_ = relying.authorization_url(prompt="none", id_token_hint=token["id_token"])
    response = browser.follow(url, stop_at=relying.redirect_uri)
    assert "code=" in response.headers["Location"]


def test_prompt_login_reauthenticates_and_gives_a_later_auth_time(server, rp, user):
    relying, browser, token = _id_token(server, rp, user)
    first = jwt.decode(token["id_token"], options={"verify_signature": False})["auth_time"]
    time.sleep(1.1)
    url, *_ = relying.authorization_url(prompt="login")
    page = browser.follow(url, stop_at=relying.redirect_uri)
    assert page.status_code == 200 and 'name="password"' in page.text
    result = relying.sign_in(browser, user, prompt="login")
    second_token = relying.redeem(result).json()
    second = jwt.decode(second_token["id_token"], options={"verify_signature": False})
    assert second["auth_time"] > first


def test_max_age_exceeded_forces_sign_in(server, rp, user):
    relying, browser, _ = _id_token(server, rp, user)
    time.sleep(2.1)
    url, *_ = relying.authorization_url(max_age="1")
    page = browser.follow(url, stop_at=relying.redirect_uri)
    assert page.status_code == 200 and 'name="password"' in page.text
    result = relying.sign_in(browser, user, max_age="1")
    assert "code=" in result.location


def test_max_age_not_exceeded_reuses_the_session(server, rp, user):
    relying, browser, _ = _id_token(server, rp, user)
    url, *_ = relying.authorization_url(max_age="600")
    assert "code=" in browser.follow(url, stop_at=relying.redirect_uri).headers["Location"]


def test_login_hint_prefills_the_email(server, rp):
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    url, *_ = relying.authorization_url(login_hint="hinted@example.com")
    page = browser.follow(url, stop_at=relying.redirect_uri)
    assert 'value="hinted@example.com"' in page.text


@pytest.mark.parametrize(
    "hint", ["Call +1 555 0100 to unlock your account", "urgent: reset at evil.example"]
)
def test_a_login_hint_that_is_no_email_address_is_not_shown(server, rp, hint):
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    url, *_ = relying.authorization_url(login_hint=hint)
    page = browser.follow(url, stop_at=relying.redirect_uri)
    assert page.status_code == 200 and 'name="password"' in page.text
    assert hint not in page.text and "555 0100" not in page.text and "evil" not in page.text


def test_max_age_zero_reauthenticates_once_and_then_issues_the_code(server, rp, user):
    relying, browser, _ = _id_token(server, rp, user)
    url, *_ = relying.authorization_url(max_age="0")
    page = browser.follow(url, stop_at=relying.redirect_uri)
    assert page.status_code == 200 and 'name="password"' in page.text
    result = relying.sign_in(browser, user, max_age="0")
    assert "code=" in result.location


def test_prompt_consent_asks_again_for_a_first_party_client(server, rp, user):
    relying, browser, _ = _id_token(server, rp, user)
    url, *_ = relying.authorization_url(prompt="consent")
    page = browser.follow(url, stop_at=relying.redirect_uri)
    assert page.status_code == 200 and 'value="allow"' in page.text
