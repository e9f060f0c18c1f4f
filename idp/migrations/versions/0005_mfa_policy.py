"""MFA policy: role policy columns, the global default, per-user overrides, enrollment grace,
and the client's minimum and default acr.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _policy_columns() -> list[sa.Column]:
    return [
        sa.Column("mfa_factors", sa.JSON(), nullable=True),
        sa.Column("remember_device", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("factor_max_age", sa.Integer(), nullable=True),
        sa.Column("grace_signins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("grace_days", sa.Integer(), server_default="0", nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("roles", schema=None) as batch_op:
        for column in _policy_columns():
            batch_op.add_column(column)
    op.create_table(
        "default_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mfa_mode", sa.String(length=16), server_default="off", nullable=False),
        *_policy_columns(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "policy_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("until", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("grace_started_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("grace_skips", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("minimum_acr", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("default_acr_values", sa.JSON(), server_default="[]", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("default_acr_values")
        batch_op.drop_column("minimum_acr")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("grace_skips")
        batch_op.drop_column("grace_started_at")
    op.drop_table("policy_overrides")
    op.drop_table("default_policy")
    with op.batch_alter_table("roles", schema=None) as batch_op:
        for column in reversed(_policy_columns()):
            batch_op.drop_column(column.name)
