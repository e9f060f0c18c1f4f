"""The console's sensitive-operation windows: how recent a user's second factor must be before
each sensitive change, set here or given back to the configuration.

The configuration (``IDP_STEPUP_WINDOWS``, else ``IDP_STEPUP_WINDOW``) decides until an admin
sets a window; then that window wins until "Use the configured value" clears it. One form per
operation, each posted to its own URL, so an error shows next to the field that caused it and
the other values on the page stay as they are. Changes go through
``idp.accounts.operation_windows`` like ``idp policy set-window``, audited with the admin as
actor.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for

from idp.accounts import operation_windows
from idp.extensions import db
from idp.policy.rules import SENSITIVE_OPERATIONS
from idp.views.admin.console import bp
from idp.web.forms import WindowForm

#: What each sensitive operation lets a user do, in the console's words.
OPERATIONS = {
    "change_password": "Change the password",
    "change_email": "Change the email address",
    "add_factor": "Add a sign-in method",
    "remove_factor": "Remove a sign-in method",
    "regenerate_backup_codes": "Make new backup codes",
    "revoke_devices": "Forget remembered browsers",
    "admin": "Change anything in the admin console",
}
UNITS = (("hour", 3600), ("minute", 60), ("second", 1))


@bp.route("/policy/windows")
def operation_windows_page():
    return _page()


@bp.route("/policy/windows/<operation>", methods=["POST"])
def set_operation_window(operation: str):
    _known(operation)
    form = WindowForm(prefix=operation)
    if not form.validate_on_submit():
        return _page({operation: form}, status=400)
    changed = operation_windows.set_window(operation, form.seconds.data, actor=g.admin.email)
    db.session.commit()
    said = f"now {duration(form.seconds.data)}" if changed else "unchanged"
    flash(f"{OPERATIONS[operation]}: the window is {said}.")
    return redirect(url_for("admin.operation_windows_page"), code=303)


@bp.route("/policy/windows/<operation>/clear", methods=["POST"])
def clear_operation_window(operation: str):
    _known(operation)
    cleared = operation_windows.clear_window(operation, actor=g.admin.email)
    db.session.commit()
    seconds = operation_windows.window(operation)
    said = "now" if cleared else "already"
    flash(f"{OPERATIONS[operation]}: the window is {said} the configured {duration(seconds)}.")
    return redirect(url_for("admin.operation_windows_page"), code=303)


def duration(seconds: int) -> str:
    """``seconds`` in words, largest units first: 5400 is "1 hour 30 minutes"."""
    parts = []
    for unit, size in UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts) or "0 seconds"


def _known(operation: str) -> None:
    if operation not in SENSITIVE_OPERATIONS:
        abort(404)


def _page(posted: dict[str, WindowForm] | None = None, *, status: int = 200):
    """The page; ``posted`` holds a refused form, shown with its errors instead of the value."""
    rows = []
    for window in operation_windows.windows():
        form = (posted or {}).get(window.operation) or WindowForm(
            formdata=None, prefix=window.operation, seconds=window.seconds
        )
        rows.append((window, OPERATIONS[window.operation], form))
    body = render_template(
        "admin/operation_windows.html",
        rows=rows,
        duration=duration,
        bounds=(operation_windows.MIN_SECONDS, operation_windows.MAX_SECONDS),
        minimum=duration(operation_windows.MIN_SECONDS),
        maximum=duration(operation_windows.MAX_SECONDS),
    )
    return body, status
