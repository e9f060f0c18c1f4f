"""Per-address rate limits in fixed windows, counted in the database so every worker shares them.

One upsert per hit (``INSERT ... ON CONFLICT DO UPDATE``, on SQLite and PostgreSQL alike). This
sits on top of the per-factor back-off: it slows an attacker who spreads guesses over many
accounts from one address. The address is handed in (``idp.web.ratelimit`` takes it from the
request), so the second-factor step counts its attempts without speaking HTTP.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from idp.clock import now
from idp.extensions import db
from idp.models.device import RateLimitCounter


class RateLimited(Exception):
    """Too many requests from this address; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__("Too many attempts from your network. Please wait a moment.")


def per_minute(scope: str, address: str | None) -> None:
    """Count one request of ``address`` in ``scope`` against ``IDP_RATE_LIMIT_PER_MINUTE``."""
    hit(scope, address, current_app.config["RATE_LIMIT_PER_MINUTE"], 60)


def hit(scope: str, address: str | None, limit: int, window: int) -> None:
    """Count one request of ``address`` in ``scope``; raise ``RateLimited`` over ``limit``."""
    at = now()
    start = at - at % window
    key = f"{scope}:{address}"
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(RateLimitCounter).values(key=key, window=start, hits=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key", "window"], set_={"hits": RateLimitCounter.hits + 1}
    ).returning(RateLimitCounter.hits)
    hits = db.session.execute(stmt).scalar_one()
    if hits == 1:
        db.session.execute(delete(RateLimitCounter).where(RateLimitCounter.window < start - 3600))
    if hits > limit:
        raise RateLimited(start + window - at)
