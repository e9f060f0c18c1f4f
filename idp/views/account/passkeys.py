"""Adding a passkey from the security page: a WebAuthn registration ceremony.

Two JSON calls (``idp.web.ceremony``): options, then the browser's attestation. A refused one
creates no factor; the challenge's attempt count and the audit log record the failure like any
other factor's. Using a passkey to sign in is ``idp.views.signin.passkey``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, session, url_for

from idp.extensions import db
from idp.factors import answer, backup_codes, challenges, passkey
from idp.factors.base import FactorError
from idp.keys.encryption import keyring
from idp.models import LoginSession, User
from idp.notify.security import notify
from idp.views.signin.flow import adding_factor, kind_refusal, may
from idp.web import ceremony, sessions

bp = Blueprint("passkeys", __name__)
ceremony.answer_in_json(bp)

CODES_KEY = "passkey_codes"  # Flask session: backup codes to show once, encrypted
EXPIRED = "This passkey request expired or was already used. Try again."
SIGN_IN_AGAIN = "For your security, sign in again before adding a passkey."


def _enrolling() -> tuple[tuple[User, LoginSession] | None, Any]:
    """The user and sign-in session that may add a passkey now, else ``None`` and the JSON
    refusal: the same checks as ``adding_factor``, whose pages and redirects a script cannot
    show."""
    user = sessions.signed_in_user()
    if user is None:
        return None, ceremony.refuse(SIGN_IN_AGAIN, 401)
    reason = kind_refusal(user, passkey.NAME)
    if reason is not None:
        return None, ceremony.refuse(reason, 403)
    if not may(user, "add_factor"):
        return None, ceremony.refuse(SIGN_IN_AGAIN, 401)
    return (user, sessions.current()), None


@bp.route("/account/security/passkeys")
def register():
    user, refused = adding_factor(passkey.NAME)
    if user is None:
        return refused
    return render_template("passkey_register.html", count=len(passkey.passkeys(user)))


@bp.route("/account/security/passkeys/options", methods=["POST"])
def register_options():
    state, refused = _enrolling()
    if state is None:
        return refused
    user, login_session = state
    row, options = passkey.registration_options(user, login_session.id)
    db.session.commit()
    return jsonify(challenge=row.id, publicKey=options)


@bp.route("/account/security/passkeys/verify", methods=["POST"])
def register_verify():
    state, refused = _enrolling()
    if state is None:
        return refused
    user, login_session = state
    body = ceremony.body()
    name = body.get("name").strip() if isinstance(body.get("name"), str) else ""
    if not name or len(name) > 100:
        return ceremony.refuse("Give the passkey a name of at most 100 characters.")
    row = challenges.find(str(body.get("challenge") or ""), login_session.id)
    if row is None or row.kind != passkey.NAME or row.purpose != challenges.ENROLL:
        return ceremony.refuse(EXPIRED)
    try:
        _, verified = passkey.register(row, user, body.get("credential"), name)
    except FactorError as error:
        db.session.commit()  # keep the challenge's attempt count and state
        return ceremony.refuse(str(error))
    answer.enrolled(login_session, verified)
    codes = backup_codes.with_first_factor(user)
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
