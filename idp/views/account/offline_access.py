"""The apps a user granted offline access (refresh tokens that outlive the sign-in session):
listed on the account page, each revocable there."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for

from idp.accounts import offline_grants
from idp.extensions import db
from idp.views.signin.flow import sign_in_first
from idp.web import sessions
from idp.web.forms import ConfirmForm

bp = Blueprint("offline_access", __name__, url_prefix="/account/apps")


@bp.route("/<family>/revoke", methods=["POST"])
def revoke(family: str):
    user = sessions.signed_in_user()
    if user is None:
        return sign_in_first("account", 303)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not offline_grants.revoke(user, family):
        abort(404)
    db.session.commit()
    flash("That app no longer has access to your account while you are away.")
    return redirect(url_for("account.index"), code=303)
