"""What the authorization endpoint sends back, and how: nothing it does not implement is ignored.

* ``iss`` in every authorization response, code or error (RFC 9207 section 2), advertised in
  discovery (section 3).
* ``response_mode=form_post`` (OAuth 2.0 Form Post Response Mode): a page whose form posts the
  response to the redirect URI; any other mode but ``query`` is ``invalid_request``.
* Request objects (``request``, ``request_uri``) are refused with ``request_not_supported`` /
  ``request_uri_not_supported`` (OIDC Core 6.1, 6.2) instead of being dropped with the
  requirements they carry.
"""

from __future__ import annotations

from html.parser import HTMLParser

import jwt
import pytest
import requests

from tests.support.oidc import (
    HostedPages,
    RelyingParty,
    authorization_params,
    authorize,
    csrf_token,
    redirect_query,
)

MFA = "urn:idp:acr:mfa"


class _FormPage(HTMLParser):
    """The forms, inputs and scripts of a page, as a browser's parser sees them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.scripts: list[dict] = []
        self.buttons: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({**attributes, "inputs": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append((attributes["name"], attributes["value"]))
        elif tag == "script":
            self.scripts.append(attributes)
        elif tag == "button":
            self.buttons.append(attributes)


def _query(response: requests.Response) -> dict:
    assert response.status_code in (302, 303), response.text[:500]
    return redirect_query(response)


def _posted(response: requests.Response) -> tuple[dict, dict]:
    """The one form of a form_post page, and the parameters it posts."""
    assert response.status_code == 200 and "Location" not in response.headers
    (form,) = _FormPage(response.text).forms
    return form, dict(form["inputs"])


def _signed_in(server, rp, user) -> tuple[RelyingParty, HostedPages]:
    """A browser with a password-only session at the provider."""
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    assert "code=" in relying.sign_in(browser, user).location
    return relying, browser


def test_discovery_advertises_form_post_and_the_iss_parameter(server):
    meta = requests.get(server.url + "/.well-known/openid-configuration").json()
    assert meta["response_modes_supported"] == ["query", "form_post"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["request_parameter_supported"] is False
    assert meta["request_uri_parameter_supported"] is False


def test_code_response_names_the_issuer(server, rp, user):
    result = RelyingParty(server, rp).sign_in(HostedPages(server.url), user)
    assert result.params["iss"] == server.url
    assert result.params["code"] and result.params["state"] == result.state


def test_error_response_names_the_issuer(server, rp):
    params = _query(authorize(server, authorization_params(rp, prompt="none")))
    assert params == {
        "error": "login_required",
        "error_description": params["error_description"],
        "state": "st",
        "iss": server.url,
    }


def test_request_object_with_requirements_is_refused_not_ignored(server, rp, user):
    """The essential acr and max_age inside must not be dropped for a password-only code."""
    relying, browser = _signed_in(server, rp, user)
    request_object = jwt.encode(
        {"max_age": 0, "claims": {"id_token": {"acr": {"essential": True, "value": MFA}}}},
        None,
        algorithm="none",
    )
    url, state, *_ = relying.authorization_url(request=request_object)
    params = _query(browser.get(url, allow_redirects=False))
    assert "code" not in params
    assert params["error"] == "request_not_supported"
    assert params["state"] == state and params["iss"] == server.url


def test_request_uri_is_refused_not_ignored(server, rp, user):
    relying, browser = _signed_in(server, rp, user)
    url, state, *_ = relying.authorization_url(request_uri="https://rp.example/request.jwt")
    params = _query(browser.get(url, allow_redirects=False))
    assert "code" not in params
    assert params["error"] == "request_uri_not_supported"
    assert params["state"] == state and params["iss"] == server.url


def test_request_object_refusal_comes_before_what_the_object_may_hold(server, public_rp):
    """A public client's PKCE challenge may sit inside the object: the refusal says why."""
    params = authorization_params(public_rp, request="e30.e30.")
    del params["code_challenge"], params["code_challenge_method"]
    assert _query(authorize(server, params))["error"] == "request_not_supported"


def test_request_object_with_an_unregistered_redirect_uri_stays_on_the_error_page(server, rp):
    params = authorization_params(rp, request="e30.e30.", redirect_uri="http://localhost:9/evil")
    response = authorize(server, params)
    assert response.status_code == 400 and "Location" not in response.headers


@pytest.mark.parametrize("mode", ["fragment", "query.jwt", "web_message", "Form_Post"])
def test_unknown_response_mode_is_invalid_request_in_the_query(server, rp, mode):
    params = _query(authorize(server, authorization_params(rp, response_mode=mode)))
    assert params["error"] == "invalid_request" and "response_mode" in params["error_description"]
    assert params["state"] == "st" and params["iss"] == server.url


def test_form_post_delivers_the_code_in_a_self_posting_page(server, rp, user):
    relying, browser = _signed_in(server, rp, user)
    url, state, nonce, verifier = relying.authorization_url(response_mode="form_post")
    response = browser.get(url, allow_redirects=False)
    form, posted = _posted(response)
    assert form["action"] == relying.redirect_uri and form["method"] == "post"
    assert set(posted) == {"code", "state", "iss"}
    assert posted["state"] == state and posted["iss"] == server.url
    page = _FormPage(response.text)
    assert page.buttons[0]["type"] == "submit"  # works without JavaScript
    assert [s["src"] for s in page.scripts] == ["/static/form_post.js"]
    assert "<script>" not in response.text  # no inline script: the site CSP forbids it
    token = relying.post(
        relying.meta["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": posted["code"],
            "redirect_uri": relying.redirect_uri,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    relying.verify_id_token(token.json()["id_token"], nonce, token.json()["access_token"])


def test_form_post_page_may_post_only_to_the_redirect_uris_origin_and_is_never_stored(
    server, rp, user
):
    relying, browser = _signed_in(server, rp, user)
    url, *_ = relying.authorization_url(response_mode="form_post")
    response = browser.get(url, allow_redirects=False)
    directives = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert directives["form-action"] == "http://localhost:9"
    assert directives["script-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_form_post_delivers_errors_with_state_and_issuer(server, rp):
    response = authorize(server, authorization_params(rp, prompt="none", response_mode="form_post"))
    form, posted = _posted(response)
    assert form["action"] == rp["redirect_uris"][0]
    assert posted["error"] == "login_required"
    assert posted["state"] == "st" and posted["iss"] == server.url


def test_form_post_values_are_html_escaped(server, rp):
    state = '"><script>alert(\'x\')</script><input name="code" value="forged'
    response = authorize(
        server, authorization_params(rp, prompt="none", response_mode="form_post", state=state)
    )
    _, posted = _posted(response)
    assert posted["state"] == state and "code" not in posted
    assert "<script>alert" not in response.text


def test_redirect_uri_query_stays_in_the_uri_and_is_not_posted_as_a_parameter(server, user):
    uri = "http://localhost:9/cb?tenant=a"
    client = server.create_client("--name", "Query RP", "--redirect-uri", uri, "--first-party")
    relying, browser = _signed_in(server, client, user)
    query = _query(browser.get(relying.authorization_url()[0], allow_redirects=False))
    assert query["tenant"] == "a" and query["code"] and query["iss"] == server.url
    response = browser.get(relying.authorization_url(response_mode="form_post")[0])
    form, posted = _posted(response)
    assert form["action"] == uri
    assert set(posted) == {"code", "state", "iss"}


def test_form_post_to_a_private_use_scheme_is_invalid_request_in_the_query(server):
    client = server.create_client(
        "--name", "Native RP", "--redirect-uri", "com.example.app:/cb", "--first-party"
    )  # fmt: skip
    params = _query(authorize(server, authorization_params(client, response_mode="form_post")))
    assert params["error"] == "invalid_request" and "form_post" in params["error_description"]


def test_form_post_survives_the_sign_in_pages(server, rp, user):
    """The mode is part of the remembered request, so the code comes back as asked."""
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    result = relying.sign_in(browser, user, response_mode="form_post")
    form, posted = _posted(result.response)
    assert form["action"] == relying.redirect_uri
    assert posted["code"] and posted["state"] == result.state


def test_consent_denied_with_form_post_posts_access_denied(server, rp, user):
    third_party = server.create_client(
        "--name", "Third party", "--redirect-uri", "http://localhost:9/tp"
    )  # fmt: skip
    _, browser = _signed_in(server, rp, user)
    url, state, *_ = RelyingParty(server, third_party).authorization_url(response_mode="form_post")
    page = browser.get(url)
    assert 'value="deny"' in page.text
    answer = {"csrf_token": csrf_token(page.text), "consent": "deny"}
    response = browser.post(url, data=answer, allow_redirects=False)
    _, posted = _posted(response)
    assert posted["error"] == "access_denied" and posted["state"] == state
