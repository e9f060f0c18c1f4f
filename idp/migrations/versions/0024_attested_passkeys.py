"""Attested passkeys: the authenticator allow-list, and the policy switch that requires it.

``authenticator_models`` holds the models (AAGUIDs) whose attested passkeys reach the
hardware-bound level (``phrh``) for users whose policy requires attestation, with the root
certificates their attestation must chain to. ``require_attested_passkeys`` on roles and the
default policy turns the requirement on (off for every existing policy: nothing changes until an
admin asks for it).

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

POLICY_TABLES = ("roles", "default_policy")


def upgrade() -> None:
    op.create_table(
        "authenticator_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("aaguid", sa.String(length=36), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("root_certificates", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.BigInteger(), nullable=False),
        sa.Column("allowed", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("aaguid"),
    )
    for table in POLICY_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "require_attested_passkeys",
                    sa.Boolean(),
                    server_default=sa.false(),
                    nullable=False,
                )
            )


def downgrade() -> None:
    for table in reversed(POLICY_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("require_attested_passkeys")
    op.drop_table("authenticator_models")
