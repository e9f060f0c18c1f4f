"""Each second-factor kind declared once: its name, label, amr, verifier and pages.

A factor module declares its kind with ``declare`` when it is imported (as authentik's device
challengers register themselves); ``idp.factors.registry`` imports them all and looks kinds up,
so adding a kind means writing one module. The pure policy keeps its own plain-string list
(``idp.policy.rules.FACTOR_KINDS``); a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from idp.factors.base import Verification
from idp.models import Challenge, Factor, User
from idp.models.factor import FactorKind

#: Checks an answer to a challenge of this kind; raises ``FactorError`` when it is wrong.
Verifier = Callable[[Challenge, Factor, User, Any], Verification]


@dataclass(frozen=True)
class Kind:
    """One kind of second factor.

    ``amr`` are the RFC 8176 values answering it adds; ``factor_amr`` replaces them where they
    depend on the factor (a passkey's key: ``hwk`` or ``swk``). ``method`` names the
    authentication event it records in the sign-in session. ``routine`` kinds are offered at
    every sign-in (backup codes are for recovery). ``signin_page`` and ``enroll_page`` are the
    endpoints that answer and add one (``None``: it is not added on a page of its own).
    """

    name: str
    label: str
    method: str
    amr: frozenset[str]
    verify: Verifier
    signin_page: str
    enroll_page: str | None
    routine: bool = True
    factor_amr: Callable[[Factor], frozenset[str]] | None = None

    def amr_of(self, factor: Factor) -> frozenset[str]:
        """The amr values answering ``factor`` adds."""
        return self.factor_amr(factor) if self.factor_amr else self.amr

    def verification(self, factor_id: int | None, amr: frozenset[str] | None = None):
        """The successful answer to a factor of this kind, as the sign-in session records it."""
        return Verification(factor_id, self.method, tuple(sorted(amr or self.amr)))


_DECLARED: dict[str, Kind] = {}


def declare(kind: Kind) -> Kind:
    """Register ``kind`` (once: a second declaration of a name is a programming error)."""
    if FactorKind(kind.name).value in _DECLARED:
        raise ValueError(f"factor kind {kind.name} is declared twice")
    _DECLARED[kind.name] = kind
    return kind


def of(name: str) -> Kind:
    """The declared kind called ``name`` (a stored ``Factor.kind``)."""
    return _DECLARED[name]


def declared() -> tuple[Kind, ...]:
    """Every declared kind, in the order of ``FactorKind`` (how pages list them)."""
    return tuple(_DECLARED[k.value] for k in FactorKind if k.value in _DECLARED)
