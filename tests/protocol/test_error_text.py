"""Protocol error text never quotes the request (hardening issue: "never an echo of the raw
value").

Each case sends one parameter of one endpoint with a hostile printable value: an attacker's
sentence with a distinctive core (``ECHO``), quotes, a backslash and markup. The answer must be
the endpoint's refusal in its protocol format (a redirect to the client, a form_post page, the
provider's error page, JSON) with the status and error code the RFC names, and the core must
appear nowhere in it: not in the body, not in the ``Location`` or any other header, in whatever
encoding (the core is letters only, which no encoding changes). The same request with another
sentence gets the same description, word for word: the text is fixed, and where it replaced a
quoted value it names the parameter instead. ``state`` is not sent with the marker: RFC 6749
4.1.2.1 requires "the exact value received from the client" back.

Before the fix, an unsupported ``response_type`` was quoted at the client's redirect URI and on
the error page, an unregistered redirect URI on the error page, and a ``"`` or ``\\`` in either
was a 500 (Authlib refuses those characters in a description it builds from the value).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.oidc import CODE_CHALLENGE

#: Hostile printable values around a distinctive core: an attacker's sentence, and characters
#: RFC 6749 4.1.2.1 forbids in a description (Authlib raised ``ValueError`` building one).
MARKERS = {
    "sentence": "<core>: Please call +1 555 0100 for support <b>now</b>",
    "quotes": '<core> "in quotes" with a back\\slash',
}
#: Two cores: the refusal of a value with either must be the same text.
ECHO, OTHER = "qqEchoMarkerqq", "qqOtherMarkerqq"
#: The ``rp`` fixture's redirect URI, which the unregistered ones extend.
REDIRECT_URI = "http://localhost:9/cb"


@dataclass(frozen=True)
class Case:
    """One request with a marker in ``param`` (where ``value`` says) and the refusal it must
    get."""

    endpoint: str
    param: str
    status: int
    error: str
    extra: dict = field(default_factory=dict)
    method: str = "GET"
    auth: bool = False  # HTTP Basic with the relying party's credentials
    value: str = "<marker>"
    names_param: bool = False  # the description names the parameter (it quoted its value)


AUTHORIZE = [
    Case("/authorize", "response_type", 302, "unsupported_response_type",
         names_param=True),
    Case("/authorize", "response_type", 303, "unsupported_response_type", method="POST",
         names_param=True),
    Case("/authorize", "response_type", 200, "unsupported_response_type",
         extra={"response_mode": "form_post"},
         names_param=True),
    Case("/authorize", "response_type", 400, "unsupported_response_type",
         extra={"redirect_uri": REDIRECT_URI + "/other"},
         names_param=True),
    Case("/authorize", "redirect_uri", 400, "invalid_request", value=f"{REDIRECT_URI}/<marker>",
         names_param=True),
    Case("/authorize", "redirect_uri", 400, "invalid_request", method="POST",
         value=f"{REDIRECT_URI}/<marker>", names_param=True),
    Case("/authorize", "client_id", 400, "invalid_client"),
    Case("/authorize", "scope", 302, "invalid_scope"),
    Case("/authorize", "code_challenge", 302, "invalid_request"),
    Case("/authorize", "code_challenge_method", 302, "invalid_request"),
    Case("/authorize", "prompt", 302, "invalid_request"),
    Case("/authorize", "max_age", 302, "invalid_request"),
    Case("/authorize", "response_mode", 302, "invalid_request"),
    Case("/authorize", "claims", 302, "invalid_request"),
    Case("/authorize", "id_token_hint", 302, "invalid_request"),
    Case("/authorize", "request", 302, "request_not_supported"),
    Case("/authorize", "request_uri", 302, "request_uri_not_supported"),
]  # fmt: skip
TOKEN = [
    Case("/token", "grant_type", 400, "unsupported_grant_type", method="POST", auth=True,
         names_param=True),
    Case("/token", "code", 400, "invalid_grant", method="POST", auth=True,
         extra={"grant_type": "authorization_code"}),
    Case("/token", "code_verifier", 400, "invalid_grant", method="POST", auth=True,
         extra={"grant_type": "authorization_code", "code": "x"}),
    Case("/token", "redirect_uri", 400, "invalid_grant", method="POST", auth=True,
         extra={"grant_type": "authorization_code", "code": "x"}),
    Case("/token", "refresh_token", 400, "invalid_grant", method="POST", auth=True,
         extra={"grant_type": "refresh_token"}),
    Case("/token", "scope", 400, "invalid_scope", method="POST", auth=True,
         extra={"grant_type": "client_credentials"}),
    Case("/token", "client_id", 400, "invalid_client", method="POST",
         extra={"grant_type": "client_credentials", "client_secret": "x"}),
    Case("/token", "client_secret", 400, "invalid_client", method="POST",
         extra={"grant_type": "client_credentials", "client_id": "nobody"}),
]  # fmt: skip
TOKEN_MANAGEMENT = [
    case
    for endpoint in ("/revoke", "/introspect")
    for case in (
        Case(endpoint, "token_type_hint", 400, "unsupported_token_type", method="POST",
             auth=True, extra={"token": "x"},
             names_param=True),
        Case(endpoint, "client_id", 400, "invalid_client", method="POST", extra={"token": "x"}),
    )
]  # fmt: skip
LOGOUT = [
    Case("/logout", "id_token_hint", 400, "invalid_request"),
    Case("/logout", "post_logout_redirect_uri", 400, "invalid_request"),
]
USERINFO = [Case("/userinfo", "access_token", 401, "invalid_token", method="POST")]
CASES = AUTHORIZE + TOKEN + TOKEN_MANAGEMENT + LOGOUT + USERINFO


def _id(case: Case) -> str:
    where = "+".join(f"{k}={v}" for k, v in case.extra.items() if k != "token")
    return f"{case.method} {case.endpoint} {case.param}" + (f" ({where})" if where else "")


@pytest.fixture(scope="module")
def machine(server) -> dict:
    """A confidential client allowed the client credentials grant."""
    return server.create_client(
        "--name", "Echo machine", "--redirect-uri", REDIRECT_URI + "/machine",
        "--grant-type", "client_credentials",
    )  # fmt: skip


def _request(server, rp, machine, case: Case, marker: str) -> requests.Response:
    """``case``'s request with ``marker`` in its parameter."""
    params = dict(case.extra)
    client = machine if params.get("grant_type") == "client_credentials" else rp
    if case.endpoint == "/authorize":
        params = {
            "response_type": "code", "client_id": rp["client_id"],
            "redirect_uri": rp["redirect_uris"][0],
            "scope": "openid", "state": "st", "code_challenge": CODE_CHALLENGE,
            "code_challenge_method": "S256", **params,
        }  # fmt: skip
    elif case.endpoint == "/logout":
        params["client_id"] = rp["client_id"]
    params[case.param] = case.value.replace("<marker>", marker)
    auth = (client["client_id"], client["client_secret"]) if case.auth else None
    url = server.url + case.endpoint
    if case.method == "GET":
        return requests.get(url, params=params, auth=auth, allow_redirects=False, timeout=30)
    return requests.post(url, data=params, auth=auth, allow_redirects=False, timeout=30)


def _refusal(response: requests.Response) -> tuple[str, str | None]:
    """The error code and description, read where the endpoint's format puts them."""
    if response.status_code in (302, 303):
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        assert query["state"] == ["st"]  # RFC 6749 4.1.2.1: the one value sent back
        return query["error"][0], query.get("error_description", [None])[0]
    if response.headers["Content-Type"].startswith("application/json"):
        body = response.json()
        return body["error"], body.get("error_description")
    html = response.text
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    if hidden:  # a form_post page (OAuth 2.0 Form Post Response Mode 2)
        return unescape(hidden["error"]), unescape(hidden.get("error_description", "")) or None
    code = re.search(r"Error code: <code>([^<]+)</code>", html)
    assert code, html[-600:]
    text = re.search(r'<div role="alert">\s*<p>([^<]*)</p>', html)
    return code.group(1), unescape(text.group(1)) if text else None


def _assert_not_echoed(response: requests.Response, core: str) -> None:
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    assert core not in headers, headers
    assert core not in response.text, response.text[-600:]


@pytest.mark.parametrize("marker", MARKERS.values(), ids=MARKERS.keys())
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_a_hostile_value_is_refused_in_the_protocol_format_and_never_echoed(
    server, rp, machine, case, marker
):
    response = _request(server, rp, machine, case, marker.replace("<core>", ECHO))
    assert response.status_code == case.status, response.text[-600:]
    _assert_not_echoed(response, ECHO)
    error, description = _refusal(response)
    assert error == case.error
    other = _request(server, rp, machine, case, marker.replace("<core>", OTHER))
    _assert_not_echoed(other, OTHER)
    assert _refusal(other) == (error, description)  # fixed text, whatever the value
    if case.names_param:
        assert description and case.param in description, description


def _basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:x".encode()).decode()


@pytest.mark.parametrize("marker", MARKERS.values(), ids=MARKERS.keys())
@pytest.mark.parametrize(
    ("endpoint", "method", "scheme", "status", "error"),
    [
        ("/userinfo", "GET", "Bearer {}".format, 401, "invalid_token"),
        ("/token", "POST", _basic, 401, "invalid_client"),
    ],
    ids=["userinfo bearer token", "token basic credentials"],
)
def test_hostile_credentials_in_the_authorization_header_are_never_echoed(
    server, endpoint, method, scheme, status, error, marker
):
    authorization = scheme(marker.replace("<core>", ECHO))
    response = requests.request(
        method,
        server.url + endpoint,
        data={"grant_type": "client_credentials"} if method == "POST" else None,
        headers={"Authorization": authorization},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == status and response.json()["error"] == error
    _assert_not_echoed(response, ECHO)
