"""From a validated authorization request to an ``AuthContext`` for the policy.

Parses the OIDC parameters Authlib leaves to us (``prompt``, ``max_age``, ``acr_values``,
``claims``, ``id_token_hint``, ``login_hint``, ``response_mode``) and rejects malformed ones with
``invalid_request`` sent to the (already validated) redirect URI, as OIDC Core 3.1.2.6 asks.
Nothing that can carry a requirement is ignored: request objects, which the provider does not
support, are refused (OIDC Core 6.1, 6.2), and so is a response mode it does not implement.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749.util import scope_to_list
from sqlalchemy import select

from idp.accounts.policy_inputs import UserFacts
from idp.clock import now
from idp.extensions import db
from idp.models import Client, Consent, User
from idp.oauth2 import signing
from idp.oauth2.errors import (
    InvalidRequestError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from idp.policy import AuthContext, AuthEvent

PROMPT_VALUES = frozenset({"none", "login", "consent"})
#: The response modes of the code flow (OAuth 2.0 Multiple Response Type Encoding Practices 2.1;
#: OAuth 2.0 Form Post Response Mode 2), as discovery advertises them; ``query`` is the default.
RESPONSE_MODES = ("query", "form_post")
#: An origin a ``form-action`` source expression can name (CSP3 host-source): no user info, no
#: IPv6 literal, nothing that could end the directive.
_WEB_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


@dataclass(frozen=True)
class RequestParams:
    """The OIDC parameters of one authorization request, parsed and checked."""

    prompt: frozenset[str]
    max_age: int | None
    acr_values: tuple[str, ...]
    essential_acr: tuple[str, ...]
    hinted_sub: str | None
    login_hint: str | None


def parse(data, redirect_uri: str) -> RequestParams:
    """Parse ``data`` (the request's values); raise ``invalid_request`` on bad input."""

    def invalid(message: str) -> InvalidRequestError:
        return InvalidRequestError(message, state=data.get("state"), redirect_uri=redirect_uri)

    prompt = frozenset((data.get("prompt") or "").split())
    if prompt - PROMPT_VALUES:
        raise invalid("unsupported prompt value")
    _check_response_mode(data.get("response_mode") or "query", redirect_uri, invalid)
    return RequestParams(
        prompt=prompt,
        max_age=_max_age(data.get("max_age"), invalid),
        acr_values=tuple((data.get("acr_values") or "").split()),
        essential_acr=_essential_acr(data.get("claims"), invalid),
        hinted_sub=_hinted_sub(data.get("id_token_hint"), invalid),
        login_hint=(data.get("login_hint") or "")[:320] or None,
    )


def refuse_request_object(data, redirect_uri: str) -> None:
    """Refuse a request object, by value or by reference, to the validated redirect URI.

    The provider does not support them yet (discovery says so), and the object could carry
    requirements (an essential ``acr``, a ``max_age``) that must not be dropped silently:
    "request_not_supported: The OP does not support use of the request parameter defined in
    Section 6" and its ``request_uri`` twin (OIDC Core 3.1.2.6, 6.1, 6.2).
    """
    state = data.get("state")
    if "request" in data:
        raise RequestNotSupportedError(
            "request objects are not supported", state=state, redirect_uri=redirect_uri
        )
    if "request_uri" in data:
        raise RequestURINotSupportedError(
            "request_uri is not supported", state=state, redirect_uri=redirect_uri
        )


def form_post_origin(data, redirect_uri: str) -> str | None:
    """The origin the form_post page posts to, or ``None``: answer in the query.

    ``None`` when the request did not ask for ``form_post`` (a mode ``parse`` refuses is answered
    in the query, the code flow's default), or when the redirect URI is not a web origin a page
    can post to: OAuth 2.0 Form Post Response Mode 2 delivers "via the HTTP POST method".
    """
    if data.get("response_mode") != "form_post":
        return None
    return _web_origin(redirect_uri)


def _web_origin(uri: str) -> str | None:
    parts = urlsplit(uri)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if _WEB_ORIGIN.fullmatch(origin) else None


def _check_response_mode(mode: str, redirect_uri: str, invalid) -> None:
    """A ``response_mode`` the provider does not implement is "an invalid parameter value"
    (RFC 6749 4.1.2.1), not ignored; so is ``form_post`` to a URI no page can post to."""
    if mode not in RESPONSE_MODES:
        raise invalid(f"unsupported response_mode; supported: {', '.join(RESPONSE_MODES)}")
    if mode == "form_post" and _web_origin(redirect_uri) is None:
        raise invalid("response_mode=form_post needs an http or https redirect URI")


def _max_age(value: str | None, invalid) -> int | None:
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()):
        raise invalid("max_age must be a non-negative integer")
    return int(value)


def _essential_acr(value: str | None, invalid) -> tuple[str, ...]:
    """acr values the ``claims`` parameter marks essential (OIDC Core 5.5.1.1)."""
    if not value:
        return ()
    try:
        claims = json.loads(value)
        acr = claims.get("id_token", {}).get("acr") or {}
    except (ValueError, AttributeError, RecursionError) as exc:  # nested too deep: recursion
        raise invalid("claims must be a JSON object") from exc
    if not isinstance(acr, dict) or not acr.get("essential"):
        return ()
    values = acr.get("values") or ([acr["value"]] if "value" in acr else [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise invalid("claims.id_token.acr values must be strings")
    return tuple(values)


def _hinted_sub(value: str | None, invalid) -> str | None:
    """The subject of an ``id_token_hint`` we issued; expired hints are fine (OIDC Core 3.1.2.1)."""
    if not value:
        return None
    try:
        claims = signing.verify(value, verify_exp=False)
    except signing.InvalidJWT as exc:
        raise invalid(f"id_token_hint is not valid: {exc}") from exc
    return claims.get("sub")


def build_context(
    params: RequestParams,
    client: Client,
    scope: str,
    user: User | None,
    *,
    reauthenticated: bool,
    consented: bool,
    events: tuple[AuthEvent, ...],
    user_facts: UserFacts | None,
) -> AuthContext:
    """Gather what ``decide`` needs about this request, its client and this browser's session.

    ``user`` is the session's user (``None``: nobody is signed in); ``events`` and
    ``user_facts`` (their factors, policy, device) come from the caller: the protocol layer
    passes them through. An ``id_token_hint`` naming another user discards them.
    """
    if user is None or (params.hinted_sub and params.hinted_sub != user.sub):
        user, user_facts = None, None  # nobody, or not the hinted user, is signed in
    scopes = frozenset(scope_to_list(scope) or [])
    return AuthContext(
        now=now(),
        prompt=params.prompt,
        max_age=params.max_age,
        acr_values=params.acr_values,
        essential_acr=params.essential_acr,
        reauthenticated=reauthenticated,
        consented_during_request=consented,
        first_party=client.first_party,
        consent_granted=user is not None and _consented(user, client, scopes),
        requested_scopes=scopes,
        client_minimum_acr=client.minimum_acr,
        client_default_acr=tuple(client.default_acr_values or ()),
        **({"events": events, **user_facts.context_fields()} if user_facts else {"user_id": None}),
    )


def _consented(user: User, client: Client, scopes: frozenset[str]) -> bool:
    row = db.session.execute(
        select(Consent).where(Consent.user_id == user.id, Consent.client_id == client.client_id)
    ).scalar()
    return row is not None and scopes <= set(row.scopes)


def grant_consent(user: User, client: Client, scope: str) -> None:
    """Remember that ``user`` allowed ``client`` these scopes (added to earlier ones)."""
    row = db.session.execute(
        select(Consent).where(Consent.user_id == user.id, Consent.client_id == client.client_id)
    ).scalar()
    scopes = set(scope_to_list(scope) or [])
    if row is None:
        db.session.add(Consent(user_id=user.id, client_id=client.client_id, scopes=sorted(scopes)))
    else:
        row.scopes = sorted(scopes | set(row.scopes))
