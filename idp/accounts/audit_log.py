"""What the console's audit log page reads: filtered rows newest first, paged by key, and the
same rows streamed for export.

Pages go by ``seq < before`` (never an offset, never a count of the table). The event, user,
client and address filters each have an index ending in ``seq`` (migration 0023), so a page
reads about a page of index entries however long the log is; the outcome (two values) and the
dates narrow what those read. Without those filters the outcome alone walks the primary key
down from ``before``; dates holding the smaller share of the log first find the ``seq`` range of
their days in the (at, seq) index (migration 0027), so a day long past is read without walking
every newer row above it (``_seq_bounds``). A user is named by email and looked up by their
stable ``sub``, so a changed email still finds their events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Select, false, func, select

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
    since = _midnight(filters.since, "From") if filters.since else None
    until = _midnight(filters.until, "Until", days=1) if filters.until else None
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    if (since, until) != (None, None) and not _indexed(filters):
        query = query.where(*_seq_bounds(since, until))
    if filters.email:
        query = query.where(AuditEvent.subject == _subject(filters.email))
    equal = {
        AuditEvent.event: filters.event,
        AuditEvent.client_id: filters.client_id,
        AuditEvent.outcome: filters.outcome,
        AuditEvent.ip: filters.ip,
    }
    return query.where(*(column == value for column, value in equal.items() if value))


def _indexed(filters: Filters) -> bool:
    """Whether a filter with an index ending in ``seq`` is set (it then drives the page)."""
    return any((filters.event, filters.email, filters.client_id, filters.ip))


def _seq_bounds(since: int | None, until: int | None) -> tuple:
    """Conditions on ``seq`` that spare the page walking rows outside ``since <= at < until``.

    The page walks the primary key down from the newest row (or ``before``) and keeps the rows
    in range: cheap when the range holds most of the log from its newest end, slow when the
    range lies in the past (every newer row is read first, and the last page reads on to the
    oldest). Then the smallest and largest ``seq`` of the range's entries in the (at, seq)
    index (migration 0027) bound the walk: that reads the range's index entries, so it is
    chosen when the range is the smaller share of the log. Which share is estimated from the
    log's first and last ``at``, two index lookups, as if rows came at an even pace; either way
    the result is exact. The page keeps its filter on ``at`` too: rows are appended in about
    ``at`` order, but the nodes' clocks need not agree, so a row may carry an earlier ``at``
    than the one before it, and bounds found from the range's first and last ``at`` alone
    could miss it. No row in range: no row."""
    span = _span()
    if span is None:
        return ()
    first, end = span
    low = first if since is None else max(since, first)
    high = end if until is None else min(until, end)
    if low >= high:
        return (false(),)
    if high - low >= (end - high) + (low - first):
        return ()
    in_range = [AuditEvent.at >= since] if since is not None else []
    in_range += [AuditEvent.at < until] if until is not None else []
    # ``seq + 0``: PostgreSQL would otherwise answer min and max by walking the primary key
    # from either end until a row is in range, the very walk this spares the page.
    seq = AuditEvent.seq + 0
    low_seq, high_seq = db.session.execute(
        select(func.min(seq), func.max(seq)).where(*in_range)
    ).one()
    if low_seq is None:
        return (false(),)
    return AuditEvent.seq >= low_seq, AuditEvent.seq <= high_seq


def _span() -> tuple[int, int] | None:
    """The log's first ``at`` and one past its last (``None``: empty), from the (at, seq) index."""
    first, last = db.session.execute(
        select(
            select(func.min(AuditEvent.at)).scalar_subquery(),
            select(func.max(AuditEvent.at)).scalar_subquery(),
        )
    ).one()
    return None if first is None else (first, last + 1)


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
