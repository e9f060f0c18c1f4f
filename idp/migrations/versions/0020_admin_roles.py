"""The console's roles and the indexes its user list reads.

``admin`` (manages users in the console at ``/admin/`` and with ``idp users set-roles``) and
``auditor`` (reads the console, changes nothing) are created unless roles of those names exist
already: an operator who made them by hand keeps theirs, policy included. The user list searches
by email and name prefix (``ix_users_email_prefix``, ``ix_users_name``: on PostgreSQL with the
pattern operator class, which serves ``LIKE 'prefix%'`` under any collation; SQLite searches
them by range) and filters by role in id order (``ix_user_roles_role_user``: the primary key
starts with the user), so none of them reads the whole table.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

ROLES = {
    "admin": "Manages users in the admin console",
    "auditor": "Reads the admin console; changes nothing",
}


def upgrade() -> None:
    roles = sa.table("roles", sa.column("name", sa.String), sa.column("description", sa.String))
    bind = op.get_bind()
    existing = set(bind.execute(sa.select(roles.c.name).where(roles.c.name.in_(ROLES))).scalars())
    missing = [{"name": n, "description": d} for n, d in ROLES.items() if n not in existing]
    if missing:
        op.bulk_insert(roles, missing)
    for index, column in (("ix_users_name", "name"), ("ix_users_email_prefix", "email")):
        op.create_index(index, "users", [column], postgresql_ops={column: "text_pattern_ops"})
    op.create_index("ix_user_roles_role_user", "user_roles", ["role_id", "user_id"])


def downgrade() -> None:
    # The roles stay: users may hold them, and a role made by hand looks the same.
    op.drop_index("ix_user_roles_role_user", table_name="user_roles")
    op.drop_index("ix_users_email_prefix", table_name="users")
    op.drop_index("ix_users_name", table_name="users")
