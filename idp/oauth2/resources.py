"""Resource indicators (RFC 8707): which APIs an access token is for.

A client names the protected resources it wants a token for with ``resource`` at the
authorization and token endpoints, repeated for several. Each is an absolute URI without a
fragment (RFC 8707 2) and must be one the client was registered for
(``idp clients create ... --resource URI``): "the authorization server SHOULD audience-restrict
issued access tokens to the resource(s) indicated" and may refuse others with
``invalid_target``.

The access token's ``aud`` is, in order: the resources named at the token request; else those
granted at the authorization request (for a refresh, the grant's); else the client's id, as for
a client that names none. At the token endpoint a code's or refresh token's grant can only be
narrowed (RFC 8707 2.2), never widened; a code granted for no resource may be exchanged for any
resource the client is registered for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from werkzeug.datastructures import MultiDict

from idp.oauth2.errors import InvalidTargetError

PARAMETER = "resource"


def requested(values: MultiDict) -> tuple[str, ...]:
    """The ``resource`` values of a request, in order, each once; malformed ones refused."""
    found = tuple(dict.fromkeys(values.getlist(PARAMETER)))
    for uri in found:
        _check_form(uri)
    return found


def registered(uris: Iterable[str]) -> list[str]:
    """Resources to register for a client: absolute URIs without a fragment, each once."""
    found = list(dict.fromkeys(uris))
    for uri in found:
        _check_form(uri)
    return found


def authorized(
    client, values: MultiDict, *, state: str | None = None, redirect_uri: str | None = None
) -> tuple[str, ...]:
    """The resources an authorization request asks for, all registered for ``client``; a
    refusal goes to the client's redirect URI (RFC 8707 2: ``invalid_target``)."""
    try:
        asked = requested(values)
        if not set(asked) <= set(client.resources or ()):
            raise InvalidTargetError("a resource is not registered for this client")
    except InvalidTargetError as error:
        raise InvalidTargetError(
            error.description, state=state, redirect_uri=redirect_uri
        ) from None
    return asked


def audience(client, values: MultiDict, granted: Sequence[str] | None) -> tuple[str, ...]:
    """The resources an access token is issued for at the token endpoint.

    ``granted`` are the resources of the code or refresh token (``None`` for a client
    credentials grant, which asks for its own); an empty grant allows what the client is
    registered for.
    """
    asked = requested(values)
    allowed = set(granted or client.resources or ())
    if not set(asked) <= allowed:
        raise InvalidTargetError("a resource is not allowed for this grant")
    return asked or tuple(granted or ())


def aud_claim(resources: Sequence[str], client_id: str) -> str | list[str]:
    """The ``aud`` of an access token: its one resource, its resources, or the client."""
    if not resources:
        return client_id
    return resources[0] if len(resources) == 1 else list(resources)


def _check_form(uri: str) -> None:
    """RFC 8707 2: "an absolute URI, as specified by Section 4.3 of [RFC3986], which MAY
    include a query component, but MUST NOT include a fragment component" (a URN is one)."""
    try:
        parts = urlsplit(uri)
    except ValueError:  # an unbalanced IPv6 bracket
        parts = None
    if parts is None or not parts.scheme or not (parts.netloc or parts.path) or "#" in uri:
        raise InvalidTargetError("a resource must be an absolute URI without a fragment")
