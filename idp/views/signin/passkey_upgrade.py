"""The enroll prompt's passkey upgrade (issue 14): a policy now requires attested passkeys, and
the user's passkeys were registered before, or on a model since taken off the allow-list.

They still sign in with such a passkey, at its lower level (``swk``, never ``phrh``); after
that second factor this page asks them to add a passkey on an approved model, with the
registration ceremony of the security page (which asks for attestation and refuses other
models with a message saying which). The policy engine decides whether "Not now" is offered:
within the role's enrollment grace (counted as a required enrollment's is), or always when the
role has no grace; after the grace only adding one (or cancelling) goes on
(``policies.postpone_passkey_upgrade``).

Being asked is audited once per sign-in session (``passkey_upgrade_asked``), postponing each
time (``passkey_upgrade_postponed``); the new passkey is audited as every new factor is.
"""

from __future__ import annotations

from flask import render_template, session

from idp import audit
from idp.extensions import db
from idp.factors import attestation, passkey
from idp.models import User
from idp.policy import Interact
from idp.views.signin.flow import may
from idp.web import sessions
from idp.web.forms import ConfirmForm

#: The enroll prompt's reasons this page answers.
REASONS = frozenset({"passkey_upgrade", "passkey_upgrade_required"})
#: Flask session: the sign-in session that was asked (a new sign-in clears the cookie).
ASKED = "upgrade_asked"


def asks(decision: Interact) -> bool:
    """The enroll interaction is (also) for a compliant passkey."""
    return bool(REASONS & set(decision.reasons))


def page(user: User, decision: Interact, next_key: str, grace: dict):
    """The page asking for an approved passkey; ``grace`` is what is left of it, for the text."""
    _audit_asked(user)
    return render_template(
        "upgrade_passkey.html",
        decision=decision,
        below=[f.name for f in passkey.passkeys(user) if not attestation.compliant(f)],
        can_register=may(user, "add_factor"),
        form=ConfirmForm(),
        next_key=next_key,
        **grace,
    )


def _audit_asked(user: User) -> None:
    login_session = sessions.current()
    if login_session is None or session.get(ASKED) == login_session.id:
        return
    session[ASKED] = login_session.id
    audit.record("passkey_upgrade_asked", actor=user.email, subject=user.sub)
    db.session.commit()
