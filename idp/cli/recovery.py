"""``idp recovery``: the CLI twin of the console's recovery pages (``idp.accounts.recovery``).

``list`` prints the open requests; ``start`` opens one on a user's behalf (or shows the open
one); ``approve`` and ``deny`` record a decision. Each acts in the name of the admin ``--as``
names, with the same rules as the console (that person holds the ``admin`` role; two different
admins approve, the one who started a request may be one of them; nobody for their own
account; a note each time). Each prints one JSON line; each change is audited with that admin
as the actor.
"""

from __future__ import annotations

import json

import click

from idp.accounts import recovery
from idp.cli.support import in_app, user_by_email
from idp.extensions import db
from idp.models import RecoveryRequest, User


@click.group("recovery", help="Account recoveries that need two admins' approval.")
def recovery_group() -> None:
    pass


@recovery_group.command("list", help="Open recovery requests, oldest first (JSON lines).")
@in_app
def recovery_list() -> None:
    rows = recovery.listed()
    db.session.commit()  # requests past their deadline were expired
    for row, user in rows:
        click.echo(json.dumps(_describe(row, user)))


@recovery_group.command("start", help="Start a recovery for a user who lost every sign-in method.")
@click.argument("email")
@click.option("--note", required=True, help="Why: who asked, and how they reached you.")
@click.option("--as", "admin_email", required=True, help="The starting admin's email.")
@in_app
def recovery_start(email: str, note: str, admin_email: str) -> None:
    admin = _admin(admin_email, note, "say why you start this recovery")
    user = user_by_email(email)
    row, created = _refusing(lambda: recovery.start(user, admin, note.strip()))
    db.session.commit()
    if created:
        recovery.announce(row, user, starter=admin)
    click.echo(json.dumps({**_describe(row, user), "created": created}))


@recovery_group.command("approve", help="Approve a request after checking the user's identity.")
@click.argument("request_id", type=int)
@click.option("--note", required=True, help="How you checked the user's identity.")
@click.option("--as", "admin_email", required=True, help="The approving admin's email.")
@in_app
def recovery_approve(request_id: int, note: str, admin_email: str) -> None:
    row, admin = _decision(request_id, note, admin_email)
    secret = _refusing(lambda: recovery.approve(row, admin, note.strip()))
    db.session.commit()
    user = db.session.get(User, row.user_id)
    if secret is not None:
        recovery.send_link(user, recovery.link_of(secret))
    click.echo(json.dumps({**_describe(row, user), "link_sent": secret is not None}))


@recovery_group.command("deny", help="Deny a request.")
@click.argument("request_id", type=int)
@click.option("--note", required=True, help="Why.")
@click.option("--as", "admin_email", required=True, help="The denying admin's email.")
@in_app
def recovery_deny(request_id: int, note: str, admin_email: str) -> None:
    row, admin = _decision(request_id, note, admin_email)
    _refusing(lambda: recovery.deny(row, admin, note.strip()))
    db.session.commit()
    recovery.send_denial(row)
    click.echo(json.dumps(_describe(row, db.session.get(User, row.user_id))))


def _admin(admin_email: str, note: str, why: str) -> User:
    """The acting admin, once they hold the role and gave a note."""
    admin = user_by_email(admin_email)
    if recovery.ADMIN not in {r.name for r in admin.roles}:
        raise click.ClickException(f"{admin.email} does not hold the admin role")
    if not note.strip():
        raise click.ClickException(f"--note: {why}")
    return admin


def _decision(request_id: int, note: str, admin_email: str) -> tuple[RecoveryRequest, User]:
    admin = _admin(admin_email, note, "say how you checked the user's identity")
    row = db.session.get(RecoveryRequest, request_id)
    if row is None:
        raise LookupError(f"no recovery request {request_id}")
    return row, admin


def _refusing(decide):
    """Run ``decide``; a refusal of the rules becomes a one-line error."""
    try:
        return decide()
    except recovery.RecoveryRefused as refused:
        db.session.rollback()
        raise click.ClickException(str(refused)) from refused


def _describe(row: RecoveryRequest, user: User) -> dict:
    return {"id": row.id, "email": user.email, "status": row.status,
            "requested_at": row.requested_at, "expires_at": row.expires_at}  # fmt: skip
