"""Where an interaction page sends the browser when it is done."""

from __future__ import annotations

from flask import redirect, url_for

from idp import sessions

#: Account pages that may ask for a (re-)authentication and want the browser back afterwards.
ACCOUNT_PAGES = {"account": "account.index", "security": "security.index"}


def continue_to(next_key: str | None):
    """Back to the waiting authorization request, to an account page, or to the account."""
    query = sessions.pending_query(next_key)
    if query is not None:
        return redirect(url_for("oauth.authorize") + "?" + query, code=303)
    return redirect(url_for(ACCOUNT_PAGES.get(next_key or "", "account.index")), code=303)


def sign_in_first(page: str, code: int = 302):
    """An account page for a visitor who is not fully signed in: finish signing in, come back.

    With a password-only session that still owes a second factor, go to that step; otherwise
    to the sign-in page.
    """
    target = "mfa.choose" if sessions.current() is not None else "auth.login"
    return redirect(url_for(target, next=page), code=code)
