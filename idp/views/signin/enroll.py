"""The enroll prompt: a policy asks the user to add a second factor during sign-in.

Required mode blocks the sign-in here, with a page that says why, until a factor is added (no
code is issued before); within the role's grace, or in recommended mode, the user may postpone
it once per sign-in session. The "add" links lead to the security page's enrollment pages,
which send the browser back to the waiting authorization request when done. Only the kinds the
user's policy allows are offered, and those pages refuse any other (``adding_factor``): a factor
the policy does not count would bring this page back after every enrollment.

The same page makes the offer of the enroll prompt's ``acr_enrollment`` check: the application
asks for a level (``acr_values``, an essential acr, its minimum) that the user's factors cannot
reach but a kind they may add would. /authorize names those kinds for the waiting request
(``sessions.offered_kinds``), since these pages know no ``acr_values``; only they are offered,
with the application's name, and "Not now" continues at the level reached.

A policy that now requires attested passkeys asks a user whose passkeys fall short for an
approved one on a page of its own (``passkey_upgrade``), postponed the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

from flask import (
    Blueprint,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)

from idp import audit
from idp.accounts import policies
from idp.clock import now
from idp.extensions import db
from idp.factors import registry
from idp.oauth2.server import query_client
from idp.policy import Interact
from idp.views.account.security import enroll_pages
from idp.views.signin import passkey_upgrade
from idp.views.signin.flow import continue_to
from idp.web import sessions
from idp.web.forms import ConfirmForm

bp = Blueprint("enroll", __name__, url_prefix="/enroll")


#: The reason the enroll prompt gives for an offer made because of a requested acr.
ACR_OFFER = "acr_enrollment"


def _prompt(next_key: str):
    """The user and the enroll interaction this page shows, or ``None`` when nothing is owed.

    That is the policy's own enrollment (``account_decision``), the offer /authorize made for
    the waiting request (its kinds, reason ``acr_enrollment``: skippable), or both.
    """
    login_session = sessions.current()
    if login_session is None:
        return None, None
    user = sessions.current_user()
    decision = sessions.account_decision(user)
    owed = decision if isinstance(decision, Interact) and decision.prompt == "enroll" else None
    skipped = sessions.browser(user).enrollment_skipped
    offered = frozenset() if skipped else sessions.offered_kinds(next_key)
    if not offered:
        return user, owed
    return user, Interact("enroll", (*(owed.reasons if owed else ()), ACR_OFFER), offered)


def _pages(user, decision: Interact) -> dict[str, str]:
    """The enrollment pages to offer: for an offer the user may decline, only the kinds that
    reach the requested level; a requirement keeps every allowed kind (one without JavaScript
    too), and the offer comes again once it is met."""
    pages = enroll_pages(user)
    if ACR_OFFER in decision.reasons and decision.skippable:
        return {kind: page for kind, page in pages.items() if kind in decision.kinds}
    return pages


def _client_name(next_key: str) -> str | None:
    """The name of the application whose waiting request this is."""
    client_id = dict(parse_qsl(sessions.pending_query(next_key) or "")).get("client_id")
    client = query_client(client_id) if client_id else None
    return client.name if client is not None else None


@bp.route("/")
def index():
    next_key = sessions.next_key(request.args.get("next"))
    user, decision = _prompt(next_key)
    if user is None:
        return redirect(url_for("auth.login", next=next_key))
    if decision is None:
        return continue_to(next_key)
    sessions.enrolling_for(next_key)
    policy = policies.inputs(user).effective()
    grace = {
        "grace_until": _grace_until(user, policy),
        "grace_left": policy.grace_signins - user.grace_skips if policy.grace_signins else None,
    }
    if passkey_upgrade.asks(decision):
        return passkey_upgrade.page(user, decision, next_key, grace)
    return render_template(
        "enroll.html",
        decision=decision,
        pages=_pages(user, decision),
        labels=registry.LABELS,
        client_name=_client_name(next_key) if ACR_OFFER in decision.reasons else None,
        form=ConfirmForm(),
        next_key=next_key,
        **grace,
    )


def _grace_until(user, policy) -> str | None:
    if not policy.grace_days:
        return None
    started = user.grace_started_at or now()
    end = datetime.fromtimestamp(started + policy.grace_days * 86400, UTC)
    return end.strftime("%d %B %Y")


@bp.route("/skip", methods=["POST"])
def skip():
    """Postpone: allowed only when the policy says the enrollment is skippable."""
    ConfirmForm().validate_on_submit() or abort(400)
    next_key = sessions.next_key(request.form.get("next"))
    user, decision = _prompt(next_key)
    if user is None:
        return redirect(url_for("auth.login", next=next_key), code=303)
    if decision is not None:
        if not decision.skippable:
            abort(403)
        if "enrollment_grace" in decision.reasons:
            policies.postpone_enrollment(user)
        elif passkey_upgrade.asks(decision):
            policies.postpone_passkey_upgrade(user)
        else:
            offered = {"offered": sorted(decision.kinds)} if decision.kinds else {}
            audit.record("enrollment_skipped", actor=user.email, subject=user.sub, **offered)
        sessions.skip_enrollment()
        sessions.take_enrollment_request()
        db.session.commit()
    return continue_to(next_key)
