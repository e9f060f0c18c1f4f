"""Migration 0021 (``users.disabled_at``, ``users.disabled_reason``) goes down and up on
SQLite and PostgreSQL, keeps the users, and matches the model."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, select

from idp import db as schema
from idp.accounts import users
from idp.extensions import db
from idp.models import User
from tests.support.migrations import schema_differences, upgraded_app

COLUMNS = {"disabled_at", "disabled_reason"}


def _differences() -> list:
    """Differences on the new columns (other work in progress may differ elsewhere)."""
    return [d for d in schema_differences() if "disabled_" in repr(d)]


def _columns() -> set[str]:
    with db.engine.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns("users")}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0021_goes_down_and_up_and_matches_the_model(tmp_path, request, backend):
    with upgraded_app(tmp_path, request, backend, "migration_0021"):
        assert _columns() >= COLUMNS and _differences() == []
        users.create("kept@example.com", "correct horse battery", actor="test")
        db.session.commit()
        db.session.close()
        command.downgrade(schema.alembic_config(), "0020")
        assert not COLUMNS & _columns()
        schema.upgrade()
        assert _columns() >= COLUMNS and _differences() == []
        kept = db.session.execute(select(User).where(User.email == "kept@example.com")).scalar()
        assert kept is not None and kept.enabled
