"""The admin console's pages: dashboard, user list, a user's page, and setting a user's roles.

Server-rendered, no JavaScript. ``access.gate`` runs before every request of the blueprint, so
no page (and no POST added later) can skip it.
"""

from __future__ import annotations

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

from idp.accounts import admin_view
from idp.extensions import db
from idp.factors import registry
from idp.models import User
from idp.views.admin import access
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
    return render_template("admin/dashboard.html", figures=figures, labels=registry.LABELS)


@bp.route("/users")
def users():
    query = request.args.get("q", "")[:320]
    role = request.args.get("role", "")[:64]
    after = request.args.get("after", 0, type=int) or 0
    page = admin_view.search(
        query, role, after=max(after, 0), limit=current_app.config["ADMIN_PAGE_SIZE"]
    )
    return render_template(
        "admin/users.html", page=page, query=query, role=role, roles=admin_view.all_roles()
    )


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
