"""Account recovery on the sign-in side (issue 14; the rules are ``idp.accounts.recovery``).

``/recovery/`` asks for it (``/recovery/cancel`` withdraws it): only a browser past the
password step (a sign-in session, even one still owing its second factor) reaches them.
``/recovery/link/<secret>`` is the mailed link: a GET changes nothing (mail scanners open
links); the POST, with the account's password, spends it, ends whatever session this browser
had and leaves only a recovery state in it. ``/recovery/enroll`` is the one page that state
opens: it adds an authenticator app, and its confirmation makes the recovery take effect and
ends with "sign in now".

The recovery state is no sign-in: the browser holds no sign-in session, so the account pages,
the console and ``/authorize`` see a visitor who must sign in (with the new factor).
"""

from __future__ import annotations

from contextlib import suppress

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
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
from idp.accounts import policies, recovery
from idp.accounts.password_backoff import PasswordBackoff
from idp.extensions import db
from idp.factors import challenges, totp
from idp.factors.base import FactorError
from idp.models import Factor, RecoveryRequest, User
from idp.models.factor import FactorStatus
from idp.web import ratelimit, sessions
from idp.web.forms import ConfirmForm, EnrollTotpForm

bp = Blueprint("recovery", __name__, url_prefix="/recovery")

#: The browser's recovery state: {"r": request id, "u": user id, "b": challenge binding,
#: "f": the pending factor's id}.
STATE = "recovery"


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
    if not _may_add_totp(user):
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
    state = session.get(STATE) or {}
    row = recovery.enrolling(state.get("r"), state.get("u"))
    if row is None:
        session.pop(STATE, None)
        return _invalid()
    user = db.session.get(User, row.user_id)
    if not _may_add_totp(user):
        return _not_allowed()
    form = EnrollTotpForm()
    factor = _pending(state, user)
    if factor is None or not form.is_submitted():
        return _start(user, state, factor, form)
    if not form.validate_on_submit():
        return _page(user, factor, form, 400)
    try:
        recovery.confirm(user, factor, state["b"], form.challenge.data or "", form.code.data,
                         request.remote_addr)  # fmt: skip
    except FactorError as error:
        form.code.errors.append(str(error))
        if not challenges.is_open(form.challenge.data, state["b"]):
            _new_challenge(user, factor, state, form)
        return _page(user, factor, form, 400)
    return _finish(row, user, factor, form.name.data)


def _finish(row: RecoveryRequest, user: User, factor: Factor, name: str):
    factor.name = name
    try:
        codes = recovery.complete(row, user, factor)
    except recovery.NotOpen:
        db.session.rollback()
        session.pop(STATE, None)
        return _invalid()
    db.session.commit()
    session.pop(STATE, None)
    recovery.send_done(user, factor)
    return render_template("recovery_done.html", codes=codes, factor=factor)


def _pending(state: dict, user: User) -> Factor | None:
    factor = db.session.get(Factor, state.get("f") or 0)
    if factor is None or factor.user_id != user.id or factor.status != FactorStatus.PENDING.value:
        return None
    return factor


def _start(user: User, state: dict, previous: Factor | None, form: EnrollTotpForm):
    factor = recovery.start_totp(user, previous)
    session[STATE] = {**state, "f": factor.id}
    _new_challenge(user, factor, state, form)
    form.name.data = form.name.data or "Authenticator app"
    return _page(user, factor, form, 200)


def _new_challenge(user: User, factor: Factor, state: dict, form: EnrollTotpForm) -> None:
    form.challenge.data = recovery.challenge(user, factor, state["b"])
    db.session.commit()


def _page(user: User, factor: Factor, form: EnrollTotpForm, status: int):
    secret = totp.secret_of(factor)
    uri = totp.provisioning_uri(secret, user.email)
    body = render_template(
        "recovery_enroll.html", form=form, secret=secret, uri=uri, qr=totp.qr_svg(uri),
        ttl_minutes=current_app.config["RECOVERY_LINK_TTL"] // 60,
    )  # fmt: skip
    return body, status


def _may_add_totp(user: User) -> bool:
    """This recovery adds an authenticator app; a policy that does not count one would only
    ask for another method at the next sign-in. Checked before the link is spent."""
    return policies.inputs(user).effective().allows(totp.KIND.name)


def _not_allowed():
    db.session.commit()
    reason = (
        "This recovery can only add an authenticator app, which your organisation does not "
        "allow for your account. Contact your administrator."
    )
    return render_template("recovery_invalid.html", reason=reason), 403


def _invalid():
    db.session.commit()  # a link or request past its deadline was expired
    return render_template("recovery_invalid.html"), 400
