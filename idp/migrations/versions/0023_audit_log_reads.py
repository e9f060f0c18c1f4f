"""Indexes the console's audit log page (``/admin/audit``) and dashboard read (issue 14).

Every token response appends an audit row, so each index is a page written per response
(migration 0008 dropped the unused ones). The page lists rows newest first and pages by key
(``seq < before``) under one filter at a time; each index below serves one filter so that a
page reads about a page of entries, not the table:

- ``(event, seq)``: the event filter (``token_issued`` alone is millions of rows; without it a
  rare event means walking the whole table backwards).
- ``(event, at)``: the dashboard's sign-in counts of the last day and month, a range of one
  event's entries rather than every ``sign_in`` ever written.
- ``(client_id, seq)``, partial: the client filter; sign-ins and CLI events have no client and
  write no entry.
- ``(ip, seq)``, partial: the address filter (what else came from this address?); CLI events
  have none.
- ``(subject, seq)``, partial, replaces ``(subject)`` (migration 0009): the same one entry per
  row, but now in ``seq`` order, so a user's events page (console, security page) reads the
  newest entries instead of sorting all of that user's rows; no extra write.

A time range is no index of its own: it narrows the filters above, and alone it walks the
primary key down from the newest row (or ``before``), which stops after a page unless the
range is far in the past. Entries ending in ``seq`` are appended at the right edge of their
key's run, so the added writes touch pages already in memory.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

TABLE = "audit_events"
#: column -> partial (only non-NULL values are ever looked for).
BY_SEQ = {"event": False, "client_id": True, "ip": True, "subject": True}


def upgrade() -> None:
    op.drop_index("ix_audit_events_subject", table_name=TABLE)
    for column, partial in BY_SEQ.items():
        _index(f"ix_audit_events_{column}_seq", [column, "seq"], column if partial else None)
    _index("ix_audit_events_event_at", ["event", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_event_at", table_name=TABLE)
    for column in BY_SEQ:
        op.drop_index(f"ix_audit_events_{column}_seq", table_name=TABLE)
    _index("ix_audit_events_subject", ["subject"], "subject")


def _index(name: str, columns: list[str], not_null: str | None = None) -> None:
    where = sa.text(f"{not_null} IS NOT NULL") if not_null else None
    op.create_index(name, TABLE, columns, sqlite_where=where, postgresql_where=where)
