"""Authentication context class references and the amr sets that satisfy them.

The first issue only has passwords, so the single level is ``urn:idp:acr:pwd``; the factors and
policy issues add the MFA and phishing-resistant levels (OpenID EAP ACR Values ``phr``/``phrh``).
"""

from __future__ import annotations

PASSWORD = "urn:idp:acr:pwd"  # noqa: S105 (an acr URN, not a secret)
MFA = "urn:idp:acr:mfa"

#: Each level maps to the amr sets that satisfy it; any one set suffices. Weakest first.
LEVELS: dict[str, tuple[frozenset[str], ...]] = {
    PASSWORD: (frozenset({"pwd"}),),
    MFA: (frozenset({"mfa"}),),
}

SUPPORTED = tuple(LEVELS)


def satisfied(level: str, amr: tuple[str, ...]) -> bool:
    """True if the session's amr values meet ``level``."""
    have = set(amr)
    return any(need <= have for need in LEVELS.get(level, ()))


def achieved(amr: tuple[str, ...]) -> str:
    """The strongest level the amr values reach (levels are listed weakest first)."""
    best = ""
    for level in LEVELS:
        if satisfied(level, amr):
            best = level
    return best
