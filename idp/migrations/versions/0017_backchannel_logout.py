"""OpenID Connect Back-Channel Logout 1.0: a client's ``backchannel_logout_uri`` and the queue
of logout notices still to deliver (``idp.models.logout_notice``).

A notice is written in the transaction that ends a session, so nothing is lost when a process
dies after its commit. Only notices still waiting are indexed (``ix_logout_notices_due``): the
dispatchers look for those every second or two, and delivered ones stay out of the index.
Ending a session follows ``login_sessions.superseded_by`` backwards (the sessions it continued):
indexed where set.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_WAITING = sa.text("delivered_at IS NULL AND gave_up_at IS NULL")


def upgrade() -> None:
    op.add_column("clients", sa.Column("backchannel_logout_uri", sa.String(2000), nullable=True))
    op.create_table(
        "logout_notices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("sub", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("gave_up_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
    )
    op.create_index(
        "ix_logout_notices_due",
        "logout_notices",
        ["next_attempt_at"],
        sqlite_where=_WAITING,
        postgresql_where=_WAITING,
    )
    superseded = sa.text("superseded_by IS NOT NULL")
    op.create_index(
        "ix_login_sessions_superseded_by",
        "login_sessions",
        ["superseded_by"],
        sqlite_where=superseded,
        postgresql_where=superseded,
    )


def downgrade() -> None:
    op.drop_index("ix_login_sessions_superseded_by", table_name="login_sessions")
    op.drop_index("ix_logout_notices_due", table_name="logout_notices")
    op.drop_table("logout_notices")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("backchannel_logout_uri")
