"""OpenID Connect Back-Channel Logout 1.0 through the live provider, SQLite and PostgreSQL.

Each client here registers a logout URI on a loopback receiver (``Receiver``) that records
what the provider POSTs and answers as the test says: 200, 503 (down), or only after 10 s
(stalled). The logout tokens are verified as an RP would, with PyJWT against the JWKS. The
provider of this module retries quickly (a 1 s timeout, back-off from 1 s to 2 s), so a client
that was down gets its notice within seconds once it is back, also across a provider restart.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import jwt
import pytest

from tests.cli.helpers import audit_rows, connect
from tests.support.demo import demo_app
from tests.support.live import backend_server
from tests.support.oidc import HostedPages, RelyingParty, csrf_token, hidden
from tests.support.postgres import free_port

EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_URI = "http://localhost:9/bcl-bye"
WAIT = 20  # seconds a notice may take: a retry or two, a restart


@dataclass
class Delivery:
    path: str
    token: str
    answered: int  # 0: still stalling


@dataclass
class Receiver:
    """Client logout URIs on one loopback port: ``modes[path]`` is ``ok``, ``down`` or
    ``stall``; every POST is recorded."""

    port: int
    modes: dict = field(default_factory=dict)
    deliveries: list = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def uri(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/bcl/{name}"

    def record(self, path: str, token: str, answered: int) -> None:
        with self.changed:
            self.deliveries.append(Delivery(path, token, answered))
            self.changed.notify_all()

    def posts(self, name: str) -> list[Delivery]:
        with self.changed:
            return [d for d in self.deliveries if d.path == f"/bcl/{name}"]

    def wait(self, name: str, count: int = 1, *, answered: int | None = 200) -> list[Delivery]:
        """The first ``count`` POSTs to ``name`` answered ``answered`` (any: None)."""
        deadline = time.monotonic() + WAIT
        with self.changed:
            while True:
                found = [
                    d
                    for d in self.deliveries
                    if d.path == f"/bcl/{name}" and answered in (None, d.answered)
                ]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                assert left > 0, f"{name}: {len(found)} of {count} POSTs in {WAIT} s"
                self.changed.wait(left)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's hook name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            token = dict(parse_qsl(body)).get("logout_token", "")
            mode = receiver.modes.get(self.path, "ok")
            if mode == "stall":
                receiver.record(self.path, token, 0)
                time.sleep(10)
                status = 200
            else:
                status = 503 if mode == "down" else 200
                receiver.record(self.path, token, status)
            self.send_response(status)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            """Quiet: the test reads what was received."""

    return Handler


def _receiver(port: int | None = None) -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver(port or free_port())
    httpd = ThreadingHTTPServer(("127.0.0.1", receiver.port), _handler(receiver))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return receiver, httpd


@pytest.fixture(scope="module")
def receiver(bcl_server) -> Iterator[Receiver]:
    """One per provider (database backend), so the clients of one never see the other's."""
    found, httpd = _receiver()
    yield found
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bcl_server(request, tmp_path_factory):
    """A provider that gives a client 1 s and retries after 1 s, then every 2 s."""
    settings = {
        "BACKCHANNEL_LOGOUT_TIMEOUT": 1,
        "BACKCHANNEL_LOGOUT_RETRY_FIRST": 1,
        "BACKCHANNEL_LOGOUT_RETRY_MAX": 2,
    }
    with backend_server(request, tmp_path_factory, "backchannel_logout", **settings) as live:
        yield live


def _client(server, logout_uri: str | None, name: str = "BCL RP") -> dict:
    extra = ("--backchannel-logout-uri", logout_uri) if logout_uri else ()
    return server.create_client(
        "--name", name, "--redirect-uri", "http://localhost:9/bcl-cb",
        "--post-logout-redirect-uri", LOGOUT_URI, "--first-party", *extra,
    )  # fmt: skip


def _signed_in(server, client, person, browser=None, **params):
    """Sign ``person`` in for ``client``; its tokens and the verified ID token's claims."""
    relying = RelyingParty(server, client, scope="openid email profile")
    browser = browser or HostedPages(server.url)
    result = relying.sign_in(browser, person, **params)
    assert result.params.get("code"), result.location
    token = relying.redeem(result).json()
    claims = relying.verify_id_token(token["id_token"], result.nonce, token["access_token"])
    return relying, browser, token, claims


def _rp_logout(relying, browser, id_token):
    """RP-initiated logout; returns the response (a redirect to the client)."""
    response = browser.get(
        relying.meta["end_session_endpoint"],
        params={"id_token_hint": id_token, "post_logout_redirect_uri": LOGOUT_URI},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    return response


def _logout_claims(server, token: str, client: dict) -> dict:
    """Verify a logout token as OIDC BCL 2.6 asks of an RP; return its claims."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "logout+jwt"
    key = jwt.PyJWKClient(server.url + "/jwks.json").get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256", "ES256"],
        audience=client["client_id"],
        issuer=server.url,
        options={"require": ["iss", "aud", "iat", "exp", "jti", "sub", "sid", "events"]},
    )
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert 0 < claims["exp"] - claims["iat"] <= 120
    return claims


def _notices_of(server, client: dict) -> list[dict]:
    """The client's notices as they stand in the provider's database."""
    with connect(server) as conn:
        mark = "?" if isinstance(conn, sqlite3.Connection) else "%s"
        cursor = conn.execute(
            "SELECT sid, attempts, delivered_at, gave_up_at, last_error FROM logout_notices "
            f"WHERE client_id = {mark} ORDER BY id",  # noqa: S608 (a placeholder, not a value)
            (client["client_id"],),
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _detail(row: dict) -> dict:
    return json.loads(row["detail"]) if isinstance(row["detail"], str) else row["detail"]


def test_discovery_advertises_back_channel_logout_with_sid(bcl_server):
    meta = RelyingParty(bcl_server, _client(bcl_server, None)).meta
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


def test_rp_initiated_logout_sends_the_client_a_logout_token_for_its_sid(bcl_server, receiver):
    client = _client(bcl_server, receiver.uri("rp-initiated"))
    _client(bcl_server, receiver.uri("bystander"), name="Bystander")  # no tokens in the session
    person = bcl_server.create_user()
    relying, browser, token, id_claims = _signed_in(bcl_server, client, person)

    _rp_logout(relying, browser, token["id_token"])

    (delivery,) = receiver.wait("rp-initiated")
    claims = _logout_claims(bcl_server, delivery.token, client)
    assert claims["sid"] == id_claims["sid"] and claims["sub"] == person["sub"]
    ended = [r for r in audit_rows(bcl_server) if r["event"] == "session_ended"]
    assert _detail(ended[-1])["sid"] == id_claims["sid"]
    assert _detail(ended[-1])["logout_notices"] == 1  # not the bystander, not twice
    assert receiver.posts("bystander") == []


def test_ending_a_users_sessions_from_the_command_line_notifies_the_client(bcl_server, receiver):
    client = _client(bcl_server, receiver.uri("end-sessions"))
    person = bcl_server.create_user()
    _, _, _, id_claims = _signed_in(bcl_server, client, person)

    ended = bcl_server.cli("users", "end-sessions", person["email"])
    assert json.loads(ended.stdout)["sessions_ended"] == 1

    (delivery,) = receiver.wait("end-sessions")  # sent by the server, not by the command
    claims = _logout_claims(bcl_server, delivery.token, client)
    assert (claims["sid"], claims["sub"]) == (id_claims["sid"], person["sub"])


def test_a_session_continued_by_a_new_sign_in_is_logged_out_by_each_sid(bcl_server, receiver):
    """Signing in again (``prompt=login``) continues the session under a new sid; its clients
    may know the old one, so ending it sends one logout token per sid."""
    client = _client(bcl_server, receiver.uri("chain"))
    person = bcl_server.create_user()
    _, browser, _, first = _signed_in(bcl_server, client, person)
    relying, _, token, second = _signed_in(bcl_server, client, person, browser, prompt="login")
    assert first["sid"] != second["sid"]

    _rp_logout(relying, browser, token["id_token"])

    deliveries = receiver.wait("chain", 2)
    sids = {_logout_claims(bcl_server, d.token, client)["sid"] for d in deliveries}
    assert sids == {first["sid"], second["sid"]}


def test_a_client_that_was_down_gets_its_logout_token_once_it_is_back(bcl_server, receiver):
    name = "down-then-up"
    receiver.modes[f"/bcl/{name}"] = "down"
    client = _client(bcl_server, receiver.uri(name))
    person = bcl_server.create_user()
    relying, browser, token, id_claims = _signed_in(bcl_server, client, person)
    _rp_logout(relying, browser, token["id_token"])

    receiver.wait(name, 2, answered=503)  # tried, and tried again
    (notice,) = _notices_of(bcl_server, client)
    assert notice["delivered_at"] is None and notice["last_error"] == "answered HTTP 503"
    receiver.modes[f"/bcl/{name}"] = "ok"

    (delivery,) = receiver.wait(name)
    assert _logout_claims(bcl_server, delivery.token, client)["sid"] == id_claims["sid"]
    (notice,) = _wait_for_delivered(bcl_server, client)
    assert notice["attempts"] >= 3
    delivered = [r for r in audit_rows(bcl_server) if r["event"] == "backchannel_logout_delivered"]
    assert any(r["client_id"] == client["client_id"] for r in delivered)


def _wait_for_delivered(server, client: dict) -> list[dict]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        notices = _notices_of(server, client)
        if all(n["delivered_at"] is not None for n in notices):
            return notices
        time.sleep(0.2)
    raise AssertionError(f"not delivered: {notices}")


def test_a_notice_pending_when_the_provider_stops_is_delivered_after_its_restart(bcl_server):
    """The client's port is closed while the provider runs; the provider is stopped with the
    notice pending and started again once the client is up: the notice still arrives."""
    port = free_port()
    client = _client(bcl_server, f"http://127.0.0.1:{port}/bcl/restart")
    person = bcl_server.create_user()
    relying, browser, token, id_claims = _signed_in(bcl_server, client, person)
    _rp_logout(relying, browser, token["id_token"])
    deadline = time.monotonic() + WAIT
    while not _notices_of(bcl_server, client)[0]["last_error"]:
        assert time.monotonic() < deadline, "no attempt was made"
        time.sleep(0.2)

    bcl_server.stop()
    receiver, httpd = _receiver(port)
    try:
        bcl_server.start()
        (delivery,) = receiver.wait("restart")
        assert _logout_claims(bcl_server, delivery.token, client)["sid"] == id_claims["sid"]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_stalled_client_does_not_delay_sign_out(bcl_server, receiver):
    name = "stalled"
    receiver.modes[f"/bcl/{name}"] = "stall"
    client = _client(bcl_server, receiver.uri(name))
    try:
        for _ in range(2):  # the second sign-out while the client still stalls on the first
            person = bcl_server.create_user()
            relying, browser, token, _ = _signed_in(bcl_server, client, person)
            started = time.monotonic()
            _rp_logout(relying, browser, token["id_token"])
            assert time.monotonic() - started < 2
        assert len(receiver.wait(name, 2, answered=0)) == 2  # the client got both, and stalls
    finally:
        receiver.modes[f"/bcl/{name}"] = "ok"


def test_the_demo_app_is_signed_out_when_the_provider_session_ends(bcl_server):
    with demo_app(bcl_server, "BCL demo", backchannel_logout=True) as demo:
        person = bcl_server.create_user()
        browser = HostedPages(bcl_server.url)
        page = browser.post(demo + "/login")
        data = {
            "csrf_token": csrf_token(page.text),
            "email": person["email"],
            "password": person["password"],
            "next": hidden(page.text, "next"),
        }
        home = browser.post(bcl_server.url + "/login", data=data)
        assert home.url == demo + "/" and person["email"] in home.text, home.text[:300]

        bcl_server.cli("users", "end-sessions", person["email"])

        deadline = time.monotonic() + WAIT
        while person["email"] in browser.get(demo + "/").text:
            assert time.monotonic() < deadline, "the demo app kept the session"
            time.sleep(0.2)
        assert "Sign in with idp" in browser.get(demo + "/").text
        forged = browser.post(demo + "/backchannel-logout", data={"logout_token": "x.y.z"})
        assert forged.status_code == 400 and forged.json()["error"] == "invalid_request"
