"""Malformed input, thrown at every route of the provider, never breaks it (Hypothesis).

Every route of ``app.url_map`` (but ``/static``), with each of its methods, gets requests made
of arbitrary values: any Unicode in any query parameter, form field, JSON member, header, cookie
or path segment (NUL, CR/LF and other control characters included), raw non-UTF-8 bytes,
duplicated parameters, oversized values, deeply nested JSON, ``Authorization`` headers (Bearer
with any text, Basic with any bytes), ids far beyond any row. Each request is a valid request of
its endpoint (real client ids, redirect URIs, this browser's CSRF token, a live access token...)
with some of its parameters replaced, repeated or dropped, or is built from nothing, so the
malformed value reaches the code behind the CSRF check and the client authentication too.

The app is the real one (``create_app``) in this process on a migrated database, SQLite and
PostgreSQL (values SQLite stores and PostgreSQL refuses, a NUL character or a value longer
than its column, fail only there), driven through Flask's test client. The requests come from
five browsers: none (no cookie), a visitor with a CSRF token, a visitor with an authorization
request waiting for sign-in, a user signed in with a password (the account pages), and a user
who still owes the second factor of a TOTP factor (``/mfa/<id>``).

What every answer must be:

- a status below 500, and no ``Traceback`` in the body;
- no echo of a raw value: a marker (``fz`` + four digits + a control character: NUL, LF, CR,
  ESC, DEL, NEL or U+2028) must not appear verbatim in the body or in a header;
- nothing written to the database but counters, measured as row counts of every table before
  and after the request. Allowed anywhere: ``rate_limit_counters`` and ``password_failures``
  (the rate limit and the per-account password back-off count attempts, failed ones too),
  ``browser_state`` (the browser's session: a CSRF token, a waiting request), and
  new ``audit_events`` rows whose outcome is not ``success`` (a failed sign-in is audited by
  design). Every other table must keep its row count, and no ``success`` audit row may appear,
  except for what an endpoint exists to write (``BY_DESIGN``): a page that asks for a second
  factor issues a fresh challenge each time it is shown, a valid sign-in starts a session, a
  revocation is audited. A row count does not see an UPDATE: this check is about rows created
  or deleted.

A failure names the route, the backend, the status, the exception the app logged (file, line,
type and message) and the request as sent; each kind of failure (each exception type of a 500,
an echo, a write) is its own exception class, so Hypothesis reports them separately.

Bounded for ``make test`` (20 to 30 s per backend on two cores): 30 examples per route and
method, no deadline, no example database, derandomized (the same examples on every run of the
same code: Hypothesis also mixes in literals of the loaded project modules, so changing the
code or the set of tests run may change them), and no shrinking, which costs seconds to
minutes per failure. The falsifying example is printed with its ``@reproduce_failure`` blob
(``print_blob``). To chase a failure, ``IDP_FUZZ_PROFILE=fuzz-debug`` runs 400 examples per
route and shrinks each failure to a minimal request; a node id such as
``"tests/protocol/test_fuzz.py::test_malformed_input_never_breaks_a_route[sqlite-POST /token]"``
runs one route on one backend.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
import traceback
from dataclasses import dataclass
from urllib.parse import parse_qs, quote_from_bytes, urlsplit

import pyotp
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text
from werkzeug.datastructures import MultiDict

import idp.db as schema
from idp import random_tokens
from idp.accounts import users
from idp.app import create_app
from idp.clock import now
from idp.extensions import db
from idp.factors import backup_codes, lifecycle, totp
from idp.models import BrowserStateValue, Factor
from idp.models.factor import FactorStatus
from idp.oauth2.registration import register
from tests.support.oidc import csrf_token
from tests.support.postgres import create_database

#: ``make test``: a fixed number of derandomized examples per route and backend, no shrinking
#: (shrinking a failure costs seconds to minutes; ``fuzz-debug`` does it).
settings.register_profile(
    "fuzz",
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
#: Chasing a failure: more examples, and each failure shrunk to a minimal request.
settings.register_profile(
    "fuzz-debug",
    settings.get_profile("fuzz"),
    max_examples=400,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)
FUZZ = settings.get_profile(os.environ.get("IDP_FUZZ_PROFILE", "fuzz"))

PASSWORD = "correct horse battery staple"  # carol's, which the fuzz may send
#: The browsers' own users, whose passwords the fuzz never sends (it must not sign them out).
BROWSER_USERS = {"signed_in": "alice@example.com", "owes_mfa": "bob@example.com"}
BROWSER_PASSWORD = "a password only the browsers know"
REDIRECT_URI = "http://localhost:9/cb"
PUBLIC_REDIRECT_URI = "http://localhost:9/spa"
POST_LOGOUT_URI = "http://localhost:9/bye"
UNLIMITED = 10**9

# --- what may be written -------------------------------------------------------------------

#: Tables any request may change: counters of attempts, failed ones included, and the browser's
#: session (what a cookie held before it moved server-side: a CSRF token, a waiting request).
COUNTERS = frozenset({"rate_limit_counters", "password_failures", "browser_state"})
#: What an endpoint exists to write, whatever else the request carries ("audit_events": rows of
#: any outcome). Every endpoint not named here writes nothing but ``COUNTERS`` and failure rows.
BY_DESIGN: dict[str, frozenset[str]] = {
    # a valid sign-in or registration starts a session (the fuzz knows one user's password)
    "auth.login": frozenset({"login_sessions", "authentication_events", "audit_events"}),
    "auth.register": frozenset(
        {"users", "login_sessions", "authentication_events", "audit_events"}
    ),
    "auth.forgot_password": frozenset({"password_resets", "audit_events"}),
    "auth.reset_password": frozenset({"audit_events"}),
    # the signed-in browser may change its profile and ask for an email change
    "account.profile": frozenset({"audit_events"}),
    "account.change_email": frozenset({"email_changes", "audit_events"}),
    "account.confirm_email": frozenset({"audit_events"}),
    # a valid authorization request issues a code; a consent or a cancel is audited
    "oauth.authorize": frozenset({"authorization_codes", "consents", "audit_events"}),
    "oauth.end_session": frozenset({"audit_events"}),
    "oauth.confirm_end_session": frozenset({"audit_events"}),
    "oauth.revoke": frozenset({"audit_events"}),
    # each showing of a second-factor or enrollment step issues a challenge (audited)
    "mfa.verify": frozenset({"challenges", "audit_events"}),
    "code_signin.verify": frozenset({"challenges", "audit_events"}),
    "code_signin.resend": frozenset({"challenges", "audit_events"}),
    "passkey_signin.second_factor_options": frozenset({"challenges", "audit_events"}),
    "passkeys.register_options": frozenset({"challenges", "audit_events"}),
    "security.enroll_totp": frozenset({"factors", "challenges", "audit_events"}),
    "delivery.enroll_email": frozenset({"factors", "challenges", "audit_events"}),
    "delivery.enroll_sms": frozenset({"factors", "challenges", "audit_events"}),
    "delivery.enroll_code": frozenset({"challenges", "audit_events"}),
    "delivery.enroll_resend": frozenset({"challenges", "audit_events"}),
    "enroll.skip": frozenset({"audit_events"}),
    # a browser past the password step may ask for recovery, and withdraw what it asked
    "recovery.ask": frozenset({"recovery_requests", "audit_events"}),
    "recovery.cancel": frozenset({"recovery_requests", "audit_events"}),
}

# --- the routes ----------------------------------------------------------------------------

_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


def _routes() -> list[tuple[str, str, str]]:
    """(rule, method, endpoint) of every route but static files, from a throwaway app."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"INSTANCE_PATH": folder, "DATABASE_URL": f"sqlite:///{folder}/routes.db"})
        found = {
            (rule.rule, method, rule.endpoint)
            for rule in app.url_map.iter_rules()
            if rule.endpoint != "static"
            for method in rule.methods - {"HEAD", "OPTIONS"}
        }
    return sorted(found)


ROUTES = _routes()

# --- values only the running provider knows ------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A value of the provider under test (a client id, this browser's CSRF token...)."""

    name: str

    def __repr__(self) -> str:
        return f"<{self.name}>"


@dataclass(frozen=True)
class Big:
    """An oversized value: ``unit`` repeated ``times`` (printed short)."""

    unit: str
    times: int

    def __repr__(self) -> str:
        return f"Big({self.unit!r} * {self.times})"


@dataclass(frozen=True)
class Nested:
    """JSON nested ``depth`` levels deep, as text (``claims``, a ceremony's body)."""

    depth: int
    shape: str

    def __repr__(self) -> str:
        return f"Nested({self.shape}, depth={self.depth})"

    def render(self) -> str:
        if self.shape == "list":
            return "[" * self.depth + "]" * self.depth
        if self.shape == "claims":
            inner = '{"a":' * self.depth + "1" + "}" * self.depth
            return '{"id_token":{"acr":{"essential":true,"values":' + inner + "}}}"
        return '{"a":' * self.depth + "1" + "}" * self.depth


@dataclass(frozen=True)
class Basic:
    """An HTTP Basic ``Authorization`` value of any user and password (refs, text, bytes)."""

    user: object
    password: object

    def __repr__(self) -> str:
        return f"Basic({self.user!r}:{self.password!r})"


Value = str | bytes | Ref | Big | Nested

# --- strategies ----------------------------------------------------------------------------

UNICODE = st.characters(codec="utf-8")  # any character UTF-8 can encode (no lone surrogates)
#: A value that must never come back verbatim: ``fz`` + 4 digits + a control character.
MARKER = re.compile("fz[0-9]{4}[\x00\n\r\x1b\x7f\x85\u2028]")
CONTROLS = ["\x00", "\n", "\r\n", "\x1b", "\x7f", "\x85", "\u2028"]
HEADER_CONTROLS = ["\x1b", "\x7f", "\x85"]  # no server hands NUL, CR or LF to the app

markers = st.builds(
    lambda n, c, tail: f"fz{n:04d}{c}{tail}",
    st.integers(0, 9999),
    st.sampled_from(CONTROLS),
    st.text("abcxyz0189", max_size=6),
)
header_markers = st.builds(
    lambda n, c: f"fz{n:04d}{c}end", st.integers(0, 9999), st.sampled_from(HEADER_CONTROLS)
)
oversized = st.builds(Big, st.text(UNICODE, min_size=1, max_size=3), st.integers(300, 1500))
nested = st.builds(Nested, st.integers(1, 5000), st.sampled_from(["object", "list", "claims"]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(UNICODE),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
).map(json.dumps)
numbers = st.sampled_from(
    ["-1", "0", "00", str(2**31), str(2**63), str(2**64), "1e309", "NaN", "١٢", "9" * 40]
) | st.integers().map(str)

REFS = [
    "client_id", "client_secret", "redirect_uri", "public_client_id", "public_redirect_uri",
    "post_logout_redirect_uri", "code_challenge", "code_verifier", "access_token", "id_token",
    "used_code", "email", "password", "new_password", "csrf", "next", "factor_id",
    "backup_factor_id", "reset_secret", "email_secret",
]  # fmt: skip
refs = st.sampled_from(REFS).map(Ref)


def _around(middle: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Some text, ``middle``, more text."""
    return st.builds(
        lambda a, m, b: a + m + b,
        st.text(UNICODE, max_size=6),
        middle,
        st.text(UNICODE, max_size=6),
    )


#: Values no endpoint should accept as they are: what the checks must catch.
hostile: st.SearchStrategy[Value] = st.one_of(
    _around(st.just("\x00")),  # PostgreSQL text cannot hold NUL
    markers,
    _around(st.sampled_from(CONTROLS)),
    oversized,  # longer than any column
    st.binary(min_size=1, max_size=16),  # not UTF-8
    nested,
    numbers,
    st.text(UNICODE, min_size=1, max_size=30),
)
values: st.SearchStrategy[Value] = st.one_of(
    hostile,
    refs,
    json_values,
    st.sampled_from(["code", "S256", "plain", "openid", "form_post", "none", "login", "true", ""]),
)

#: Parameter names of OAuth 2.0, OIDC and the hosted pages' forms.
PARAM_NAMES = [
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
    "code_challenge_method", "prompt", "max_age", "acr_values", "claims", "id_token_hint",
    "login_hint", "response_mode", "request", "request_uri", "grant_type", "code",
    "code_verifier", "refresh_token", "token", "token_type_hint", "client_secret",
    "client_assertion", "client_assertion_type", "access_token", "post_logout_redirect_uri",
    "ui_locales", "resource", "email", "password", "current_password", "confirm", "name",
    "phone", "challenge", "next", "remember", "csrf_token", "consent", "cancel", "credential",
]  # fmt: skip
names = st.one_of(
    st.sampled_from(PARAM_NAMES), st.text(UNICODE, max_size=12), st.binary(min_size=1, max_size=8)
)

AUTHORIZE = [
    ("response_type", "code"),
    ("scope", "openid profile email"),
    ("state", "s1"),
    ("nonce", "n1"),
    ("code_challenge", Ref("code_challenge")),
    ("code_challenge_method", "S256"),
]
CODE_FORM = [("code", "123456"), ("challenge", "x"), ("next", Ref("next")), ("remember", "y")]
#: A valid request of each endpoint (the fuzz starts from one of these, or from nothing).
TEMPLATES: dict[str, list[list[tuple[str, Value]]]] = {
    "oauth.authorize": [
        [("client_id", Ref("public_client_id")), ("redirect_uri", Ref("public_redirect_uri")),
         *AUTHORIZE],
        [("client_id", Ref("client_id")), ("redirect_uri", Ref("redirect_uri")), *AUTHORIZE,
         ("response_mode", "form_post"), ("prompt", "login"), ("max_age", "0")],
        [("client_id", Ref("public_client_id")), ("redirect_uri", Ref("public_redirect_uri")),
         *AUTHORIZE, ("consent", "allow"), ("csrf_token", Ref("csrf"))],
    ],
    "oauth.token": [
        [("grant_type", "authorization_code"), ("code", Ref("used_code")),
         ("redirect_uri", Ref("redirect_uri")), ("code_verifier", Ref("code_verifier"))],
        [("grant_type", "refresh_token"), ("refresh_token", "x" * 43)],
        [("grant_type", "client_credentials"), ("client_id", Ref("client_id")),
         ("client_secret", Ref("client_secret"))],
    ],
    "oauth.revoke": [[("token", Ref("access_token")), ("token_type_hint", "access_token")]],
    "oauth.introspect": [[("token", Ref("access_token")), ("token_type_hint", "access_token")]],
    "oauth.userinfo": [[("access_token", Ref("access_token"))]],
    "oauth.end_session": [
        [("id_token_hint", Ref("id_token")),
         ("post_logout_redirect_uri", Ref("post_logout_redirect_uri")), ("state", "s1")],
        [("client_id", Ref("client_id")), ("ui_locales", "en")],
    ],
    "auth.login": [
        [("csrf_token", Ref("csrf")), ("email", Ref("email")), ("password", Ref("password")),
         ("next", Ref("next"))],
    ],
    "auth.register": [
        [("csrf_token", Ref("csrf")), ("name", "N"), ("email", "new@example.com"),
         ("password", Ref("new_password")), ("next", Ref("next"))],
    ],
    "auth.forgot_password": [[("csrf_token", Ref("csrf")), ("email", Ref("email"))]],
    "auth.reset_password": [
        [("csrf_token", Ref("csrf")), ("password", Ref("new_password")),
         ("confirm", Ref("new_password"))],
    ],
    "account.profile": [[("csrf_token", Ref("csrf")), ("name", "Alice")]],
    "account.change_email": [[("csrf_token", Ref("csrf")), ("email", "other@example.com")]],
    "account.change_password": [
        [("csrf_token", Ref("csrf")), ("current_password", Ref("password")),
         ("password", Ref("new_password")), ("confirm", Ref("new_password"))],
    ],
    "mfa.verify": [[("csrf_token", Ref("csrf")), *CODE_FORM]],
    "code_signin.verify": [[("csrf_token", Ref("csrf")), *CODE_FORM]],
    "delivery.enroll_code": [[("csrf_token", Ref("csrf")), *CODE_FORM]],
    "security.enroll_totp": [
        [("csrf_token", Ref("csrf")), ("name", "Phone"), ("code", "123456"), ("challenge", "x")],
    ],
    "security.rename": [[("csrf_token", Ref("csrf")), ("name", "Phone")]],
    "delivery.enroll_email": [
        [("csrf_token", Ref("csrf")), ("name", "Mail"), ("email", "me@example.com")],
    ],
    "delivery.enroll_sms": [
        [("csrf_token", Ref("csrf")), ("name", "Phone"), ("phone", "+44 7700 900123")],
    ],
    "passkeys.register_verify": [
        [("challenge", "x"), ("name", "Key"), ("credential", '{"id": "x"}')],
    ],
    "passkey_signin.verify": [[("credential", '{"id": "x", "response": {}}'), ("next", "x")]],
    "passkey_signin.second_factor_verify": [
        [("challenge", "x"), ("credential", '{"id": "x"}'), ("remember", "true")],
    ],
}  # fmt: skip
#: Endpoints that read a JSON body (a WebAuthn ceremony), with the CSRF token in a header.
JSON_ENDPOINTS = {
    "passkeys.register_options",
    "passkeys.register_verify",
    "passkey_signin.options",
    "passkey_signin.verify",
    "passkey_signin.second_factor_options",
    "passkey_signin.second_factor_verify",
}
#: The protocol endpoints, which take no CSRF token (``csrf.exempt``).
CSRF_EXEMPT = {
    "oauth.authorize", "oauth.token", "oauth.revoke", "oauth.introspect", "oauth.userinfo",
    "oauth.end_session",
}  # fmt: skip
BROWSERS = ["none", "visitor", "waiting", "signed_in", "owes_mfa"]


@dataclass(frozen=True)
class Fuzz:
    """One request: from which browser, its path arguments, parameters, headers and cookies.

    ``query`` and ``body`` are lists of (name, value) pairs; names may repeat. ``body_kind`` is
    ``form`` (urlencoded), ``multipart``, ``json`` (an object, repeated members kept) or
    ``raw`` (``raw_body`` as it is, with ``content_type``).
    """

    browser: str
    path: tuple[tuple[str, Value], ...]
    query: tuple[tuple[Value, Value], ...]
    body: tuple[tuple[Value, Value], ...]
    body_kind: str
    raw_body: bytes
    content_type: str
    authorization: object
    headers: tuple[tuple[str, Value], ...]
    cookies: tuple[tuple[str, Value], ...]


def _edited(draw, template: list[tuple[Value, Value]], known: list[str]) -> list:
    """A template with some pairs replaced, repeated (a duplicated parameter) or dropped."""
    pairs = list(template)
    known_name = st.sampled_from(known or PARAM_NAMES)
    edits = st.one_of(
        st.tuples(st.just("set"), known_name, hostile),  # a field of the form, poisoned
        st.tuples(st.just("add"), known_name, values),  # a field repeated
        st.tuples(st.sampled_from(["set", "add", "drop"]), names, values),  # anything
    )
    for op, name, value in draw(st.lists(edits, max_size=5)):
        if op == "set":
            spot = next((i for i, (n, _) in enumerate(pairs) if n == name), None)
            if spot is None:
                pairs.append((name, value))
            else:
                pairs[spot] = (name, value)
        elif op == "add":
            pairs.append((name, value))
        else:
            pairs = [(n, v) for n, v in pairs if n != name]
    return pairs


def _path_value(rule: str, kind: str | None, name: str) -> st.SearchStrategy[Value]:
    if kind == "int":
        refs = ["factor_id", "backup_factor_id"] if "factor" in name else []
        return st.one_of(
            st.sampled_from(refs).map(Ref) if refs else st.nothing(),
            st.integers(0, 2**31 - 1).map(str),
            st.integers(2**31, 2**70).map(str),
            st.sampled_from(["0001", "١٢", "-1", "1.5", "9" * 80]),
        )
    refs = ["reset_secret"] if rule.startswith("/password/") else ["email_secret"]
    return st.one_of(
        st.sampled_from(refs).map(Ref), st.text(UNICODE, min_size=1), markers, oversized
    )


header_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00\r\n"), max_size=40)
authorizations = st.one_of(
    st.none(),
    st.sampled_from(["Basic", "Bearer", "Bearer ", "Basic !!!", "Basic =", "Digest a=b", ""]),
    st.just(Ref("basic")),
    st.just(Ref("bearer")),
    header_text.map(lambda s: "Bearer " + s),
    st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    st.builds(Basic, refs | st.text(UNICODE, max_size=10), values),
)
HEADER_NAMES = [
    "User-Agent", "X-Request-ID", "Accept", "Accept-Language", "Accept-Encoding", "Origin",
    "Referer", "X-CSRFToken", "X-Forwarded-For", "X-Forwarded-Proto", "Host", "Content-Language",
    "If-None-Match", "Range", "Forwarded", "Cookie2",
]  # fmt: skip
header_values = st.one_of(header_text, header_markers, oversized, refs)
#: Cookie values, also quoted with backslash escapes (``"\\000"`` is a NUL once parsed).
cookie_values = header_values | st.builds(
    lambda a, escape, b: f'"{a}\\{escape}{b}"',
    st.text("abz09", max_size=3),
    st.sampled_from(["000", "012", "015", "377", '"', "\\"]),
    st.text("abz09", max_size=3),
)
cookie_names = st.sampled_from(["idp_session", "idp_device", "session", "csrf_token"]) | st.text(
    st.characters(codec="ascii", exclude_characters="\x00\r\n;= "), min_size=1, max_size=8
)
CONTENT_TYPES = [
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
    "application/json", "multipart/form-data", "multipart/form-data; boundary=x", "text/plain",
    "application/json; charset=utf-16", "", "*/*",
]  # fmt: skip


@st.composite
def requests_for(draw, rule: str, method: str, endpoint: str) -> Fuzz:
    """A request to ``rule``: a valid one of ``endpoint`` edited, or one built from nothing."""
    templates = TEMPLATES.get(endpoint, [])
    known = sorted({n for t in templates for n, _ in t if isinstance(n, str)})
    template = draw(st.sampled_from([[], *templates])) if templates else []
    is_json = endpoint in JSON_ENDPOINTS
    has_token = any(n == "csrf_token" for n, _ in template)
    if method == "POST" and not (is_json or has_token or endpoint in CSRF_EXEMPT):
        template = [("csrf_token", Ref("csrf")), *template]  # a form of the hosted pages
    pairs = _edited(draw, template, known)
    if method == "GET":
        query, body = pairs, []
    else:  # a POST reads the query too (request.values): now and then a pair goes there
        spots = draw(st.lists(st.integers(0, 3), min_size=len(pairs), max_size=len(pairs)))
        query = [p for p, spot in zip(pairs, spots, strict=True) if spot == 3]
        body = [p for p, spot in zip(pairs, spots, strict=True) if spot != 3]
    kinds = (
        ["json", "form", "multipart", "raw"] if is_json else ["form", "multipart", "json", "raw"]
    )
    body_kind = draw(st.sampled_from(kinds)) if method == "POST" else "none"
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_values), max_size=3))
    if is_json:
        headers = [("X-CSRFToken", Ref("csrf")), *headers]
    path = tuple(
        (name, draw(_path_value(rule, kind, name))) for kind, name in _ARGUMENT.findall(rule)
    )
    return Fuzz(
        browser=draw(st.sampled_from(BROWSERS)),
        path=path,
        query=tuple(query),
        body=tuple(body),
        body_kind=body_kind,
        raw_body=draw(st.binary(max_size=64)) if body_kind == "raw" else b"",
        content_type=draw(st.sampled_from(CONTENT_TYPES)) if body_kind == "raw" else "",
        authorization=draw(authorizations),
        headers=tuple(headers),
        cookies=tuple(draw(st.lists(st.tuples(cookie_names, cookie_values), max_size=3))),
    )


# --- the provider under test ---------------------------------------------------------------


class Captured(logging.Handler):
    """The records the app logs at ERROR and above (the 500 handler logs the exception)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def describe(self) -> str:
        lines = []
        for record in self.records:
            lines.append(f"{record.name}: {record.getMessage()}")
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                frames = traceback.extract_tb(error.__traceback__)
                ours = [f for f in frames if "/idp/" in f.filename] or frames
                where = [f"  {f.filename}:{f.lineno} in {f.name}" for f in ours[-3:]]
                lines += [*where, f"  {type(error).__module__}.{type(error).__name__}: {error}"]
        return "\n".join(line[:600] for line in lines)


@dataclass
class Browser:
    """A browser's cookies, CSRF token, sign-in session id and waiting authorization request."""

    cookies: dict[str, str]
    csrf: str
    sid: str | None = None
    next_key: str = ""


class Provider:
    """The app on one backend, seeded: users, clients, tokens, and the browsers."""

    def __init__(self, backend: str, folder, database_url: str) -> None:
        self.backend = backend
        self.app = create_app(
            {
                "INSTANCE_PATH": str(folder),
                "DATABASE_URL": database_url,
                "ISSUER": "http://localhost",
                "ARGON2_TIME_COST": 1,
                "ARGON2_MEMORY_COST": 1024,
                "RATE_LIMIT_PER_MINUTE": UNLIMITED,
                "SELF_REGISTRATION": True,
            }
        )
        self.values: dict[str, str] = {}
        self.browsers: dict[str, Browser] = {}
        with self.app.app_context():
            schema.upgrade()
            self._seed()
            self.engine = db.engine
            self.tables = sorted(set(inspect(db.engine).get_table_names()) - {"alembic_version"})
        self.log = Captured()
        self._live_sql = text(
            "SELECT 1 FROM login_sessions"
            " WHERE id = :sid AND ended_at IS NULL AND expires_at > :now"
        )
        self._count_sql = text(
            " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM {t}" for t in self.tables)
            + " UNION ALL SELECT 'audit_events:success', COUNT(*) FROM audit_events"
            " WHERE outcome = 'success'"
        )
        for name in BROWSERS:
            self.browsers[name] = self._open(name)
        self._tokens()

    # seeding

    def _seed(self) -> None:
        for person in ("alice", "bob", "carol", "dave", "erin"):
            email = f"{person}@example.com"
            users.create(email, PASSWORD if person == "carol" else BROWSER_PASSWORD)
        bob = users.by_email("bob@example.com")
        factor, secret = totp.enroll(bob, "Phone")
        totp.verify(factor, pyotp.TOTP(secret).now(), now())
        lifecycle.move(factor, FactorStatus.ACTIVE, actor=bob.email, subject=bob.sub, reason="x")
        backup_codes.generate(bob, actor=bob.email)
        confidential, secret = register(
            name="Fuzz RP",
            redirect_uris=[REDIRECT_URI],
            post_logout_redirect_uris=[POST_LOGOUT_URI],
            first_party=True,
        )
        public, _ = register(name="Fuzz SPA", redirect_uris=[PUBLIC_REDIRECT_URI], public=True)
        db.session.flush()
        backup = db.session.execute(
            select(Factor.id).where(Factor.user_id == bob.id, Factor.id != factor.id)
        ).scalar()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        self.values.update(
            client_id=confidential.client_id,
            client_secret=secret,
            redirect_uri=REDIRECT_URI,
            public_client_id=public.client_id,
            public_redirect_uri=PUBLIC_REDIRECT_URI,
            post_logout_redirect_uri=POST_LOGOUT_URI,
            code_verifier=verifier,
            code_challenge=challenge.rstrip(b"=").decode(),
            email="carol@example.com",
            password=PASSWORD,
            new_password="a new password 123",
            factor_id=str(factor.id),
            backup_factor_id=str(backup),
            reset_secret=users.start_password_reset(users.by_email("erin@example.com"), 3600),
            email_secret=users.request_email_change(
                users.by_email("dave@example.com"), "dave2@example.com", 3600
            ),
        )
        db.session.commit()

    @staticmethod
    def _cookies(client) -> dict[str, str]:
        cookie = client.get_cookie("idp_session")
        return {"idp_session": cookie.value} if cookie else {}

    def _sign_in(self, client, email: str) -> None:
        page = client.get("/login")
        form = {"csrf_token": csrf_token(page.get_data(as_text=True)), "email": email}
        response = client.post("/login", data={**form, "password": BROWSER_PASSWORD})
        if response.status_code != 303:
            raise RuntimeError(f"cannot sign {email} in: {response.get_data(as_text=True)[:300]}")

    def _authorize_query(self) -> dict[str, str]:
        return {
            "response_type": "code",
            "client_id": self.values["client_id"],
            "redirect_uri": REDIRECT_URI,
            "scope": "openid offline_access",
            "code_challenge": self.values["code_challenge"],
            "code_challenge_method": "S256",
        }

    def _open(self, name: str) -> Browser:
        """A browser in the state its name says, signed in through the hosted pages."""
        client = self.app.test_client()
        if name == "none":
            return Browser({}, csrf="")
        if name == "waiting":
            sent = client.get("/authorize", query_string=self._authorize_query())
            next_key = parse_qs(urlsplit(sent.headers["Location"]).query)["next"][0]
            page = client.get("/login", query_string={"next": next_key})
            html = page.get_data(as_text=True)
            return Browser(self._cookies(client), csrf_token(html), next_key=next_key)
        if name == "visitor":
            html = client.get("/login").get_data(as_text=True)
            return Browser(self._cookies(client), csrf_token(html))
        self._sign_in(client, BROWSER_USERS[name])
        page = client.get("/account/" if name == "signed_in" else "/mfa/", follow_redirects=True)
        if page.status_code != 200:
            raise RuntimeError(f"browser {name}: {page.get_data(as_text=True)[:300]}")
        cookies = self._cookies(client)
        with self.app.app_context():
            stored = db.session.execute(
                select(BrowserStateValue.value).where(
                    BrowserStateValue.browser == random_tokens.digest(cookies["idp_session"]),
                    BrowserStateValue.key == "sid",
                )
            ).scalar_one()
        sid = json.loads(stored)
        return Browser(cookies, csrf_token(page.get_data(as_text=True)), sid=sid)

    def _tokens(self) -> None:
        """Tokens of a finished code flow; and a code already redeemed (a replay)."""
        basic = f"{self.values['client_id']}:{self.values['client_secret']}"
        self.values["basic"] = "Basic " + base64.b64encode(basic.encode()).decode()
        for kind in ("used_code", "tokens"):
            client = self.app.test_client()
            self._sign_in(client, "alice@example.com")
            sent = client.get("/authorize", query_string=self._authorize_query())
            code = parse_qs(urlsplit(sent.headers["Location"]).query)["code"][0]
            exchange = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": self.values["code_verifier"],
            }
            headers = {"Authorization": self.values["basic"]}
            issued = client.post("/token", data=exchange, headers=headers).get_json()
            if kind == "used_code":
                self.values["used_code"] = code
            else:
                self.values["access_token"] = issued["access_token"]
                self.values["id_token"] = issued["id_token"]
        self.values["bearer"] = "Bearer " + self.values["access_token"]

    # each example

    def browser(self, name: str) -> Browser:
        """The browser, opened again if a request ended its sign-in session."""
        found = self.browsers[name]
        if found.sid is not None:
            with self.engine.connect() as connection:
                live = connection.execute(self._live_sql, {"sid": found.sid, "now": now()}).first()
            if live is None:
                found = self.browsers[name] = self._open(name)
        return found

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            return dict(connection.execute(self._count_sql).all())

    def resolve(self, value, browser: Browser) -> str | bytes:
        if isinstance(value, Ref):
            if value.name == "csrf":
                return browser.csrf or self.browsers["visitor"].csrf  # another session's
            if value.name == "next":
                return browser.next_key or "security"
            return self.values[value.name]
        if isinstance(value, Big):
            return value.unit * value.times
        if isinstance(value, Nested):
            return value.render()
        if isinstance(value, Basic):
            user, password = (self.resolve(v, browser) for v in (value.user, value.password))
            raw = _bytes(user) + b":" + _bytes(password)
            return "Basic " + base64.b64encode(raw).decode()
        return value


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _encode(value: str | bytes) -> str:
    return quote_from_bytes(_bytes(value), safe="")


def _header(value: str | bytes) -> str:
    """A header value as WSGI carries it (bytes as latin-1), never with NUL, CR or LF."""
    raw = value if isinstance(value, bytes) else value.encode()
    return raw.decode("latin-1").translate({0: None, 10: None, 13: None})


@dataclass
class Answer:
    status: int
    body: str
    headers: list[tuple[str, str]]
    sent: str
    error: str


def send(provider: Provider, browser: Browser, rule: str, method: str, fuzz: Fuzz) -> Answer:
    """Send ``fuzz`` through the test client as a browser or client would, bytes and all."""

    def resolved(pairs):
        return [(provider.resolve(n, browser), provider.resolve(v, browser)) for n, v in pairs]

    path = rule
    for name, value in fuzz.path:
        path = _ARGUMENT.sub(
            lambda m, n=name, v=value: (
                _encode(provider.resolve(v, browser)) if m.group(2) == n else m.group(0)
            ),
            path,
        )
    query = "&".join(f"{_encode(n)}={_encode(v)}" for n, v in resolved(fuzz.query))
    body, content_type = b"", None
    pairs = resolved(fuzz.body)
    if fuzz.body_kind == "form":
        body = "&".join(f"{_encode(n)}={_encode(v)}" for n, v in pairs).encode()
        content_type = "application/x-www-form-urlencoded"
    elif fuzz.body_kind == "multipart":
        text_of = {bytes: lambda v: v.decode("latin-1"), str: lambda v: v}
        body = MultiDict([(text_of[type(n)](n), text_of[type(v)](v)) for n, v in pairs])
        content_type = "multipart/form-data"
    elif fuzz.body_kind == "json":
        members = []
        for name, value in pairs:
            as_text = value.decode("latin-1") if isinstance(value, bytes) else value
            is_json = isinstance(value, str) and value[:1] in ("{", "[")
            member = value if is_json else json.dumps(as_text, ensure_ascii=False)
            key = name.decode("latin-1") if isinstance(name, bytes) else name
            members.append(f"{json.dumps(key, ensure_ascii=False)}:{member}")
        body = ("{" + ",".join(members) + "}").encode()
        content_type = "application/json"
    elif fuzz.body_kind == "raw":
        body, content_type = fuzz.raw_body, fuzz.content_type
    environ = {}
    headers = list(fuzz.headers)
    if fuzz.authorization is not None:
        headers.append(("Authorization", fuzz.authorization))
    for name, value in headers:
        key = "HTTP_" + name.upper().replace("-", "_")
        environ[key] = _header(provider.resolve(value, browser))
        if name == "Host":
            environ["SERVER_NAME"] = "localhost"
    jar = [*browser.cookies.items()]
    jar += [(n, _header(provider.resolve(v, browser))) for n, v in fuzz.cookies]
    if jar:
        environ["HTTP_COOKIE"] = "; ".join(f"{n}={v}" for n, v in jar)
    sent = f"{method} {path}" + (f"?{query}" if query else "")
    sent += f"\n  headers: {headers!r}\n  cookies: {jar!r}"
    if method == "POST":
        sent += f"\n  body ({content_type}): {body!r}"[:3000]
    provider.log.records.clear()
    client = provider.app.test_client(use_cookies=False)
    try:
        response = client.open(
            path,
            method=method,
            query_string=query,
            data=body,
            content_type=content_type,
            environ_overrides=environ,
        )
    except Exception as error:  # the test client raised: as bad as a 500
        detail = "".join(traceback.format_exception(error)[-4:])
        return Answer(599, "", [], sent, f"the request raised:\n{detail}")
    answer = Answer(
        response.status_code,
        response.get_data().decode("utf-8", "replace"),
        list(response.headers.items()),
        sent,
        provider.log.describe(),
    )
    response.close()
    return answer


def _strings(fuzz: Fuzz) -> list[str]:
    """Every generated text value of the request (markers are looked for among them)."""
    found = []
    for group in (fuzz.path, fuzz.query, fuzz.body, fuzz.headers, fuzz.cookies):
        for pair in group:
            found += [v for v in pair if isinstance(v, str)]
    return found


def _unexpected_writes(before: dict, after: dict, endpoint: str) -> dict:
    allowed = COUNTERS | BY_DESIGN.get(endpoint, frozenset())
    changed = {t: (before[t], after[t]) for t in after if before.get(t) != after[t]}
    return {
        table: change
        for table, change in changed.items()
        if table not in allowed
        and table != "audit_events"  # judged by its success rows
        and not (table == "audit_events:success" and "audit_events" in allowed)
    }


# --- failures, one kind per line so Hypothesis tells them apart ----------------------------


class ServerError(AssertionError):
    pass


class TracebackShown(AssertionError):
    pass


class RawValueEchoed(AssertionError):
    pass


class StateChanged(AssertionError):
    pass


_SERVER_ERRORS: dict[str, type[ServerError]] = {}


def _server_error(answer: Answer) -> type[ServerError]:
    """One class per exception the app logged: Hypothesis reports each as its own failure."""
    found = re.findall(r"^ *([\w.]+(?:Error|Exception|Host|Warning)): ", answer.error, re.MULTILINE)
    name = found[-1].rsplit(".", 1)[-1] if found else "Unlogged"
    return _SERVER_ERRORS.setdefault(name, type(f"ServerError_{name}", (ServerError,), {}))


def check(provider: Provider, rule: str, method: str, endpoint: str, fuzz: Fuzz) -> None:
    browser = provider.browser(fuzz.browser)  # reopened, if need be, before counting
    before = provider.counts()
    answer = send(provider, browser, rule, method, fuzz)
    after = provider.counts()
    where = f"[{provider.backend}] {method} {rule} answered {answer.status}"
    context = f"{where}\nsent: {answer.sent}\napp log:\n{answer.error or '(nothing)'}"
    if answer.status >= 500:
        raise _server_error(answer)(context)
    if "Traceback" in answer.body:
        raise TracebackShown(f"{context}\nbody: {answer.body[:2000]}")
    echoed = answer.body + "\n".join(v for _, v in answer.headers)
    for value in _strings(fuzz):
        as_sent = value.encode().decode("latin-1")  # a header's bytes, as WSGI hands them over
        seen = next((v for v in (value, as_sent) if MARKER.search(value) and v in echoed), None)
        if seen is not None:
            at = echoed.index(seen)
            around = echoed[max(0, at - 120) : at + len(seen) + 40]
            raise RawValueEchoed(f"{context}\nechoed verbatim: {value!r}, in: {around!r}")
    changed = _unexpected_writes(before, after, endpoint)
    if changed:
        raise StateChanged(f"{context}\nrows (before, after): {changed}")


# --- the test ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def provider(request, tmp_path_factory):
    backend = request.param
    folder = tmp_path_factory.mktemp(f"fuzz-{backend}")
    if backend == "postgresql":
        url = create_database(request.getfixturevalue("postgres_url"), "idp_fuzz")
    else:
        url = f"sqlite:///{folder}/fuzz.db"
    found = Provider(backend, folder, url)
    logger = logging.getLogger("idp")
    logger.addHandler(found.log)
    yield found
    logger.removeHandler(found.log)
    with found.app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("rule", "method", "endpoint"), [pytest.param(*r, id=f"{r[1]} {r[0]}") for r in ROUTES]
)
@FUZZ
@given(data=st.data())
def test_malformed_input_never_breaks_a_route(provider, rule, method, endpoint, data):
    fuzz = data.draw(requests_for(rule, method, endpoint), label="request")
    check(provider, rule, method, endpoint, fuzz)
