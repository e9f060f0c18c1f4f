"""acr values up to 200 characters in codes and tokens (configured levels may be long URIs).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("authorization_codes", "tokens")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "acr", existing_type=sa.String(length=64), type_=sa.String(length=200)
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "acr", existing_type=sa.String(length=200), type_=sa.String(length=64)
            )
