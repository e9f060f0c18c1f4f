"""The provider's metadata (OIDC Discovery 1.0) and the one way ``idp.rp`` fetches JSON from it.

Every fetch has a timeout and turns any failure -- network, HTTP status, a body that is not a
JSON object -- into ``ProviderUnavailable``: the provider's fault, never the token's.
"""

from __future__ import annotations

from typing import Any

import requests

from idp.rp.errors import ProviderUnavailable


def discovery_url(issuer: str) -> str:
    """OIDC Discovery 1.0 section 4: drop a trailing slash, append the well-known path."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def get_json(session: requests.Session, url: str, timeout: float) -> dict[str, Any]:
    """GET ``url`` and return its JSON object."""
    try:
        response = session.get(url, timeout=timeout)
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(f"cannot fetch {url}") from exc
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"{url} is not a JSON object")
    return data


def endpoint(session: requests.Session, issuer: str, name: str, timeout: float) -> str:
    """The URL the issuer's metadata gives for ``name`` (``jwks_uri``,
    ``introspection_endpoint``, ...), after checking the document is this issuer's (4.3)."""
    metadata = get_json(session, discovery_url(issuer), timeout)
    if metadata.get("issuer") != issuer:
        raise ProviderUnavailable("discovery names a different issuer")
    uri = metadata.get(name)
    if not isinstance(uri, str) or not uri:
        raise ProviderUnavailable(f"discovery has no {name}")
    return uri
