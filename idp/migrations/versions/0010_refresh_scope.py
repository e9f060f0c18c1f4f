"""A refresh token's own scope, kept whole when a refresh narrows the access token's.

RFC 6749 section 6: a new refresh token's scope MUST be identical to that of the one presented.
``tokens.scope`` is the access token's; rows from before this have NULL, read as ``scope``.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tokens", sa.Column("refresh_scope", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("refresh_scope")
