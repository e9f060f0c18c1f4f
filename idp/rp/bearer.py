"""The resource server's side of bearer tokens: the credentials (RFC 6750 section 2.1) and the
refusal (RFC 6750 section 3, RFC 9470 section 3).

    WWW-Authenticate: Bearer error="insufficient_user_authentication",
      error_description="A different authentication level is required",
      acr_values="myACR", max_age=5

``acr_values`` is a space-separated list inside one quoted string; ``max_age`` a bare integer.
RFC 6750 3: ``error`` and ``error_description`` values "MUST NOT include characters outside the
set %x20-21 / %x23-5B / %x5D-7E" -- no quote, no backslash, nothing outside printable ASCII --
so descriptions are cleaned rather than escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from idp.rp.auth_header import TCHAR, format_challenge
from idp.rp.errors import InvalidToken, MissingCredentials

INVALID_REQUEST = "invalid_request"  # RFC 6750 3.1, answered with 400
INVALID_TOKEN = "invalid_token"  # noqa: S105 (RFC 6750 3.1 error code, answered with 401)
INSUFFICIENT_SCOPE = "insufficient_scope"  # RFC 6750 3.1, answered with 403
INSUFFICIENT_USER_AUTHENTICATION = "insufficient_user_authentication"  # RFC 9470 3, 401

#: RFC 6750 2.1: ``credentials = "Bearer" 1*SP b64token``; the scheme is case-insensitive.
CREDENTIALS = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization`` header's bearer credentials.

    No header, or another scheme (``Basic ...``), is ``MissingCredentials``: RFC 6750 3.1 puts
    a request "attempted using an unsupported authentication method" with one that lacks
    authentication altogether, answered without an error code. A ``Bearer`` header whose value
    is not a b64token is ``InvalidToken``.
    """
    if not authorization or authorization.split(" ", 1)[0].lower() != "bearer":
        raise MissingCredentials("a bearer access token is required")
    match = CREDENTIALS.fullmatch(authorization)
    if match is None:
        raise InvalidToken("the Authorization header is not a valid bearer token")
    return match.group(1)


def clean_description(text: str) -> str:
    """``text`` with every character RFC 6750 forbids in ``error_description`` replaced by ``?``."""
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text)


def _checked_values(values: Iterable[str], what: str) -> str:
    """Space-separated values (acr values, scopes), each a run of printable non-space ASCII."""
    values = tuple(values)
    for value in values:
        if not value or any(not ("!" <= c <= "~") or c in '"\\' for c in value):
            raise ValueError(
                f"{what} must be printable ASCII without spaces, quotes or backslashes"
            )
    return " ".join(values)


def bearer_challenge(
    error: str | None = None,
    description: str | None = None,
    *,
    acr_values: Iterable[str] = (),
    max_age: int | None = None,
    realm: str | None = None,
    scope: Iterable[str] = (),
) -> str:
    """The ``WWW-Authenticate`` value of a bearer refusal.

    With no ``error`` it is the bare challenge RFC 6750 3.1 asks for when a request carries no
    credentials at all ("SHOULD NOT include an error code or other error information").
    """
    params: list[tuple[str, str | int]] = []
    if realm is not None:
        params.append(("realm", clean_description(realm)))
    if error is not None:
        if not error or set(error) - TCHAR:
            raise ValueError("error must be an RFC 6750 error code")
        params.append(("error", error))
    if description:
        params.append(("error_description", clean_description(description)))
    acr = _checked_values(acr_values, "acr values")
    if acr:
        params.append(("acr_values", acr))
    if max_age is not None:
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ValueError("max_age must be a non-negative integer")
        params.append(("max_age", max_age))
    scopes = _checked_values(scope, "scopes")
    if scopes:
        params.append(("scope", scopes))
    return format_challenge("Bearer", params)
