"""Migration 0022 and the recovery rules that need no browser (``idp.accounts.recovery``), on
SQLite and PostgreSQL: the table goes down and up matching the model; one open request per user,
also when two are inserted at once; a stale approval loses to the one that moved the row first;
``IDP_RECOVERY_SINGLE_APPROVER`` lets one admin approve only when MFA is not required."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from idp import db as schema
from idp.accounts import policies, recovery, users
from idp.extensions import db
from idp.models import Factor, RecoveryRequest
from idp.models.factor import FactorStatus, IllegalTransition
from idp.models.recovery import RecoveryStatus
from idp.policy.rules import MfaPolicy
from tests.support.migrations import schema_differences, upgraded_app

BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
NOTE = "Checked their passport in person."


def _differences() -> list:
    """Differences on the recovery table (other work in progress may differ elsewhere)."""
    return [d for d in schema_differences() if "recovery_requests" in repr(d)]


def _tables() -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names())


@BACKENDS
def test_migration_0022_goes_down_and_up_and_matches_the_model(tmp_path, request, backend):
    with upgraded_app(tmp_path, request, backend, "migration_0022"):
        assert "recovery_requests" in _tables() and _differences() == []
        command.downgrade(schema.alembic_config(), "0021")
        assert "recovery_requests" not in _tables()
        schema.upgrade()
        assert _differences() == []


def _people():
    user = users.create("lost@example.com", "correct horse battery")
    first = users.create("first@example.com", "correct horse battery", roles=["admin"])
    second = users.create("second@example.com", "correct horse battery", roles=["admin"])
    db.session.commit()
    return user, first, second


@BACKENDS
def test_a_user_has_at_most_one_open_request(tmp_path, request, backend):
    with (
        upgraded_app(tmp_path, request, backend, "recovery_one_open") as app,
        app.test_request_context(),
    ):
        user, first, _ = _people()
        row, created = recovery.ask(user)
        db.session.commit()
        assert created and recovery.ask(user) == (row, False)
        db.session.add(RecoveryRequest(user_id=user.id, expires_at=row.expires_at))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        recovery.deny(row, first, NOTE)
        db.session.commit()
        again, created = recovery.ask(user)
        assert created and again.id != row.id


@BACKENDS
def test_a_stale_approval_loses_to_the_one_that_moved_first(tmp_path, request, backend):
    with (
        upgraded_app(tmp_path, request, backend, "recovery_race") as app,
        app.test_request_context(),
    ):
        user, first, second = _people()
        row, _ = recovery.ask(user)
        db.session.commit()
        recovery.approve(row, first, NOTE)
        db.session.commit()
        db.session.refresh(row)
        db.session.expunge(row)
        row.status = RecoveryStatus.REQUESTED.value  # what a worker that read earlier saw
        with pytest.raises(recovery.NotOpen):
            recovery.approve(row, second, NOTE)
        db.session.rollback()
        stored = db.session.get(RecoveryRequest, row.id)
        assert stored.status == RecoveryStatus.APPROVED_ONCE
        assert stored.first_approver_id == first.id
        with pytest.raises(IllegalTransition):
            stored.transition(RecoveryStatus.USED)


@BACKENDS
def test_a_single_approver_suffices_only_where_allowed_and_mfa_is_not_required(
    tmp_path, request, backend
):
    with (
        upgraded_app(tmp_path, request, backend, "recovery_single") as app,
        app.test_request_context(),
    ):
        user, first, _ = _people()
        strict = users.create("strict@example.com", "correct horse battery")
        role = users.create_role("staff", actor="test")
        db.session.flush()  # the role's policy columns get their defaults
        policies.set_role_policy(role, MfaPolicy(mode="required"), actor="test")
        strict.roles = [role]
        db.session.commit()
        relaxed, _ = recovery.ask(user)
        required, _ = recovery.ask(strict)
        db.session.commit()
        app.config["RECOVERY_SINGLE_APPROVER"] = False
        assert recovery.approve(relaxed, first, NOTE) is None
        db.session.rollback()
        app.config["RECOVERY_SINGLE_APPROVER"] = True
        assert recovery.approve(required, first, NOTE) is None
        assert required.status == RecoveryStatus.APPROVED_ONCE
        secret = recovery.approve(relaxed, first, NOTE)
        assert secret and relaxed.status == RecoveryStatus.APPROVED
        assert recovery.by_link(secret) == relaxed
        assert relaxed.link_digest != secret


@BACKENDS
def test_a_second_finish_of_one_link_loses_whatever_its_kind(tmp_path, request, backend):
    """Two finishes that both passed the page's check (a passkey in one tab, an authenticator
    app in another): ``complete``'s conditional UPDATE lets only the first take effect."""
    with (
        upgraded_app(tmp_path, request, backend, "recovery_finish_race") as app,
        app.test_request_context(),
    ):
        user, first, second = _people()
        row, _ = recovery.ask(user)
        recovery.approve(row, first, NOTE)
        recovery.approve(row, second, NOTE)
        assert recovery.open_link(row, user)
        winner = recovery.start_totp(user, None)
        loser = recovery.start_totp(user, None)
        db.session.commit()
        assert len(recovery.complete(row, user, winner)) == 10
        db.session.commit()
        db.session.refresh(row)
        db.session.expunge(row)
        row.status = RecoveryStatus.APPROVED.value  # what the other tab's worker read earlier
        with pytest.raises(recovery.NotOpen):
            recovery.complete(row, user, loser)
        db.session.rollback()
        stored = db.session.get(RecoveryRequest, row.id)
        assert stored.status == RecoveryStatus.USED
        assert db.session.get(Factor, winner.id).status == FactorStatus.ACTIVE
        assert db.session.get(Factor, loser.id).status == FactorStatus.REVOKED
