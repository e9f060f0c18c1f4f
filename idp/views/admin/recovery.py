"""The console's recovery pages: open requests, and one request to approve or deny.

Routes of the console's blueprint (``console.bp``), so ``access.gate`` stands before each: the
``admin`` role, a recent second factor and CSRF for every POST; an auditor reads. The rules
(two different admins, none for their own account, a note each time) are
``idp.accounts.recovery``'s, which raises ``RecoveryRefused`` with the page's message.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from idp.accounts import recovery
from idp.extensions import db
from idp.models import RecoveryRequest, User
from idp.views.admin.console import bp


class DecisionForm(FlaskForm):
    note = TextAreaField(
        "How you checked this person's identity",
        [DataRequired(message="Say how you checked their identity."), Length(max=1000)],
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
    row, form = _row(request_id), DecisionForm()
    if not form.validate_on_submit():
        return _page(row, form, 400)
    try:
        secret = recovery.approve(row, g.admin, form.note.data)
    except recovery.RecoveryRefused as refused:
        return _refused(row, form, refused)
    db.session.commit()
    if secret is None:
        flash("Approved. A different admin must approve too before anything happens.")
    else:
        user = db.session.get(User, row.user_id)
        recovery.send_link(user, recovery.link_of(secret))
        flash(f"Approved. {user.email} was mailed a single-use link to add a new sign-in method.")
    return redirect(url_for("admin.recovery_request", request_id=row.id), code=303)


@bp.route("/recovery/<int:request_id>/deny", methods=["POST"])
def deny_recovery(request_id: int):
    row, form = _row(request_id), DecisionForm()
    if not form.validate_on_submit():
        return _page(row, form, 400)
    try:
        recovery.deny(row, g.admin, form.note.data)
    except recovery.RecoveryRefused as refused:
        return _refused(row, form, refused)
    db.session.commit()
    recovery.send_denial(row)
    flash("Denied. The user was told by mail.")
    return redirect(url_for("admin.recovery_request", request_id=row.id), code=303)


@bp.route("/recovery/<int:request_id>/cancel", methods=["POST"])
def cancel_recovery(request_id: int):
    """Take back a mailed link that was not used yet (approved by mistake, or to the wrong
    person): the link stops working."""
    row, form = _row(request_id), DecisionForm()
    if not form.validate_on_submit():
        return _page(row, form, 400)
    try:
        recovery.cancel(row, g.admin, form.note.data)
    except recovery.RecoveryRefused as refused:
        return _refused(row, form, refused)
    db.session.commit()
    flash("Cancelled. The mailed link no longer works.")
    return redirect(url_for("admin.recovery_request", request_id=row.id), code=303)


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
