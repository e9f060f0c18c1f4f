"""Leaner indexes on the two tables every token response writes: each index is a page more.

``ix_tokens_client_id`` served no query; ``code_id`` and ``family`` are looked up only when a
code or refresh token is replayed, and only non-NULL values are ever looked for, so their indexes
become partial (``WHERE ... IS NOT NULL``): a client-credentials token, which has neither, no
longer writes to them. ``ix_audit_events_event`` served no query either, and an index on a
column of a few dozen values would help little when one does: the audit log is read by seq (the
chain) and by subject (a user's own events), which keep their indexes.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PARTIAL = ("code_id", "family")


def upgrade() -> None:
    op.drop_index("ix_tokens_client_id", table_name="tokens")
    op.drop_index("ix_audit_events_event", table_name="audit_events")
    for column in PARTIAL:
        op.drop_index(f"ix_tokens_{column}", table_name="tokens")
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_tokens_{column}", "tokens", [column], sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    for column in PARTIAL:
        op.drop_index(f"ix_tokens_{column}", table_name="tokens")
        op.create_index(f"ix_tokens_{column}", "tokens", [column])
    op.create_index("ix_audit_events_event", "audit_events", ["event"])
    op.create_index("ix_tokens_client_id", "tokens", ["client_id"])
