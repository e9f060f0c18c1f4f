"""The OAuth 2.0 / OIDC endpoints: authorize, token, revoke, introspect, userinfo, logout.

``/authorize`` is the policy loop of ARCHITECTURE.md: Authlib validates the request, ``decide``
says what is missing, the interaction pages supply it and send the browser back here. Every
response it sends the client, code or error, goes out through ``_to_client``: with ``iss``
(RFC 9207), in the query or as a form_post page (OAuth 2.0 Form Post Response Mode).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.common.urls import add_params_to_uri
from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for

from idp import audit
from idp.accounts import policy_inputs
from idp.extensions import csrf, db
from idp.models.statements import driver_transaction
from idp.oauth2 import authorization as authz
from idp.oauth2 import errors, params
from idp.oauth2.principal import Principal
from idp.oauth2.server import authorization
from idp.policy import Fail, Interact, decide
from idp.views import userinfo as userinfo_view
from idp.views.signin.flow import pending_authorize_url
from idp.web import outage, pages, sessions

bp = Blueprint("oauth", __name__)
bp.add_app_template_global(pending_authorize_url, "pending_authorize_url")
#: Endpoints a machine calls: their errors are JSON (RFC 6749 5.2, RFC 7009 2.2.1, RFC 7662 2.3).
MACHINE_ENDPOINTS = frozenset({"oauth.token", "oauth.revoke", "oauth.introspect"})
#: Fields of the provider's own forms posted to /authorize, not parameters of the request.
_OWN_FIELDS = frozenset({"csrf_token", "consent", "cancel"})


def _unavailable(error):
    """A machine client gets the outage's 503 as JSON; a browser at /authorize the page."""
    if request.endpoint in MACHINE_ENDPOINTS | {"oauth.userinfo"}:
        return outage.json_error(error)
    return outage.page(error)


for _error in outage.DATABASE_UNAVAILABLE:
    bp.register_error_handler(_error, _unavailable)


@bp.errorhandler(pages.MalformedInput)
def _malformed_input(error: pages.MalformedInput):
    """A NUL in the request: ``invalid_request`` in the endpoint's own format."""
    refusal = errors.InvalidRequestError("the request contains a NUL character")
    if request.endpoint in MACHINE_ENDPOINTS:
        return authorization.handle_error_response(None, refusal)
    return authorization_error(refusal)


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # OIDC allows POSTed requests; the consent decision checks CSRF itself
def authorize():
    try:
        return _authorize()
    except errors.OAuth2Error as error:
        db.session.rollback()
        return authorization_error(error)


def _authorize():
    grant = _validated_grant()
    params = authz.parse(request.values, grant.redirect_uri)
    query = _request_query()
    pending = sessions.remember_request(query)
    login_session = sessions.current()
    if "consent" in request.form:
        return _consent_decision(grant, login_session, query, pending.key)
    if "cancel" in request.form:
        _cancelled(grant, params, pending.key)
    user = sessions.current_user()
    ctx = authz.build_context(
        params,
        grant.client,
        grant.request.scope,
        user,
        reauthenticated=pending.reauthenticated,
        consented=pending.consented,
        events=policy_inputs.events(login_session),
        user_facts=policy_inputs.facts(user, sessions.browser(user)) if user else None,
    )
    decision = decide(ctx)
    if isinstance(decision, Fail):
        raise errors.for_code(decision.error)(
            decision.description,
            state=request.values.get("state"),
            redirect_uri=grant.redirect_uri,
        )
    if isinstance(decision, Interact):
        if query != request.query_string.decode():  # POSTed: resume it as the GET it becomes
            return redirect(url_for("oauth.authorize") + "?" + query, code=303)
        return _interact(decision, grant, pending.key)
    principal = Principal(user, decision.acr, decision.amr, decision.auth_time, login_session.id)
    response = _to_client(grant.redirect_uri, _issued(grant, principal))
    sessions.forget_request(pending.key)
    db.session.commit()
    return response


def _request_query() -> str:
    """The authorization request as the query a GET resumes it with after an interaction.

    A POSTed request (OIDC Core 3.1.2.1) has its parameters in the form, which no redirect to
    the sign-in page carries; they become the query. The provider's own forms posted back here
    (consent, cancel) carry nothing of the request: the query they were posted to is it.
    """
    posted = [(k, v) for k, v in request.form.items(multi=True) if k not in _OWN_FIELDS]
    if not posted:
        return request.query_string.decode()
    return urlencode([*request.args.items(multi=True), *posted])


def _validated_grant():
    """Authlib's validation, then the refusal of a request object (OIDC Core 6.1, 6.2).

    Once the redirect URI is trusted, that refusal comes before any finding of Authlib's: the
    object may hold the very parameters (``code_challenge``, ``response_type``) found missing.
    """
    params.check(request.values)  # before Authlib or the database read any of them
    try:
        grant = authorization.get_consent_grant(end_user=None)
    except errors.OAuth2Error as error:
        if error.redirect_uri:
            authz.refuse_request_object(request.values, error.redirect_uri)
        if isinstance(error, errors.UnsupportedResponseTypeError):
            _require_response_type(error)
        raise
    authz.refuse_request_object(request.values, grant.redirect_uri)
    return grant


def _require_response_type(error: errors.UnsupportedResponseTypeError) -> None:
    """A missing ``response_type`` is ``invalid_request``, not an unsupported one (RFC 6749
    4.1.2.1)."""
    if not request.values.get("response_type"):
        raise errors.InvalidRequestError(
            "response_type is required", state=error.state, redirect_uri=error.redirect_uri
        ) from error


def _issued(grant, principal: Principal) -> list[tuple[str, str]]:
    """The parameters of a code response: ``code`` and ``state`` (RFC 6749 4.1.2).

    Authlib issues the code and answers with them added to the query of the redirect URI; they
    are taken back out (after the redirect URI's own query, which Authlib keeps in front), so
    that ``_to_client`` can deliver them in the requested response mode.
    """
    response = authorization.create_authorization_response(grant_user=principal, grant=grant)
    own = parse_qsl(urlsplit(grant.redirect_uri).query, keep_blank_values=True)
    sent = parse_qsl(urlsplit(response.location).query, keep_blank_values=True)
    return sent[len(own) :]


def _interact(decision: Interact, grant, key: str):
    if decision.prompt == "login":
        return redirect(url_for("auth.login", next=key))
    if decision.prompt == "mfa":
        sessions.want_kinds(key, decision.kinds)
        return redirect(url_for("mfa.choose", next=key))
    if decision.prompt == "enroll":
        sessions.offer_kinds(key, decision.kinds)  # empty: the policy's own enrollment
        return redirect(url_for("enroll.index", next=key))
    client = grant.client
    scopes = (grant.request.scope or "").split()
    return render_template("consent.html", client=client, scopes=scopes)


def _consent_decision(grant, login_session, query: str, key: str):
    """The consent form posts back to this URL; its answer is remembered or denied."""
    csrf.protect()
    if login_session is None:
        return redirect(url_for("oauth.authorize") + "?" + query, code=303)
    if request.form.get("consent") != "allow":
        raise errors.AccessDeniedError(
            state=request.values.get("state"), redirect_uri=grant.redirect_uri
        )
    user = sessions.current_user()
    authz.grant_consent(user, grant.client, grant.request.scope or "")
    sessions.mark_consented(key)
    audit.record(
        "consent_granted", actor=user.email, subject=user.sub, client_id=grant.client.client_id
    )
    db.session.commit()
    return redirect(url_for("oauth.authorize") + "?" + query, code=303)


def _cancelled(grant, params: authz.RequestParams, key: str) -> None:
    """The user cancelled an interaction: the client learns it, as an error (never a code).

    A request that needed a level (essential acr, or the client's minimum) gets
    ``unmet_authentication_requirements``; any other gets ``access_denied``.
    """
    csrf.protect()
    sessions.forget_request(key)
    user = sessions.current_user()
    if user is not None:
        audit.record(
            "sign_in_cancelled", actor=user.email, subject=user.sub,
            client_id=grant.client.client_id,
        )  # fmt: skip
        db.session.commit()
    state, uri = request.values.get("state"), grant.redirect_uri
    if params.essential_acr or grant.client.minimum_acr:
        raise errors.UnmetAuthenticationRequirementsError(
            "the user did not complete the requested authentication", state=state, redirect_uri=uri
        )
    raise errors.AccessDeniedError("the user cancelled the sign-in", state=state, redirect_uri=uri)


def authorization_error(error: errors.OAuth2Error):
    """The one place an authorization or logout error becomes a response: sent to the client
    where the redirect URI was validated (RFC 6749 4.1.2.1), with ``iss`` and in the requested
    response mode, otherwise an error page, never a redirect to an unverified URI."""
    if error.redirect_uri:
        return _to_client(error.redirect_uri, error.get_body())
    body = render_template(
        "error.html",
        title="This sign-in request cannot be completed",
        error=error.error,
        description=error.get_error_description(),
    )
    return body, 400


def _to_client(redirect_uri: str, params: list[tuple[str, str]]):
    """Send an authorization response, code or error, to the client's validated redirect URI.

    It names the provider: "In authorization responses to the client, including error
    responses, an authorization server supporting this specification MUST indicate its identity
    by including the iss parameter in the response" (RFC 9207 section 2). It goes in the query
    (RFC 6749 4.1.2) unless the request asked for ``form_post``.
    """
    params = [*params, ("iss", current_app.config["ISSUER"])]
    origin = authz.form_post_origin(request.values, redirect_uri)
    if origin is None:
        location = add_params_to_uri(redirect_uri, params)
        return authorization.handle_response(302, "", [("Location", location)])
    return _form_post(redirect_uri, params, origin)


def _form_post(redirect_uri: str, params: list[tuple[str, str]], origin: str):
    """OAuth 2.0 Form Post Response Mode, section 2: "the Authorization Response parameters are
    encoded as HTML form values that are auto-submitted in the User Agent".

    The page submits itself with a static script (the site CSP allows no inline script) and
    shows its button for a browser without JavaScript. Its CSP is the site's plus a
    ``form-action`` that allows posting to the redirect URI's origin and nowhere else (Chromium
    holds the redirects that answer the post to it too: a client must not answer its redirect
    URI with a redirect to another origin). The response is never stored (``Cache-Control:
    no-store``, added for every page).
    """
    response = make_response(render_template("form_post.html", action=redirect_uri, params=params))
    response.headers["Content-Security-Policy"] = f"{pages.CSP}; form-action {origin}"
    return response


@bp.route("/token", methods=["POST"])
@csrf.exempt
def token():
    """The grant Authlib chooses decides the transaction: one of ``tokens.SignAfterCommit``
    claims the block's ``DriverTransaction`` and commits it itself before signing; every other
    grant runs in ``db.session``, committed here. An error response rolls back either."""
    refused = _malformed()
    if refused is not None:
        return refused
    with driver_transaction() as transaction:
        response = _answered(authorization.create_token_response)
    if transaction.claimed and response.status_code == 200:
        return response
    return _committed(response)


@bp.route("/revoke", methods=["POST"])
@csrf.exempt
def revoke():
    return _malformed() or _committed(
        _answered(authorization.create_endpoint_response, "revocation")
    )


@bp.route("/introspect", methods=["POST"])
@csrf.exempt
def introspect():
    endpoint = authorization.create_endpoint_response
    return _malformed() or _committed(_answered(endpoint, "introspection"))


def _answered(create, *args):
    """Authlib's response, or its JSON error for a request it refuses before its own error
    handling: one whose URL is not https and not loopback (a Host header it cannot trust),
    ``insecure_transport`` (RFC 6749 1.6, 3.1)."""
    try:
        return create(*args)
    except errors.OAuth2Error as error:
        return authorization.handle_error_response(None, error)


def _malformed():
    """The JSON ``invalid_request`` of a machine endpoint whose parameters are malformed, or
    ``None`` (``params.check``)."""
    try:
        params.check(request.values)
    except errors.InvalidRequestError as error:
        return authorization.handle_error_response(None, error)
    return None


def _committed(response):
    """Commit what a successful protocol response wrote; roll back on an error response."""
    if response.status_code == 200:
        db.session.commit()
    else:
        db.session.rollback()
    return response


bp.add_url_rule("/userinfo", view_func=csrf.exempt(userinfo_view.userinfo), methods=["GET", "POST"])


@bp.route("/logout", methods=["GET", "POST"])
@csrf.exempt  # RP-initiated logout may be POSTed by the RP; a confirmation page guards the rest
def end_session():
    try:
        params.check(request.values)
        req = authorization.validate_endpoint_request("end_session")
    except errors.OAuth2Error as error:
        return authorization_error(error)
    if req.needs_confirmation:
        client = req.client
        return render_template("logout_confirm.html", client=client)
    _sign_out(req.client.client_id if req.client else None)
    response = authorization.create_endpoint_response("end_session", req)
    return response or render_template("signed_out.html")


@bp.route("/logout/confirm", methods=["POST"])
def confirm_end_session():
    _sign_out(None)
    return redirect(url_for("oauth.signed_out"), code=303)


@bp.route("/signed-out")
def signed_out():
    return render_template("signed_out.html")


def _sign_out(client_id: str | None) -> None:
    user = sessions.current_user()
    row = sessions.sign_out()
    if row is not None:
        audit.record("signed_out", actor=user.email, subject=user.sub, client_id=client_id)
    db.session.commit()
