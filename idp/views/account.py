"""The signed-in user's account page: profile, and password change after the current password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for

from idp import audit, sessions, users
from idp.extensions import db
from idp.forms import ChangePasswordForm, ConfirmForm, ProfileForm
from idp.passwords import verify
from idp.views.flow import sign_in_first, step_up

bp = Blueprint("account", __name__, url_prefix="/account")


def _page(profile: ProfileForm, password: ChangePasswordForm, status: int = 200):
    user = sessions.signed_in_user()
    return (
        render_template(
            "account.html", user=user, profile=profile, password=password, signout=ConfirmForm()
        ),
        status,
    )


@bp.route("/")
def index():
    user = sessions.signed_in_user()
    if user is None:
        return sign_in_first("account")
    return _page(ProfileForm(name=user.name), ChangePasswordForm(formdata=None))


@bp.route("/profile", methods=["POST"])
def profile():
    user = sessions.signed_in_user()
    if user is None:
        return sign_in_first("account", 303)
    form = ProfileForm()
    if not form.validate_on_submit():
        return _page(form, ChangePasswordForm(formdata=None), 400)
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
    refused = step_up(user, "change_password", "account")
    if refused is not None:
        return refused
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if verify(user.password_hash, form.current_password.data):
            users.set_password(user, form.password.data, event="password_changed")
            db.session.commit()
            flash("Your password was changed.")
            return redirect(url_for("account.index"), code=303)
        form.current_password.errors.append("That is not your current password.")
    return _page(ProfileForm(formdata=None, name=user.name), form, 400)
