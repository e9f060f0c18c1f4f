"""Which refresh token's rotation issued each one: a family is one chain (refresh reuse interval).

A refresh token rotated moments ago may be presented again by its client when the response
carrying its successor was lost; within ``IDP_REFRESH_REUSE_INTERVAL`` the grant re-issues it
and retires that successor, found by ``rotated_from``. A plain id, not a foreign key, and no
index: it is only compared within one family, which ``ix_tokens_family`` finds. Rows from before
this have NULL: a token rotated before the upgrade is never re-issued (its reuse is a replay).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tokens", sa.Column("rotated_from", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("rotated_from")
