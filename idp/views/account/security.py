"""The account security page: factors, backup codes and recent security events.

Adding, removing, regenerating backup codes and forgetting remembered browsers are sensitive
operations: each needs a second factor (without one, a sign-in) within its window
(``IDP_STEPUP_WINDOWS``, else ``IDP_STEPUP_WINDOW``); a new factor is announced by email.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, session, url_for
from sqlalchemy import select

from idp import audit as audit_log
from idp.accounts import policies, trusted_devices
from idp.clock import now
from idp.extensions import db
from idp.factors import backup_codes, lifecycle, registry, totp
from idp.factors.base import FactorError
from idp.models import AuditEvent, Factor, User
from idp.models.factor import FactorKind, FactorStatus
from idp.notify.security import notify
from idp.policy.context import ROUTINE_SECOND_FACTORS
from idp.views.signin.flow import after_enrollment, factor_enrolled, sign_in_first, step_up
from idp.web import sessions
from idp.web.forms import ConfirmForm, EnrollTotpForm, RenameForm

bp = Blueprint("security", __name__, url_prefix="/account/security")

#: "Add a method" pages by factor kind; a kind is offered once its blueprint is registered.
ENROLL_PAGES = {
    FactorKind.TOTP.value: "security.enroll_totp",
    FactorKind.PASSKEY.value: "passkeys.register",
    FactorKind.EMAIL.value: "delivery.enroll_email",
    FactorKind.SMS.value: "delivery.enroll_sms",
}


@bp.route("/")
def index():
    user = sessions.signed_in_user()
    if user is None:
        return sign_in_first("security")
    events = db.session.execute(
        select(AuditEvent)
        .where(AuditEvent.subject == user.sub)
        .order_by(AuditEvent.seq.desc())
        .limit(20)
    ).scalars()
    backup = backup_codes.active_set(user)
    return render_template(
        "security.html",
        user=user,
        factors=[f for f in registry.factors(user) if f.kind != FactorKind.BACKUP_CODES.value],
        backup_remaining=backup_codes.remaining(backup) if backup else None,
        labels=registry.LABELS,
        events=list(events),
        rename=RenameForm(formdata=None),
        confirm=ConfirmForm(),
        devices=trusted_devices.listed(user),
        enroll_pages={
            kind: endpoint
            for kind, endpoint in ENROLL_PAGES.items()
            if endpoint in current_app.view_functions
        },
    )


@bp.route("/totp", methods=["GET", "POST"])
def enroll_totp():
    user = sessions.signed_in_user()
    if user is None:
        return sign_in_first("security")
    refused = step_up(user, "add_factor", "security")
    if refused is not None:
        return refused
    form = EnrollTotpForm()
    if not form.is_submitted():
        return _start_totp(user, form)
    factor = _enrolling(user)
    if factor is None:
        return _start_totp(user, form)
    if form.validate_on_submit():
        try:
            totp.verify(factor, form.code.data, now())
        except FactorError as error:
            form.code.errors.append(str(error))
        else:
            return _activated(user, factor, form.name.data)
    return _totp_page(user, factor, form, 400)


def _start_totp(user: User, form: EnrollTotpForm):
    """A new pending factor; an earlier unfinished one is abandoned (pending -> revoked)."""
    abandoned = _enrolling(user)
    if abandoned is not None:
        lifecycle.move(
            abandoned, FactorStatus.REVOKED, actor=user.email, subject=user.sub, reason="abandoned"
        )
    factor, _ = totp.enroll(user, "Authenticator app")
    db.session.commit()
    session["enrolling"] = factor.id
    form.name.data = form.name.data or "Authenticator app"
    return _totp_page(user, factor, form, 200)


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


def _activated(user: User, factor: Factor, name: str):
    factor.name = name
    lifecycle.move(
        factor, FactorStatus.ACTIVE, actor=user.email, subject=user.sub, reason="verified"
    )
    session.pop("enrolling", None)
    factor_enrolled(user, factor)
    first = backup_codes.active_set(user) is None
    codes = backup_codes.generate(user, actor=user.email) if first else None
    db.session.commit()
    notify(user, f"A new sign-in method was added to your account: {name}.")
    if codes:
        return render_template("backup_codes.html", codes=codes, first=True)
    flash(f"{name} is ready. You will be asked for a code when you sign in.")
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
    routine = [f for f in registry.factors(user) if f.kind in ROUTINE_SECOND_FACTORS]
    last = routine == [factor]
    if last and policies.inputs(user).effective().mode == "required":
        flash("Your organisation requires two-step verification: add another method first.")
        return redirect(url_for("security.index"), code=303)
    lifecycle.move(
        factor, FactorStatus.REVOKED, actor=user.email, subject=user.sub, reason="removed"
    )
    backup = backup_codes.active_set(user) if last else None
    if backup is not None:
        lifecycle.move(
            backup,
            FactorStatus.REVOKED,
            actor=user.email,
            subject=user.sub,
            reason="no factor left",
        )
    db.session.commit()
    notify(user, f"A sign-in method was removed from your account: {factor.name}.")
    flash(f"{factor.name} was removed.")
    return redirect(url_for("security.index"), code=303)


@bp.route("/backup-codes", methods=["POST"])
def regenerate_backup_codes():
    user = sessions.signed_in_user() or abort(401)
    ConfirmForm().validate_on_submit() or abort(400)
    if not registry.active_kinds(user) & ROUTINE_SECOND_FACTORS:
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
