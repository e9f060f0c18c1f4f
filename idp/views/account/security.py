"""The account security page: factors, backup codes and recent security events.

Adding, removing, regenerating backup codes and forgetting remembered browsers are sensitive
operations: each needs a second factor (without one, a sign-in) within its window
(``IDP_STEPUP_WINDOWS``, else ``IDP_STEPUP_WINDOW``); a new factor is announced by email.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, session, url_for

from idp import audit as audit_log
from idp.accounts import event_text, policies, trusted_devices
from idp.extensions import db
from idp.factors import answer, backup_codes, challenges, kinds, lifecycle, registry, totp
from idp.factors.base import FactorError
from idp.models import Factor, User
from idp.models.factor import FactorStatus
from idp.notify.security import notify
from idp.views.signin.flow import adding_factor, after_enrollment, sign_in_first, step_up
from idp.views.signin.second_factor import attempt
from idp.web import sessions
from idp.web.forms import ConfirmForm, EnrollTotpForm, RenameForm

bp = Blueprint("security", __name__, url_prefix="/account/security")


def enroll_pages(user: User) -> dict[str, str]:
    """The "add a method" page of each kind that has one (and whose page is registered) and
    that the user's policy allows: a page for any other kind would only refuse."""
    policy = policies.inputs(user).effective()
    pages = {kind.name: kind.enroll_page for kind in kinds.declared() if kind.enroll_page}
    return {
        name: page
        for name, page in pages.items()
        if page in current_app.view_functions and policy.allows(name)
    }


@bp.route("/")
def index():
    user = sessions.signed_in_user()
    if user is None:
        return sign_in_first("security")
    backup = backup_codes.active_set(user)
    return render_template(
        "security.html",
        user=user,
        factors=registry.routine_factors(user),
        backup_remaining=backup_codes.remaining(backup) if backup else None,
        labels=registry.LABELS,
        events=event_text.recent(user),
        rename=RenameForm(formdata=None),
        confirm=ConfirmForm(),
        devices=trusted_devices.listed(user),
        enroll_pages=enroll_pages(user),
    )


@bp.route("/totp", methods=["GET", "POST"])
def enroll_totp():
    user, refused = adding_factor(totp.KIND.name)
    if user is None:
        return refused
    form = EnrollTotpForm()
    factor = _enrolling(user) if form.is_submitted() else None
    if factor is None:
        return _start_totp(user, form)
    if not form.validate_on_submit():
        return _totp_page(user, factor, form, 400)
    login_session = sessions.current()
    try:
        answer.enrollment(
            attempt(login_session, user, factor, form.challenge.data or "", form.code.data)
        )
    except FactorError as error:
        form.code.errors.append(str(error))
        if not challenges.is_open(form.challenge.data, login_session.id):
            _new_challenge(form, user, factor)
        return _totp_page(user, factor, form, 400)
    factor.name = form.name.data
    session.pop("enrolling", None)
    return added(
        user,
        f"A new sign-in method was added to your account: {factor.name}.",
        f"{factor.name} is ready. You will be asked for a code when you sign in.",
    )


def _start_totp(user: User, form: EnrollTotpForm):
    """A new pending factor and its challenge; an earlier unfinished one is abandoned
    (pending -> revoked)."""
    abandoned = _enrolling(user)
    if abandoned is not None:
        lifecycle.move(
            abandoned, FactorStatus.REVOKED, actor=user.email, subject=user.sub, reason="abandoned"
        )
    factor, _ = totp.enroll(user, "Authenticator app")
    _new_challenge(form, user, factor)
    session["enrolling"] = factor.id
    form.name.data = form.name.data or "Authenticator app"
    return _totp_page(user, factor, form, 200)


def _new_challenge(form: EnrollTotpForm, user: User, factor: Factor) -> None:
    """The challenge the first code answers (the same attempt limit and back-off as sign-in)."""
    row = challenges.issue(user, sessions.current().id, factor, factor.kind, challenges.ENROLL)
    db.session.commit()
    form.challenge.data = row.id


def _totp_page(user: User, factor: Factor, form: EnrollTotpForm, status: int):
    secret = totp.secret_of(factor)
    uri = totp.provisioning_uri(secret, user.email)
    body = render_template(
        "enroll_totp.html", form=form, secret=secret, uri=uri, qr=totp.qr_svg(uri)
    )
    return body, status


def _enrolling(user: User) -> Factor | None:
    factor = db.session.get(Factor, session.get("enrolling") or 0)
    pending = FactorStatus.PENDING.value
    if factor is None or factor.user_id != user.id or factor.status != pending:
        return None
    return factor


def added(user: User, notice: str, ready: str):
    """A factor was just added: commit with the first backup codes (shown once, when it is the
    user's first factor), tell the user by mail, and say it is ready."""
    codes = backup_codes.with_first_factor(user)
    db.session.commit()
    notify(user, notice)
    if codes:
        return render_template("backup_codes.html", codes=codes, first=True)
    flash(ready)
    return redirect(url_for("security.enrolled"), code=303)


@bp.route("/enrolled")
def enrolled():
    """After adding a method: back to the sign-in that asked for it, or to this page."""
    return after_enrollment()


@bp.route("/<int:factor_id>/rename", methods=["POST"])
def rename(factor_id: int):
    user = sessions.signed_in_user() or abort(401)
    factor = registry.owned(user, factor_id) or abort(404)
    form = RenameForm()
    if form.validate_on_submit():
        old, factor.name = factor.name, form.name.data
        audit_log.record(
            "factor_renamed", actor=user.email, subject=user.sub, factor_id=factor.id,
            before=old, after=factor.name,
        )  # fmt: skip
        db.session.commit()
        flash("Renamed.")
    return redirect(url_for("security.index"), code=303)


@bp.route("/<int:factor_id>/remove", methods=["POST"])
def remove(factor_id: int):
    user = sessions.signed_in_user() or abort(401)
    factor = registry.owned(user, factor_id) or abort(404)
    ConfirmForm().validate_on_submit() or abort(400)
    refused = step_up(user, "remove_factor", "security")
    if refused is not None:
        return refused
    last = registry.routine_factors(user) == [factor]
    if last and policies.inputs(user).effective().mode == "required":
        flash("Your organisation requires two-step verification: add another method first.")
        return redirect(url_for("security.index"), code=303)
    registry.revoke(user, factor, actor=user.email, reason="removed")
    db.session.commit()
    notify(user, f"A sign-in method was removed from your account: {factor.name}.")
    flash(f"{factor.name} was removed.")
    return redirect(url_for("security.index"), code=303)


@bp.route("/backup-codes", methods=["POST"])
def regenerate_backup_codes():
    user = sessions.signed_in_user() or abort(401)
    ConfirmForm().validate_on_submit() or abort(400)
    if not registry.routine_factors(user):
        abort(400)
    refused = step_up(user, "regenerate_backup_codes", "security")
    if refused is not None:
        return refused
    codes = backup_codes.generate(user, actor=user.email)
    db.session.commit()
    return render_template("backup_codes.html", codes=codes, first=False)


@bp.route("/devices/revoke", methods=["POST"])
@bp.route("/devices/<int:device_id>/revoke", methods=["POST"])
def revoke_devices(device_id: int | None = None):
    """Forget one remembered browser, or all of them."""
    user = sessions.signed_in_user() or abort(401)
    ConfirmForm().validate_on_submit() or abort(400)
    refused = step_up(user, "revoke_devices", "security")
    if refused is not None:
        return refused
    count = trusted_devices.revoke(
        user, actor=user.email, device_id=device_id, reason="by the user"
    )
    db.session.commit()
    flash(f"{count} remembered browser(s) forgotten." if count else "Nothing to forget.")
    return redirect(url_for("security.index"), code=303)
