"""The second-factor step of a sign-in: pick a factor, answer its challenge.

Each page says plainly why it is asking. A success adds an ``AuthenticationEvent`` to the sign-in
session and goes back to ``/authorize`` (or the account), where ``decide`` runs again.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from idp.extensions import db
from idp.factors import answer, challenges, registry
from idp.factors.answer import StaleChallenge
from idp.factors.base import FactorError
from idp.models import Factor, LoginSession, User
from idp.views.signin.flow import continue_to
from idp.views.signin.second_factor import (
    attempt,
    other_factors,
    remember_browser,
    remember_days,
    second_factor_step,
    try_again_at,
    usable_factors,
)
from idp.web import sessions
from idp.web.forms import CodeForm

bp = Blueprint("mfa", __name__, url_prefix="/mfa")

#: This page answers the kinds whose answer is a typed code (TOTP, backup codes); every other
#: kind declares a page of its own (a WebAuthn ceremony, a code sent by mail or SMS), whose
#: endpoint takes ``factor_id`` and ``next``.
TYPED_CODE_PAGE = "mfa.verify"


@bp.route("/")
def choose():
    """Go to the method used last (the page links to the others)."""
    user = sessions.current_user()
    next_key = sessions.next_key(request.args.get("next"))
    if user is None:
        return redirect(url_for("auth.login", next=next_key))
    available = usable_factors(user, next_key)
    routine = [f for f in available if registry.routine(f)]
    if not available:
        return continue_to(next_key)
    default = (routine or available)[0]
    return redirect(url_for("mfa.verify", factor_id=default.id, next=next_key))


@bp.route("/<int:factor_id>", methods=["GET", "POST"])
def verify(factor_id: int):
    state = second_factor_step(factor_id)
    if state is None:
        return redirect(url_for("auth.login"))
    login_session, user, factor = state
    page = registry.kind_of(factor).signin_page
    if page != TYPED_CODE_PAGE:
        next_key = sessions.next_key(request.values.get("next"))
        return redirect(url_for(page, factor_id=factor.id, next=next_key))
    form = CodeForm()
    if not form.is_submitted():
        form.next.data = sessions.next_key(request.args.get("next"))
        _new_challenge(form, login_session, user, factor)
        return _page(form, factor, user)
    if not form.validate_on_submit():
        return _page(form, factor, user, status=400)
    try:
        answer.sign_in(
            attempt(login_session, user, factor, form.challenge.data or "", form.code.data)
        )
    except StaleChallenge:
        form.code.errors.append("This step is no longer valid. Enter a new code.")
        _new_challenge(form, login_session, user, factor)
        return _page(form, factor, user, 400)
    except FactorError as error:
        form.code.errors.append(str(error))
        if not challenges.is_open(form.challenge.data, login_session.id):
            _new_challenge(form, login_session, user, factor)
        return _page(form, factor, user, 401, cooldown=try_again_at(error, factor))
    response = remember_browser(user, continue_to(form.next.data), form.remember.data)
    db.session.commit()
    return response


def _new_challenge(form: CodeForm, login_session: LoginSession, user: User, factor: Factor):
    challenge = challenges.issue(user, login_session.id, factor, factor.kind, "signin")
    db.session.commit()
    form.challenge.data = challenge.id


def _page(form, factor, user, status: int = 200, cooldown: str | None = None):
    others = other_factors(user, factor, form.next.data)
    body = render_template(
        "mfa.html",
        form=form,
        factor=factor,
        others=others,
        labels=registry.LABELS,
        cooldown=cooldown,
        backup=not registry.routine(factor),
        remember_days=remember_days(user),
    )
    return body, status
