"""The protocol endpoints' parameters, checked before Authlib or the database reads them.

- "Request and response parameters MUST NOT be included more than once" (RFC 6749 3.1).
- The parameters RFC 6749 Appendix A defines are printable ASCII (VSCHAR, NQCHAR, URI
  references); so are OIDC's and RFC 7636's here.
- No value carries a control character: a NUL is not even storable in PostgreSQL text.
- Values fit what the provider stores (a nonce, a scope) or could ever need.

A malformed request is refused with ``invalid_request``. Its description names the parameter
when it is one of the protocol's and never quotes the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from idp.oauth2.errors import InvalidRequestError

#: Parameters whose values are printable ASCII (RFC 6749 Appendix A; RFC 7636 4.1, 4.2; OIDC
#: Core 3.1.2.1; RFC 7009 2.1; RFC 7662 2.1; OIDC RP-Initiated Logout 2).
ASCII = frozenset(
    {
        "client_id", "client_secret", "response_type", "scope", "state", "redirect_uri",
        "code", "grant_type", "code_verifier", "code_challenge", "code_challenge_method",
        "refresh_token", "token", "token_type_hint", "prompt", "max_age", "acr_values",
        "response_mode", "id_token_hint", "post_logout_redirect_uri", "display", "ui_locales",
        "access_token", "resource",
    }
)  # fmt: skip
#: Parameters a request may repeat: "multiple resource parameters MAY be used" (RFC 8707 2).
REPEATABLE = frozenset({"resource"})
#: Longest values, by parameter; the rest are limited to ``DEFAULT_MAX``.
MAX_LENGTH = {
    "nonce": 512, "scope": 1000, "redirect_uri": 2000, "login_hint": 320, "resource": 2000,
}  # fmt: skip
#: At most this many values of a repeatable parameter.
MAX_REPEATS = 10
DEFAULT_MAX = 8192
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
#: C0 controls but TAB, LF and CR (JSON in ``claims`` may be pretty-printed), and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check(values: Mapping) -> None:
    """Refuse repeated, control-laden, non-ASCII (where ASCII is required) or oversized values.

    ``values`` is a werkzeug ``MultiDict`` (query and form together: a parameter sent in both
    is repeated too).
    """
    for name, items in values.lists():
        label = name if name in ASCII or name in MAX_LENGTH else "a parameter"
        if len(items) > (MAX_REPEATS if name in REPEATABLE else 1):
            raise InvalidRequestError(f"{label} must not be repeated (RFC 6749 3.1)")
        for item in items:
            _check_value(name, label, item)


def _check_value(name: str, label: str, value: str) -> None:
    if _CONTROL.search(value) or _CONTROL.search(name):
        raise InvalidRequestError(f"{label} contains a control character")
    if name in ASCII and not _PRINTABLE_ASCII.fullmatch(value):
        raise InvalidRequestError(f"{label} must be printable ASCII")
    if len(value) > MAX_LENGTH.get(name, DEFAULT_MAX):
        raise InvalidRequestError(f"{label} is too long")
