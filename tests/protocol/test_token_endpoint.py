"""Negative cases of the token endpoint: code replay, PKCE, refresh rotation (RFC 6749, 7636)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests

from tests.cli.helpers import audit_rows, connect
from tests.support.oidc import HostedPages, RelyingParty


def _authorized(server, client, user, **params):
    relying, browser = RelyingParty(server, client), HostedPages(server.url)
    return relying, relying.sign_in(browser, user, **params)


def _error(response) -> str:
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["error"]


def test_replayed_code_is_refused_and_revokes_tokens_issued_from_it(server, rp, user):
    relying, result = _authorized(server, rp, user)
    first = relying.redeem(result)
    assert first.status_code == 200
    replay = relying.redeem(result)
    assert replay.status_code == 400 and _error(replay) == "invalid_grant"
    tokens = first.json()
    introspect = relying.meta["introspection_endpoint"]
    assert relying.post(introspect, {"token": tokens["access_token"]}).json()["active"] is False
    refresh = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert _error(refresh) == "invalid_grant"


def test_concurrent_redemptions_of_one_code_cannot_both_succeed(server, rp, user):
    relying, result = _authorized(server, rp, user)
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: relying.redeem(result), range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, [r.text for r in responses]
    assert all(s in (200, 400) for s in statuses), [r.text for r in responses]


def test_wrong_pkce_verifier_is_invalid_grant(server, public_rp, user):
    relying, result = _authorized(server, public_rp, user)
    response = relying.redeem(result, code_verifier="x" * 50)
    assert _error(response) == "invalid_grant"


@pytest.mark.parametrize("client", ["public_rp", "rp"])
def test_missing_pkce_verifier_is_invalid_grant(server, user, client, request):
    """RFC 7636 4.6: the code's challenge cannot be checked, so the grant is refused."""
    relying, result = _authorized(server, request.getfixturevalue(client), user)
    response = relying.redeem(result, code_verifier=None)
    assert response.status_code == 400 and _error(response) == "invalid_grant"


def test_verifier_for_a_code_issued_without_challenge_is_refused(server, no_pkce_rp, user):
    relying, browser = RelyingParty(server, no_pkce_rp), HostedPages(server.url)
    url = relying.session.create_authorization_url(
        relying.meta["authorization_endpoint"], nonce="n"
    )[0]
    url = url.replace("code_challenge", "x_no_challenge")
    response = browser.follow(url, stop_at=relying.redirect_uri)
    if 'name="password"' in response.text:
        response = browser.submit_login(
            response, user["email"], user["password"], relying.redirect_uri
        )
    code = response.headers["Location"].split("code=")[1].split("&")[0]
    token = relying.post(
        relying.meta["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": relying.redirect_uri,
            "code_verifier": "v" * 50,
        },
    )
    assert token.status_code == 400 and _error(token) == "invalid_request"


def test_code_redeemed_with_another_redirect_uri_is_refused(server, rp, user):
    relying, result = _authorized(server, rp, user)
    response = relying.redeem(result, redirect_uri="http://localhost:9/other")
    assert _error(response) == "invalid_grant"


def test_wrong_client_secret_is_invalid_client(server, rp, user):
    relying, result = _authorized(server, rp, user)
    response = requests.post(
        relying.meta["token_endpoint"],
        data={"grant_type": "authorization_code", "code": result.params["code"]},
        auth=(rp["client_id"], "wrong"),
    )
    assert response.status_code == 401 and _error(response) == "invalid_client"


def test_replayed_refresh_token_revokes_the_whole_family(server, rp, user):
    """Replayed once its successor was used, so the reuse interval for a lost response does not
    apply (``test_refresh_reuse.py``)."""
    relying, result = _authorized(server, rp, user)
    first = relying.redeem(result).json()
    endpoint = relying.meta["token_endpoint"]
    refresh = {"grant_type": "refresh_token"}
    second = relying.post(endpoint, {**refresh, "refresh_token": first["refresh_token"]}).json()
    third = relying.post(endpoint, {**refresh, "refresh_token": second["refresh_token"]}).json()
    replay = relying.post(endpoint, {**refresh, "refresh_token": first["refresh_token"]})
    assert _error(replay) == "invalid_grant"
    after = relying.post(endpoint, {**refresh, "refresh_token": third["refresh_token"]})
    assert _error(after) == "invalid_grant"
    introspect = relying.meta["introspection_endpoint"]
    assert relying.post(introspect, {"token": third["access_token"]}).json()["active"] is False


def test_concurrent_uses_of_one_refresh_token_rotate_it_once_and_revoke_the_family(
    server, public_rp, user
):
    """A public client (no reuse interval by default): exactly one use rotates, every other is
    a replay. A confidential client's concurrent uses: ``test_refresh_reuse.py``."""
    relying, result = _authorized(server, public_rp, user)
    first = relying.redeem(result).json()
    body = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(
            pool.map(lambda _: relying.post(relying.meta["token_endpoint"], body), range(4))
        )
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [r.text for r in responses]
    assert all(_error(r) == "invalid_grant" for r in responses if r.status_code != 200)
    successor = {"grant_type": "refresh_token", "refresh_token": winners[0].json()["refresh_token"]}
    assert _error(relying.post(relying.meta["token_endpoint"], successor)) == "invalid_grant"


def test_parallel_client_credentials_grants_each_get_a_token_and_keep_the_audit_chain(server):
    machine = server.create_client("--name", "Batch", "--grant-type", "client_credentials")

    def grant(_):
        return requests.post(
            server.url + "/token",
            data={"grant_type": "client_credentials"},
            auth=(machine["client_id"], machine["client_secret"]),
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(grant, range(24)))
    assert [r.status_code for r in responses] == [200] * 24, [r.text for r in responses]
    assert len({r.json()["access_token"] for r in responses}) == 24
    issued = [
        row for row in audit_rows(server)
        if row["event"] == "token_issued" and row["client_id"] == machine["client_id"]
    ]  # fmt: skip
    assert len(issued) == 24
    assert server.cli("audit", "verify").stdout.startswith("audit chain intact")


def test_refresh_token_of_another_client_is_refused(server, rp, user):
    relying, result = _authorized(server, rp, user)
    tokens = relying.redeem(result).json()
    other = server.create_client(
        "--name", "Other", "--redirect-uri", "http://localhost:9/o", "--first-party"
    )
    response = requests.post(
        relying.meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(other["client_id"], other["client_secret"]),
    )
    assert _error(response) == "invalid_grant"
    still = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert still.status_code == 200


def test_unsupported_grant_type(server, rp):
    response = requests.post(
        server.url + "/token",
        data={"grant_type": "password", "username": "u", "password": "p"},
        auth=(rp["client_id"], rp["client_secret"]),
    )
    assert _error(response) == "unsupported_grant_type"


def test_client_credentials_refused_for_a_client_not_registered_for_it(server, rp):
    response = requests.post(
        server.url + "/token",
        data={"grant_type": "client_credentials"},
        auth=(rp["client_id"], rp["client_secret"]),
    )
    assert _error(response) == "unauthorized_client"


def test_grant_type_in_the_query_string_runs_one_grant_whose_writes_all_commit(server, rp, user):
    """Authlib reads ``grant_type`` from the query string too. Whichever grant it runs, its
    writes commit together: the code is consumed (a replay is refused and revokes what it
    issued), the access token is recorded (introspection answers active) and audited. A
    ``grant_type`` in the query string and another in the body is a repeated parameter (RFC 6749
    3.1), refused before any grant runs."""
    relying, result = _authorized(server, rp, user)
    both = requests.post(
        relying.meta["token_endpoint"] + "?grant_type=authorization_code",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(rp["client_id"], rp["client_secret"]),
        timeout=30,
    )
    assert both.status_code == 400 and _error(both) == "invalid_request"
    response = requests.post(
        relying.meta["token_endpoint"] + "?grant_type=authorization_code",
        data={
            "code": result.params["code"],
            "redirect_uri": relying.redirect_uri,
            "code_verifier": result.verifier,
        },
        auth=(rp["client_id"], rp["client_secret"]),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    introspect = relying.meta["introspection_endpoint"]
    assert relying.post(introspect, {"token": tokens["access_token"]}).json()["active"] is True
    jti = jwt.decode(tokens["access_token"], options={"verify_signature": False})["jti"]
    issued = [row for row in audit_rows(server) if row["event"] == "token_issued"]
    assert any(jti in str(row["detail"]) for row in issued)
    replay = relying.redeem(result)
    assert replay.status_code == 400 and _error(replay) == "invalid_grant"
    assert relying.post(introspect, {"token": tokens["access_token"]}).json()["active"] is False


def test_client_credentials_grant_only_the_scopes_the_client_is_registered_for(server):
    machine = server.create_client("--name", "Narrow", "--grant-type", "client_credentials")
    mark = "%s" if server.backend == "postgresql" else "?"
    with connect(server) as conn:  # no command sets a client's scopes yet
        update = f"UPDATE clients SET scopes = '[\"profile\"]' WHERE client_id = {mark}"
        conn.execute(update, (machine["client_id"],))
        conn.commit()
    response = requests.post(
        server.url + "/token",
        data={"grant_type": "client_credentials", "scope": "openid profile email"},
        auth=(machine["client_id"], machine["client_secret"]),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "profile"
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "profile"


def test_a_refresh_that_narrows_the_scope_leaves_the_refresh_tokens_scope_whole(server, rp, user):
    """RFC 6749 section 6: a narrowed refresh narrows its access token, while the new refresh
    token keeps the scope of the one presented, so a later refresh may ask for all of it."""
    relying, result = _authorized(server, rp, user)
    first = relying.redeem(result).json()
    granted = set(first["scope"].split())
    assert granted > {"openid"}
    endpoint, introspect = relying.meta["token_endpoint"], relying.meta["introspection_endpoint"]
    narrowed = relying.post(
        endpoint,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "scope": "openid"},
    ).json()
    assert narrowed["scope"] == "openid"
    assert relying.post(introspect, {"token": narrowed["access_token"]}).json()["scope"] == "openid"
    refresh_info = relying.post(introspect, {"token": narrowed["refresh_token"]}).json()
    assert set(refresh_info["scope"].split()) == granted
    whole = relying.post(
        endpoint, {"grant_type": "refresh_token", "refresh_token": narrowed["refresh_token"]}
    ).json()
    assert set(whole["scope"].split()) == granted
