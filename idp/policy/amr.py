"""RFC 8176 amr values, the factor category of each, and when ``mfa`` applies.

``mfa`` is added when the values show two or more distinct categories of factor (something you
know, have, are), e.g. a password and a TOTP code, or a passkey with user verification.
"""

from __future__ import annotations

KNOW, HAVE, ARE = "know", "have", "are"
CATEGORY = {
    "pwd": KNOW,
    "pin": KNOW,
    "kba": KNOW,
    "otp": HAVE,
    "sms": HAVE,
    "hwk": HAVE,
    "swk": HAVE,
    "user": ARE,
    "fpt": ARE,
    "face": ARE,
}


def with_mfa(values: set[str]) -> tuple[str, ...]:
    """The sorted amr claim, with ``mfa`` when two categories of factor were used."""
    categories = {CATEGORY[v] for v in values if v in CATEGORY}
    if len(categories) >= 2:
        values = values | {"mfa"}
    return tuple(sorted(values))
