"""The browser's session moves server-side: one row per session key, named by the cookie's digest.

Responses write only the keys their request changed and set the cookie only when its id
changes, so a late answer to a background request can no longer overwrite a newer sign-in state
(``idp.web.session_store``). Cookies of older versions (signed session content) name no rows:
such a browser starts a fresh session, as after a restart with a new secret key.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "browser_state",
        sa.Column("browser", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("browser", "key"),
    )
    op.create_index("ix_browser_state_expires_at", "browser_state", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_browser_state_expires_at", table_name="browser_state")
    op.drop_table("browser_state")
