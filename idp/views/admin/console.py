"""The admin console's pages: dashboard, user list, a user's page, and setting a user's roles.

Server-rendered, no JavaScript. ``access.gate`` runs before every request of the blueprint, so
no page (and no POST added later) can skip it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from idp.accounts import admin_view, dashboard
from idp.extensions import db
from idp.factors import registry
from idp.models import User
from idp.views.admin import access
from idp.web import charts
from idp.web.forms import DisableForm, OverrideForm, ResetFactorsForm, RolesForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _gate():
    user, refused = access.gate()
    if user is None:
        return refused
    g.admin = user
    return None


@bp.context_processor
def _console():
    user = g.get("admin")
    return {"can_change": user is not None and access.may_change(user)}


@bp.route("/")
def index():
    figures = admin_view.dashboard()
    watch = dashboard.activity()
    return render_template(
        "admin/dashboard.html",
        figures=figures,
        watch=watch,
        charts={
            "hours": _sign_in_chart("Sign-ins per hour, last 24 hours (UTC)", watch.hours, True),
            "days": _sign_in_chart("Sign-ins per day, last 30 days (UTC)", watch.days, False),
        },
        burst=dashboard.BURST,
        labels=registry.LABELS,
    )


def _sign_in_chart(title: str, buckets: list[dashboard.Bucket], hourly: bool) -> dict:
    """The SVG of ``buckets`` (hours or days, labelled in UTC) and its figures as table rows."""
    labels = [datetime.fromtimestamp(b.start, UTC).strftime("%H:00" if hourly else "%m-%d")
              for b in buckets]  # fmt: skip
    svg = charts.bar_chart(
        chart_id="chart-hours" if hourly else "chart-days",
        title=title,
        labels=labels,
        series=[
            charts.Series("Signed in", [b.success for b in buckets]),
            charts.Series("Failed", [b.failure for b in buckets]),
        ],
        every=6 if hourly else 7,
    )
    rows = [(label, b.success, b.failure) for label, b in zip(labels, buckets, strict=True)]
    return {"title": title, "svg": svg, "rows": rows}


@bp.route("/users")
def users():
    query = request.args.get("q", "")[:320]
    role = request.args.get("role", "")[:64]
    mfa = request.args.get("mfa", "")
    mfa = mfa if mfa in admin_view.MFA_STATUSES else ""  # a stale or hand-made link: any
    after = request.args.get("after", 0, type=int) or 0
    page = admin_view.search(
        query, role, mfa=mfa, after=max(after, 0), limit=current_app.config["ADMIN_PAGE_SIZE"]
    )
    return render_template(
        "admin/users.html", page=page, query=query, role=role, mfa=mfa,
        roles=admin_view.all_roles(),
    )  # fmt: skip


@bp.route("/users/<int:user_id>")
def user(user_id: int):
    return user_page(user_or_404(user_id))


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
def set_roles(user_id: int):
    person = user_or_404(user_id)
    form = RolesForm()
    form.roles.choices = admin_view.all_roles()
    if not form.validate_on_submit():
        return user_page(person, form, 400)
    refusal = admin_view.self_demotion(g.admin, person, form.roles.data)
    if refusal is not None:
        form.roles.errors = [refusal]
        return user_page(person, form, 400)
    before, after = admin_view.set_roles(person, form.roles.data, actor=g.admin.email)
    db.session.commit()
    flash("Roles unchanged." if before == after else f"Roles set: {', '.join(after) or 'none'}.")
    return redirect(url_for("admin.user", user_id=person.id), code=303)


def user_or_404(user_id: int) -> User:
    person = db.session.get(User, user_id)
    if person is None:
        abort(404)
    return person


def user_page(person: User, form: RolesForm | None = None, status: int = 200, **forms):
    """The user's page; ``forms`` are the action forms that failed (``user_actions``)."""
    if form is None:
        form = RolesForm(formdata=None, roles=admin_view.role_names(person))
    form.roles.choices = admin_view.all_roles()
    blank = {
        "reset_form": ResetFactorsForm(formdata=None),
        "disable_form": DisableForm(formdata=None),
        "override_form": OverrideForm(formdata=None),
    }
    body = render_template(
        "admin/user.html",
        person=person,
        detail=admin_view.detail(person),
        form=form,
        labels=registry.LABELS,
        **(blank | forms),
    )
    return body, status
