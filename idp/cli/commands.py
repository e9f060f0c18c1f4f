"""The ``idp`` command line. Every command acts on the database of the ``IDP_*`` settings.

Bad input gives a one-line error on stderr and exit status 1 (2 for usage errors, from click).
"""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy import select

from idp import audit
from idp.accounts import admin_actions, policies, users
from idp.accounts.passwords import WeakPasswordError
from idp.cli import users_admin
from idp.cli.authenticators import authenticators_group
from idp.cli.clients import clients_group
from idp.cli.policy import policy_group, roles_set_policy, users_override
from idp.cli.recovery import recovery_group
from idp.cli.support import app, in_app, user_by_email
from idp.extensions import db
from idp.models import Role, User


@click.group(help="idp: an OpenID Connect provider built for MFA. Settings come from IDP_* vars.")
def main() -> None:
    pass


@main.command(help="Run the provider (development server; use gunicorn in production).")
@click.option("--host", default="localhost", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    from idp.oauth2 import logout_dispatcher
    from idp.web.devserver import RedactingRequestHandler

    logout_dispatcher.start(app())  # delivers back-channel logout notices (no extra worker)
    app().run(
        host=host,
        port=port,
        threaded=True,
        use_reloader=False,
        request_handler=RedactingRequestHandler,
    )


@main.group(help="Database schema.")
def db_group() -> None:
    pass


main.add_command(db_group, "db")


@db_group.command("upgrade", help="Apply every migration (creates the schema on first run).")
@in_app
def db_upgrade() -> None:
    from idp import db as schema
    from idp.factors import delivered_code

    schema.upgrade()
    sealed = delivered_code.seal_addresses()  # older versions kept email factors' addresses clear
    db.session.commit()
    click.echo(
        "database is up to date" + (f"; {sealed} email address(es) encrypted" if sealed else "")
    )


@main.group("users", help="End users.")
def users_group() -> None:
    pass


@users_group.command("create", help="Create a user; the password is read from stdin or prompted.")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--name", default="")
@click.option("--role", "roles", multiple=True, help="Role name (repeatable).")
@in_app
def users_create(email: str, password_stdin: bool, name: str, roles: tuple[str, ...]) -> None:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = users.create(email, password, name=name, roles=list(roles), actor="cli")
    except WeakPasswordError as exc:
        raise click.ClickException(f"password: {exc}") from exc
    db.session.commit()
    click.echo(json.dumps({"sub": user.sub, "email": user.email, "roles": list(roles)}))


@users_group.command(
    "unlock", help="Lift the lockout of a user's second factors and any wait on their password."
)
@click.argument("email")
@in_app
def users_unlock(email: str) -> None:
    user = user_by_email(email)
    done = admin_actions.unlock(user, actor="cli")
    click.echo(
        json.dumps(
            {
                "email": user.email,
                "unlocked": done.factors,
                "password_backoff_cleared": done.password_backoff,
            }
        )
    )


@users_group.command(
    "end-sessions",
    help="End every sign-in session of a user: their online tokens stop working, and clients "
    "registered for back-channel logout are told.",
)
@click.argument("email")
@in_app
def users_end_sessions(email: str) -> None:
    user = user_by_email(email)
    ended = admin_actions.end_sessions(user, actor="cli")
    click.echo(json.dumps({"email": user.email, "sessions_ended": ended}))


@users_group.command("list", help="List users as JSON lines.")
@in_app
def users_list() -> None:
    for user in db.session.execute(select(User).order_by(User.id)).scalars():
        roles = [r.name for r in user.roles]
        click.echo(json.dumps({"sub": user.sub, "email": user.email, "roles": roles}))


@users_group.command(
    "set-roles",
    help="Replace a user's roles with ROLES (audited with before and after); --none removes "
    "every role. Roles that open the admin console: admin, auditor.",
)
@click.argument("email")
@click.argument("roles", nargs=-1)
@click.option("--none", "clear", is_flag=True, help="Remove every role (no ROLES given).")
@in_app
def users_set_roles(email: str, roles: tuple[str, ...], clear: bool) -> None:
    from idp.accounts import admin_view

    if bool(roles) == clear:
        raise click.UsageError("give the roles, or --none to remove every role")
    user = user_by_email(email)
    before, after = admin_view.set_roles(user, list(roles), actor="cli")  # unknown: LookupError
    db.session.commit()
    click.echo(json.dumps({"email": user.email, "before": before, "after": after}))


@users_group.command(
    "show",
    help="Print a user as JSON: roles, factors, remembered browsers, live sessions, offline "
    "grants and recent audit events.",
)
@click.argument("email")
@in_app
def users_show(email: str) -> None:
    from idp.accounts import admin_view

    user = user_by_email(email)
    click.echo(json.dumps(admin_view.detail(user), indent=2, default=str))


@main.group("roles", help="Roles (groups of users that share a policy).")
def roles_group() -> None:
    pass


@roles_group.command("create")
@click.argument("name")
@click.option("--description", default="")
@in_app
def roles_create(name: str, description: str) -> None:
    users.create_role(name, description, actor="cli")
    db.session.commit()
    click.echo(json.dumps({"name": name}))


@roles_group.command("list")
@in_app
def roles_list() -> None:
    for role in db.session.execute(select(Role).order_by(Role.name)).scalars():
        data = {"name": role.name, "description": role.description}
        click.echo(json.dumps({**data, **policies.describe(policies.policy_of(role))}))


roles_group.add_command(roles_set_policy)
users_group.add_command(users_override)
for command in users_admin.COMMANDS:
    users_group.add_command(command)
main.add_command(policy_group)


main.add_command(clients_group)
main.add_command(authenticators_group)
main.add_command(recovery_group)


@main.group("keys", help="Token signing keys.")
def keys_group() -> None:
    pass


@keys_group.command("rotate", help="Sign with a new key; old public keys stay published a while.")
@click.option("--alg", type=click.Choice(["RS256", "ES256"]), default=None)
@in_app
def keys_rotate(alg: str | None) -> None:
    from flask import current_app

    key = current_app.extensions["idp.keystore"].rotate(alg or current_app.config["SIGNING_ALG"])
    audit.record("keys_rotated", actor="cli", kid=key.kid, alg=key.alg)
    db.session.commit()
    click.echo(json.dumps({"kid": key.kid, "alg": key.alg}))


@keys_group.command(
    "rotate-encryption",
    help="Re-encrypt factor secrets under the current key. With IDP_ENCRYPTION_KEY, put the new "
    "key first (keep the old ones listed) and run this; without it, a new development key is "
    "generated into instance/ first.",
)
@in_app
def keys_rotate_encryption() -> None:
    from pathlib import Path

    from flask import current_app

    from idp.factors.reencrypt import reencrypt_all
    from idp.keys import encryption

    ring = encryption.keyring()
    if not current_app.config["ENCRYPTION_KEY"]:
        ring = ring.with_new_key()
        path = Path(current_app.config["INSTANCE_PATH"]) / "encryption_keys.json"
        encryption.save_development_ring(path, ring)
    count = reencrypt_all(ring)
    audit.record("encryption_key_rotated", actor="cli", kid=ring.current, reencrypted=count)
    db.session.commit()
    click.echo(json.dumps({"current": ring.current, "reencrypted": count}))


@main.group("audit", help="The audit log.")
def audit_group() -> None:
    pass


@audit_group.command(
    "verify",
    help="Check the whole chain (each row's keyed hash and link) and hold it against every "
    "stored checkpoint and any exported one; names the first problem and where.",
)
@click.option(
    "--checkpoint",
    "checkpoint_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A checkpoint file written by 'idp audit checkpoint --export' (repeatable).",
)
@in_app
def audit_verify(checkpoint_files: tuple[str, ...]) -> None:
    exported = [_read_checkpoint(path) for path in checkpoint_files]
    report = audit.verify(exported)
    if not report.intact:
        raise click.ClickException(f"audit chain broken: {report.reason}")
    click.echo(f"audit chain intact: {report.checked} rows")


def _read_checkpoint(path: str) -> str:
    try:
        with open(path) as fh:
            return json.load(fh)["signature"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{path} is not a checkpoint file") from exc


@audit_group.command(
    "checkpoint",
    help="Sign a checkpoint of the chain's newest row now; --export also writes it to FILE "
    "(keep it elsewhere: a deleted tail is detected against it).",
)
@click.option("--export", "export", type=click.Path(dir_okay=False), default=None)
@in_app
def audit_checkpoint(export: str | None) -> None:
    from flask import current_app

    from idp.keys.audit_keys import AuditKeys

    written = audit.checkpoint()
    if written is None:
        raise click.ClickException("the audit log is empty: nothing to checkpoint")
    db.session.commit()
    keys = AuditKeys.of(current_app.extensions["idp.keystore"])
    key = keys.public_jwk(written["signature"])  # to check the file outside idp
    document = json.dumps({**written, "jwk": key}, indent=2)
    if export:
        with open(export, "w") as fh:
            fh.write(document + "\n")
    click.echo(json.dumps({k: written[k] for k in ("seq", "hash", "at")}))


@main.command(help="Set up and run the demo: provider on :5000, demo relying app on :5001.")
@click.option("--no-serve", is_flag=True, help="Only migrate and seed, then exit.")
def demo(no_serve: bool) -> None:
    from idp.cli import demo as demo_setup

    demo_setup.run(app(), serve=not no_serve)
