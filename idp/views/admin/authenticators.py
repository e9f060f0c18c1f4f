"""The console's authenticator allow-list at ``/admin/authenticators`` (twin of
``idp authenticators``): the models whose attested passkeys count as hardware-bound for users
whose policy requires attestation.

Auditors read the list; admins add a model (AAGUID, description, root certificates in PEM),
allow a known one again, or remove one. The routes hang on the console's blueprint, so its gate
(role, phishing-resistant sign-in, a recent second factor for every POST) covers them. Every
change is audited by ``idp.factors.attestation``.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from idp.extensions import db
from idp.factors import attestation
from idp.views.admin.console import bp


class ModelForm(FlaskForm):
    """Add a model, or (AAGUID alone) allow a known one again."""

    aaguid = StringField(
        "AAGUID", validators=[DataRequired(message="Give the model's AAGUID."), Length(max=64)]
    )
    description = StringField("Model name", validators=[Length(max=500)])
    roots = TextAreaField("Root certificates (PEM)", validators=[Length(max=65536)])


@bp.route("/authenticators")
def authenticators():
    return _page(ModelForm(formdata=None))


@bp.route("/authenticators", methods=["POST"])
def allow_authenticator():
    form = ModelForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        pem = (form.roots.data or "").strip()
        row = attestation.allow(
            form.aaguid.data,
            description=form.description.data or None,
            roots=attestation.pem_roots(pem.encode()) if pem else None,
            actor=g.admin.email,
        )
    except ValueError as exc:
        db.session.rollback()
        form.aaguid.errors = [str(exc)]
        return _page(form, 400)
    db.session.commit()
    flash(f"Allowed: {row.description} ({row.aaguid}).")
    return redirect(url_for("admin.authenticators"), code=303)


@bp.route("/authenticators/<aaguid>/remove", methods=["POST"])
def remove_authenticator(aaguid: str):
    try:
        removed = attestation.remove(aaguid, actor=g.admin.email)
    except ValueError:
        abort(404)
    db.session.commit()
    flash(f"Removed from the allow-list: {aaguid}." if removed else "It was not allowed.")
    return redirect(url_for("admin.authenticators"), code=303)


def _page(form: ModelForm, status: int = 200):
    rows = [
        (row, [attestation.subject(p) for p in row.root_certificates])
        for row in attestation.listed()
    ]
    return render_template("admin/authenticators.html", rows=rows, form=form), status
