"""MFA policy from the command line (until the admin console): roles, the default, overrides.

``idp roles set-policy ROLE ...`` and ``idp policy set-default ...`` change only the options
given; ``idp policy show`` prints the default, every role and every override as JSON;
``idp policy windows``, ``set-window OPERATION SECONDS`` and ``clear-window OPERATION`` show and
change how recent a second factor must be for each sensitive operation;
``idp users override EMAIL --require|--exempt --until DATE --reason TEXT`` (or ``--clear``).
Every change is audited with the policy before and after.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime

import click
from sqlalchemy import select

from idp.accounts import admin_actions, operation_windows, policies, users
from idp.cli.support import in_app, user_by_email
from idp.extensions import db
from idp.models import PolicyOverride, Role, User
from idp.policy import rules
from idp.policy.rules import MfaPolicy


def policy_options(func):
    """The options shared by ``roles set-policy`` and ``policy set-default``."""
    options = (
        click.option("--mode", type=click.Choice(rules.MODES), help="MFA mode."),
        click.option(
            "--factors",
            help="Allowed second-factor kinds, comma-separated "
            f"({', '.join(rules.FACTOR_KINDS)}), or 'any'.",
        ),
        click.option(
            "--remember-device/--no-remember-device",
            default=None,
            help="Whether a remembered browser may skip the routine second factor.",
        ),
        click.option(
            "--factor-max-age",
            type=click.IntRange(min=0),
            help="Seconds after which the second factor is asked again (0: no limit).",
        ),  # fmt: skip
        click.option(
            "--grace-signins",
            type=click.IntRange(min=0),
            help="Sign-ins a member may postpone a required enrollment (0: none).",
        ),  # fmt: skip
        click.option(
            "--grace-days",
            type=click.IntRange(min=0),
            help="Days a member may postpone a required enrollment (0: none).",
        ),  # fmt: skip
        click.option(
            "--require-attested-passkeys/--no-require-attested-passkeys",
            default=None,
            help="Only passkeys attested by an allowed authenticator model (idp authenticators)"
            " are hardware-bound (phrh); new passkeys must be such.",
        ),
    )
    for option in reversed(options):
        func = option(func)
    return func


def _changed(policy: MfaPolicy, options: dict) -> MfaPolicy:
    """``policy`` with the options that were given; raises ``ValueError`` on a bad value."""
    changes = {k: v for k, v in options.items() if v is not None}
    if "factors" in changes:
        kinds = {k.strip() for k in changes["factors"].split(",") if k.strip()}
        if not kinds:
            raise ValueError("--factors: name at least one kind, or 'any'")
        changes["factors"] = None if kinds == {"any"} else frozenset(kinds)
    if changes.get("factor_max_age") == 0:
        changes["factor_max_age"] = None
    return dataclasses.replace(policy, **changes)


@click.command("set-policy", help="Set a role's MFA policy; options not given stay as they are.")
@click.argument("name")
@policy_options
@in_app
def roles_set_policy(name: str, **options) -> None:
    role = users.role(name)
    policies.set_role_policy(role, _changed(policies.policy_of(role), options), actor="cli")
    db.session.commit()
    click.echo(json.dumps({"role": role.name, **policies.describe(policies.policy_of(role))}))


@click.group("policy", help="The MFA policy: global default, roles, per-user overrides.")
def policy_group() -> None:
    pass


@policy_group.command("set-default", help="Set the default policy every user gets.")
@policy_options
@in_app
def policy_set_default(**options) -> None:
    row = policies.default_row()
    policies.set_default_policy(_changed(policies.policy_of(row), options), actor="cli")
    db.session.commit()
    click.echo(json.dumps({"default": policies.describe(policies.policy_of(row))}))


@policy_group.command("show", help="Print the default, every role's policy and the overrides.")
@in_app
def policy_show() -> None:
    data = {
        "default": policies.describe(policies.policy_of(policies.default_row())),
        "roles": {
            role.name: policies.describe(policies.policy_of(role))
            for role in db.session.execute(select(Role).order_by(Role.name)).scalars()
        },
        "overrides": [
            _override_json(row, email)
            for row, email in db.session.execute(
                select(PolicyOverride, User.email).join(User).order_by(User.email)
            )
        ],
    }
    db.session.rollback()  # showing creates nothing
    click.echo(json.dumps(data, indent=2))


@policy_group.command("windows", help="Print every sensitive operation's window and its source.")
@in_app
def policy_windows() -> None:
    shown = {w.operation: _window_json(w) for w in operation_windows.windows()}
    db.session.rollback()  # showing creates nothing
    click.echo(json.dumps(shown, indent=2))


@policy_group.command(
    "set-window",
    help="Set how recent a second factor must be for OPERATION (seconds, "
    f"{operation_windows.MIN_SECONDS}-{operation_windows.MAX_SECONDS}); "
    "it wins over IDP_STEPUP_WINDOWS until cleared.",
)
@click.argument("operation")
@click.argument("seconds", type=int)
@in_app
def policy_set_window(operation: str, seconds: int) -> None:
    changed = operation_windows.set_window(operation, seconds, actor="cli")
    db.session.commit()
    click.echo(json.dumps({**_shown(operation), "changed": changed}))


@policy_group.command(
    "clear-window", help="Give OPERATION's window back to the configuration (IDP_STEPUP_WINDOWS)."
)
@click.argument("operation")
@in_app
def policy_clear_window(operation: str) -> None:
    changed = operation_windows.clear_window(operation, actor="cli")
    db.session.commit()
    click.echo(json.dumps({**_shown(operation), "changed": changed}))


def _shown(operation: str) -> dict:
    [window] = [w for w in operation_windows.windows() if w.operation == operation]
    return {"operation": operation, **_window_json(window)}


def _window_json(window: operation_windows.Window) -> dict:
    return {"seconds": window.seconds, "source": window.source, "configured": window.configured}


def _override_json(row: PolicyOverride, email: str) -> dict:
    until = datetime.fromtimestamp(row.until, UTC).isoformat()
    return {"email": email, "kind": row.kind, "until": until, "reason": row.reason}


@click.command("override", help="Exempt a user from MFA, or require it, until a date.")
@click.argument("email")
@click.option("--require", "kind", flag_value="require", help="Require MFA of this user.")
@click.option("--exempt", "kind", flag_value="exempt", help="Exempt this user from MFA.")
@click.option("--clear", "kind", flag_value="clear", help="Remove the user's override.")
@click.option("--until", help="UTC date (YYYY-MM-DD, through that day) or ISO date-time.")
@click.option("--reason", default="", help="Why; recorded in the audit log.")
@in_app
def users_override(email: str, kind: str | None, until: str | None, reason: str) -> None:
    user = user_by_email(email)
    if kind is None:
        raise ValueError("say --require, --exempt or --clear")
    if kind == "clear":
        cleared = policies.clear_override(user, actor="cli")
        db.session.commit()
        click.echo(json.dumps({"email": user.email, "cleared": cleared}))
        return
    if not until:
        raise ValueError("--until is required: overrides always end")
    policies.set_override(user, kind, _instant(until), reason, actor="cli")
    db.session.commit()
    click.echo(json.dumps(_override_json(policies.override_of(user), user.email)))


def _instant(value: str) -> int:
    """``YYYY-MM-DD`` means through that day (UTC); a date-time without zone is UTC."""
    try:
        if len(value) == 10:
            return admin_actions.end_of_day(date.fromisoformat(value))
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"--until: {value!r} is not a date (YYYY-MM-DD) or date-time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
