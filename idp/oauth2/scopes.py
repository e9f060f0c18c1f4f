"""The scopes a client may be registered for: OpenID Connect's, and those of the provider's own
APIs. An API scope acts for the client itself, so only a machine client (confidential, with the
client-credentials grant alone, RFC 6749 4.4) may hold one, and it is granted only in that
grant: a relying party must never turn an admin's sign-in into an admin token."""

from __future__ import annotations

from authlib.oauth2.rfc6749.util import scope_to_list

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
API_SCOPES = {
    "admin": "The admin API: read and change users",
    "auditor": "The admin API: read only",
}
KNOWN = (*OIDC_SCOPES, *API_SCOPES)


def for_grant(scope: str, grant_type: str) -> str:
    """``scope`` without the API scopes unless the grant is the client's own."""
    if grant_type == "client_credentials":
        return scope
    return " ".join(s for s in scope_to_list(scope) if s not in API_SCOPES)


def check_registration(scopes: list[str], *, public: bool, grant_types: list[str]) -> None:
    """A client's registered scopes: known ones; API scopes only for a machine client."""
    unknown = sorted(set(scopes) - set(KNOWN))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    api = sorted(set(scopes) & set(API_SCOPES))
    if api and (public or list(grant_types) != ["client_credentials"]):
        raise ValueError(
            f"the scope(s) {', '.join(api)} need a confidential client whose only grant type "
            "is client_credentials"
        )
