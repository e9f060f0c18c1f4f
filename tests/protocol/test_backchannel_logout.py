"""OpenID Connect Back-Channel Logout 1.0 inside one provider process: the logout token, the
notices an ended session queues, the queue's claims and leases, back-off and giving up, and
the dispatcher thread. The end-to-end behaviour (a live provider, real clients, a restart) is
``tests/flows/test_backchannel_logout.py``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qsl

import pytest
from alembic import command
from sqlalchemy import inspect, select, update

from idp import config
from idp import db as schema
from idp.accounts import session_end, users
from idp.app import create_app
from idp.clock import now
from idp.extensions import db
from idp.models import AuditEvent, Client, LoginSession, LogoutNotice, Token, logout_notice
from idp.oauth2 import backchannel_logout, logout_dispatcher, registration, signing
from tests.support.migrations import schema_differences, upgraded_app
from tests.support.postgres import create_database, free_port

FAST = {
    "BACKCHANNEL_LOGOUT_TIMEOUT": 1,
    "BACKCHANNEL_LOGOUT_RETRY_FIRST": 1,
    "BACKCHANNEL_LOGOUT_RETRY_MAX": 4,
    "BACKCHANNEL_LOGOUT_GIVE_UP": 60,
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST": 1024,
}


def _app(path, url: str | None = None, **settings):
    app = create_app(
        {
            "INSTANCE_PATH": str(path),
            "DATABASE_URL": url or f"sqlite:///{path}/t.db",
            **FAST,
            **settings,
        }
    )
    with app.app_context():
        schema.upgrade()
    return app


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bcl_app(request, tmp_path_factory):
    url = None
    if request.param == "postgresql":
        url = create_database(request.getfixturevalue("postgres_url"), "idp_bcl_unit")
    app = _app(tmp_path_factory.mktemp(f"bcl-{request.param}"), url)
    yield app
    app.extensions[logout_dispatcher.EXTENSION].stop()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture()
def ctx(bcl_app):
    with bcl_app.app_context():
        yield bcl_app
        db.session.rollback()
        db.session.remove()


@pytest.fixture()
def receiver() -> Iterator[tuple[str, list]]:
    """A client's logout URI on loopback that answers 200 and keeps the tokens posted."""
    tokens: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's hook name)
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            tokens.append(dict(parse_qsl(body))["logout_token"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/logout", tokens
    httpd.shutdown()
    httpd.server_close()


def _client(uri: str | None):
    client, _ = registration.register(
        name="RP", redirect_uris=["http://localhost:9/cb"], backchannel_logout_uri=uri
    )
    return client


def _user():
    return users.create(f"{uuid.uuid4().hex[:12]}@example.com", "correct horse battery")


def _session(user) -> LoginSession:
    row = LoginSession(id=uuid.uuid4().hex, user_id=user.id, expires_at=now() + 600)
    db.session.add(row)
    db.session.flush()
    return row


def _token(client, user, sid: str, *, offline: bool = False) -> None:
    db.session.add(
        Token(
            jti=uuid.uuid4().hex, client_id=client.client_id, user_id=user.id, sid=sid,
            grant_type="authorization_code", access_expires_at=now() + 600, offline=offline,
        )
    )  # fmt: skip
    db.session.flush()


def _queued(client_uri: str | None = "http://127.0.0.1:9/closed") -> SimpleNamespace:
    """One notice, committed, for a fresh client and session."""
    client, user = _client(client_uri), _user()
    row = _session(user)
    _token(client, user, row.id)
    session_end.end(row, reason="test")
    db.session.commit()
    found = select(LogoutNotice.id).where(LogoutNotice.client_id == client.client_id)
    return _state(db.session.execute(found).scalar_one())


def _state(notice_id: int) -> SimpleNamespace:
    """The notice's columns now; the transaction that read them ends (on SQLite it would hold
    the write lock, which the dispatcher and the other threads need)."""
    row = db.session.execute(select(LogoutNotice).where(LogoutNotice.id == notice_id)).scalar_one()
    state = SimpleNamespace(**{c.key: getattr(row, c.key) for c in LogoutNotice.__table__.c})
    db.session.rollback()
    return state


def _claim_now(notice: SimpleNamespace) -> logout_notice.Claim:
    taken = logout_notice.claim(notice.id, notice.attempts, now(), now() + 30)
    db.session.commit()
    assert taken is not None
    return taken


def test_the_logout_token_is_typed_signed_and_has_the_event_but_no_nonce(ctx):
    token = backchannel_logout.logout_token(client_id="c1", sub="u1", sid="s1", at=now())
    claims = signing.verify(token, typ="logout+jwt", audience="c1")
    assert claims["events"] == {backchannel_logout.EVENT: {}}
    assert (claims["sub"], claims["sid"], claims["iss"]) == ("u1", "s1", ctx.config["ISSUER"])
    assert claims["exp"] - claims["iat"] == 120 and claims["jti"]
    assert "nonce" not in claims


def test_retries_wait_the_first_delay_then_double_up_to_the_longest():
    delays = [backchannel_logout.retry_delay(n, 2, 60) for n in range(1, 9)]
    assert delays == [2, 4, 8, 16, 32, 60, 60, 60]
    assert backchannel_logout.retry_delay(500, 2, 300) == 300


def test_an_ended_session_owes_each_client_that_got_tokens_in_its_chain_one_notice_per_sid(ctx):
    """Online tokens of a continued session follow it (``supersede``), an offline one stays
    with the old sid; clients without a logout URI or without tokens get nothing."""
    online, offline, unregistered, idle = (
        _client("https://a.example/bcl"), _client("https://b.example/bcl"), _client(None),
        _client("https://d.example/bcl"),
    )  # fmt: skip
    user = _user()
    first = _session(user)
    _token(online, user, first.id)
    _token(offline, user, first.id, offline=True)
    _token(unregistered, user, first.id)
    second = _session(user)
    session_end.supersede(first, second)

    session_end.end(second, reason="signed_out")
    db.session.commit()

    rows = db.session.execute(
        select(LogoutNotice.client_id, LogoutNotice.sid, LogoutNotice.sub).where(
            LogoutNotice.client_id.in_([c.client_id for c in (online, offline, unregistered, idle)])
        )
    ).all()
    expected = {
        (c.client_id, s, user.sub) for c in (online, offline) for s in (first.id, second.id)
    }
    assert set(rows) == expected and len(rows) == 4
    session_end.end(second, reason="again")  # already ended: nothing more is owed
    db.session.commit()
    assert db.session.query(LogoutNotice).filter_by(sid=second.id).count() == 2


def test_of_several_processes_claiming_one_due_notice_exactly_one_wins(ctx, bcl_app):
    notice = _queued()
    start, wins = threading.Barrier(4), []

    def claim() -> None:
        with bcl_app.app_context():
            start.wait()
            taken = logout_notice.claim(notice.id, 0, now(), now() + 30)
            db.session.commit()
            wins.append(taken)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(wins) == 4 and len([w for w in wins if w is not None]) == 1


def test_a_claim_is_a_lease_taken_over_once_it_runs_out_and_a_late_failure_changes_nothing(ctx):
    notice = _queued()
    at = now()
    assert (notice.id, 0) in logout_notice.due(at, 1000)
    first = logout_notice.claim(notice.id, 0, at, at + 10)
    db.session.commit()
    assert first is not None and first.id == notice.id and first.attempt == 1
    assert logout_notice.claim(notice.id, 0, at, at + 10) is None  # taken
    assert all(i != notice.id for i, _ in logout_notice.due(at + 9, 100))  # leased

    second = logout_notice.claim(notice.id, 1, at + 10, at + 20)  # the first sender died
    assert second is not None and second.attempt == 2
    assert logout_notice.retry(first, at + 11, "late") is False  # not its attempt any more
    assert logout_notice.delivered(first, at + 11) is True  # delivered is delivered
    assert logout_notice.retry(second, at + 12, "late") is False
    db.session.commit()
    notice = _state(notice.id)
    assert (notice.delivered_at, notice.attempts, notice.last_error) == (at + 11, 2, None)


def test_a_failed_attempt_backs_off_and_the_notice_is_given_up_when_too_old(ctx):
    notice = _queued("http://127.0.0.1:9/closed")  # nothing listens on the discard port
    before = now()
    assert backchannel_logout.deliver(_claim_now(notice)) is False
    notice = _state(notice.id)
    assert notice.attempts == 1 and notice.delivered_at is None and notice.gave_up_at is None
    assert before + 1 <= notice.next_attempt_at <= now() + 1  # RETRY_FIRST
    assert notice.last_error.startswith("unreachable")

    db.session.execute(
        update(LogoutNotice).where(LogoutNotice.id == notice.id).values(
            created_at=now() - 60, next_attempt_at=now()
        )
    )  # fmt: skip
    db.session.commit()
    assert backchannel_logout.deliver(_claim_now(notice)) is False
    notice = _state(notice.id)
    assert notice.gave_up_at is not None and notice.attempts == 2
    gave_up = db.session.execute(
        select(AuditEvent).where(
            AuditEvent.event == "backchannel_logout_gave_up",
            AuditEvent.client_id == notice.client_id,
        )
    ).scalar_one()
    assert gave_up.outcome == "failure" and gave_up.detail["sid"] == notice.sid
    assert "eyJ" not in str(gave_up.detail) + notice.last_error  # never the token


def test_a_client_no_longer_registered_for_it_is_given_up_at_once(ctx):
    notice = _queued("https://gone.example/bcl")
    client = db.session.execute(
        select(Client).where(Client.client_id == notice.client_id)
    ).scalar_one()
    registration.update(client, actor="test", backchannel_logout_uri="")
    db.session.commit()
    assert backchannel_logout.deliver(_claim_now(notice)) is False
    notice = _state(notice.id)
    assert notice.gave_up_at is not None and "no longer registered" in notice.last_error


def test_an_app_that_queues_nothing_starts_no_dispatcher(tmp_path):
    app = _app(tmp_path)
    try:
        with app.test_client() as browser:
            assert browser.get("/.well-known/openid-configuration").status_code == 200
        assert not app.extensions[logout_dispatcher.EXTENSION].running
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_request_that_queues_a_notice_wakes_the_dispatcher_which_delivers_it(tmp_path, receiver):
    uri, tokens = receiver
    app = _app(tmp_path)
    dispatcher = app.extensions[logout_dispatcher.EXTENSION]
    try:
        with app.test_request_context("/logout"):
            notice = _queued(uri)
            assert dispatcher.running  # started by the commit, in a request
            for _ in range(100):
                if _state(notice.id).delivered_at is not None:
                    break
                time.sleep(0.1)
            assert _state(notice.id).delivered_at is not None
            (token,) = tokens
            claims = signing.verify(token, typ="logout+jwt", audience=notice.client_id)
            assert claims["sid"] == notice.sid
    finally:
        dispatcher.stop()
        assert not dispatcher.running
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("BACKCHANNEL_LOGOUT_TIMEOUT", "0"),
        ("BACKCHANNEL_LOGOUT_TIMEOUT", "31"),
        ("BACKCHANNEL_LOGOUT_RETRY_FIRST", "0"),
        ("BACKCHANNEL_LOGOUT_RETRY_MAX", "1"),  # shorter than the first (2)
        ("BACKCHANNEL_LOGOUT_GIVE_UP", "0"),
    ],
)
def test_bad_back_channel_logout_settings_are_refused_naming_the_variable(tmp_path, setting, value):
    with pytest.raises(config.ConfigError) as refused:
        config.load({"INSTANCE_PATH": str(tmp_path), setting: value})
    assert f"IDP_{setting}" in str(refused.value)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0017_goes_down_and_up_and_matches_the_models(tmp_path, request, backend):
    with upgraded_app(tmp_path, request, backend, "migration_0017"):
        assert schema_differences() == []
        command.downgrade(schema.alembic_config(), "0016")
        with db.engine.connect() as conn:
            assert "logout_notices" not in inspect(conn).get_table_names()
            columns = {c["name"] for c in inspect(conn).get_columns("clients")}
        assert "backchannel_logout_uri" not in columns
        schema.upgrade()
        assert schema_differences() == []
