"""Security notices: the mail a user gets when a sign-in method or the account's email changes.

A notice says what happened and what to do if it was not the user; it never carries a secret.
"""

from __future__ import annotations

from idp.models import User
from idp.notify import mail


def notify(user: User, what: str) -> None:
    """Tell ``user`` at their current address that ``what`` happened to their account."""
    mail.send(
        user.email,
        "Security change on your account",
        f"{what}\n\nIf this was not you, reset your password and contact your administrator.",
    )
