"""Hosted sign-in, self-registration and password reset pages.

An unknown email and a wrong password get the same message, the same status (401) and about
the same time, because ``passwords.verify`` hashes a dummy password for unknown users; the
per-account back-off (``idp.accounts.password_backoff``) treats both alike too.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from idp import audit
from idp.accounts import password_backoff, users
from idp.accounts.password_backoff import PasswordBackoff
from idp.accounts.passwords import verify
from idp.extensions import db
from idp.views.signin.flow import continue_to
from idp.web import ratelimit, sessions
from idp.web.forms import ForgotPasswordForm, RegisterForm, ResetPasswordForm, SignInForm

bp = Blueprint("auth", __name__)

BAD_CREDENTIALS = "That email and password do not match an account."


def _login_hint(next_key: str | None) -> str:
    """The waiting request's ``login_hint`` (OIDC Core 3.1.2.1) if it is an email address: the
    hint is the requesting app's text, and anything else in the email field (a sentence, a
    phone number to call) would be words of its choosing on the provider's page."""
    query = sessions.pending_query(next_key) or ""
    hint = parse_qs(query).get("login_hint", [""])[0]
    return hint if len(hint) <= 320 and users.EMAIL.match(hint) else ""


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = SignInForm()
    if not form.is_submitted():
        form.next.data = form.next.data or sessions.next_key(request.args.get("next"))
        form.email.data = _login_hint(form.next.data)
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("login.html", form=form, registration=_registration()), status
    ratelimit.hit("login")
    try:
        password_backoff.check(form.email.data)
    except PasswordBackoff as wait:
        return _refused(form, str(wait), 429, {"Retry-After": str(wait.retry_after)})
    user = users.by_email(form.email.data)
    if not verify(user.password_hash if user else None, form.password.data):
        audit.record("sign_in", outcome="failure", actor=form.email.data.lower()[:320],
                     subject=user.sub if user else None)  # fmt: skip
        waits = password_backoff.failed(form.email.data, user)
        return _refused(form, BAD_CREDENTIALS + (f" {waits}" if waits else ""), 401)
    try:
        users.ensure_enabled(user)  # only now: a guesser learns nothing of the account's state
    except users.AccountDisabled as disabled:
        audit.record("sign_in", outcome="failure", actor=user.email, subject=user.sub,
                     reason="account_disabled")  # fmt: skip
        return _refused(form, str(disabled), 403)
    users.signed_in_with_password(user, form.password.data)
    sessions.sign_in(user, "pwd", ["pwd"], for_request=form.next.data)
    audit.record("sign_in", actor=user.email, subject=user.sub, method="pwd")
    db.session.commit()
    return continue_to(form.next.data)


def _refused(form: SignInForm, message: str, status: int, headers: dict | None = None):
    """The sign-in form again with ``message``; what the attempt counted is kept."""
    db.session.commit()
    form.password.errors.append(message)
    body = render_template("login.html", form=form, registration=_registration())
    return body, status, headers or {}


@bp.route("/register", methods=["GET", "POST"])
def register():
    if not _registration():
        abort(404)
    form = RegisterForm()
    if not form.is_submitted():
        form.next.data = sessions.next_key(request.args.get("next"))
    if form.validate_on_submit():
        try:
            user = users.create(form.email.data, form.password.data, name=form.name.data or "")
        except users.UserExistsError:
            form.email.errors.append("An account with this email exists. Sign in instead.")
        else:
            sessions.sign_in(user, "pwd", ["pwd"], for_request=form.next.data)
            audit.record("sign_in", actor=user.email, subject=user.sub, method="pwd")
            db.session.commit()
            return continue_to(form.next.data)
    status = 400 if form.is_submitted() else 200
    return render_template("register.html", form=form), status


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    """Always answers the same way, so the page does not reveal which emails have accounts."""
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render_template("forgot.html", form=form), 400 if form.is_submitted() else 200
    user = users.by_email(form.email.data)
    if user is not None:
        users.mail_password_reset(user)
    return redirect(url_for("auth.reset_sent"), code=303)


@bp.route("/password/sent")
def reset_sent():
    return render_template("reset_sent.html")


@bp.route("/password/reset/<secret>", methods=["GET", "POST"])
def reset_password(secret: str):
    form = ResetPasswordForm()
    if not users.peek_password_reset(secret):
        return render_template("reset_invalid.html"), 400
    if not form.validate_on_submit():
        return render_template("reset.html", form=form), 400 if form.is_submitted() else 200
    user = users.redeem_password_reset(secret)
    if user is None:
        db.session.rollback()
        return render_template("reset_invalid.html"), 400
    users.set_password(user, form.password.data, event="password_reset")
    db.session.commit()
    return redirect(url_for("auth.login"), code=303)


def _registration() -> bool:
    return bool(current_app.config["SELF_REGISTRATION"])
