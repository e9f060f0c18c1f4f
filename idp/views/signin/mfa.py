"""The second-factor step of a sign-in: pick a factor, answer its challenge.

Each page says plainly why it is asking. A success adds an ``AuthenticationEvent`` to the sign-in
session and goes back to ``/authorize`` (or the account), where ``decide`` runs again.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from idp.extensions import db
from idp.factors import challenges, registry
from idp.factors.base import FactorError
from idp.models import Factor, LoginSession, User
from idp.models.factor import FactorKind
from idp.views.signin.flow import (
    continue_to,
    other_factors,
    remember_days,
    second_factor_passed,
    second_factor_step,
    try_again_at,
    usable_factors,
)
from idp.web import ratelimit, sessions
from idp.web.forms import CodeForm

bp = Blueprint("mfa", __name__, url_prefix="/mfa")

#: Factors answered on a page of their own (a WebAuthn ceremony, a code sent by mail or SMS);
#: each endpoint takes ``factor_id`` and ``next``. Typed codes (TOTP, backup codes) stay here.
OWN_PAGES = {
    FactorKind.PASSKEY.value: "passkeys.second_factor",
    FactorKind.EMAIL.value: "delivery.verify",
    FactorKind.SMS.value: "delivery.verify",
}


@bp.route("/")
def choose():
    """Go to the method used last (the page links to the others)."""
    user = sessions.current_user()
    next_key = request.args.get("next", "")[:64]
    if user is None:
        return redirect(url_for("auth.login", next=next_key))
    available = usable_factors(user, next_key)
    routine = [f for f in available if f.kind != FactorKind.BACKUP_CODES.value]
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
    if factor.kind in OWN_PAGES:
        next_key = request.values.get("next", "")[:64]
        return redirect(url_for(OWN_PAGES[factor.kind], factor_id=factor.id, next=next_key))
    form = CodeForm()
    if not form.is_submitted():
        form.next.data = request.args.get("next", "")[:64]
        _new_challenge(form, login_session, user, factor)
        return _page(form, factor, user)
    if not form.validate_on_submit():
        return _page(form, factor, user, status=400)
    ratelimit.hit("second_factor", current_app.config["RATE_LIMIT_PER_MINUTE"], 60)
    challenge = challenges.find(form.challenge.data or "", login_session.id)
    if challenge is None or challenge.factor_id != factor.id:
        form.code.errors.append("This step is no longer valid. Enter a new code.")
        _new_challenge(form, login_session, user, factor)
        return _page(form, factor, user, 400)
    try:
        result = challenges.answer(
            challenge, factor, user, lambda: registry.verify_code(factor, form.code.data, user)
        )
    except FactorError as error:
        db.session.commit()  # keep the failure count, back-off and challenge state
        form.code.errors.append(str(error))
        if challenge.status != "issued":
            _new_challenge(form, login_session, user, factor)
        return _page(form, factor, user, 401, cooldown=try_again_at(error, factor))
    response = second_factor_passed(
        login_session, user, result, continue_to(form.next.data), form.remember.data
    )
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
        backup=factor.kind == FactorKind.BACKUP_CODES.value,
        remember_days=remember_days(user),
    )
    return body, status
