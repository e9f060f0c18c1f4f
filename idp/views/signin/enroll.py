"""The enroll prompt: a policy asks the user to add a second factor during sign-in.

Required mode blocks the sign-in here, with a page that says why, until a factor is added (no
code is issued before); within the role's grace, or in recommended mode, the user may postpone
it once per sign-in session. The "add" links lead to the security page's enrollment pages,
which send the browser back to the waiting authorization request when done. Only the kinds the
user's policy allows are offered, and those pages refuse any other (``adding_factor``): a factor
the policy does not count would bring this page back after every enrollment.
"""

from __future__ import annotations

from datetime import UTC, datetime

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
from idp.policy import Interact
from idp.views.account.security import enroll_pages
from idp.views.signin.flow import continue_to
from idp.web import sessions
from idp.web.forms import ConfirmForm

bp = Blueprint("enroll", __name__, url_prefix="/enroll")


def _prompt():
    """The user and the policy's enroll interaction, or ``None`` when nothing is owed."""
    login_session = sessions.current()
    if login_session is None:
        return None, None
    user = sessions.current_user()
    decision = sessions.account_decision(user)
    if isinstance(decision, Interact) and decision.prompt == "enroll":
        return user, decision
    return user, None


@bp.route("/")
def index():
    next_key = sessions.next_key(request.args.get("next"))
    user, decision = _prompt()
    if user is None:
        return redirect(url_for("auth.login", next=next_key))
    if decision is None:
        return continue_to(next_key)
    sessions.enrolling_for(next_key)
    policy = policies.inputs(user).effective()
    return render_template(
        "enroll.html",
        decision=decision,
        pages=enroll_pages(user),
        labels=registry.LABELS,
        grace_until=_grace_until(user, policy),
        grace_left=policy.grace_signins - user.grace_skips if policy.grace_signins else None,
        form=ConfirmForm(),
        next_key=next_key,
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
    user, decision = _prompt()
    if user is None:
        return redirect(url_for("auth.login", next=next_key), code=303)
    if decision is not None:
        if not decision.skippable:
            abort(403)
        if "enrollment_grace" in decision.reasons:
            policies.postpone_enrollment(user)
        else:
            audit.record("enrollment_skipped", actor=user.email, subject=user.sub)
        sessions.skip_enrollment()
        sessions.take_enrollment_request()
        db.session.commit()
    return continue_to(next_key)
