"""An in-process provider app on a throwaway SQLite database, for factor tests without a server.

The app is the real one (``idp.app.create_app``), migrated with the real Alembic migrations; tests
run inside an app context and build users and factors with the code we ship.
"""

from __future__ import annotations

import uuid

import pytest

import idp.db as schema
from idp.accounts import users
from idp.app import create_app
from idp.extensions import db
from idp.models import User

#: Small limits, reachable in a unit test; a challenge fails before its factor starts backing off.
CHALLENGE_MAX_ATTEMPTS = 3
BACKOFF_AFTER = 4
LOCKOUT_THRESHOLD = 7


@pytest.fixture(scope="session")
def factor_app(tmp_path_factory):
    path = tmp_path_factory.mktemp("factors")
    app = create_app(
        {
            "INSTANCE_PATH": str(path),
            "DATABASE_URL": f"sqlite:///{path}/t.db",
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
            "CHALLENGE_MAX_ATTEMPTS": CHALLENGE_MAX_ATTEMPTS,
            "BACKOFF_AFTER": BACKOFF_AFTER,
            "LOCKOUT_THRESHOLD": LOCKOUT_THRESHOLD,
        }
    )
    with app.app_context():
        schema.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture()
def ctx(factor_app):
    """An app context whose session is rolled back and closed afterwards."""
    with factor_app.app_context():
        yield factor_app
        db.session.rollback()
        db.session.remove()


@pytest.fixture()
def user(ctx) -> User:
    row = users.create(f"{uuid.uuid4().hex[:12]}@example.com", "correct horse battery")
    db.session.commit()
    return row
