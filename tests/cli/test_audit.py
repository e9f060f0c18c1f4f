"""The audit log: hash-chained, append-only, verified by ``idp audit verify``, free of secrets.

Events come from the real CLI and the live server's HTTP interface, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from contextlib import closing
from types import SimpleNamespace

import psycopg
import pytest
import requests

from idp.audit import chain_hash
from tests.cli.conftest import fresh_postgres_database
from tests.cli.helpers import audit_rows, connect, one_line_error, run_parallel
from tests.support.live import make_server
from tests.support.oidc import HostedPages, csrf_token

INTACT = re.compile(r"^audit chain intact: (\d+) rows$")


def sign_in(server, email: str, password: str) -> requests.Response:
    """Fill the hosted sign-in form as a browser without JavaScript would."""
    browser = HostedPages(server.url)
    page = browser.get(server.url + "/login")
    data = {"csrf_token": csrf_token(page.text), "email": email, "password": password}
    return browser.post(server.url + "/login", data=data, allow_redirects=False)


def _act(server) -> dict:
    """Security-relevant actions through the CLI and HTTP; returns every secret involved."""
    password = "pw-Zq8v-audit-user-password"
    email = "audited@example.com"
    results = run_parallel(
        [
            *[(["roles", "create", f"role-{n}"], server.env) for n in range(2)],
            (["users", "create", email, "--password-stdin"], server.env, password + "\n"),
            (
                ["clients", "create", "--name", "Audited RP", "--redirect-uri", "http://x/cb"],
                server.env,
            ),
            (
                ["clients", "create", "--name", "M2M", "--grant-type", "client_credentials"],
                server.env,
            ),
        ]
    )
    assert all(result.returncode == 0 for result in results), [r.stderr for r in results]
    created, web, machine = (json.loads(result.stdout) for result in results[-3:])
    user = {**created, "password": password}
    token = requests.post(
        server.url + "/token",
        data={"grant_type": "client_credentials"},
        auth=(machine["client_id"], machine["client_secret"]),
        timeout=30,
    )
    assert token.status_code == 200, token.text
    wrong_client_secret = "wrong-client-secret-Hk3pX0aa"
    refused = requests.post(
        server.url + "/token",
        data={"grant_type": "client_credentials"},
        auth=(machine["client_id"], wrong_client_secret),
        timeout=30,
    )
    assert refused.status_code == 401, refused.text
    wrong_password = "wrong-password-Qm4tY7bb"
    assert sign_in(server, user["email"], wrong_password).status_code == 401
    assert sign_in(server, "nobody@example.com", wrong_password).status_code == 401
    assert sign_in(server, user["email"], password).status_code == 303
    return {
        "user": user,
        "secrets": {
            "password": password,
            "wrong password": wrong_password,
            "client_secret": web["client_secret"],
            "machine client_secret": machine["client_secret"],
            "wrong client_secret": wrong_client_secret,
            "access_token": token.json()["access_token"],
        },
    }


def _live_after_actions(tmp_path_factory, url: str | None, backend: str):
    server = make_server(tmp_path_factory.mktemp(f"idp-audit-{backend}"), url)
    server.backend = backend
    server.start()
    try:
        yield server, _act(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def acted_sqlite(tmp_path_factory):
    yield from _live_after_actions(tmp_path_factory, None, "sqlite")


@pytest.fixture(scope="module")
def acted_postgresql(tmp_path_factory, postgres_url):
    url = fresh_postgres_database(postgres_url, "idp_cli_audit")
    yield from _live_after_actions(tmp_path_factory, url, "postgresql")


@pytest.fixture(params=["sqlite", "postgresql"])
def acted(request):
    """A live provider, per backend, after a series of audited actions; and their secrets."""
    return request.getfixturevalue(f"acted_{request.param}")


def _detail(row: dict) -> dict:
    """``detail`` as a dict (psycopg decodes JSON, sqlite3 returns the text)."""
    return json.loads(row["detail"]) if isinstance(row["detail"], str) else row["detail"]


def _verify(server):
    return server.cli("audit", "verify", check=False)


# --- the chain over real actions -----------------------------------------------------------


def test_audit_verify_exits_0_and_reports_the_row_count(acted):
    """The actions include five CLI commands run at once: concurrent appends stay chained."""
    server, _ = acted
    result = _verify(server)
    assert result.returncode == 0, result.stderr
    match = INTACT.match(result.stdout.strip())
    assert match, result.stdout
    assert int(match.group(1)) == len(audit_rows(server))


def test_cli_and_http_actions_are_each_recorded_once(acted):
    server, state = acted
    rows = audit_rows(server)
    events = [(row["event"], row["outcome"]) for row in rows]
    roles = [_detail(row)["role"] for row in rows if row["event"] == "role_created"]
    assert sorted(r for r in roles if r.startswith("role-")) == ["role-0", "role-1"]
    assert events.count(("user_created", "success")) == 1
    assert events.count(("client_created", "success")) == 2
    assert events.count(("sign_in", "failure")) == 2
    assert events.count(("sign_in", "success")) == 1
    failures = [row for row in rows if row["event"] == "sign_in" and row["outcome"] == "failure"]
    assert {row["actor"] for row in failures} == {state["user"]["email"], "nobody@example.com"}
    signed_in = next(
        row for row in rows if (row["event"], row["outcome"]) == ("sign_in", "success")
    )
    assert signed_in["subject"] == state["user"]["sub"]
    assert signed_in["ip"] == "127.0.0.1" and signed_in["request_id"]
    assert rows[0]["prev_hash"] == "0" * 64
    assert all(row["prev_hash"] == before["hash"] for before, row in zip(rows, rows[1:]))


def test_no_secret_appears_in_any_audit_row(acted):
    server, state = acted
    dump = json.dumps(audit_rows(server), default=str)
    for what, secret in state["secrets"].items():
        assert secret not in dump, f"{what} is in the audit log"
    assert "$argon2" not in dump


# --- append-only triggers ------------------------------------------------------------------


def _refused(server, statement: str) -> str:
    """Run ``statement`` on a plain connection; return the database's refusal message."""
    errors = (psycopg.Error, sqlite3.DatabaseError)
    with connect(server) as conn, pytest.raises(errors) as caught:
        conn.execute(statement)
    return str(caught.value)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1",
        "UPDATE audit_events SET detail = '{}'",
        "DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)",
        "DELETE FROM audit_events",
    ],
    ids=["update-one", "update-all", "delete-last", "delete-all"],
)
def test_update_or_delete_through_a_plain_connection_is_refused_by_the_trigger(acted, statement):
    server, _ = acted
    before = audit_rows(server)
    assert "append-only" in _refused(server, statement)
    assert audit_rows(server) == before


def test_truncate_is_refused_on_postgresql(acted_postgresql):
    server, _ = acted_postgresql
    before = len(audit_rows(server))
    assert "append-only" in _refused(server, "TRUNCATE audit_events")
    assert len(audit_rows(server)) == before


def test_failed_sign_in_with_case_expanding_email_is_refused_and_audited(acted):
    """'İ'.lower() is two characters: 320 of them become 640 for the 320-character column."""
    server, _ = acted
    count = len(audit_rows(server))
    response = sign_in(server, "\u0130" * 320, "wrong-password-Qm4tY7bb")
    assert response.status_code == 401
    rows = audit_rows(server)
    assert len(rows) == count + 1
    assert (rows[-1]["event"], rows[-1]["outcome"]) == ("sign_in", "failure")


# --- tampering on SQLite -------------------------------------------------------------------


def _forge_row_2(db) -> list[str]:
    """Edit row 2 and recompute its own hash the way idp did before the chain was keyed."""
    with closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM audit_events WHERE seq = 2").fetchone())
    row.update(actor="mallory", detail=json.loads(row["detail"]))
    forged = chain_hash(SimpleNamespace(**row))
    return [f"UPDATE audit_events SET actor = 'mallory', hash = '{forged}' WHERE seq = 2"]


TAMPERING = {
    "untampered": lambda db: [],
    "actor edited": lambda db: ["UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"],
    "two rows edited": lambda db: [
        """UPDATE audit_events SET detail = '{"role": "root"}' WHERE seq = 3""",
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2",
    ],
    "row deleted": lambda db: ["DELETE FROM audit_events WHERE seq = 2"],
    "row forged with its hash": _forge_row_2,
}


def _tamper(db, statements: list[str]) -> None:
    """What an attacker with file access does: drop the guards, then rewrite history."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("DROP TRIGGER audit_events_no_delete")
        for statement in statements:
            assert conn.execute(statement).rowcount == 1, statement
        conn.commit()


def _snapshot(instance, folder):
    """Copy a running instance: its files, and a consistent copy of its SQLite database made
    with SQLite's backup API (the live file may have commits still in its write-ahead log)."""
    shutil.copytree(instance, folder, ignore=shutil.ignore_patterns("idp.sqlite3*"))
    db = folder / "idp.sqlite3"
    source, target = sqlite3.connect(instance / "idp.sqlite3"), sqlite3.connect(db)
    with closing(source), closing(target):
        source.backup(target)
    return db


@pytest.fixture(scope="module")
def verified(acted_sqlite, tmp_path_factory) -> dict:
    """``idp audit verify`` on private copies of the SQLite instance, one tampered copy per case,
    all at once; also ``rows``, the length of the untampered chain."""
    template, _ = acted_sqlite
    commands, rows = [], None
    for case, statements in TAMPERING.items():
        folder = tmp_path_factory.mktemp("idp-tampered") / "instance"
        db = _snapshot(template.instance, folder)
        if case == "untampered":
            with closing(sqlite3.connect(db)) as conn:
                rows = conn.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0]
        else:
            _tamper(db, statements(db))
        commands.append((["audit", "verify"], {**template.env, "IDP_INSTANCE_PATH": str(folder)}))
    return {
        "rows": rows,
        **dict(zip(TAMPERING, run_parallel(commands), strict=True)),
    }


def test_untampered_chain_verifies(verified):
    result = verified["untampered"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"audit chain intact: {verified['rows']} rows"


def test_tampered_actor_makes_verify_fail_naming_that_row(verified):
    message = one_line_error(verified["actor edited"])
    assert re.search(r"\brow 2\b", message) and "content does not match" in message, message


def test_verify_names_the_first_of_several_tampered_rows(verified):
    assert re.search(r"\brow 2\b", one_line_error(verified["two rows edited"]))


def test_deleted_row_makes_verify_fail_naming_the_row_after_it(verified):
    message = one_line_error(verified["row deleted"])
    assert re.search(r"\brow 3\b", message) and "previous hash" in message, message


def test_edited_row_with_recomputed_hash_is_caught_as_not_matching_the_key(verified):
    """Forging one row's own hash needs the chain's key: the unkeyed SHA-256 (the old scheme)
    does not match it, and the next row still points at the genuine hash."""
    message = one_line_error(verified["row forged with its hash"])
    assert re.search(r"\brow 2's hash does not match the key\b", message), message
