"""A verified token's claims: a read-only ``dict``.

A ``dict`` and not a ``MappingProxyType`` so that what an app does with claims just works --
``json.dumps``, Flask's ``jsonify``, ``dataclasses.asdict``, ``copy`` and ``pickle`` -- while
the claims a verifier checked still cannot be changed behind its back. Read-only one level
deep, like the proxy was: values are what PyJWT decoded (lists stay lists, so ``aud`` and
``amr`` compare equal to the JSON they came from).
"""

from __future__ import annotations

from typing import Any, NoReturn


class Claims(dict[str, Any]):
    """A verified token's claims; ``dict(claims)`` or ``claims.copy()`` is a mutable copy."""

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a verified token's claims cannot be changed")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def copy(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(self)

    def __reduce__(self) -> tuple[type[Claims], tuple[dict[str, Any]]]:
        """Pickle and ``copy`` rebuild from a plain dict (their default would call
        ``__setitem__``)."""
        return (Claims, (dict(self),))

    def __repr__(self) -> str:
        return f"Claims({dict.__repr__(self)})"
