"""Tokens end with their session: online refresh tokens (a client's opt-in), the offline mark
of ``offline_access`` grants, and which session a re-authentication continued.

Refresh tokens issued before this were not bound to a session: they are marked offline, so an
upgrade signs no one's app out.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "clients",
        sa.Column("online_refresh", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "tokens", sa.Column("offline", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.execute("UPDATE tokens SET offline = TRUE WHERE refresh_digest IS NOT NULL")
    op.add_column("login_sessions", sa.Column("superseded_by", sa.String(64), nullable=True))
    # Ending a session revokes its tokens by sid; client-credentials tokens (no sid) stay out.
    where = sa.text("sid IS NOT NULL")
    op.create_index("ix_tokens_sid", "tokens", ["sid"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_tokens_sid", table_name="tokens")
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.drop_column("superseded_by")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("offline")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("online_refresh")
