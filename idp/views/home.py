"""The provider's front page: where a person who opens the issuer URL lands."""

from flask import Blueprint, redirect, url_for

from idp.web import sessions

bp = Blueprint("home", __name__)


@bp.route("/")
def index():
    if sessions.current() is not None:
        return redirect(url_for("account.index"))
    return redirect(url_for("auth.login"))
