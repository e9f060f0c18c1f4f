"""The console's client pages: the client list, a new client, a client's settings, a new
secret, disable and enable.

Every change goes through ``idp.oauth2.registration`` or ``idp.oauth2.client_admin``, as
``idp clients`` does, audited with the admin's email. A secret is shown once, in the response
to the POST that made it (``Cache-Control: no-store``), and never again: only its digest is
kept. A refused setting (``ValueError`` from registration) is shown above the form with a 400,
and nothing is saved. The button-only POSTs carry just the CSRF token, which the app's
``CSRFProtect`` checks before any view.
"""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for

from idp.extensions import db
from idp.models import Client
from idp.oauth2 import client_admin, registration
from idp.views.admin.console import bp
from idp.web.forms import ClientCreateForm, ClientEditForm


@bp.route("/clients")
def clients():
    after = max(request.args.get("after", 0, type=int) or 0, 0)
    page = client_admin.listed(after=after, limit=current_app.config["ADMIN_PAGE_SIZE"])
    return render_template("admin/clients.html", page=page)


@bp.route("/clients/new", methods=["GET", "POST"])
def new_client():
    form = ClientCreateForm()
    if request.method == "GET" or not form.validate_on_submit():
        return _new_page(form, status=200 if request.method == "GET" else 400)
    try:
        client, secret = registration.register(
            **_settings(form), public=form.kind.data == "public", actor=g.admin.email
        )
    except ValueError as error:
        db.session.rollback()
        return _new_page(form, str(error), status=400)
    db.session.commit()
    return _secret_page(client, secret, created=True)


@bp.route("/clients/<client_id>", methods=["GET", "POST"])
def client(client_id: str):
    found = _client_or_404(client_id)
    if request.method == "GET":
        return _client_page(found, _edit_form(found))
    form = ClientEditForm()
    if not form.validate_on_submit():
        return _client_page(found, form, status=400)
    try:
        registration.update(found, actor=g.admin.email, **_edit_changes(form))
    except ValueError as error:
        db.session.rollback()
        return _client_page(found, form, str(error), status=400)
    _saved(found, f"Saved the settings of {found.name}.")
    return redirect(url_for("admin.client", client_id=client_id), code=303)


@bp.post("/clients/<client_id>/secret")
def rotate_secret(client_id: str):
    found = _client_or_404(client_id)
    try:
        secret = client_admin.rotate_secret(found, actor=g.admin.email)
    except ValueError:
        abort(400)  # a public client: the page offers no such button
    db.session.commit()
    return _secret_page(found, secret, created=False)


@bp.post("/clients/<client_id>/disable")
def disable_client(client_id: str):
    found = _client_or_404(client_id)
    changed = client_admin.disable(found, actor=g.admin.email)
    _saved(found, "Client disabled; its tokens are revoked." if changed else "Already disabled.")
    return redirect(url_for("admin.client", client_id=client_id), code=303)


@bp.post("/clients/<client_id>/enable")
def enable_client(client_id: str):
    found = _client_or_404(client_id)
    changed = client_admin.enable(found, actor=g.admin.email)
    _saved(found, "Client enabled." if changed else "The client was not disabled.")
    return redirect(url_for("admin.client", client_id=client_id), code=303)


def _saved(client: Client, message: str) -> None:
    db.session.commit()
    flash(message)


def _client_or_404(client_id: str) -> Client:
    try:
        return client_admin.find(client_id[:64])
    except LookupError:
        abort(404)


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _settings(form) -> dict:
    """The settings both forms hold, as ``registration`` takes them."""
    return {
        "name": form.name.data.strip(),
        "redirect_uris": _lines(form.redirect_uris.data),
        "post_logout_redirect_uris": _lines(form.post_logout_redirect_uris.data),
        "grant_types": list(form.grant_types.data or ()),
        "first_party": form.first_party.data,
        "allow_no_pkce": form.allow_no_pkce.data,
        "minimum_acr": (form.minimum_acr.data or "").strip() or None,
    }


def _edit_changes(form: ClientEditForm) -> dict:
    if not form.grant_types.data:
        raise ValueError("Tick at least one grant type.")
    return {
        **_settings(form),
        "default_acr_values": (form.default_acr_values.data or "").split(),
        "backchannel_logout_uri": (form.backchannel_logout_uri.data or "").strip() or None,
    }


def _edit_form(client: Client) -> ClientEditForm:
    return ClientEditForm(
        formdata=None,
        name=client.name,
        redirect_uris="\n".join(client.redirect_uris),
        post_logout_redirect_uris="\n".join(client.post_logout_redirect_uris),
        grant_types=list(client.grant_types),
        first_party=client.first_party,
        allow_no_pkce=client.allow_no_pkce,
        minimum_acr=client.minimum_acr or "",
        default_acr_values=" ".join(client.default_acr_values),
        backchannel_logout_uri=client.backchannel_logout_uri or "",
    )


def _acr_hint() -> str:
    return "Supported: " + ", ".join(current_app.config["ACR_LEVELS"].supported) + "."


def _new_page(form: ClientCreateForm, refusal: str | None = None, *, status: int = 200):
    if request.method == "GET":
        form.grant_types.data = ["authorization_code", "refresh_token"]
    body = render_template(
        "admin/client_new.html", form=form, refusal=refusal, acr_hint=_acr_hint()
    )
    return body, status


def _client_page(client: Client, form, refusal: str | None = None, *, status: int = 200):
    body = render_template(
        "admin/client_edit.html", client=client, form=form, refusal=refusal,
        acr_hint=_acr_hint(),
    )  # fmt: skip
    return body, status


def _secret_page(client: Client, secret: str | None, *, created: bool):
    body = render_template(
        "admin/client_secret.html", client=client, secret=secret, created=created
    )
    return body, 200, {"Cache-Control": "no-store", "Pragma": "no-cache"}
