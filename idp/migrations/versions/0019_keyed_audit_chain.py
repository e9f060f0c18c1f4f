"""The keyed audit chain: each new row's hash is an HMAC under a key derived from the encryption
key ring, named by ``audit_events.mac_kid``; ``audit_chain.keyed_from`` records the cut-over
(rows before it keep their unkeyed SHA-256 hash and stay verifiable); ``audit_checkpoints``
holds the signed heads of the chain that reveal a deleted tail.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: SQLite's batch mode would copy the table and lose its triggers.
    op.add_column("audit_events", sa.Column("mac_kid", sa.String(length=64), nullable=True))
    chain = op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("keyed_from", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    last = op.get_bind().execute(sa.text("SELECT MAX(seq) FROM audit_events")).scalar()
    op.bulk_insert(chain, [{"id": 1, "keyed_from": (last or 0) + 1}])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain")
    op.drop_column("audit_events", "mac_kid")
