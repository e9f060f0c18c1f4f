"""Indexes for the console's reads at a million users (issue 14).

- ``audit_events (at, seq)``: the audit log page filtered by dates alone. The page lists rows
  newest first by ``seq``; without this index a day long past meant walking the primary key
  down through every newer row. Now the page first takes the smallest and largest ``seq`` of
  the days' index range (exact even when the nodes' clocks disagree and ``at`` steps back),
  then walks only that ``seq`` range. Appended at the right edge, like the ``seq`` indexes of
  migration 0023: the added write per audit row touches a page already in memory.
- ``factors (locked_at)`` and ``factors (blocked_until)``, partial: the dashboard's lists of
  factors locked or cooling down now (and their counts) read a few entries instead of every
  factor; almost every factor has neither, so they stay small.
- ``users (grace_started_at)``, partial: the user list's "in grace" filter starts from the few
  users whose enrollment grace began instead of testing every user.

The dashboard's enrolment figures (counts over all users and factors) get no index: an index
leading with ``status`` tempts SQLite's planner (which keeps no statistics here) away from
``factors (user_id)`` for a user's own factors, which every sign-in reads. They are kept for a
minute per process instead (``IDP_ADMIN_DASHBOARD_TTL``, ``idp.accounts.admin_view``).

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

#: name -> (table, columns, the column whose non-NULL rows alone are indexed, or None).
INDEXES = {
    "ix_audit_events_at_seq": ("audit_events", ["at", "seq"], None),
    "ix_factors_locked_at": ("factors", ["locked_at"], "locked_at"),
    "ix_factors_blocked_until": ("factors", ["blocked_until"], "blocked_until"),
    "ix_users_grace_started_at": ("users", ["grace_started_at"], "grace_started_at"),
}


def upgrade() -> None:
    for name, (table, columns, not_null) in INDEXES.items():
        where = sa.text(f"{not_null} IS NOT NULL") if not_null else None
        op.create_index(name, table, columns, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, (table, _, _) in reversed(INDEXES.items()):
        op.drop_index(name, table_name=table)
