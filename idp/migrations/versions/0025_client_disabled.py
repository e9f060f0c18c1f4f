"""Clients an admin disables (issue 14): ``clients.disabled_at``.

A disabled client is treated as unknown by every endpoint (``server.query_client`` reads the
column afresh on each request): ``/authorize`` shows an error page instead of redirecting,
the token, introspection and revocation endpoints answer ``invalid_client``; its tokens were
revoked when it was disabled. Empty for every existing client: nobody is disabled by the
upgrade. Who disabled it, and when it was enabled again, is in the audit log.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (nullable): no table copy on SQLite, no rewrite on PostgreSQL.
    op.add_column("clients", sa.Column("disabled_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): batch mode would copy and drop ``clients``.
    op.drop_column("clients", "disabled_at")
