"""The signed-in user's account page: profile, email change, password change.

Changing the email or the password is a sensitive operation (a fresh second factor, or sign-in
for a user without one). A new email takes effect only when a single-use link mailed to it
comes back; the old address is told at the request and at the change.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for

from idp import audit
from idp.accounts import mailed_links, offline_grants, users
from idp.accounts.passwords import verify
from idp.extensions import db
from idp.models import EmailChange, User
from idp.notify import mail
from idp.notify.security import notify
from idp.views.signin.flow import sign_in_first, step_up
from idp.web import sessions
from idp.web.forms import ChangeEmailForm, ChangePasswordForm, ConfirmForm, ProfileForm

bp = Blueprint("account", __name__, url_prefix="/account")


def _page(profile=None, password=None, email=None, status: int = 200):
    user = sessions.signed_in_user()
    body = render_template(
        "account.html",
        user=user,
        profile=profile or ProfileForm(formdata=None, name=user.name),
        password=password or ChangePasswordForm(formdata=None),
        email=email or ChangeEmailForm(formdata=None),
        signout=ConfirmForm(),
        offline=offline_grants.of(user),
    )
    return body, status


@bp.route("/")
def index():
    user = sessions.signed_in_user()
    if user is None:
        return sign_in_first("account")
    return _page()


@bp.route("/profile", methods=["POST"])
def profile():
    user = sessions.signed_in_user()
    if user is None:
        return sign_in_first("account", 303)
    form = ProfileForm()
    if not form.validate_on_submit():
        return _page(profile=form, status=400)
    user.name = form.name.data or ""
    audit.record("profile_changed", actor=user.email, subject=user.sub)
    db.session.commit()
    flash("Your profile was saved.")
    return redirect(url_for("account.index"), code=303)


@bp.route("/password", methods=["POST"])
def change_password():
    user = sessions.signed_in_user()
    if user is None:
        return sign_in_first("account", 303)
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _page(password=form, status=400)
    refused = step_up(user, "change_password", "account")
    if refused is not None:
        return refused
    if not verify(user.password_hash, form.current_password.data):
        form.current_password.errors.append("That is not your current password.")
        return _page(password=form, status=400)
    users.set_password(user, form.password.data, event="password_changed", keep=sessions.current())
    db.session.commit()
    flash("Your password was changed.")
    return redirect(url_for("account.index"), code=303)


@bp.route("/email", methods=["POST"])
def change_email():
    user = sessions.signed_in_user()
    if user is None:
        return sign_in_first("account", 303)
    form = ChangeEmailForm()
    if not form.validate_on_submit():
        return _page(email=form, status=400)
    refused = step_up(user, "change_email", "account")
    if refused is not None:
        return refused
    ttl = current_app.config["EMAIL_CHANGE_TTL"]
    try:
        secret = users.request_email_change(user, form.email.data, ttl)
    except ValueError as error:
        form.email.errors.append(str(error))
        return _page(email=form, status=400)
    db.session.commit()
    new_email = User.normalize_email(form.email.data)
    _mail_new_address(new_email, secret, ttl)
    notify(user, f"A change of your account's email to {new_email} was requested.")
    flash(f"We sent a link to {new_email}. Open it within {ttl // 60} minutes to confirm.")
    return redirect(url_for("account.index"), code=303)


def _mail_new_address(to: str, secret: str | None, ttl: int) -> None:
    if secret is None:  # the address has an account: tell it, not the requester
        body = "Someone asked to use this address for an account, but it has one already.\n"
        body += "Nothing was changed. If this was you, sign in with this address instead."
        mail.send(to, "Email change not possible", body)
        return
    link = current_app.config["ISSUER"] + url_for("account.confirm_email", secret=secret)
    mail.send(
        to,
        "Confirm your new email",
        f"To use this address for your account, open this link within {ttl // 60} minutes:\n"
        f"{link}\n\nThe link works once. If you did not ask for this, ignore this mail.",
    )


@bp.route("/email/confirm/<secret>", methods=["GET", "POST"])
def confirm_email(secret: str):
    """GET shows a button (mail scanners fetch links); the POST makes the change."""
    change = mailed_links.peek(EmailChange, secret)
    if change is None:
        return render_template("email_change_invalid.html"), 400
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template("email_change_confirm.html", form=form, email=change.new_email)
    done = users.confirm_email_change(secret)
    if done is None:
        db.session.rollback()
        return render_template("email_change_invalid.html"), 400
    user, before = done
    db.session.commit()
    mail.send(
        before,
        "Security change on your account",
        f"Your account's email was changed to {user.email}.\n\n"
        "If this was not you, contact your administrator at once.",
    )
    flash(f"Your email is now {user.email}.")
    return redirect(url_for("account.index"), code=303)
