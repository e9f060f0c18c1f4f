"""The console's actions on one user (issue 14), on the console's blueprint: revoke a second
factor or all of them, forget a remembered browser, end every session, unlock, disable and
enable, mail a password-reset link, and set or clear an MFA override.

Every route is a POST of ``console.bp``, so ``access.gate`` has already required the ``admin``
role (an auditor gets 403) and a recent second factor, and CSRF is checked for the whole app.
The views only read the form and say what happened: the work, its audit record and its commit
are ``idp.accounts.admin_actions``, which the CLI twins (``idp.cli.users_admin``) call too.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, url_for

from idp.accounts import admin_actions
from idp.models import User
from idp.views.admin.console import bp, user_or_404, user_page
from idp.web.forms import DisableForm, OverrideForm, ResetFactorsForm


def _done(person: User, message: str):
    flash(message)
    return redirect(url_for("admin.user", user_id=person.id), code=303)


@bp.post("/users/<int:user_id>/factors/<int:factor_id>/revoke")
def revoke_factor(user_id: int, factor_id: int):
    person = user_or_404(user_id)
    try:
        factor = admin_actions.revoke_factor(person, factor_id, actor=g.admin.email)
    except LookupError:
        abort(404)
    return _done(person, f"{factor.name} was revoked; it is refused from now on.")


@bp.post("/users/<int:user_id>/factors/reset")
def reset_factors(user_id: int):
    person = user_or_404(user_id)
    form = ResetFactorsForm()
    if not form.validate_on_submit():
        return user_page(person, status=400, reset_form=form)
    revoked = admin_actions.reset_factors(person, actor=g.admin.email)
    return _done(person, f"{len(revoked)} sign-in method(s) revoked.")


@bp.post("/users/<int:user_id>/browsers/<int:device_id>/forget")
def forget_browser(user_id: int, device_id: int):
    person = user_or_404(user_id)
    try:
        admin_actions.forget_browser(person, device_id, actor=g.admin.email)
    except LookupError:
        abort(404)
    return _done(person, "The browser was forgotten: it is asked for a second factor again.")


@bp.post("/users/<int:user_id>/sessions/end")
def end_sessions(user_id: int):
    person = user_or_404(user_id)
    ended = admin_actions.end_sessions(person, actor=g.admin.email)
    return _done(person, f"{ended} session(s) ended.")


@bp.post("/users/<int:user_id>/unlock")
def unlock(user_id: int):
    person = user_or_404(user_id)
    done = admin_actions.unlock(person, actor=g.admin.email)
    backoff = " and the wait on the password lifted" if done.password_backoff else ""
    return _done(person, f"{done.factors} locked sign-in method(s) unlocked{backoff}.")


@bp.post("/users/<int:user_id>/disable")
def disable(user_id: int):
    person = user_or_404(user_id)
    form = DisableForm()
    if not form.validate_on_submit():
        return user_page(person, status=400, disable_form=form)
    refusal = admin_actions.self_disable(g.admin, person)
    if refusal is not None:
        form.reason.errors = [refusal]
        return user_page(person, status=400, disable_form=form)
    admin_actions.disable(person, actor=g.admin.email, reason=form.reason.data or "")
    return _done(person, "The account is disabled: its sessions ended and its tokens revoked.")


@bp.post("/users/<int:user_id>/enable")
def enable(user_id: int):
    person = user_or_404(user_id)
    admin_actions.enable(person, actor=g.admin.email)
    return _done(person, "The account is enabled: it may sign in again.")


@bp.post("/users/<int:user_id>/reset-link")
def send_reset_link(user_id: int):
    person = user_or_404(user_id)
    admin_actions.send_reset_link(person, actor=g.admin.email)
    return _done(person, f"A password-reset link was mailed to {person.email}.")


@bp.post("/users/<int:user_id>/override")
def set_override(user_id: int):
    person = user_or_404(user_id)
    form = OverrideForm()
    if not form.validate_on_submit():
        return user_page(person, status=400, override_form=form)
    until = admin_actions.end_of_day(form.until.data)
    try:
        admin_actions.set_override(
            person, form.kind.data, until, form.reason.data, actor=g.admin.email
        )
    except ValueError as refused:
        form.until.errors = [str(refused)]
        return user_page(person, status=400, override_form=form)
    return _done(person, "The MFA override is set.")


@bp.post("/users/<int:user_id>/override/clear")
def clear_override(user_id: int):
    person = user_or_404(user_id)
    cleared = admin_actions.clear_override(person, actor=g.admin.email)
    return _done(person, "The MFA override was removed." if cleared else "There was no override.")
