"""Rate limits by the requesting client's address (``idp.models.rate_limits`` counts them)."""

from __future__ import annotations

from flask import request

from idp.models import rate_limits


def hit(scope: str) -> None:
    """Count this request in ``scope``: at most ``IDP_RATE_LIMIT_PER_MINUTE`` per address."""
    rate_limits.per_minute(scope, request.remote_addr)
