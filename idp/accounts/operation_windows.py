"""How recent a second factor must be for each sensitive operation, and its audited changes.

The configuration gives the windows (``IDP_STEPUP_WINDOWS``, else ``IDP_STEPUP_WINDOW``); an
admin may set one in the console or the admin API, which then wins until it is cleared. Bounds
keep a console slip from locking admins out (too short to finish a form) or from making a
second factor count for days.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.models import OperationWindow
from idp.policy.rules import SENSITIVE_OPERATIONS

MIN_SECONDS, MAX_SECONDS = 30, 86400


@dataclass(frozen=True)
class Window:
    """One operation's window and where it comes from: ``console`` (a row) or ``configuration``."""

    operation: str
    seconds: int
    source: str
    configured: int  # what the configuration alone gives, shown beside a console value


def configured(operation: str | None) -> int:
    """The window the configuration gives ``operation`` (None: the general one)."""
    config = current_app.config
    return config["STEPUP_WINDOWS"].get(operation or "", config["STEPUP_WINDOW"])


def window(operation: str | None) -> int:
    """The window in force for ``operation``: the console's if set, else the configuration's."""
    row = db.session.get(OperationWindow, operation) if operation else None
    return row.seconds if row is not None else configured(operation)


def windows() -> list[Window]:
    """Every sensitive operation's window, in the order of ``SENSITIVE_OPERATIONS``."""
    rows = {r.operation: r for r in db.session.execute(select(OperationWindow)).scalars()}
    found = []
    for operation in SENSITIVE_OPERATIONS:
        row, base = rows.get(operation), configured(operation)
        if row is None:
            found.append(Window(operation, base, "configuration", base))
        else:
            found.append(Window(operation, row.seconds, "console", base))
    return found


def set_window(operation: str, seconds: int, *, actor: str) -> bool:
    """Set ``operation``'s window; False when it already was exactly that (nothing recorded)."""
    _check(operation)
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"a window is between {MIN_SECONDS} and {MAX_SECONDS} seconds")
    row = db.session.get(OperationWindow, operation)
    before = window(operation)
    if row is not None and row.seconds == seconds:
        return False
    if row is None:
        row = OperationWindow(operation=operation)
        db.session.add(row)
    row.seconds, row.updated_by, row.updated_at = seconds, actor, now()
    audit.record(
        "operation_window_changed", actor=actor, operation=operation,
        before={"seconds": before}, after={"seconds": seconds, "source": "console"},
    )  # fmt: skip
    return True


def clear_window(operation: str, *, actor: str) -> bool:
    """Give ``operation`` back to the configuration; False when the console had not set it."""
    _check(operation)
    row = db.session.get(OperationWindow, operation)
    if row is None:
        return False
    db.session.delete(row)
    audit.record(
        "operation_window_changed", actor=actor, operation=operation,
        before={"seconds": row.seconds, "source": "console"},
        after={"seconds": configured(operation), "source": "configuration"},
    )  # fmt: skip
    return True


def _check(operation: str) -> None:
    if operation not in SENSITIVE_OPERATIONS:
        raise ValueError(
            f"unknown operation {operation!r}; known: {', '.join(SENSITIVE_OPERATIONS)}"
        )
