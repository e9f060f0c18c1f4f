"""Passkeys at sign-in: one used after the password, or one alone (a button, or autofill through
conditional mediation on the sign-in page).

Each ceremony is two JSON calls (``idp.web.ceremony``). A refused answer creates no session and
changes no sign count; as a second factor it goes through ``idp.factors.answer`` (attempt limit,
back-off, audit) like any other factor. Password sign-in does not need any of this and keeps
working without JavaScript.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from idp import audit, random_tokens
from idp.accounts import users
from idp.clock import now
from idp.extensions import db
from idp.factors import answer, passkey, registry
from idp.factors.base import FactorError
from idp.models import Factor, LoginSession, User
from idp.views.signin.flow import continue_to
from idp.views.signin.second_factor import (
    attempt,
    other_factors,
    remember_browser,
    remember_days,
    second_factor_step,
)
from idp.web import ceremony, ratelimit, sessions

bp = Blueprint("passkey_signin", __name__)
ceremony.answer_in_json(bp)

PENDING_KEY = "passkey_signin"  # Flask session: {"b": binding id, "p": {challenge: issued_at}}
MAX_PENDING = 3
EXPIRED = "This passkey request expired or was already used. Try again."


# --- passkey as the second factor after the password ---------------------------------------


def _second_factor_state(factor_id: int) -> tuple[LoginSession, User, Factor] | None:
    return second_factor_step(factor_id, {passkey.NAME})


@bp.route("/mfa/passkey/<int:factor_id>")
def second_factor(factor_id: int):
    next_key = sessions.next_key(request.args.get("next", ""))
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
        return ceremony.refuse("Your sign-in expired. Sign in again.", 401)
    login_session, user, factor = state
    row, options = passkey.second_factor_options(user, login_session.id, factor)
    db.session.commit()
    return jsonify(challenge=row.id, publicKey=options)


@bp.route("/mfa/passkey/<int:factor_id>/verify", methods=["POST"])
def second_factor_verify(factor_id: int):
    state = _second_factor_state(factor_id)
    if state is None:
        return ceremony.refuse("Your sign-in expired. Sign in again.", 401)
    login_session, user, factor = state
    body = ceremony.body()
    challenge_id = str(body.get("challenge") or "")
    try:
        answer.sign_in(attempt(login_session, user, factor, challenge_id, body.get("credential")))
    except answer.StaleChallenge:
        return ceremony.refuse(EXPIRED)
    except FactorError as error:
        return ceremony.refuse(str(error))
    next_url = continue_to(sessions.next_key(body.get("next"))).location
    response = remember_browser(user, jsonify(redirect=next_url), body.get("remember") is True)
    db.session.commit()
    return response


# --- passwordless sign-in from the sign-in page ---------------------------------------------


@bp.route("/login/passkey/options", methods=["POST"])
def options():
    """Options for a discoverable credential; the challenge waits in this browser's session.

    No row yet: the user is unknown until the answer names its credential (see
    ``passkey.passwordless_challenge``), and anonymous requests then cost no database write.
    """
    challenge, public_key = passkey.passwordless_options()
    state = session.get(PENDING_KEY) or {}
    cutoff = now() - current_app.config["CHALLENGE_TTL"]
    pending = {c: t for c, t in (state.get("p") or {}).items() if t > cutoff}
    pending[challenge] = now()
    while len(pending) > MAX_PENDING:
        pending.pop(min(pending, key=pending.__getitem__))
    session[PENDING_KEY] = {"b": state.get("b") or random_tokens.token(24), "p": pending}
    return jsonify(publicKey=public_key)


@bp.route("/login/passkey/verify", methods=["POST"])
def verify():
    ratelimit.hit("login")
    body = ceremony.body()
    credential = body.get("credential")
    state = session.get(PENDING_KEY) or {}
    pending = dict(state.get("p") or {})
    claimed = passkey.claimed_challenge(credential)
    issued_at = pending.pop(claimed, None) if claimed else None
    if issued_at is None:
        return ceremony.refuse(EXPIRED)
    session[PENDING_KEY] = {**state, "p": pending}  # one answer per challenge in this browser
    try:
        user, factor = _claimed_owner(credential)
    except FactorError as error:
        db.session.commit()  # keep the audit record
        return ceremony.refuse(str(error))
    try:
        row = passkey.passwordless_challenge(state["b"], claimed, issued_at, user, factor)
        result = passkey.authenticate(
            row, factor, user, credential, require_user_verification=True, throttled=False
        )
    except FactorError as error:
        audit.record("sign_in", outcome="failure", actor=user.email, subject=user.sub,
                     method=passkey.KIND.method)  # fmt: skip
        db.session.commit()  # keep the challenge's state and the audit record
        return ceremony.refuse(str(error))
    try:
        users.ensure_enabled(user)
    except users.AccountDisabled as disabled:
        audit.record("sign_in", outcome="failure", actor=user.email, subject=user.sub,
                     method=passkey.KIND.method, reason="account_disabled")  # fmt: skip
        db.session.commit()
        return ceremony.refuse(str(disabled), 403)
    next_key = sessions.next_key(body.get("next"))
    sessions.sign_in(user, result.method, list(result.amr), for_request=next_key)
    audit.record("sign_in", actor=user.email, subject=user.sub, method=result.method)
    db.session.commit()
    return jsonify(redirect=continue_to(next_key).location)


def _claimed_owner(credential: Any) -> tuple[User, Factor]:
    """The user and passkey a discoverable-credential response names, before verifying it.

    WebAuthn L3 7.2: when the user was not identified before the ceremony, the user handle
    must be present and name the credential's owner.
    """
    factor = passkey.active_by_credential_id(passkey.claimed_credential_id(credential))
    method = passkey.KIND.method
    if factor is None:
        audit.record("sign_in", outcome="failure", method=method, reason="unknown passkey")
        raise passkey.UnknownPasskey()
    user = db.session.get(User, factor.user_id)
    if passkey.claimed_user_handle(credential) != passkey.user_handle(user):
        audit.record("sign_in", outcome="failure", subject=user.sub, method=method)
        raise passkey.PasskeyRefused("This passkey belongs to another account.")
    return user, factor
