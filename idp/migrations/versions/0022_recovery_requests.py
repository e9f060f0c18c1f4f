"""Two-admin recovery requests (issue 14): ``recovery_requests``.

A user who lost every second factor and their backup codes asks for recovery after the password
step; two different admins record how they checked the user's identity and approve (one, where
``IDP_RECOVERY_SINGLE_APPROVER`` allows it), and a single-use link, stored as its SHA-256
digest, lets the user add a new second factor. The status moves by conditional UPDATEs
(``idp.models.recovery``). A partial unique index keeps one open request per user, so a repeated
request (or two at once) cannot make a second; the status index serves the console's list and
the dashboard's count. Approvers are kept as user ids with ``SET NULL``: deleting an admin's
account must not delete the requests they decided (their audit rows keep the email).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_OPEN = sa.text("status IN ('requested', 'approved_once', 'approved')")


def upgrade() -> None:
    op.create_table(
        "recovery_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("first_approver_id", sa.Integer(), nullable=True),
        sa.Column("first_note", sa.String(length=1000), nullable=True),
        sa.Column("first_approved_at", sa.BigInteger(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decision_note", sa.String(length=1000), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("link_digest", sa.String(length=64), nullable=True),
        sa.Column("link_opened_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["first_approver_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("link_digest"),
    )
    op.create_index("ix_recovery_requests_user_id", "recovery_requests", ["user_id"])
    op.create_index("ix_recovery_requests_status", "recovery_requests", ["status"])
    op.create_index(
        "uq_recovery_requests_open",
        "recovery_requests",
        ["user_id"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("uq_recovery_requests_open", table_name="recovery_requests")
    op.drop_index("ix_recovery_requests_status", table_name="recovery_requests")
    op.drop_index("ix_recovery_requests_user_id", table_name="recovery_requests")
    op.drop_table("recovery_requests")
