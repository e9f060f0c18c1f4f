"""A password hashed with older argon2 parameters is re-hashed with the configured ones at the
next successful sign-in, and the upgrade is audited; a wrong password changes nothing."""

from __future__ import annotations

from sqlalchemy import select

import idp.db as schema
from idp.accounts import users
from idp.app import create_app
from idp.extensions import db
from idp.models import AuditEvent, User
from tests.support.oidc import csrf_token

EMAIL, PASSWORD = "rehash@example.com", "correct horse battery"


def _app(tmp_path, time_cost: int):
    return create_app(
        {
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
            "ARGON2_TIME_COST": time_cost,
            "ARGON2_MEMORY_COST": 1024,
        }
    )


def _sign_in(app, password: str):
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "email": EMAIL, "password": password}
    return browser.post("/login", data=data)


def _stored(app) -> tuple[str, list[str]]:
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == EMAIL)).scalar_one()
        events = db.session.execute(
            select(AuditEvent.event).where(AuditEvent.subject == user.sub)
        ).scalars()
        return user.password_hash, list(events)


def test_sign_in_upgrades_an_old_hash_once_and_audits_it(tmp_path):
    old = _app(tmp_path, time_cost=1)
    with old.app_context():
        schema.upgrade()
        users.create(EMAIL, PASSWORD)
        db.session.commit()
    first_hash, _ = _stored(old)
    assert ",t=1," in first_hash

    new = _app(tmp_path, time_cost=2)
    assert _sign_in(new, "wrong password").status_code == 401
    assert _stored(new)[0] == first_hash

    assert _sign_in(new, PASSWORD).status_code == 303
    upgraded, events = _stored(new)
    assert ",t=2," in upgraded and events.count("password_rehashed") == 1
    assert _sign_in(new, PASSWORD).status_code == 303
    assert _stored(new) == (upgraded, [*events, "sign_in"])
    with new.app_context():
        db.engine.dispose()
