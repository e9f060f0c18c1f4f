"""The console's recovery pages: open requests, one request to approve, deny or take back,
and starting a request on a user's behalf from their page.

Routes of the console's blueprint (``console.bp``), so ``access.gate`` stands before each: the
``admin`` role, a recent second factor and CSRF for every POST; an auditor reads. The rules
(two different admins, none for their own account, a note each time; the admin who started
a request may be one of its approvers) are ``idp.accounts.recovery``'s, which raises
``RecoveryRefused`` with the page's message.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from idp.accounts import recovery
from idp.extensions import db
from idp.models import RecoveryRequest, User
from idp.views.admin.console import bp, user_or_404


class DecisionForm(FlaskForm):
    note = TextAreaField(
        "How you checked this person's identity",
        [DataRequired(message="Say how you checked their identity."), Length(max=1000)],
    )


class StartForm(FlaskForm):
    note = TextAreaField(
        "Why you start it (who asked, how they reached you)",
        [DataRequired(message="Say why you start this recovery."), Length(max=1000)],
    )


@bp.context_processor
def _open_recoveries():
    """The dashboard's count of open requests."""
    return {"recovery_open": recovery.open_count}


@bp.route("/recovery")
def recoveries():
    rows = recovery.listed()
    db.session.commit()  # requests past their deadline were expired
    return render_template("admin/recovery_list.html", rows=rows)


@bp.route("/recovery/<int:request_id>")
def recovery_request(request_id: int):
    return _page(_row(request_id), DecisionForm(formdata=None))


@bp.route("/recovery/<int:request_id>/approve", methods=["POST"])
def approve_recovery(request_id: int):
    def approve(row: RecoveryRequest, note: str) -> Callable[[], str]:
        secret = recovery.approve(row, g.admin, note)
        return lambda: _approved(row, secret)

    return _decision(request_id, approve)


def _approved(row: RecoveryRequest, secret: str | None) -> str:
    if secret is None:
        return "Approved. A different admin must approve too before anything happens."
    user = db.session.get(User, row.user_id)
    recovery.send_link(user, recovery.link_of(secret))
    return f"Approved. {user.email} was mailed a single-use link to add a new sign-in method."


@bp.route("/recovery/<int:request_id>/deny", methods=["POST"])
def deny_recovery(request_id: int):
    def deny(row: RecoveryRequest, note: str) -> Callable[[], str]:
        recovery.deny(row, g.admin, note)
        return lambda: _denied(row)

    return _decision(request_id, deny)


def _denied(row: RecoveryRequest) -> str:
    recovery.send_denial(row)
    return "Denied. The user was told by mail."


@bp.route("/recovery/<int:request_id>/cancel", methods=["POST"])
def cancel_recovery(request_id: int):
    """Take back a mailed link that was not used yet (approved by mistake, or to the wrong
    person): the link stops working."""

    def cancel(row: RecoveryRequest, note: str) -> Callable[[], str]:
        recovery.cancel(row, g.admin, note)
        return lambda: "Cancelled. The mailed link no longer works."

    return _decision(request_id, cancel)


def _decision(request_id: int, decide: Callable[[RecoveryRequest, str], Callable[[], str]]):
    """The steps every decision shares: the note, the rules (a refusal shows on the page),
    the commit, then what follows it (``decide``'s callback: mail, and the flashed message),
    and back to the request's page."""
    row, form = _row(request_id), DecisionForm()
    if not form.validate_on_submit():
        return _page(row, form, 400)
    try:
        then = decide(row, form.note.data)
    except recovery.RecoveryRefused as refused:
        return _refused(row, form, refused)
    db.session.commit()
    flash(then())
    return redirect(url_for("admin.recovery_request", request_id=row.id), code=303)


@bp.route("/users/<int:user_id>/recovery", methods=["POST"])
def start_recovery(user_id: int):
    """Open a recovery request on the user's behalf (they called for help): audited with
    this admin and the note; it still waits for the usual approvals. An open one is shown
    instead of a second."""
    user, form = user_or_404(user_id), StartForm()
    if not form.validate_on_submit():
        return _start_refused("; ".join(form.note.errors) or "This form has expired.", 400)
    try:
        row, created = recovery.start(user, g.admin, form.note.data)
    except recovery.RecoveryRefused as refused:
        return _start_refused(str(refused), refused.status)
    db.session.commit()
    if created:
        recovery.announce(row, user, starter=g.admin)
        flash(f"Recovery started. {user.email} was told by mail; it now needs the approvals.")
    else:
        flash(f"{user.email} already has an open recovery request: here it is.")
    return redirect(url_for("admin.recovery_request", request_id=row.id), code=303)


def _start_refused(reason: str, status: int):
    db.session.rollback()
    body = render_template("error.html", title="Recovery not started", description=reason)
    return body, status


def _refused(row: RecoveryRequest, form: DecisionForm, refused: recovery.RecoveryRefused):
    db.session.rollback()
    form.note.errors = [str(refused)]
    return _page(db.session.get(RecoveryRequest, row.id), form, refused.status)


def _row(request_id: int) -> RecoveryRequest:
    row = db.session.get(RecoveryRequest, request_id)
    if row is None:
        abort(404)
    return row


def _page(row: RecoveryRequest, form: DecisionForm, status: int = 200):
    people = {
        key: db.session.get(User, getattr(row, key)) if getattr(row, key) else None
        for key in ("user_id", "first_approver_id", "decided_by_id")
    }
    decidable = row.is_open and row.status != "approved" and row.user_id != g.admin.id
    body = render_template(
        "admin/recovery.html", row=row, people=people, form=form, decidable=decidable,
        cancellable=row.status == "approved" and row.link_opened_at is None,
    )  # fmt: skip
    return body, status
