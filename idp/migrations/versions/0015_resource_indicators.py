"""Resource indicators (RFC 8707): a client's registered resources, a code's granted ones, and
each token's audience and the resources its refresh grant allows.

Rows from before have none: a client registered for no resource gets tokens for itself, as
before; a token's NULL audience is its client.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("resources", sa.JSON(), server_default="[]", nullable=False))
    op.add_column(
        "authorization_codes",
        sa.Column("resources", sa.JSON(), server_default="[]", nullable=False),
    )
    op.add_column("tokens", sa.Column("audience", sa.JSON(), nullable=True))
    op.add_column("tokens", sa.Column("resources", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("resources")
        batch_op.drop_column("audience")
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.drop_column("resources")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("resources")
