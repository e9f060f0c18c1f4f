"""Email and SMS codes: adding an address or phone number, and the sign-in step that uses one.

Adding one needs the same recent sign-in as any factor, creates a *pending* factor, sends a
code to it, and turns it on only when that code comes back; the first factor brings backup
codes, and the user is told by email. At sign-in the page says where the code went, sends it on
the first visit (a refresh does not send another), and offers "send a new code", which expires
the previous one. The rules for the codes themselves live in ``idp.factors.delivered_code``.
"""

from __future__ import annotations

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
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from idp.extensions import db
from idp.factors import backup_codes, challenges, delivered_code, lifecycle, registry
from idp.factors.base import CoolingDown, FactorError
from idp.factors.delivered_code import ENROLL, SIGNIN, SendLimited
from idp.models import Factor, LoginSession, User
from idp.models.factor import FactorStatus
from idp.notify.security import notify
from idp.views.signin.flow import (
    continue_to,
    factor_enrolled,
    other_factors,
    remember_days,
    second_factor_passed,
    second_factor_step,
    sign_in_first,
    step_up,
    try_again_at,
)
from idp.web import ratelimit, sessions
from idp.web.forms import EMAIL, CodeForm

bp = Blueprint("delivery", __name__)

ENROLLING = "delivery_enrolling"  # Flask session: the pending factor whose code is awaited
NO_LONGER_VALID = "This code is no longer valid. Ask for a new code."
NAME = [DataRequired(message="Give it a name."), Length(max=100, message="At most 100.")]


class EnrollEmailForm(FlaskForm):
    name = StringField("Name for this method", NAME)
    email = EmailField(
        "Email address", [DataRequired(message="Enter an email address."), EMAIL, Length(max=320)]
    )


class EnrollPhoneForm(FlaskForm):
    name = StringField("Name for this method", NAME)
    phone = StringField(
        "Mobile phone number", [DataRequired(message="Enter a phone number."), Length(max=32)]
    )

    def validate_phone(self, field) -> None:
        if delivered_code.normalize_phone(field.data) is None:
            raise ValidationError(
                "Enter the number in international format with its country code, "
                "like +44 7700 900123."
            )


class ResendForm(FlaskForm):
    next = HiddenField()


def _send(user: User, factor: Factor, login_session: LoginSession, purpose: str):
    """Issue and deliver a new code; the refusal (limit, lock, delivery failure) or None."""
    ratelimit.hit("code_send", current_app.config["RATE_LIMIT_PER_MINUTE"], 60)
    try:
        outgoing = delivered_code.start(user, factor, login_session.id, purpose)
    except FactorError as error:
        db.session.commit()  # keep the audit record of the refusal
        return error
    db.session.commit()  # no lock is held while the mail server or the webhook answers
    return _deliver(user, factor, login_session, purpose, outgoing)


def _deliver(user, factor, login_session, purpose, outgoing) -> FactorError | None:
    try:
        delivered_code.deliver(outgoing)
    except delivered_code.DeliveryFailed as error:
        row = delivered_code.live_challenge(factor, login_session.id, purpose)
        if row is not None:
            delivered_code.abandon(row, user)
        db.session.commit()
        return error
    return None


def _status(error: FactorError) -> int:
    if isinstance(error, SendLimited | CoolingDown):
        return 429
    return 503 if isinstance(error, delivered_code.DeliveryFailed) else 403


# --- adding an email address or a phone number (Account -> Security) ----------------------


def _enrolling_user() -> tuple[User | None, object]:
    """The signed-in user if the sign-in is recent enough to add a factor, else a response."""
    user = sessions.signed_in_user()
    if user is None:
        return None, sign_in_first("security")
    refused = step_up(user, "add_factor", "security")
    return (None, refused) if refused is not None else (user, None)


@bp.route("/account/security/email", methods=["GET", "POST"])
def enroll_email():
    return _enroll(delivered_code.EMAIL, EnrollEmailForm)


@bp.route("/account/security/sms", methods=["GET", "POST"])
def enroll_sms():
    return _enroll(delivered_code.SMS, EnrollPhoneForm)


def _enroll(kind: str, form_class: type[FlaskForm]):
    user, response = _enrolling_user()
    if user is None:
        return response
    form = form_class()
    if not form.is_submitted():
        form.name.data = registry.LABELS[kind]
        if kind == delivered_code.EMAIL:
            form.email.data = user.email
        return _enroll_page(kind, form)
    if not form.validate_on_submit():
        return _enroll_page(kind, form, 400)
    if kind == delivered_code.EMAIL:
        to = form.email.data.strip()
    else:
        to = delivered_code.normalize_phone(form.phone.data)
    login_session = sessions.current()
    ratelimit.hit("code_send", current_app.config["RATE_LIMIT_PER_MINUTE"], 60)
    try:
        factor, outgoing = delivered_code.begin_enrollment(
            user, kind, to, form.name.data.strip(), login_session.id
        )
    except SendLimited as error:
        db.session.commit()
        return _enroll_page(kind, form, 429, send_error=str(error))
    _abandon_previous(user)
    db.session.commit()
    session[ENROLLING] = factor.id
    error = _deliver(user, factor, login_session, ENROLL, outgoing)
    if error is not None:
        return _enroll_page(kind, form, 503, send_error=str(error))
    return redirect(url_for("delivery.enroll_code", factor_id=factor.id), code=303)


def _enroll_page(kind: str, form: FlaskForm, status: int = 200, send_error: str | None = None):
    return render_template(
        "delivery_enroll.html", kind=kind, form=form, send_error=send_error
    ), status


def _abandon_previous(user: User) -> None:
    """An unfinished earlier enrollment of this browser is abandoned (pending -> revoked)."""
    previous = _pending(user, session.get(ENROLLING) or 0)
    if previous is not None:
        lifecycle.move(
            previous, FactorStatus.REVOKED, actor=user.email, subject=user.sub, reason="abandoned"
        )


def _pending(user: User, factor_id: int) -> Factor | None:
    factor = db.session.get(Factor, factor_id)
    if (
        factor is None
        or factor.user_id != user.id
        or factor.status != FactorStatus.PENDING.value
        or factor.kind not in delivered_code.KINDS
    ):
        return None
    return factor


def _awaited(user: User, factor_id: int) -> Factor | None:
    """The pending factor this browser is confirming; any other id does not exist here."""
    return _pending(user, factor_id) if session.get(ENROLLING) == factor_id else None


@bp.route("/account/security/confirm/<int:factor_id>", methods=["GET", "POST"])
def enroll_code(factor_id: int):
    user, response = _enrolling_user()
    if user is None:
        return response
    factor = _awaited(user, factor_id)
    if factor is None:
        flash("That confirmation is over. Start adding the method again.")
        return redirect(url_for("security.index"), code=303)
    login_session = sessions.current()
    form = CodeForm()
    if not form.validate_on_submit():
        _attach_live(form, factor, login_session, ENROLL)
        return _enroll_code_page(factor, form, 400 if form.is_submitted() else 200)
    challenge = challenges.find(form.challenge.data or "", login_session.id)
    if challenge is None or challenge.factor_id != factor.id or challenge.purpose != ENROLL:
        return _refused_enroll_code(factor, form, login_session, NO_LONGER_VALID, 400)
    try:
        challenges.answer(
            challenge, None, user, lambda: delivered_code.verify(challenge, form.code.data)
        )
    except FactorError as error:
        db.session.commit()  # keep the attempt count and the challenge's state
        return _refused_enroll_code(factor, form, login_session, str(error), 401)
    return _activated(user, factor)


@bp.route("/account/security/confirm/<int:factor_id>/resend", methods=["POST"])
def enroll_resend(factor_id: int):
    user, response = _enrolling_user()
    if user is None:
        return response
    factor = _awaited(user, factor_id)
    if factor is None or not ResendForm().validate_on_submit():
        abort(400)
    login_session = sessions.current()
    error = _send(user, factor, login_session, ENROLL)
    if error is None:
        flash(f"We sent a new code to {delivered_code.masked(factor)}. Earlier codes expired.")
        return redirect(url_for("delivery.enroll_code", factor_id=factor.id), code=303)
    form = CodeForm(formdata=None)
    _attach_live(form, factor, login_session, ENROLL)
    return _enroll_code_page(factor, form, _status(error), send_error=str(error))


def _refused_enroll_code(factor, form, login_session, message: str, status: int):
    form.code.errors.append(message)
    _attach_live(form, factor, login_session, ENROLL)
    return _enroll_code_page(factor, form, status)


def _enroll_code_page(factor: Factor, form, status: int, send_error: str | None = None):
    body = render_template(
        "delivery_enroll_code.html",
        factor=factor,
        form=form,
        masked=delivered_code.masked(factor),
        send_error=send_error,
    )
    return body, status


def _activated(user: User, factor: Factor):
    """Pending -> active, backup codes with the first factor, and a mail to the user."""
    lifecycle.move(
        factor, FactorStatus.ACTIVE, actor=user.email, subject=user.sub, reason="verified"
    )
    session.pop(ENROLLING, None)
    factor_enrolled(user, factor)
    first = backup_codes.active_set(user) is None
    codes = backup_codes.generate(user, actor=user.email) if first else None
    db.session.commit()
    label = registry.LABELS[factor.kind]
    notify(
        user,
        f"A new sign-in method was added to your account: {factor.name} "
        f"({label} to {delivered_code.masked(factor)}).",
    )
    if codes:
        return render_template("backup_codes.html", codes=codes, first=True)
    flash(f"{factor.name} is ready. You will be asked for a code when you sign in.")
    return redirect(url_for("security.enrolled"), code=303)


# --- the second-factor step of a sign-in ---------------------------------------------------


def _signin_state(factor_id: int) -> tuple[LoginSession, User, Factor] | None:
    return second_factor_step(factor_id, delivered_code.KINDS)


def _attach_live(form, factor: Factor, login_session: LoginSession, purpose: str) -> None:
    live = delivered_code.live_challenge(factor, login_session.id, purpose)
    form.challenge.data = live.id if live is not None else ""


@bp.route("/mfa/code/<int:factor_id>", methods=["GET", "POST"])
def verify(factor_id: int):
    state = _signin_state(factor_id)
    if state is None:
        return redirect(url_for("auth.login", next=request.values.get("next", "")[:64]))
    login_session, user, factor = state
    form = CodeForm()
    if not form.is_submitted():
        form.next.data = request.args.get("next", "")[:64]
        error = None
        if delivered_code.live_challenge(factor, login_session.id, SIGNIN) is None:
            error = _send(user, factor, login_session, SIGNIN)
        _attach_live(form, factor, login_session, SIGNIN)
        return _verify_page(form, factor, user, send_error=error)
    if not form.validate_on_submit():
        return _verify_page(form, factor, user, 400)
    ratelimit.hit("second_factor", current_app.config["RATE_LIMIT_PER_MINUTE"], 60)
    challenge = challenges.find(form.challenge.data or "", login_session.id)
    if challenge is None or challenge.factor_id != factor.id or challenge.purpose != SIGNIN:
        form.code.errors.append(NO_LONGER_VALID)
        _attach_live(form, factor, login_session, SIGNIN)
        return _verify_page(form, factor, user, 400)
    try:
        result = challenges.answer(
            challenge, factor, user, lambda: delivered_code.verify(challenge, form.code.data)
        )
    except FactorError as error:
        db.session.commit()  # keep the failure count, back-off and challenge state
        form.code.errors.append(str(error))
        _attach_live(form, factor, login_session, SIGNIN)
        return _verify_page(form, factor, user, 401, cooldown=try_again_at(error, factor))
    response = second_factor_passed(
        login_session, user, result, continue_to(form.next.data), form.remember.data
    )
    db.session.commit()
    return response


@bp.route("/mfa/code/<int:factor_id>/resend", methods=["POST"])
def resend(factor_id: int):
    state = _signin_state(factor_id)
    if state is None:
        return redirect(url_for("auth.login"))
    login_session, user, factor = state
    resend_form = ResendForm()
    if not resend_form.validate_on_submit():
        abort(400)
    next_key = (resend_form.next.data or "")[:64]
    error = _send(user, factor, login_session, SIGNIN)
    if error is None:
        flash(f"We sent a new code to {delivered_code.masked(factor)}. Earlier codes expired.")
        return redirect(url_for("delivery.verify", factor_id=factor.id, next=next_key), code=303)
    form = CodeForm(formdata=None)
    form.next.data = next_key
    _attach_live(form, factor, login_session, SIGNIN)
    body, status = _verify_page(form, factor, user, _status(error), send_error=error)
    retry = {"Retry-After": str(error.retry_after)} if isinstance(error, SendLimited) else {}
    return body, status, retry


def _verify_page(form, factor, user, status=200, cooldown=None, send_error=None):
    others = other_factors(user, factor, form.next.data)
    body = render_template(
        "delivery_verify.html",
        form=form,
        factor=factor,
        masked=delivered_code.masked(factor),
        others=others,
        labels=registry.LABELS,
        cooldown=cooldown or try_again_at(send_error, None),
        send_error=str(send_error) if send_error else None,
        remember_days=remember_days(user),
    )
    return body, status
