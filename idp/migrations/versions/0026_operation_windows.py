"""Sensitive-operation windows set in the console (issue 14): ``operation_windows``.

One row per operation an admin has set; without a row the configuration
(``IDP_STEPUP_WINDOWS``, else ``IDP_STEPUP_WINDOW``) decides, so nothing changes on upgrade.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operation_windows",
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("operation"),
    )


def downgrade() -> None:
    op.drop_table("operation_windows")
