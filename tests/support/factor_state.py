"""Reach a live provider's database in-process, start a second provider process on it, and scan
a run's logs and audit rows for secrets.

``InProcess`` builds the real app (``idp.app.create_app``) on a running server's instance folder and
database, so a test can set up users and factors with the code we ship, quickly and without
depending on time windows that the test itself narrows (``IDP_STEPUP_WINDOWS=add_factor=1``),
and can read back the state a flow left behind.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
from sqlalchemy import create_engine, select, text

from idp.accounts import users
from idp.app import create_app
from idp.clock import now
from idp.extensions import db
from idp.factors import backup_codes, lifecycle, totp
from idp.models import AuditEvent, Factor, User
from idp.models.factor import FactorStatus
from idp.oauth2 import registration
from tests.support.live import LiveServer
from tests.support.postgres import free_port

PASSWORD = "correct horse battery"


def database_url(server: LiveServer) -> str:
    """The SQLAlchemy URL the server uses (its default is SQLite under the instance folder)."""
    instance = Path(server.env["IDP_INSTANCE_PATH"])
    return server.env.get("IDP_DATABASE_URL") or f"sqlite:///{instance / 'idp.sqlite3'}"


class InProcess:
    """The provider's app in this process, on ``server``'s database and keys."""

    def __init__(self, server: LiveServer) -> None:
        self.app = create_app(
            {
                "ENV": "development",
                "ISSUER": server.url,
                "INSTANCE_PATH": server.env["IDP_INSTANCE_PATH"],
                "DATABASE_URL": database_url(server),
                "ARGON2_TIME_COST": 1,
                "ARGON2_MEMORY_COST": 1024,
            }
        )

    def create_client(self, name: str, redirect_uri: str) -> dict:
        """A confidential first-party client, as ``idp clients create`` prints it."""
        with self.app.app_context():
            client, secret = registration.register(
                name=name, redirect_uris=[redirect_uri], first_party=True
            )
            db.session.commit()
            return {
                "client_id": client.client_id,
                "client_secret": secret,
                "redirect_uris": [redirect_uri],
            }

    def create_user(self) -> dict:
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        with self.app.app_context():
            users.create(email, PASSWORD)
            db.session.commit()
        return {"email": email, "password": PASSWORD}

    def enroll_totp(self, person: dict | None = None) -> dict:
        """A user with an active authenticator app and backup codes, as the security page
        leaves them: enrolled, activated by one verified code (whose step is now used)."""
        person = person or self.create_user()
        with self.app.app_context():
            user = users.by_email(person["email"])
            factor, secret = totp.enroll(user, "Phone")
            totp.verify(factor, pyotp.TOTP(secret).now(), now())
            lifecycle.move(
                factor, FactorStatus.ACTIVE, actor=user.email, subject=user.sub, reason="verified"
            )
            codes = backup_codes.generate(user, actor=user.email)
            db.session.commit()
            return {**person, "secret": secret, "codes": codes, "factor_id": factor.id}

    def factor(self, factor_id: int) -> dict:
        with self.app.app_context():
            row = db.session.get(Factor, factor_id)
            return {c.name: getattr(row, c.name) for c in Factor.__table__.columns}

    def factors(self, email: str, *statuses: FactorStatus) -> list[dict]:
        wanted = [s.value for s in statuses or FactorStatus]
        with self.app.app_context():
            user = users.by_email(email)
            rows = db.session.execute(
                select(Factor).where(Factor.user_id == user.id, Factor.status.in_(wanted))
            ).scalars()
            return [{"id": f.id, "kind": f.kind, "status": f.status} for f in rows]

    def audit_events(self, email: str) -> list[dict]:
        with self.app.app_context():
            sub = db.session.execute(select(User.sub).where(User.email == email)).scalar_one()
            rows = db.session.execute(
                select(AuditEvent).where(AuditEvent.subject == sub).order_by(AuditEvent.seq)
            ).scalars()
            return [{"event": r.event, "outcome": r.outcome, "detail": r.detail} for r in rows]

    def close(self) -> None:
        with self.app.app_context():
            db.engine.dispose()


def second_process(server: LiveServer, log_dir: Path) -> LiveServer:
    """Another provider process with ``server``'s very settings (database, instance folder,
    session, signing and encryption keys) on another port, hence another issuer."""
    url = f"http://localhost:{free_port()}"
    env = {**server.env, "IDP_ISSUER": url, "PYTHONUNBUFFERED": "1"}
    return LiveServer(url=url, env=env, instance=log_dir)


@dataclass
class SecretsSeen:
    """Every TOTP seed, typed code and backup code a test run used, by kind."""

    values: dict[str, set[str]] = field(default_factory=dict)

    def add(self, kind: str, *values: str) -> None:
        self.values.setdefault(kind, set()).update(v for v in values if v)

    def add_person(self, person: dict) -> None:
        self.add("totp secret", person["secret"])
        self.add("backup code", *person.get("codes", ()))

    def patterns(self) -> list[tuple[str, re.Pattern]]:
        found = []
        for kind, values in self.values.items():
            for value in values:
                if value.isdigit():  # a 6-digit code as a word of its own, not a run of
                    # digits inside a longer token (hex hashes and UUIDs have plenty of those)
                    found.append((kind, re.compile(rf"(?<![0-9A-Za-z]){value}(?![0-9A-Za-z])")))
                else:
                    bare = re.sub(r"[^A-Za-z0-9]", "", value)
                    variants = {re.escape(value), re.escape(bare)}
                    found.append((kind, re.compile("|".join(variants), re.IGNORECASE)))
        return found


def leaks(secrets: SecretsSeen, server: LiveServer) -> list[str]:
    """Where any of ``secrets`` appears in ``server``'s log or audit table (kind and place)."""
    places = {f"{server.url} server.log": server.log}
    engine = create_engine(database_url(server))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM audit_events ORDER BY seq")).mappings()
            places[f"{server.url} audit_events"] = "\n".join(str(dict(r)) for r in rows)
    finally:
        engine.dispose()
    return [
        f"a {kind} in {place}"
        for kind, pattern in secrets.patterns()
        for place, content in places.items()
        if pattern.search(content)
    ]


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))
