"""Account recovery on the sign-in side (issue 14; the rules are ``idp.accounts.recovery``).

``/recovery/`` asks for it (``/recovery/cancel`` withdraws it): only a browser past the
password step (a sign-in session, even one still owing its second factor) reaches them.
``/recovery/link/<secret>`` is the mailed link: a GET changes nothing (mail scanners open
links); the POST, with the account's password, spends it, ends whatever session this browser
had and leaves only a recovery state in it. ``/recovery/enroll`` is the one page that state
opens: it adds a passkey (``/recovery/passkey/options`` and ``/verify``, the JSON calls of
``static/passkeys.js``) or an authenticator app, whichever kinds the user's policy allows.
Either one's confirmation makes the recovery take effect through the same ``_finish``, and
``/recovery/done`` shows the new backup codes once and ends with "sign in now".

The recovery state is no sign-in: the browser holds no sign-in session, so the account pages,
the console and ``/authorize`` see a visitor who must sign in (with the new factor).
"""

from __future__ import annotations

import json
from contextlib import suppress
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired

from idp import random_tokens
from idp.accounts import recovery
from idp.accounts.password_backoff import PasswordBackoff
from idp.extensions import db
from idp.factors import attestation, challenges, passkey, totp
from idp.factors.base import FactorError
from idp.keys.encryption import keyring
from idp.models import Factor, RecoveryRequest, User
from idp.models.factor import FactorStatus
from idp.web import ceremony, ratelimit, sessions
from idp.web.forms import ConfirmForm, EnrollTotpForm

bp = Blueprint("recovery", __name__, url_prefix="/recovery")
#: The passkey ceremony's JSON calls, nested so that only they answer refusals in JSON.
calls = Blueprint("passkey", __name__, url_prefix="/passkey")
ceremony.answer_in_json(calls)
bp.register_blueprint(calls)

#: The browser's recovery state: {"r": request id, "u": user id, "b": challenge binding,
#: "f": the pending authenticator app's id}.
STATE = "recovery"
#: After the recovery: {"r": request id, "n": the new factor's name, "c": the new backup
#: codes, sealed to the request}, read once by ``/recovery/done``.
DONE = "recovery_done"
EXPIRED = "This recovery link no longer works. Sign in with your password and ask again."


class LinkForm(FlaskForm):
    password = PasswordField("Your password", [DataRequired(message="Enter your password.")])


@bp.route("/", methods=["GET", "POST"])
def ask():
    user = sessions.current_user()
    if user is None:
        return redirect(url_for("auth.login"))
    form = ConfirmForm()
    if not form.validate_on_submit():
        waiting = recovery.open_request(user)
        db.session.commit()  # a request past its deadline was expired
        body = render_template("recovery_ask.html", form=form, waiting=waiting)
        return body, 400 if form.is_submitted() else 200
    ratelimit.hit("recovery")
    row, created = recovery.ask(user)
    db.session.commit()
    if created:
        recovery.announce(row, user)
    return render_template("recovery_requested.html", created=created)


@bp.route("/cancel", methods=["POST"])
def cancel():
    """The user withdraws their open request (they found a sign-in method again)."""
    user = sessions.current_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if not ConfirmForm().validate_on_submit():
        abort(400)
    row = recovery.open_request(user)
    if row is not None:
        with suppress(recovery.NotOpen):  # decided or withdrawn meanwhile
            recovery.cancel(row, user)
    db.session.commit()
    flash("Your recovery request was withdrawn.")
    return redirect(url_for("recovery.ask"), code=303)


@bp.route("/link/<secret>", methods=["GET", "POST"])
def link(secret: str):
    row = recovery.by_link(secret)
    if row is None:
        return _invalid()
    user = db.session.get(User, row.user_id)
    if not recovery.kinds(user):
        return _not_allowed()
    form = LinkForm()
    if not form.validate_on_submit():
        db.session.commit()
        body = render_template("recovery_link.html", form=form)
        return body, 400 if form.is_submitted() else 200
    ratelimit.hit("login")
    try:
        proven = recovery.knows_password(user, form.password.data)
    except PasswordBackoff as wait:
        return _link_refused(form, str(wait), 429)
    if not proven:
        return _link_refused(form, "That is not the password of this account.", 401)
    if not recovery.open_link(row, user):
        return _invalid()
    sessions.sign_out()  # whatever this browser was signed in as ends here
    session[STATE] = {"r": row.id, "u": user.id, "b": random_tokens.token(24), "f": None}
    db.session.commit()
    return redirect(url_for("recovery.enroll"), code=303)


def _link_refused(form: LinkForm, message: str, status: int):
    db.session.commit()  # keep the counted failure and its audit row
    form.password.errors.append(message)
    return render_template("recovery_link.html", form=form), status


@bp.route("/enroll", methods=["GET", "POST"])
def enroll():
    found = _recovering()
    if found is None:
        return _invalid()
    row, user, state = found
    kinds = recovery.kinds(user)
    if not kinds:
        return _not_allowed()
    form = EnrollTotpForm()
    if totp.KIND.name not in kinds:  # passkeys only: nothing to post here
        return _page(user, kinds, None, form, 400 if form.is_submitted() else 200)
    factor = _pending(state, user)
    if factor is None or not form.is_submitted():
        return _start(user, kinds, state, factor, form)
    if not form.validate_on_submit():
        return _page(user, kinds, factor, form, 400)
    try:
        recovery.confirm(user, factor, state["b"], form.challenge.data or "", form.code.data,
                         request.remote_addr)  # fmt: skip
    except FactorError as error:
        form.code.errors.append(str(error))
        if not challenges.is_open(form.challenge.data, state["b"]):
            _new_challenge(user, factor, state, form)
        return _page(user, kinds, factor, form, 400)
    factor.name = form.name.data
    done = _finish(row, user, factor)
    return _invalid() if done is None else redirect(done, code=303)


@calls.route("/options", methods=["POST"])
def passkey_options():
    found, refused = _passkey_recovery()
    if found is None:
        return refused
    _, user, state = found
    challenge_id, options = recovery.passkey_options(user, state["b"])
    db.session.commit()
    return jsonify(challenge=challenge_id, publicKey=options)


@calls.route("/verify", methods=["POST"])
def passkey_verify():
    found, refused = _passkey_recovery()
    if found is None:
        return refused
    row, user, state = found
    body = ceremony.body()
    name = body.get("name").strip() if isinstance(body.get("name"), str) else ""
    if not name or len(name) > 100:
        return ceremony.refuse("Give the passkey a name of at most 100 characters.")
    challenge = str(body.get("challenge") or "")
    try:
        factor = recovery.add_passkey(user, state["b"], challenge, body.get("credential"), name,
                                      request.remote_addr)  # fmt: skip
    except FactorError as error:
        return ceremony.refuse(str(error))
    done = _finish(row, user, factor)
    return ceremony.refuse(EXPIRED) if done is None else jsonify(redirect=done)


def _passkey_recovery() -> tuple[tuple[RecoveryRequest, User, dict] | None, Any]:
    """The recovery a passkey call belongs to, else ``None`` and the JSON refusal."""
    found = _recovering()
    if found is None:
        db.session.commit()  # a request past its deadline was expired
        return None, ceremony.refuse(EXPIRED)
    if passkey.NAME not in recovery.kinds(found[1]):
        return None, ceremony.refuse(_NOT_ALLOWED, 403)
    return found, None


def _recovering() -> tuple[RecoveryRequest, User, dict] | None:
    """The opened, unfinished request this browser's recovery state names, its user and the
    state; ``None`` (and the state forgotten) when there is none."""
    state = session.get(STATE) or {}
    row = recovery.enrolling(state.get("r"), state.get("u"))
    if row is None:
        session.pop(STATE, None)
        return None
    return row, db.session.get(User, row.user_id), state


def _finish(row: RecoveryRequest, user: User, factor: Factor) -> str | None:
    """The one ending of both kinds: the recovery takes effect and the new backup codes wait,
    sealed, for ``/recovery/done``; returns its address, or ``None`` when the request was
    finished meanwhile (another tab, or the other kind: the conditional UPDATE decided)."""
    try:
        codes = recovery.complete(row, user, factor)
    except recovery.NotOpen:
        db.session.rollback()
        session.pop(STATE, None)
        return None
    db.session.commit()
    session.pop(STATE, None)
    sealed = keyring().encrypt(json.dumps(codes).encode(), _codes_aad(row.id))
    session[DONE] = {"r": row.id, "n": factor.name, "c": sealed}
    recovery.send_done(user, factor)
    return url_for("recovery.done")


def _codes_aad(request_id: int) -> str:
    return f"recovery-backup-codes:{request_id}"


@bp.route("/done")
def done():
    """The recovered account's new backup codes, shown once (a reload goes to sign-in)."""
    finished = session.pop(DONE, None)
    if not finished:
        return redirect(url_for("auth.login"))
    codes = json.loads(keyring().decrypt(finished["c"], _codes_aad(finished["r"])))
    return render_template("recovery_done.html", codes=codes, name=finished["n"])


def _pending(state: dict, user: User) -> Factor | None:
    factor = db.session.get(Factor, state.get("f") or 0)
    if factor is None or factor.user_id != user.id or factor.status != FactorStatus.PENDING.value:
        return None
    return factor


def _start(user: User, kinds: list[str], state: dict, previous: Factor | None,
           form: EnrollTotpForm):  # fmt: skip
    factor = recovery.start_totp(user, previous)
    session[STATE] = {**state, "f": factor.id}
    _new_challenge(user, factor, state, form)
    form.name.data = form.name.data or "Authenticator app"
    return _page(user, kinds, factor, form, 200)


def _new_challenge(user: User, factor: Factor, state: dict, form: EnrollTotpForm) -> None:
    form.challenge.data = recovery.challenge(user, factor, state["b"])
    db.session.commit()


def _page(user: User, kinds: list[str], factor: Factor | None, form: EnrollTotpForm,
          status: int):  # fmt: skip
    """The enrollment page: a passkey and an authenticator app (``factor``), as allowed."""
    totp_setup = {}
    if factor is not None:
        secret = totp.secret_of(factor)
        uri = totp.provisioning_uri(secret, user.email)
        totp_setup = {"secret": secret, "uri": uri, "qr": totp.qr_svg(uri)}
    body = render_template(
        "recovery_enroll.html", form=form, totp=totp_setup, passkey=passkey.NAME in kinds,
        attested=attestation.required_for(user),
        ttl_minutes=current_app.config["RECOVERY_LINK_TTL"] // 60,
    )  # fmt: skip
    return body, status


_NOT_ALLOWED = (
    "This recovery can add a passkey or an authenticator app, and your organisation allows "
    "neither for your account. Contact your administrator."
)


def _not_allowed():
    db.session.commit()
    return render_template("recovery_invalid.html", reason=_NOT_ALLOWED), 403


def _invalid():
    db.session.commit()  # a link or request past its deadline was expired
    return render_template("recovery_invalid.html"), 400
