"""Migration 0020 creates the console's roles, keeping roles of those names made by hand."""

from __future__ import annotations

from sqlalchemy import column, insert, select, table

from idp import db as schema
from idp.app import create_app
from idp.extensions import db
from idp.models import Role


def test_upgrade_keeps_an_admin_role_that_exists_and_adds_the_missing_auditor(tmp_path):
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'idp.db'}"}
    )
    with app.app_context():
        schema.upgrade("0019")
        # as the schema was then: the models have columns added later (migration 0024)
        then = table("roles", column("name"), column("description"))
        db.session.execute(insert(then).values(name="admin", description="made by hand"))
        db.session.commit()
        schema.upgrade()
        roles = dict(db.session.execute(select(Role.name, Role.description)).all())
    assert roles["admin"] == "made by hand"
    assert roles["auditor"] == "Reads the admin console; changes nothing"
