"""A Flask decorator for resource servers: accept a bearer access token, or say what is missing.

This is the only module of ``idp.rp`` that imports Flask. On success the verified token is in
``flask.g.rp_token`` (a ``VerifiedToken``; ``current_token()`` returns it). Refusals:

* no bearer credentials: 401 with a bare ``WWW-Authenticate: Bearer`` (RFC 6750 3.1: such a
  response "SHOULD NOT include an error code");
* a token that does not verify: 401, ``error="invalid_token"`` (RFC 6750 3.1);
* a valid token from too weak or too old an authentication: 401,
  ``error="insufficient_user_authentication"`` with ``acr_values`` and ``max_age`` (RFC 9470 3);
* the provider's keys cannot be fetched: 503, since the client did nothing wrong.

Each refusal has the same values in a JSON body, and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Response, g, jsonify, request

from idp.rp.acr import DEFAULT_LEVELS, AcrLevels
from idp.rp.bearer import (
    INSUFFICIENT_USER_AUTHENTICATION,
    INVALID_TOKEN,
    bearer_challenge,
    clean_description,
)
from idp.rp.errors import InvalidToken, ProviderUnavailable
from idp.rp.requirement import Requirement
from idp.rp.tokens import TokenVerifier, VerifiedToken

G_NAME = "rp_token"
#: RFC 6750 2.1: ``credentials = "Bearer" 1*SP b64token``; the scheme is case-insensitive.
BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")

View = TypeVar("View", bound=Callable[..., Any])


def current_token() -> VerifiedToken:
    """The token ``require_auth`` verified for this request."""
    return getattr(g, G_NAME)


def require_auth(
    verifier: TokenVerifier,
    *,
    acr_values: Iterable[str] | str = (),
    amr: Iterable[str] | str = (),
    max_age: int | None = None,
    levels: AcrLevels = DEFAULT_LEVELS,
    realm: str | None = None,
) -> Callable[[View], View]:
    """Protect a view: a valid access token whose authentication meets the requirement.

    RFC 9470 can only ask a client for ``acr_values`` and ``max_age``: pair an ``amr``
    requirement with an acr level that implies it, or a client cannot step up to meet it.
    Bad values (characters a header cannot carry) fail here, not at request time.
    """
    requirement = Requirement(
        acr_values=tuple(_split(acr_values)), amr=tuple(_split(amr)), max_age=max_age
    )
    bearer_challenge(  # raises ValueError for a value the WWW-Authenticate header cannot carry
        INSUFFICIENT_USER_AUTHENTICATION,
        "check",
        acr_values=requirement.acr_values,
        max_age=requirement.max_age,
        realm=realm,
    )

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            refusal = _check(verifier, requirement, levels, realm)
            if refusal is not None:
                return refusal
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def _split(values: Iterable[str] | str) -> Iterable[str]:
    return values.split() if isinstance(values, str) else values


def _check(
    verifier: TokenVerifier, requirement: Requirement, levels: AcrLevels, realm: str | None
) -> Response | None:
    """None when the request may go on (``g.rp_token`` is set); else the refusal to send."""
    match = BEARER.fullmatch(request.headers.get("Authorization", ""))
    if match is None:
        if "Authorization" in request.headers:
            return _refuse(
                401, realm, INVALID_TOKEN, "The Authorization header is not a bearer token"
            )
        return _refuse(401, realm, None, "A bearer access token is required")
    try:
        token = verifier.verify_access_token(match.group(1))
    except InvalidToken as exc:
        return _refuse(401, realm, INVALID_TOKEN, f"The access token is not valid: {exc}")
    except ProviderUnavailable:
        return _unavailable()
    unmet = requirement.unmet(token, now=time.time(), levels=levels)
    if unmet:
        return _refuse(
            401,
            realm,
            INSUFFICIENT_USER_AUTHENTICATION,
            requirement.describe(unmet),
            acr_values=requirement.acr_values,
            max_age=requirement.max_age,
        )
    setattr(g, G_NAME, token)
    return None


def _refuse(
    status: int,
    realm: str | None,
    error: str | None,
    description: str,
    *,
    acr_values: tuple[str, ...] = (),
    max_age: int | None = None,
) -> Response:
    description = clean_description(description)
    header = bearer_challenge(
        error,
        description if error else None,
        acr_values=acr_values,
        max_age=max_age,
        realm=realm,
    )
    body: dict[str, Any] = {"error_description": description}
    if error:
        body["error"] = error
    if acr_values:
        body["acr_values"] = " ".join(acr_values)
    if max_age is not None:
        body["max_age"] = max_age
    response = jsonify(body)
    response.status_code = status
    response.headers["WWW-Authenticate"] = header
    response.headers["Cache-Control"] = "no-store"
    return response


def _unavailable() -> Response:
    response = jsonify(
        error="temporarily_unavailable",
        error_description="The authorization server's keys cannot be fetched right now",
    )
    response.status_code = 503
    response.headers["Retry-After"] = "30"
    response.headers["Cache-Control"] = "no-store"
    return response
