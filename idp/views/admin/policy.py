"""The console's MFA policy pages: the default and each role's policy, edited with a preview.

Saving is two steps without JavaScript: the first submit shows what the change would do
(``policy_preview``: how many members will be asked to add a second factor at their next
sign-in) with a Save button; Save applies exactly the values previewed (their digest rides in
the form), or shows a fresh preview if the values were changed meanwhile. Changes go through
``idp.accounts.policies`` like ``idp roles set-policy``, audited with before and after. A new
role is made on the list page, like ``idp roles create`` (same name rule, audited).
"""

from __future__ import annotations

import hashlib
import json

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from idp.accounts import policies, policy_preview, users
from idp.extensions import db
from idp.factors import registry
from idp.models import Role
from idp.policy import rules
from idp.policy.rules import MfaPolicy
from idp.views.admin.console import bp
from idp.web.forms import PolicyForm, RoleCreateForm

DEFAULT = None  # the target of the default policy's pages (a role otherwise)


@bp.route("/policy")
def policy_index():
    return _index(RoleCreateForm(formdata=None))


@bp.route("/policy/roles", methods=["POST"])
def create_role():
    """A new role, like ``idp roles create``; then its (default, "off") policy page."""
    form = RoleCreateForm()
    if not form.validate_on_submit():
        return _index(form, status=400)
    try:
        role = users.create_role(form.name.data, form.description.data, actor=g.admin.email)
    except ValueError as error:  # the form checked the rest: the name is taken
        form.name.errors = [f"Not created: {error}."]
        return _index(form, status=400)
    db.session.commit()
    flash(f"Created the role {role.name}. Its policy asks nothing until you change it.")
    return redirect(url_for("admin.role_policy", name=role.name), code=303)


def _index(form: RoleCreateForm, *, status: int = 200):
    rows = [("Everyone (default)", url_for("admin.default_policy"), policies.default_row())]
    for role in db.session.execute(select(Role).order_by(Role.name)).scalars():
        rows.append((role.name, url_for("admin.role_policy", name=role.name), role))
    listed = [(name, url, policies.policy_of(row)) for name, url, row in rows]
    body = render_template("admin/policy.html", rows=listed, methods=methods, form=form)
    return body, status


def methods(policy: MfaPolicy) -> str:
    """The methods a policy allows, in words."""
    if policy.factors is None:
        return "any method"
    return ", ".join(sorted(registry.LABELS.get(k, k) for k in policy.factors)) or "none"


@bp.route("/policy/default", methods=["GET", "POST"])
def default_policy():
    return _edit(DEFAULT)


@bp.route("/policy/roles/<name>", methods=["GET", "POST"])
def role_policy(name: str):
    try:
        role = users.role(name)
    except LookupError:
        abort(404)
    return _edit(role)


def _edit(role: Role | None):
    row = policies.default_row() if role is None else role
    current = policies.policy_of(row)
    if request.method == "GET":
        return _page(role, _form(current), current)
    form = _form(None)
    if not form.validate_on_submit():
        return _page(role, form, current, status=400)
    try:
        wanted = _policy(form)
    except ValueError as error:
        form.factors.errors = [str(error)]
        return _page(role, form, current, status=400)
    if request.form.get("save") and form.previewed.data == _digest(wanted):
        _save(role, wanted)
        flash(f"Saved the policy of {_name(role)}.")
        return redirect(url_for("admin.policy_index"), code=303)
    form.previewed.data = _digest(wanted)
    preview = policy_preview.preview(role, current, wanted)
    return _page(role, form, current, preview=preview)


def _save(role: Role | None, policy: MfaPolicy) -> None:
    actor = g.admin.email
    if role is None:
        policies.set_default_policy(policy, actor=actor)
    else:
        policies.set_role_policy(role, policy, actor=actor)
    db.session.commit()


def _form(policy: MfaPolicy | None) -> PolicyForm:
    """The form, filled from ``policy`` on GET, from the request on POST."""
    if policy is None:
        form = PolicyForm()
    else:
        form = PolicyForm(
            formdata=None,
            mode=policy.mode,
            factors=sorted(policy.factors if policy.factors is not None else rules.FACTOR_KINDS),
            remember_device=policy.remember_device,
            factor_max_age=policy.factor_max_age or 0,
            grace_signins=policy.grace_signins,
            grace_days=policy.grace_days,
            require_attested_passkeys=policy.require_attested_passkeys,
        )
    form.factors.choices = [(k, registry.LABELS.get(k, k)) for k in rules.FACTOR_KINDS]
    return form


def _policy(form: PolicyForm) -> MfaPolicy:
    """The policy the form asks for: every kind ticked means any kind (new kinds included)."""
    ticked = frozenset(form.factors.data or ())
    if not ticked:
        raise ValueError("Tick at least one method.")
    return MfaPolicy(
        mode=form.mode.data,
        factors=None if ticked == frozenset(rules.FACTOR_KINDS) else ticked,
        remember_device=form.remember_device.data,
        factor_max_age=form.factor_max_age.data or None,
        grace_signins=form.grace_signins.data,
        grace_days=form.grace_days.data,
        require_attested_passkeys=form.require_attested_passkeys.data,
    )


def _digest(policy: MfaPolicy) -> str:
    described = json.dumps(policies.describe(policy), sort_keys=True)
    return hashlib.sha256(described.encode()).hexdigest()


def _name(role: Role | None) -> str:
    return "the default" if role is None else f"the role {role.name}"


def _page(role, form, current, *, preview=None, status: int = 200):
    body = render_template(
        "admin/policy_edit.html",
        role=role,
        name=_name(role),
        form=form,
        current=current,
        preview=preview,
        methods=methods,
    )
    return body, status
