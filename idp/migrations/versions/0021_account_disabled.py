"""Accounts an admin disables (issue 14): ``users.disabled_at`` and ``users.disabled_reason``.

A disabled account cannot sign in, and its tokens stop working (``User.enabled`` is the one
predicate the sign-in pages, the token endpoint, introspection and UserInfo ask). The moment
is kept for the console and the reason for the next admin to read; who did it is in the audit
log. Both are empty for every existing account: nobody is disabled by the upgrade.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (nullable): no table copy on SQLite, no rewrite on PostgreSQL.
    op.add_column("users", sa.Column("disabled_at", sa.BigInteger(), nullable=True))
    op.add_column("users", sa.Column("disabled_reason", sa.String(length=500), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+): batch mode would copy and drop ``users``, and dropping
    # it with foreign keys enforced would cascade to every row that references a user.
    op.drop_column("users", "disabled_reason")
    op.drop_column("users", "disabled_at")
