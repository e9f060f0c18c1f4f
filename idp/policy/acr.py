"""Authentication context class references: ordered levels and the amr sets that satisfy them.

Levels are ordered weakest first, and a stronger level satisfies every weaker one: a request for
the MFA level is met by a phishing-resistant sign-in. Each level lists the amr sets (RFC 8176)
that reach it; any one set suffices. ``phr`` and ``phrh`` are the OpenID EAP ACR values
(phishing-resistant; phishing-resistant with a hardware-bound key): a passkey in a multi-factor
sign-in, synced or not for ``phr``, device-bound (``hwk``) for ``phrh``. Aliases (Keycloak-style
``0``/``1``/``2``) name a level; the token's acr echoes the value the client asked for.

Operators may replace the defaults with ``IDP_ACR_LEVELS`` and ``IDP_ACR_ALIASES`` (JSON).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from idp.policy.amr import with_mfa

PASSWORD = "urn:idp:acr:pwd"  # noqa: S105 (an acr URN, not a secret)
MFA = "urn:idp:acr:mfa"
PHR = "phr"
PHRH = "phrh"

AmrSets = tuple[frozenset[str], ...]


@dataclass(frozen=True)
class Levels:
    """The configured acr levels (weakest first) and their aliases."""

    order: tuple[tuple[str, AmrSets], ...]
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def supported(self) -> tuple[str, ...]:
        """Every acr value a client may ask for, for discovery's ``acr_values_supported``."""
        return tuple(name for name, _ in self.order) + tuple(self.aliases)

    def rank(self, value: str) -> int | None:
        """The position of a level (or an alias's level) in the order; None if unknown."""
        name = self.aliases.get(value, value)
        return next((i for i, (level, _) in enumerate(self.order) if level == name), None)

    def satisfied(self, value: str, amr: tuple[str, ...] | frozenset[str]) -> bool:
        """True if ``amr`` reaches ``value`` or a stronger level."""
        rank = self.rank(value)
        if rank is None:
            return False
        have = set(amr)
        return any(need <= have for _, sets in self.order[rank:] for need in sets)

    def achieved(self, amr: tuple[str, ...]) -> str:
        """The strongest level ``amr`` reaches; empty when none."""
        reached = [level for level, _ in self.order if self.satisfied(level, amr)]
        return reached[-1] if reached else ""

    def reachable(self, value: str, amr_options: tuple[frozenset[str], ...]) -> bool:
        """Whether some combination of the given amr sets (what the user could still show) would
        reach ``value``."""
        combined: set[str] = set().union(*amr_options) if amr_options else set()
        return self.satisfied(value, with_mfa(combined))


DEFAULT = Levels(
    order=(
        (PASSWORD, (frozenset({"pwd"}),)),
        (MFA, (frozenset({"mfa"}),)),
        (PHR, (frozenset({"hwk", "mfa"}), frozenset({"swk", "mfa"}))),
        (PHRH, (frozenset({"hwk", "mfa"}),)),
    ),
    aliases={"0": PASSWORD, "1": MFA, "2": PHR},
)


def parse_levels(levels_json: str, aliases_json: str) -> Levels:
    """``IDP_ACR_LEVELS`` / ``IDP_ACR_ALIASES`` as ``Levels``; empty strings keep the defaults.

    ``IDP_ACR_LEVELS`` is a JSON object, weakest level first, of level -> list of amr lists;
    ``IDP_ACR_ALIASES`` a JSON object of alias -> level. Raises ``ValueError`` on bad input.
    """
    order = DEFAULT.order
    if levels_json:
        data = json.loads(levels_json)
        if not isinstance(data, dict) or not data:
            raise ValueError("expected a JSON object of level -> [[amr, ...], ...]")
        order = tuple((name, _amr_sets(name, sets)) for name, sets in data.items())
    names = {name for name, _ in order}
    if not aliases_json:
        _check_names(list(names))
        kept = {a: t for a, t in DEFAULT.aliases.items() if t in names}
        return Levels(order=order, aliases=kept)
    aliases = json.loads(aliases_json)
    if not isinstance(aliases, dict):
        raise ValueError("aliases must be a JSON object of alias -> level")
    _check_names([*names, *map(str, aliases)])
    unknown = sorted(t for t in aliases.values() if t not in names)
    if unknown:
        raise ValueError(f"aliases name unknown levels: {', '.join(unknown)}")
    return Levels(order=order, aliases=aliases)


MAX_NAME = 200  # the acr columns of codes and tokens


def _check_names(names: list[str]) -> None:
    long = [n for n in names if not 0 < len(n) <= MAX_NAME]
    if long:
        raise ValueError(f"level and alias names are 1 to {MAX_NAME} characters: {long[0][:40]!r}")


def _amr_sets(name: str, sets: object) -> AmrSets:
    if not isinstance(sets, list) or not sets:
        raise ValueError(f"level {name!r} needs a non-empty list of amr lists")
    parsed = []
    for amr in sets:
        if not isinstance(amr, list) or not amr or not all(isinstance(v, str) for v in amr):
            raise ValueError(f"level {name!r}: each amr set is a non-empty list of strings")
        parsed.append(frozenset(amr))
    return tuple(parsed)
