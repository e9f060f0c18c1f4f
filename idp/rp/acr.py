"""Ordered authentication context class references (acr) as a relying app sees them.

A provider echoes the acr value it satisfied, and levels are ordered: a phishing-resistant
sign-in (``phr``) is also a multi-factor one. So "the token's acr is one of the required values"
is too strict; "the token's acr is at least as strong as one of them" is what an app means.
The order is data, configurable per app; the default is this provider's, weakest first, with
its Keycloak-style numeric aliases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

PASSWORD = "urn:idp:acr:pwd"  # noqa: S105 (an acr URN, not a secret)
MFA = "urn:idp:acr:mfa"
PHR = "phr"  # OpenID EAP ACR Values: phishing-resistant
PHRH = "phrh"  # OpenID EAP ACR Values: phishing-resistant, hardware-protected key

DEFAULT_ORDER: tuple[str, ...] = (PASSWORD, MFA, PHR, PHRH)
DEFAULT_ALIASES: Mapping[str, str] = MappingProxyType({"0": PASSWORD, "1": MFA, "2": PHR})


@dataclass(frozen=True, eq=False)
class AcrLevels:
    """acr levels, weakest first, and aliases that name a level.

    A value that is neither a level nor an alias is only met by itself (exact match), so an
    app can still require a provider-specific value this list does not know.
    """

    order: tuple[str, ...] = DEFAULT_ORDER
    aliases: Mapping[str, str] = field(default_factory=lambda: DEFAULT_ALIASES)

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", tuple(self.order))
        object.__setattr__(self, "aliases", MappingProxyType(dict(self.aliases)))
        if len(set(self.order)) != len(self.order):
            raise ValueError("acr levels must be distinct")
        unknown = sorted(t for t in self.aliases.values() if t not in self.order)
        if unknown:
            raise ValueError(f"aliases name unknown levels: {', '.join(unknown)}")

    def canonical(self, value: str) -> str:
        """The level an alias names; any other value unchanged."""
        return self.aliases.get(value, value)

    def rank(self, value: str) -> int | None:
        """Position of ``value`` (or of the level it aliases) in the order; None if unknown."""
        name = self.canonical(value)
        return self.order.index(name) if name in self.order else None

    def meets(self, achieved: str | None, required: str) -> bool:
        """True if a token whose acr is ``achieved`` satisfies a requirement for ``required``."""
        if not achieved:
            return False
        if self.canonical(achieved) == self.canonical(required):
            return True
        have, need = self.rank(achieved), self.rank(required)
        return have is not None and need is not None and have >= need


DEFAULT_LEVELS = AcrLevels()
