"""No index entries for NULLs that no query looks for: ``tokens.refresh_digest`` and
``audit_events.subject``.

A client-credentials token has no refresh token and its audit row no subject; both were still
written into an index (SQLite and PostgreSQL index NULLs). Every lookup is by a value, so partial
indexes (``WHERE ... IS NOT NULL``) serve the same queries, and uniqueness of refresh digests is
the same rule (NULLs never conflicted). The unique constraint on ``refresh_digest`` had no name
of its own: PostgreSQL named it ``tokens_refresh_digest_key``; on SQLite the table is rebuilt.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_UNNAMED_UNIQUE = {"uq": "uq_%(table_name)s_%(column_0_name)s"}  # SQLite: name it to drop it


def upgrade() -> None:
    _drop_refresh_digest_constraint()
    _partial_index("uq_tokens_refresh_digest", "tokens", "refresh_digest", unique=True)
    op.drop_index("ix_audit_events_subject", table_name="audit_events")
    _partial_index("ix_audit_events_subject", "audit_events", "subject")


def downgrade() -> None:
    op.drop_index("ix_audit_events_subject", table_name="audit_events")
    op.create_index("ix_audit_events_subject", "audit_events", ["subject"])
    op.drop_index("uq_tokens_refresh_digest", table_name="tokens")
    with op.batch_alter_table("tokens") as batch_op:
        batch_op.create_unique_constraint(_constraint_name(), ["refresh_digest"])


def _drop_refresh_digest_constraint() -> None:
    with op.batch_alter_table("tokens", naming_convention=_UNNAMED_UNIQUE) as batch_op:
        batch_op.drop_constraint(_constraint_name(), type_="unique")


def _constraint_name() -> str:
    """PostgreSQL's own name for the unnamed constraint of migration 0001; on SQLite the name
    ``_UNNAMED_UNIQUE`` gives it (or that a downgrade gave it)."""
    if op.get_bind().dialect.name == "postgresql":
        return "tokens_refresh_digest_key"
    return "uq_tokens_refresh_digest"


def _partial_index(name: str, table: str, column: str, unique: bool = False) -> None:
    where = sa.text(f"{column} IS NOT NULL")
    op.create_index(
        name, table, [column], unique=unique, sqlite_where=where, postgresql_where=where
    )
