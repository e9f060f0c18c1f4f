"""The sign-in step that answers a code sent by email or SMS.

The page says where the code went, sends it on the first visit (a refresh does not send
another), and offers "send a new code", which expires the previous one. The rules for the codes
live in ``idp.factors.delivered_code``; answering goes through ``idp.factors.answer``.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from idp.extensions import db
from idp.factors import answer, challenges, delivered_code, registry
from idp.factors.answer import StaleChallenge
from idp.factors.base import CoolingDown, FactorError
from idp.factors.delivered_code import SendLimited
from idp.models import Factor, LoginSession, User
from idp.views.signin.flow import continue_to
from idp.views.signin.second_factor import (
    attempt,
    other_factors,
    remember_browser,
    remember_days,
    second_factor_step,
    try_again_at,
)
from idp.web import sessions
from idp.web.forms import CodeForm, ResendForm

bp = Blueprint("code_signin", __name__)

NO_LONGER_VALID = "This code is no longer valid. Ask for a new code."


def send_status(error: FactorError) -> int:
    """The HTTP status of a refused send: wait (429), not delivered (503), or refused (403)."""
    if isinstance(error, SendLimited | CoolingDown):
        return 429
    return 503 if isinstance(error, delivered_code.DeliveryFailed) else 403


def attach_live(form, factor: Factor, login_session: LoginSession, purpose: str) -> None:
    """Point the form at the code this session is waiting for (none: ask for a new one)."""
    live = delivered_code.live_challenge(factor, login_session.id, purpose)
    form.challenge.data = live.id if live is not None else ""


def _signin_state(factor_id: int) -> tuple[LoginSession, User, Factor] | None:
    return second_factor_step(factor_id, delivered_code.KINDS)


@bp.route("/mfa/code/<int:factor_id>", methods=["GET", "POST"])
def verify(factor_id: int):
    state = _signin_state(factor_id)
    if state is None:
        return redirect(url_for("auth.login", next=sessions.next_key(request.values.get("next"))))
    login_session, user, factor = state
    form = CodeForm()
    if not form.is_submitted():
        form.next.data = sessions.next_key(request.args.get("next"))
        error = None
        if delivered_code.live_challenge(factor, login_session.id, challenges.SIGNIN) is None:
            error = _send(user, factor, login_session)
        attach_live(form, factor, login_session, challenges.SIGNIN)
        return _verify_page(form, factor, user, send_error=error)
    if not form.validate_on_submit():
        return _verify_page(form, factor, user, 400)
    try:
        answer.sign_in(
            attempt(login_session, user, factor, form.challenge.data or "", form.code.data)
        )
    except FactorError as error:
        stale = isinstance(error, StaleChallenge)
        form.code.errors.append(NO_LONGER_VALID if stale else str(error))
        attach_live(form, factor, login_session, challenges.SIGNIN)
        if stale:
            return _verify_page(form, factor, user, 400)
        return _verify_page(form, factor, user, 401, cooldown=try_again_at(error, factor))
    response = remember_browser(user, continue_to(form.next.data), form.remember.data)
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
    next_key = sessions.next_key(resend_form.next.data)
    error = _send(user, factor, login_session)
    if error is None:
        flash(f"We sent a new code to {delivered_code.masked(factor)}. Earlier codes expired.")
        return redirect(url_for("code_signin.verify", factor_id=factor.id, next=next_key), code=303)
    form = CodeForm(formdata=None)
    form.next.data = next_key
    attach_live(form, factor, login_session, challenges.SIGNIN)
    body, status = _verify_page(form, factor, user, send_status(error), send_error=error)
    retry = {"Retry-After": str(error.retry_after)} if isinstance(error, SendLimited) else {}
    return body, status, retry


def _send(user: User, factor: Factor, login_session: LoginSession) -> FactorError | None:
    return delivered_code.send(
        user, factor, login_session.id, challenges.SIGNIN, request.remote_addr
    )


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
