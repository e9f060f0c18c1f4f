"""The CLI twins of the console's user actions (``idp.accounts.admin_actions``), under
``idp users``: revoke-factor, reset-factors, forget-browser, disable, enable, send-reset-link.

Each prints one JSON line; each is audited with ``cli`` as the actor, like the other commands.
``idp users unlock``, ``end-sessions`` and ``override`` (``idp.cli.commands``,
``idp.cli.policy``) call the same functions as the console too.
"""

from __future__ import annotations

import json

import click

from idp.accounts import admin_actions
from idp.cli.support import in_app, user_by_email

ACTOR = "cli"


def _echo(**data: object) -> None:
    click.echo(json.dumps(data))


@click.command(
    "revoke-factor",
    help="Revoke one second factor of a user (any kind, backup codes too; 'idp users show' "
    "lists the ids): it is refused at their next sign-in.",
)
@click.argument("email")
@click.argument("factor_id", type=int)
@in_app
def revoke_factor(email: str, factor_id: int) -> None:
    user = user_by_email(email)
    factor = admin_actions.revoke_factor(user, factor_id, actor=ACTOR)
    _echo(email=user.email, revoked=factor.id, kind=factor.kind)


@click.command(
    "reset-factors",
    help="Revoke every second factor of a user (a lost phone): they enroll anew if required.",
)
@click.argument("email")
@in_app
def reset_factors(email: str) -> None:
    user = user_by_email(email)
    revoked = admin_actions.reset_factors(user, actor=ACTOR)
    _echo(email=user.email, revoked=[f.id for f in revoked])


@click.command(
    "forget-browser",
    help="Forget one remembered browser of a user ('idp users show' lists the ids).",
)
@click.argument("email")
@click.argument("browser_id", type=int)
@in_app
def forget_browser(email: str, browser_id: int) -> None:
    user = user_by_email(email)
    admin_actions.forget_browser(user, browser_id, actor=ACTOR)
    _echo(email=user.email, forgotten=browser_id)


@click.command(
    "disable",
    help="Disable an account: sign-in is refused, every session ends, every token (offline "
    "too) is revoked.",
)
@click.argument("email")
@click.option("--reason", default="", help="Why; shown on the console's user page, audited.")
@in_app
def disable(email: str, reason: str) -> None:
    user = user_by_email(email)
    changed = admin_actions.disable(user, actor=ACTOR, reason=reason)
    _echo(email=user.email, disabled=True, changed=changed)


@click.command("enable", help="Let a disabled account sign in again.")
@click.argument("email")
@in_app
def enable(email: str) -> None:
    user = user_by_email(email)
    changed = admin_actions.enable(user, actor=ACTOR)
    _echo(email=user.email, disabled=False, changed=changed)


@click.command(
    "send-reset-link",
    help="Mail a user the single-use password-reset link the 'forgot password' page sends.",
)
@click.argument("email")
@in_app
def send_reset_link(email: str) -> None:
    user = user_by_email(email)
    admin_actions.send_reset_link(user, actor=ACTOR)
    _echo(email=user.email, sent=True)


COMMANDS = (revoke_factor, reset_factors, forget_browser, disable, enable, send_reset_link)
