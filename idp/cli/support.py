"""What every ``idp`` command shares: the app built from the ``IDP_*`` settings, one-line errors."""

from __future__ import annotations

import functools
import os

import click
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from idp import config
from idp.accounts import users
from idp.extensions import db
from idp.models import User


def app() -> Flask:
    from idp.app import create_app

    ctx = click.get_current_context()
    if "app" not in ctx.meta:
        try:
            ctx.meta["app"] = create_app(_stream_aside(ctx))
        except config.ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    return ctx.meta["app"]


def _stream_aside(ctx: click.Context) -> dict | None:
    """A command's standard output is its result (JSON that scripts read), so with
    ``IDP_AUDIT_STREAM=stdout`` its audit events go to standard error; ``serve`` keeps stdout."""
    if ctx.command.name != "serve" and os.environ.get("IDP_AUDIT_STREAM") == "stdout":
        return {"AUDIT_STREAM": "stderr"}
    return None


def in_app(func):
    """Run the command inside an app context; domain errors become one-line messages."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with app().app_context():
            try:
                return func(*args, **kwargs)
            except (ValueError, LookupError) as exc:
                db.session.rollback()
                raise click.ClickException(str(exc)) from exc
            except SQLAlchemyError as exc:
                db.session.rollback()
                # the statement's parameters may hold a password hash: name only the kind
                raise click.ClickException(f"database error: {type(exc).__name__}") from None

    return wrapper


def user_by_email(email: str) -> User:
    """The user a command names, or a one-line error (``in_app``)."""
    user = users.by_email(email)
    if user is None:
        raise LookupError(f"no user with email {email}")
    return user
