"""``IDP_AUDIT_STREAM``: every committed audit event also as one JSON line, for a SIEM.

A live provider (SQLite and PostgreSQL) streaming to a file: the server's events (a browser
sign-in in the Session's transaction, a client-credentials token in the token endpoint's own
driver transaction) and the CLI's land there exactly as the table holds them, seq included.
In-process, on the same two paths: a transaction that rolls back writes no line, and the line
is written only once the commit is done. ``stdout`` goes to the server's standard output.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from idp import audit
from idp.app import create_app
from idp.extensions import db
from idp.models.statements import (
    claim_driver_transaction,
    commit_driver_transaction,
    driver_transaction,
)
from tests.cli.helpers import audit_rows
from tests.support.factors import password_sign_in
from tests.support.live import backend_server
from tests.support.oidc import HostedPages, client_credentials_token


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def streaming(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "audit.jsonl"
    with backend_server(request, tmp_path_factory, "audit_stream", AUDIT_STREAM=str(path)) as live:
        live.stream = path
        yield live


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_server_and_cli_events_are_streamed_exactly_as_stored(streaming):
    machine = streaming.create_client(
        "--name", "Streamed", "--grant-type", "client_credentials"
    )  # fmt: skip
    account = streaming.create_user()
    password_sign_in(HostedPages(streaming.url), account)
    client_credentials_token(streaming, machine)
    stored = audit_rows(streaming)
    for row in stored:
        if isinstance(row["detail"], str):
            row["detail"] = json.loads(row["detail"])
    streamed = sorted(_lines(streaming.stream), key=lambda line: line["seq"])
    assert streamed == stored
    events = {line["event"] for line in streamed}
    assert {"client_created", "user_created", "sign_in", "token_issued"} <= events


def test_stdout_is_the_servers_and_a_commands_events_go_to_its_stderr(tmp_path_factory):
    """A command's stdout is its result, which scripts parse: it stays that alone."""
    sqlite = SimpleNamespace(param="sqlite")
    with backend_server(sqlite, tmp_path_factory, "audit_stdout", AUDIT_STREAM="stdout") as live:
        created = live.cli("users", "create", "streamed@example.com", "--password-stdin",
                           stdin="correct horse battery\n")  # fmt: skip
        account = {**json.loads(created.stdout), "password": "correct horse battery"}
        password_sign_in(HostedPages(live.url), account)
        rows = {r["event"]: r["seq"] for r in audit_rows(live)}
        logged = [json.loads(line) for line in live.log.splitlines() if line.startswith("{")]
    [aside] = [json.loads(line) for line in created.stderr.splitlines()]
    assert (aside["event"], aside["seq"]) == ("user_created", rows["user_created"])
    assert [(line["event"], line["seq"]) for line in logged] == [("sign_in", rows["sign_in"])]


@pytest.fixture
def app(tmp_path):
    app = create_app({
        "INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'idp.sqlite3'}",
        "AUDIT_STREAM": str(tmp_path / "audit.jsonl"),
    })  # fmt: skip
    with app.app_context():
        from idp import db as schema

        schema.upgrade()
        yield app
        db.engine.dispose()


def test_a_rolled_back_event_is_never_streamed_and_a_committed_one_after_its_commit(app):
    path = app.instance_path + "/audit.jsonl"
    audit.record("rolled_back_in_session")
    db.session.rollback()
    audit.record("committed_in_session")
    assert _streamed(path) == []  # not before the commit
    db.session.commit()
    assert _streamed(path) == ["committed_in_session"]


def test_the_token_endpoints_driver_transaction_streams_only_what_it_commits(app):
    path = app.instance_path + "/audit.jsonl"
    with app.test_request_context(), driver_transaction():
        claim_driver_transaction()
        audit.record("rolled_back_in_driver")
    with app.test_request_context(), driver_transaction():
        claim_driver_transaction()
        audit.record("committed_in_driver")
        assert _streamed(path) == []
        commit_driver_transaction()
        assert _streamed(path) == ["committed_in_driver"]
    assert [r[0] for r in db.session.execute(db.text("SELECT event FROM audit_events"))] == [
        "committed_in_driver"
    ]


def _streamed(path: str) -> list[str]:
    try:
        with open(path) as file:
            return [json.loads(line)["event"] for line in file]
    except FileNotFoundError:
        return []
