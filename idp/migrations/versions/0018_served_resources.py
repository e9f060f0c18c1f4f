"""The resources (RFC 8707) a client is the API of: it may introspect access tokens issued for
them (RFC 7662 4), whichever client received them.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "clients", sa.Column("served_resources", sa.JSON(), server_default="[]", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("served_resources")
