"""What the console's audit log page reads: filtered rows newest first, paged by key, and the
same rows streamed for export.

Pages go by ``seq < before`` (never an offset, never a count of the table). The event, user,
client and address filters each have an index ending in ``seq`` (migration 0023), so a page
reads about a page of index entries however long the log is; the outcome (two values) and the
dates narrow what those read, and alone walk the primary key down from ``before``. A user is
named by email and looked up by their stable ``sub``, so a changed email still finds their
events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Select, select

from idp.accounts import users
from idp.extensions import db
from idp.models import AuditEvent

#: The largest ``seq`` (a BIGINT): a larger ``before`` means "from the newest".
MAX_SEQ = 2**63 - 1
#: How many rows an export reads per query.
EXPORT_BATCH = 500
#: Every column of a row, in the order the page and the export show them.
COLUMNS = ("seq", *AuditEvent.CHAINED_FIELDS, "prev_hash", "hash", "mac_kid")


class FilterError(ValueError):
    """A filter that cannot be read (a malformed date, an unknown email); its message is
    shown beside the form."""


@dataclass(frozen=True)
class Filters:
    """The page's filters as typed (each empty: not filtered); ``since`` and ``until`` are
    dates (``YYYY-MM-DD``, UTC), both days included."""

    since: str = ""
    until: str = ""
    event: str = ""
    email: str = ""
    client_id: str = ""
    outcome: str = ""
    ip: str = ""

    @classmethod
    def of(cls, args) -> Filters:
        """The filters in a request's query arguments, trimmed and bounded in length."""
        return cls(**{f.name: (args.get(f.name) or "").strip()[:320] for f in fields(cls)})

    def as_args(self) -> dict[str, str]:
        """The filters that are set, as query arguments for the page's links."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass(frozen=True)
class Page:
    """One page of rows, newest first, and the ``before`` of the next (``None``: last)."""

    rows: list[AuditEvent]
    next_before: int | None


def page(filters: Filters, *, before: int | None = None, limit: int = 50) -> Page:
    """Rows matching ``filters`` with ``seq < before``, newest first; raises ``FilterError``."""
    rows = _rows(_query(filters), before, limit + 1)
    more = len(rows) > limit
    return Page(rows[:limit], rows[limit - 1].seq if more else None)


def export(filters: Filters) -> Iterator[str]:
    """Every row matching ``filters``, newest first, one JSON object per line; read in batches
    by key, so memory stays one batch however many rows match. Raises ``FilterError`` before
    the first line.

    Each batch is its own short read: the transaction ends before its lines are handed out, so
    a slow download holds nothing (on SQLite every transaction takes the write lock).
    """
    query = _query(filters)

    def lines() -> Iterator[str]:
        before = None
        while True:
            batch = _rows(query, before, EXPORT_BATCH)
            text = [json.dumps(as_dict(row), sort_keys=True) + "\n" for row in batch]
            before = batch[-1].seq if batch else None
            db.session.rollback()  # read only: nothing to keep
            yield from text
            if len(batch) < EXPORT_BATCH:
                return

    return lines()


def pretty(detail: dict | None) -> str:
    """A row's ``detail`` as indented JSON for the page (escaped there like any text)."""
    return json.dumps(detail or {}, indent=2, sort_keys=True, ensure_ascii=False)


def as_dict(row: AuditEvent) -> dict:
    """Every field of ``row``: what the export writes and the page shows."""
    return {name: getattr(row, name) for name in COLUMNS}


def _rows(query: Select, before: int | None, limit: int) -> list[AuditEvent]:
    if before is not None and before <= MAX_SEQ:
        query = query.where(AuditEvent.seq < before)
    return list(db.session.execute(query.limit(limit)).scalars())


def _query(filters: Filters) -> Select:
    query = select(AuditEvent).order_by(AuditEvent.seq.desc())
    if filters.since:
        query = query.where(AuditEvent.at >= _midnight(filters.since, "From"))
    if filters.until:
        query = query.where(AuditEvent.at < _midnight(filters.until, "Until", days=1))
    if filters.email:
        query = query.where(AuditEvent.subject == _subject(filters.email))
    equal = {
        AuditEvent.event: filters.event,
        AuditEvent.client_id: filters.client_id,
        AuditEvent.outcome: filters.outcome,
        AuditEvent.ip: filters.ip,
    }
    return query.where(*(column == value for column, value in equal.items() if value))


def _midnight(day: str, label: str, days: int = 0) -> int:
    """Epoch seconds of ``day``'s start (UTC), ``days`` later."""
    try:
        start = date.fromisoformat(day) + timedelta(days=days)
    except (ValueError, OverflowError) as exc:
        raise FilterError(f"{label}: a date as YYYY-MM-DD.") from exc
    return int(datetime.combine(start, datetime.min.time(), UTC).timestamp())


def _subject(email: str) -> str:
    user = users.by_email(email)
    if user is None:
        raise FilterError("No user has this email.")
    return user.sub
