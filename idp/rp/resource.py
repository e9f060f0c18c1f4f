"""A Flask decorator for resource servers: accept a bearer access token, or say what is missing.

This is the only module of ``idp.rp`` that imports Flask. On success the verified token is in
``flask.g.rp_token`` (a ``VerifiedToken``; ``current_token()`` returns it). Every refusal is an
``idp.rp.errors`` type, turned into a response in one place, ``refusal``:

* no bearer credentials (no header, or another scheme): 401 with a bare
  ``WWW-Authenticate: Bearer`` (RFC 6750 3.1: such a response "SHOULD NOT include an error
  code");
* a token that does not verify, or that introspection says is no longer active: 401,
  ``error="invalid_token"`` (RFC 6750 3.1);
* a client's own token (client credentials) where a user's is needed, or a token without a
  scope the route needs: 403, ``error="insufficient_scope"``, with the route's ``scope`` when
  there is one (RFC 6750 3.1);
* a user's token from too weak or too old an authentication: 401,
  ``error="insufficient_user_authentication"`` with ``acr_values`` and ``max_age`` (RFC 9470 3);
* the provider's keys or introspection cannot be reached: 503, since the client did nothing
  wrong.

Each refusal has the same values in a JSON body, and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Response, g, jsonify, request

from idp.rp.access import AccessRule, values
from idp.rp.acr import DEFAULT_LEVELS, AcrLevels
from idp.rp.bearer import bearer_challenge, bearer_token, clean_description
from idp.rp.errors import (
    InsufficientScope,
    InsufficientUserAuthentication,
    InvalidToken,
    MissingCredentials,
    ProviderUnavailable,
    RPError,
)
from idp.rp.requirement import Requirement
from idp.rp.tokens import TokenVerifier, VerifiedToken

G_NAME = "rp_token"

View = TypeVar("View", bound=Callable[..., Any])


def current_token() -> VerifiedToken:
    """The token ``require_auth`` verified for this request."""
    return getattr(g, G_NAME)


def require_auth(
    verifier: TokenVerifier,
    *,
    scope: Iterable[str] | str = (),
    user: bool = True,
    acr_values: Iterable[str] | str = (),
    amr: Iterable[str] | str = (),
    max_age: int | None = None,
    levels: AcrLevels = DEFAULT_LEVELS,
    realm: str | None = None,
) -> Callable[[View], View]:
    """Protect a view: a valid access token, with ``scope``, for a user (unless ``user=False``)
    whose authentication meets ``acr_values`` / ``amr`` / ``max_age``.

    RFC 9470 can only ask a client for ``acr_values`` and ``max_age``: pair an ``amr``
    requirement with an acr level that implies it, or a client cannot step up to meet it.
    Bad values (characters a header cannot carry) fail here, not at request time.
    """
    rule = AccessRule(
        scope=values(scope),
        user=user,
        authentication=Requirement(acr_values=values(acr_values), amr=values(amr), max_age=max_age),
        levels=levels,
    )

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                token = verifier.verify_access_token(
                    bearer_token(request.headers.get("Authorization"))
                )
                rule.check(token)
            except RPError as exc:
                return refusal(exc, realm)
            setattr(g, G_NAME, token)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def refusal(exc: RPError, realm: str | None = None) -> Response:
    """The response for a refusal: the one place ``idp.rp``'s errors become HTTP."""
    if isinstance(exc, MissingCredentials):
        return _challenge(401, realm, None, "A bearer access token is required")
    if isinstance(exc, InvalidToken):
        return _challenge(401, realm, exc.error, f"The access token is not valid: {exc}")
    if isinstance(exc, InsufficientScope):
        return _challenge(403, realm, exc.error, str(exc), scope=exc.scope)
    if isinstance(exc, InsufficientUserAuthentication):
        return _challenge(
            401, realm, exc.error, str(exc), acr_values=exc.acr_values, max_age=exc.max_age
        )
    if isinstance(exc, ProviderUnavailable):
        return _unavailable()
    raise exc  # not a refusal (a MalformedChallenge has no business here)


def _challenge(
    status: int,
    realm: str | None,
    error: str | None,
    description: str,
    *,
    acr_values: tuple[str, ...] = (),
    max_age: int | None = None,
    scope: tuple[str, ...] = (),
) -> Response:
    description = clean_description(description)
    header = bearer_challenge(
        error,
        description if error else None,
        acr_values=acr_values,
        max_age=max_age,
        realm=realm,
        scope=scope,
    )
    body: dict[str, Any] = {"error_description": description}
    if error:
        body["error"] = error
    if acr_values:
        body["acr_values"] = " ".join(acr_values)
    if max_age is not None:
        body["max_age"] = max_age
    if scope:
        body["scope"] = " ".join(scope)
    response = jsonify(body)
    response.status_code = status
    response.headers["WWW-Authenticate"] = header
    response.headers["Cache-Control"] = "no-store"
    return response


def _unavailable() -> Response:
    response = jsonify(
        error="temporarily_unavailable",
        error_description="The authorization server cannot be reached right now",
    )
    response.status_code = 503
    response.headers["Retry-After"] = "30"
    response.headers["Cache-Control"] = "no-store"
    return response
