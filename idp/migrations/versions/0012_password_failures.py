"""Consecutive password failures per account, from any address (NIST SP 800-63B 5.2.2).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "password_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.BigInteger(), nullable=False),
        sa.Column("blocked_until", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(
        "ix_password_failures_last_failure_at", "password_failures", ["last_failure_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_password_failures_last_failure_at", table_name="password_failures")
    op.drop_table("password_failures")
