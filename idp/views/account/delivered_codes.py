"""Email and SMS codes: adding an address or a phone number from the security page.

Adding one needs the same recent sign-in as any factor, creates a *pending* factor, sends a
code to it, and turns it on only when that code comes back (through ``idp.factors.answer``,
with the sign-in step's attempt limit and back-off); the first factor brings backup codes, and
the user is told by email. The sign-in step lives in ``idp.views.signin.delivered_code``; the
rules for the codes themselves in ``idp.factors.delivered_code``.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from idp.extensions import db
from idp.factors import answer, delivered_code, lifecycle, registry
from idp.factors.answer import StaleChallenge
from idp.factors.base import FactorError
from idp.factors.challenges import ENROLL
from idp.factors.delivered_code import SendLimited
from idp.models import Factor, User
from idp.models.factor import FactorStatus
from idp.views.account.security import added
from idp.views.signin.delivered_code import NO_LONGER_VALID, attach_live, send_status
from idp.views.signin.flow import adding_factor
from idp.views.signin.second_factor import attempt
from idp.web import ratelimit, sessions
from idp.web.forms import EMAIL, CodeForm, ResendForm, without_controls

bp = Blueprint("delivery", __name__)

ENROLLING = "delivery_enrolling"  # Flask session: the pending factor whose code is awaited
NAME = [DataRequired(message="Give it a name."), Length(max=100, message="At most 100.")]


class EnrollEmailForm(FlaskForm):
    name = StringField("Name for this method", NAME)
    email = EmailField(
        "Email address",
        [DataRequired(message="Enter an email address."), EMAIL, Length(max=320)],
        filters=[without_controls],
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


# --- adding an email address or a phone number (Account -> Security) ----------------------


@bp.route("/account/security/email", methods=["GET", "POST"])
def enroll_email():
    return _enroll(delivered_code.EMAIL, EnrollEmailForm)


@bp.route("/account/security/sms", methods=["GET", "POST"])
def enroll_sms():
    return _enroll(delivered_code.SMS, EnrollPhoneForm)


def _enroll(kind: str, form_class: type[FlaskForm]):
    user, response = adding_factor(kind)
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
    ratelimit.hit("code_send")
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
    error = delivered_code.deliver_or_abandon(user, factor, login_session.id, outgoing)
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


def _confirming(factor_id: int) -> tuple[tuple[User, Factor] | None, Any]:
    """The user and the pending factor this browser is confirming, if they may still add it
    (``adding_factor``: the policy may have changed since the code was sent); else ``None``
    and the response. Any other id does not exist here."""
    awaited = session.get(ENROLLING) == factor_id
    factor = db.session.get(Factor, factor_id) if awaited else None
    if factor is None:
        return None, _confirmation_over()
    user, response = adding_factor(factor.kind)
    if user is None:
        return None, response
    factor = _pending(user, factor_id)
    return ((user, factor), None) if factor is not None else (None, _confirmation_over())


def _confirmation_over():
    flash("That confirmation is over. Start adding the method again.")
    return redirect(url_for("security.index"), code=303)


@bp.route("/account/security/confirm/<int:factor_id>", methods=["GET", "POST"])
def enroll_code(factor_id: int):
    state, response = _confirming(factor_id)
    if state is None:
        return response
    user, factor = state
    login_session = sessions.current()
    form = CodeForm()
    if not form.validate_on_submit():
        attach_live(form, factor, login_session, ENROLL)
        return _enroll_code_page(factor, form, 400 if form.is_submitted() else 200)
    try:
        answer.enrollment(
            attempt(login_session, user, factor, form.challenge.data or "", form.code.data)
        )
    except FactorError as error:
        stale = isinstance(error, StaleChallenge)
        message, status = (NO_LONGER_VALID, 400) if stale else (str(error), 401)
        form.code.errors.append(message)
        attach_live(form, factor, login_session, ENROLL)
        return _enroll_code_page(factor, form, status)
    session.pop(ENROLLING, None)
    label = registry.LABELS[factor.kind]
    return added(
        user,
        f"A new sign-in method was added to your account: {factor.name} "
        f"({label} to {delivered_code.masked(factor)}).",
        f"{factor.name} is ready. You will be asked for a code when you sign in.",
    )


@bp.route("/account/security/confirm/<int:factor_id>/resend", methods=["POST"])
def enroll_resend(factor_id: int):
    state, response = _confirming(factor_id)
    if state is None:
        return response
    user, factor = state
    ResendForm().validate_on_submit() or abort(400)
    login_session = sessions.current()
    error = delivered_code.send(user, factor, login_session.id, ENROLL, request.remote_addr)
    if error is None:
        flash(f"We sent a new code to {delivered_code.masked(factor)}. Earlier codes expired.")
        return redirect(url_for("delivery.enroll_code", factor_id=factor.id), code=303)
    form = CodeForm(formdata=None)
    attach_live(form, factor, login_session, ENROLL)
    return _enroll_code_page(factor, form, send_status(error), send_error=str(error))


def _enroll_code_page(factor: Factor, form, status: int, send_error: str | None = None):
    body = render_template(
        "delivery_enroll_code.html",
        factor=factor,
        form=form,
        masked=delivered_code.masked(factor),
        send_error=send_error,
    )
    return body, status
