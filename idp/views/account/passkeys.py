"""Passkey pages: add one from the security page, use one after the password, or sign in with
one alone (a button, or autofill through conditional mediation on the sign-in page).

Each ceremony is two JSON calls from ``static/passkeys.js`` (options, then the browser's
response), protected by the CSRF token in the ``X-CSRFToken`` header. A refused response is a
400 with ``{"error": message}`` and creates no factor, session or sign-count change; the
challenge's attempt count and the audit log record the failure like any other factor's.
Password sign-in does not need any of this and keeps working without JavaScript.
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError

from idp import audit, random_tokens
from idp.clock import now
from idp.extensions import db
from idp.factors import backup_codes, challenges, passkey, registry
from idp.factors.base import FactorError
from idp.keys.encryption import keyring
from idp.models import Factor, LoginSession, User
from idp.notify.security import notify
from idp.views.signin.flow import (
    continue_to,
    factor_enrolled,
    may,
    other_factors,
    remember_days,
    second_factor_passed,
    second_factor_step,
    sign_in_first,
    step_up,
)
from idp.web import ratelimit, sessions
from idp.web.ratelimit import RateLimited

bp = Blueprint("passkeys", __name__)

PENDING_KEY = "passkey_signin"  # Flask session: {"b": binding id, "p": {challenge: issued_at}}
CODES_KEY = "passkey_codes"  # Flask session: backup codes to show once, encrypted
MAX_PENDING = 3
EXPIRED = "This passkey request expired or was already used. Try again."


def _refuse(message: str, status: int = 400, **extra: Any):
    return jsonify(error=message, **extra), status


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _next_key(value: Any) -> str:
    return value[:64] if isinstance(value, str) else ""


@bp.errorhandler(RateLimited)
def _rate_limited(error: RateLimited):
    db.session.commit()  # the hit that crossed the limit counts too
    return _refuse(str(error), 429, retry_after=error.retry_after)


@bp.errorhandler(CSRFError)
def _csrf_error(error: CSRFError):
    return _refuse("This page has expired. Reload it and try again.")


# --- adding a passkey (Account -> Security) -----------------------------------------------


def _enrolling() -> tuple[User, LoginSession] | None:
    """The fully signed-in user, if the sign-in is recent enough to add a factor."""
    user = sessions.signed_in_user()
    if user is None or not may(user, "add_factor"):
        return None
    return user, sessions.current()


@bp.route("/account/security/passkeys")
def register():
    user = sessions.signed_in_user()
    if user is None:
        return sign_in_first("security")
    refused = step_up(user, "add_factor", "security")
    if refused is not None:
        return refused
    return render_template("passkey_register.html", count=len(passkey.passkeys(user)))


@bp.route("/account/security/passkeys/options", methods=["POST"])
def register_options():
    state = _enrolling()
    if state is None:
        return _refuse("For your security, sign in again before adding a passkey.", 401)
    user, login_session = state
    row, options = passkey.registration_options(user, login_session.id)
    db.session.commit()
    return jsonify(challenge=row.id, publicKey=options)


@bp.route("/account/security/passkeys/verify", methods=["POST"])
def register_verify():
    state = _enrolling()
    if state is None:
        return _refuse("For your security, sign in again before adding a passkey.", 401)
    user, login_session = state
    body = _body()
    name = body.get("name").strip() if isinstance(body.get("name"), str) else ""
    if not name or len(name) > 100:
        return _refuse("Give the passkey a name of at most 100 characters.")
    row = challenges.find(str(body.get("challenge") or ""), login_session.id)
    if row is None or row.kind != passkey.KIND or row.purpose != "enroll":
        return _refuse(EXPIRED)
    try:
        factor = passkey.register(row, user, body.get("credential"), name)
    except FactorError as error:
        db.session.commit()  # keep the challenge's attempt count and state
        return _refuse(str(error))
    factor_enrolled(user, factor)
    first = backup_codes.active_set(user) is None
    codes = backup_codes.generate(user, actor=user.email) if first else None
    db.session.commit()
    notify(user, f"A new sign-in method was added to your account: {name}.")
    if codes:
        session[CODES_KEY] = keyring().encrypt(json.dumps(codes).encode(), _codes_aad())
        return jsonify(redirect=url_for("passkeys.first_backup_codes"))
    flash(f"{name} is ready. You can use it to sign in.")
    return jsonify(redirect=url_for("security.enrolled"))


def _codes_aad() -> str:
    row = sessions.current()
    return f"passkey-backup-codes:{row.id if row else ''}"


@bp.route("/account/security/passkeys/backup-codes")
def first_backup_codes():
    """The backup codes made with the first passkey, shown once (as after a first TOTP).

    The session now owes the new second factor for account pages, as after enrolling TOTP;
    the codes are sealed to this very sign-in session, so its password session suffices.
    """
    sealed = session.pop(CODES_KEY, None)
    if sessions.current() is None or not sealed:
        return redirect(url_for("security.index"))
    codes = json.loads(keyring().decrypt(sealed, _codes_aad()))
    return render_template("backup_codes.html", codes=codes, first=True)


# --- passkey as the second factor after the password ---------------------------------------


def _second_factor_state(factor_id: int) -> tuple[LoginSession, User, Factor] | None:
    return second_factor_step(factor_id, {passkey.KIND})


@bp.route("/mfa/passkey/<int:factor_id>")
def second_factor(factor_id: int):
    next_key = _next_key(request.args.get("next", ""))
    state = _second_factor_state(factor_id)
    if state is None:
        return redirect(url_for("auth.login", next=next_key))
    _, user, factor = state
    others = other_factors(user, factor, next_key)
    return render_template(
        "passkey_verify.html",
        factor=factor,
        next_key=next_key,
        others=others,
        labels=registry.LABELS,
        remember_days=remember_days(user),
    )


@bp.route("/mfa/passkey/<int:factor_id>/options", methods=["POST"])
def second_factor_options(factor_id: int):
    state = _second_factor_state(factor_id)
    if state is None:
        return _refuse("Your sign-in expired. Sign in again.", 401)
    login_session, user, factor = state
    row, options = passkey.second_factor_options(user, login_session.id, factor)
    db.session.commit()
    return jsonify(challenge=row.id, publicKey=options)


@bp.route("/mfa/passkey/<int:factor_id>/verify", methods=["POST"])
def second_factor_verify(factor_id: int):
    state = _second_factor_state(factor_id)
    if state is None:
        return _refuse("Your sign-in expired. Sign in again.", 401)
    login_session, user, factor = state
    ratelimit.hit("second_factor", current_app.config["RATE_LIMIT_PER_MINUTE"], 60)
    body = _body()
    row = challenges.find(str(body.get("challenge") or ""), login_session.id)
    if row is None or row.factor_id != factor.id or row.purpose != "signin":
        return _refuse(EXPIRED)
    try:
        result = passkey.authenticate(
            row, factor, user, body.get("credential"), require_user_verification=False
        )
    except FactorError as error:
        db.session.commit()  # keep the failure count, back-off and challenge state
        return _refuse(str(error))
    response = second_factor_passed(
        login_session,
        user,
        result,
        jsonify(redirect=continue_to(_next_key(body.get("next"))).location),
        body.get("remember") is True,
    )
    db.session.commit()
    return response


# --- passwordless sign-in from the sign-in page ---------------------------------------------


@bp.route("/login/passkey/options", methods=["POST"])
def signin_options():
    """Options for a discoverable credential; the challenge waits in this browser's session.

    No row yet: the user is unknown until the answer names its credential (see
    ``passkey.passwordless_challenge``), and anonymous requests then cost no database write.
    """
    challenge, options = passkey.passwordless_options()
    state = session.get(PENDING_KEY) or {}
    cutoff = now() - current_app.config["CHALLENGE_TTL"]
    pending = {c: t for c, t in (state.get("p") or {}).items() if t > cutoff}
    pending[challenge] = now()
    while len(pending) > MAX_PENDING:
        pending.pop(min(pending, key=pending.__getitem__))
    session[PENDING_KEY] = {"b": state.get("b") or random_tokens.token(24), "p": pending}
    return jsonify(publicKey=options)


@bp.route("/login/passkey/verify", methods=["POST"])
def signin_verify():
    ratelimit.hit("login", current_app.config["RATE_LIMIT_PER_MINUTE"], 60)
    body = _body()
    credential = body.get("credential")
    state = session.get(PENDING_KEY) or {}
    pending = dict(state.get("p") or {})
    claimed = passkey.claimed_challenge(credential)
    issued_at = pending.pop(claimed, None) if claimed else None
    if issued_at is None:
        return _refuse(EXPIRED)
    session[PENDING_KEY] = {**state, "p": pending}  # one answer per challenge in this browser
    try:
        user, factor = _claimed_owner(credential)
    except FactorError as error:
        db.session.commit()  # keep the audit record
        return _refuse(str(error))
    try:
        row = passkey.passwordless_challenge(state["b"], claimed, issued_at, user, factor)
        result = passkey.authenticate(
            row, factor, user, credential, require_user_verification=True, throttled=False
        )
    except FactorError as error:
        audit.record("sign_in", outcome="failure", actor=user.email, subject=user.sub,
                     method=passkey.METHOD)  # fmt: skip
        db.session.commit()  # keep the challenge's state and the audit record
        return _refuse(str(error))
    sessions.sign_in(user, result.method, list(result.amr), for_request=_next_key(body.get("next")))
    audit.record("sign_in", actor=user.email, subject=user.sub, method=result.method)
    db.session.commit()
    return jsonify(redirect=continue_to(_next_key(body.get("next"))).location)


def _claimed_owner(credential: Any) -> tuple[User, Factor]:
    """The user and passkey a discoverable-credential response names, before verifying it.

    WebAuthn L3 7.2: when the user was not identified before the ceremony, the user handle
    must be present and name the credential's owner.
    """
    factor = passkey.active_by_credential_id(passkey.claimed_credential_id(credential))
    if factor is None:
        audit.record("sign_in", outcome="failure", method=passkey.METHOD, reason="unknown passkey")
        raise passkey.UnknownPasskey()
    user = db.session.get(User, factor.user_id)
    if passkey.claimed_user_handle(credential) != passkey.user_handle(user):
        audit.record("sign_in", outcome="failure", subject=user.sub, method=passkey.METHOD)
        raise passkey.PasskeyRefused("This passkey belongs to another account.")
    return user, factor
