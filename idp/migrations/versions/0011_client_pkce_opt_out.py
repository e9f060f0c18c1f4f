"""PKCE for every client: confidential clients may omit it only with a registered opt-out.

RFC 9700 section 2.1.1 and OAuth 2.1 recommend PKCE for confidential clients too. Clients from
before this keep no opt-out (false): a confidential client that never sent PKCE needs
``idp clients update CLIENT_ID --allow-no-pkce`` (audited) or to start sending it.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "clients",
        sa.Column("allow_no_pkce", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("allow_no_pkce")
