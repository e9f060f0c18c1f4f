"""User and role operations shared by the hosted pages and the CLI, each audited."""

from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import select

from idp import audit
from idp.accounts import mailed_links, password_backoff, passwords, session_end, trusted_devices
from idp.clock import now
from idp.extensions import db
from idp.models import EmailChange, LoginSession, PasswordReset, Role, User
from idp.models.tokens import Token, revoke_where
from idp.notify import mail

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class UserExistsError(ValueError):
    """An account with this email already exists."""


class AccountDisabled(Exception):
    """The account was disabled by an admin: said only after the right password or passkey,
    so the sign-in page tells nothing about an account's state to someone guessing."""

    def __init__(self) -> None:
        super().__init__("This account is disabled. Contact your administrator.")


def ensure_enabled(user: User) -> None:
    """Raise ``AccountDisabled`` unless ``user`` may sign in (``User.enabled``)."""
    if not user.enabled:
        raise AccountDisabled()


def by_email(email: str) -> User | None:
    normalized = User.normalize_email(email)
    return db.session.execute(select(User).where(User.email == normalized)).scalar()


def check_email(email: str) -> str:
    """The normalised email, or ``ValueError`` if it cannot be one (the sign-up form's rule)."""
    normalized = User.normalize_email(email)
    if not EMAIL.match(normalized) or len(normalized) > 320:
        raise ValueError(f"{email.strip()[:80]!r} is not an email address")
    return normalized


def create(email: str, password: str, *, name: str = "", roles: list[str] = (), actor=None) -> User:
    """Create a user; the caller commits. Raises ``UserExistsError``, ``WeakPasswordError``
    (both ``ValueError``) or ``LookupError`` for an unknown role."""
    normalized = check_email(email)
    if len(name) > 200:
        raise ValueError("name: at most 200 characters")
    if by_email(normalized) is not None:
        raise UserExistsError(f"a user with email {normalized} exists")
    user = User(email=normalized, name=name)
    user.password_hash = passwords.hash_password(password)
    user.roles = [role(r) for r in dict.fromkeys(roles)]
    db.session.add(user)
    db.session.flush()
    audit.record("user_created", actor=actor or user.email, subject=user.sub, roles=list(roles))
    return user


ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def create_role(name: str, description: str = "", *, actor: str) -> Role:
    """Create a role; names are short identifiers (letters, digits, ``_.:-``)."""
    if not ROLE_NAME.match(name):
        raise ValueError("role name: 1-64 letters, digits or _.:- starting with a letter or digit")
    if len(description) > 255:
        raise ValueError("description: at most 255 characters")
    if db.session.execute(select(Role).where(Role.name == name)).scalar():
        raise ValueError(f"role {name!r} exists")
    row = Role(name=name, description=description)
    db.session.add(row)
    audit.record("role_created", actor=actor, role=name)
    return row


def role(name: str) -> Role:
    """An existing role by name; raises ``LookupError`` if there is none."""
    row = db.session.execute(select(Role).where(Role.name == name)).scalar()
    if row is None:
        raise LookupError(f"no role named {name!r}; create it with 'idp roles create'")
    return row


def set_password(
    user: User, password: str, *, event: str, keep: LoginSession | None = None
) -> None:
    """Replace the password; revoke the user's tokens and end every sign-in session but
    ``keep`` (the one that changed it): what a thief holds dies with the old password."""
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = now()
    session_end.end_all(user, reason=event, keep=keep)
    revoked = revoke_where(Token.user_id == user.id)
    audit.record(event, actor=user.email, subject=user.sub, tokens_revoked=revoked)
    trusted_devices.revoke(user, actor=user.email, reason=event)
    password_backoff.cleared(user.email)


def signed_in_with_password(user: User, password: str) -> None:
    """After a right password: end the run of failures, and re-hash a password whose hash was
    made with other argon2 parameters than the configured ones (audited)."""
    password_backoff.cleared(user.email)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.rehash(password)
        audit.record("password_rehashed", actor=user.email, subject=user.sub)


def start_password_reset(user: User, ttl: int, *, actor: str | None = None) -> str:
    """Create a single-use reset secret; only its digest is stored."""
    secret = mailed_links.issue(PasswordReset(user_id=user.id), ttl)
    audit.record("password_reset_requested", actor=actor or user.email, subject=user.sub)
    return secret


def mail_password_reset(user: User, *, actor: str | None = None) -> None:
    """Mail ``user`` a single-use reset link ("forgot password", or an admin sending one).

    Commits the link first, so the mailed link works; the path is built from the URL map, so
    the CLI (no request) sends the same link as the page.
    """
    ttl = current_app.config["PASSWORD_RESET_TTL"]
    secret = start_password_reset(user, ttl, actor=actor)
    db.session.commit()
    path = current_app.url_map.bind("").build("auth.reset_password", {"secret": secret})
    mail.send(
        user.email, "Reset your password", _reset_mail(current_app.config["ISSUER"] + path, ttl)
    )


def _reset_mail(link: str, ttl: int) -> str:
    return (
        "Someone asked to reset the password of your account.\n\n"
        f"To choose a new password, open this link within {ttl // 60} minutes:\n{link}\n\n"
        "The link works once. If you did not ask for this, ignore this mail."
    )


def redeem_password_reset(secret: str) -> User | None:
    """Consume a reset secret atomically; ``None`` if unknown, used or expired."""
    row = mailed_links.consume(PasswordReset, secret)
    return db.session.get(User, row.user_id) if row is not None else None


def peek_password_reset(secret: str) -> bool:
    """Whether a reset link is still usable, to show the form or an explanation."""
    return mailed_links.peek(PasswordReset, secret) is not None


def request_email_change(user: User, new_email: str, ttl: int) -> str | None:
    """Start changing ``user``'s email: a link secret for the new address, or ``None`` when the
    address already has an account (the caller tells that address, not the requester)."""
    new_email = check_email(new_email)
    if new_email == user.email:
        raise ValueError("That is already your email.")
    taken = by_email(new_email) is not None
    audit.record(
        "email_change_requested", actor=user.email, subject=user.sub, to=new_email,
        outcome="address_taken" if taken else "success",
    )  # fmt: skip
    return (
        None
        if taken
        else mailed_links.issue(EmailChange(user_id=user.id, new_email=new_email), ttl)
    )


def confirm_email_change(secret: str) -> tuple[User, str] | None:
    """Use a change link: the user and their previous email, or ``None`` if the link is not
    valid (unknown, used, expired) or the address was taken in the meantime."""
    row = mailed_links.consume(EmailChange, secret)
    if row is None or by_email(row.new_email) is not None:
        return None
    user = db.session.get(User, row.user_id)
    before, user.email = user.email, row.new_email
    audit.record("email_changed", actor=before, subject=user.sub, before=before, after=user.email)
    return user, before
