"""A real OIDC client (Authlib's requests client) and a browser stand-in for the hosted pages.

``HostedPages`` is a ``requests.Session`` that fills the real HTML forms (CSRF token included),
as a person without JavaScript would. ``RelyingParty`` builds authorization requests with PKCE,
redeems codes, and verifies ID tokens against the JWKS with PyJWT (signature, iss, aud, exp, iat,
nonce, at_hash).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    assert match, "page has no CSRF token"
    return unescape(match.group(1))


class HostedPages(requests.Session):
    """The user's browser on the provider's pages; redirects are followed by hand."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def follow(self, url: str, stop_at: str, limit: int = 10) -> requests.Response:
        """GET ``url`` and follow redirects until one leaves for ``stop_at`` (not fetched)."""
        response = self.get(url, allow_redirects=False)
        for _ in range(limit):
            location = response.headers.get("Location")
            if not location or location.startswith(stop_at):
                return response
            response = self.get(urljoin(response.url, location), allow_redirects=False)
        raise AssertionError("too many redirects")

    def submit_login(self, page: requests.Response, email: str, password: str, stop_at: str):
        """Fill the sign-in form on ``page`` and follow where it leads."""
        next_value = re.search(r'name="next"[^>]*value="([^"]*)"', page.text)
        data = {
            "csrf_token": csrf_token(page.text),
            "email": email,
            "password": password,
            "next": unescape(next_value.group(1)) if next_value else "",
        }
        response = self.post(self.base + "/login", data=data, allow_redirects=False)
        if response.status_code != 303:
            return response
        return self.follow(urljoin(self.base, response.headers["Location"]), stop_at)


#: A well-formed S256 ``code_challenge`` (RFC 7636 Appendix B), for requests whose code is
#: never redeemed.
CODE_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuJWTM0zc3E"


def authorization_params(rp: dict, *, pkce: bool = True, **extra) -> dict:
    """An authorization request of ``rp`` for a code (state ``st``), PKCE included unless not
    wanted; ``extra`` adds or replaces parameters."""
    params = {
        "response_type": "code",
        "client_id": rp["client_id"],
        "redirect_uri": rp["redirect_uris"][0],
        "scope": "openid",
        "state": "st",
    }
    if pkce:
        params |= {"code_challenge": CODE_CHALLENGE, "code_challenge_method": "S256"}
    return {**params, **extra}


def authorize(server, params, session: requests.Session | None = None) -> requests.Response:
    """GET /authorize with ``params`` (a dict, or pairs to repeat one), no redirect followed."""
    session = session or requests.Session()
    return session.get(server.url + "/authorize", params=params, allow_redirects=False)


def redirect_query(response: requests.Response) -> dict:
    """The parameters of a redirect's Location (each once)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    return unescape(match.group(1)) if match else ""


def submit_code(browser: HostedPages, page: requests.Response, code: str, stop_at: str):
    """Answer the second-factor page shown in ``page`` and follow where it leads."""
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    data = {
        "csrf_token": csrf_token(page.text),
        "challenge": hidden(page.text, "challenge"),
        "next": hidden(page.text, "next"),
        "code": code,
    }
    response = browser.post(
        urljoin(browser.base, unescape(action)), data=data, allow_redirects=False
    )
    if response.status_code != 303:
        return response
    return browser.follow(urljoin(browser.base, response.headers["Location"]), stop_at)


@dataclass
class AuthorizationResult:
    response: requests.Response
    state: str
    nonce: str
    verifier: str

    @property
    def location(self) -> str:
        return self.response.headers.get("Location", "")

    @property
    def params(self) -> dict:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.location).query).items()}


class RelyingParty:
    """One registered client, driving the flow through discovery like a real RP library."""

    def __init__(self, server, client: dict, scope: str = "openid email profile offline_access"):
        self.server = server
        self.client = client
        self.redirect_uri = client["redirect_uris"][0]
        self.meta = requests.get(server.url + "/.well-known/openid-configuration").json()
        self.session = OAuth2Session(
            client["client_id"],
            client.get("client_secret"),
            scope=scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic"
            if client.get("client_secret")
            else "none",
        )

    def authorization_url(self, **params) -> tuple[str, str, str, str]:
        verifier, nonce = generate_token(48), generate_token(16)
        url, state = self.session.create_authorization_url(
            self.meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **params
        )
        return url, state, nonce, verifier

    def sign_in(self, browser: HostedPages, user: dict, **params) -> AuthorizationResult:
        """Authorize; if the provider shows its sign-in form, fill it in."""
        url, state, nonce, verifier = self.authorization_url(**params)
        response = browser.follow(url, stop_at=self.redirect_uri)
        if response.status_code == 200 and 'name="password"' in response.text:
            response = browser.submit_login(
                response, user["email"], user["password"], stop_at=self.redirect_uri
            )
        return AuthorizationResult(response, state, nonce, verifier)

    def redeem(self, result: AuthorizationResult, **extra) -> requests.Response:
        """POST the code to the token endpoint (raw, so tests can read errors)."""
        data = {
            "grant_type": "authorization_code",
            "code": result.params["code"],
            "redirect_uri": self.redirect_uri,
            "code_verifier": result.verifier,
            **extra,
        }
        data = {k: v for k, v in data.items() if v is not None}
        return self.post(self.meta["token_endpoint"], data)

    def post(self, url: str, data: dict) -> requests.Response:
        auth = None
        if self.client.get("client_secret"):
            auth = (self.client["client_id"], self.client["client_secret"])
        else:
            data = {**data, "client_id": self.client["client_id"]}
        return requests.post(url, data=data, auth=auth, timeout=30)

    def verify_id_token(self, id_token: str, nonce: str | None, access_token: str | None) -> dict:
        jwks = jwt.PyJWKClient(self.meta["jwks_uri"])
        key = jwks.get_signing_key_from_jwt(id_token)
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=self.meta["id_token_signing_alg_values_supported"],
            audience=self.client["client_id"],
            issuer=self.meta["issuer"],
            options={"require": ["exp", "iat", "auth_time", "sub"]},
        )
        if nonce is not None:
            assert claims["nonce"] == nonce
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode()).digest()
            expected = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
            assert claims["at_hash"] == expected
        return claims


def machine_client(
    server, *options: str, name: str = "Machine", scopes: tuple[str, ...] = (),
    resources: tuple[str, ...] = (),
) -> dict:  # fmt: skip
    """A confidential client_credentials client registered with ``idp clients create`` (its
    ``client_secret`` included); ``options``: more of that command's options."""
    args = ["--name", name, "--grant-type", "client_credentials"]
    args += [a for s in scopes for a in ("--scope", s)]
    args += [a for r in resources for a in ("--resource", r)]
    return server.create_client(*args, *options)


def client_credentials_response(server, machine: dict, **params: str) -> requests.Response:
    """The token endpoint's answer to ``machine`` (client_credentials, client_secret_basic);
    ``params``: more of the request's parameters (``scope``, ``resource``)."""
    return requests.post(
        server.url + "/token",
        data={"grant_type": "client_credentials", **params},
        auth=(machine["client_id"], machine["client_secret"]),
        timeout=30,
    )


def client_credentials_token(server, machine: dict, **params: str) -> str:
    """An access token for a machine client (client_credentials, client_secret_basic)."""
    response = client_credentials_response(server, machine, **params)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]
