"""The keyed audit chain (issue 14): tampering by someone with database access but not the keys.

Each case copies a provider's instance (SQLite: its folder; PostgreSQL: a database made from the
original as a template), tampers with it as an attacker with a plain connection would (dropping
the append-only triggers first), and runs the real ``idp audit verify``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import jwt
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from idp.audit import chain_hash
from tests.cli.conftest import fresh_postgres_database
from tests.cli.helpers import audit_rows, connect, one_line_error, run_parallel
from tests.support.live import make_server
from tests.support.postgres import _execute_autocommit

ROLES = 5  # events written through the CLI, one process each


def _query(conn, statement: str, params: tuple = ()):
    """``?`` placeholders on both drivers (psycopg's are ``%s``)."""
    if not isinstance(conn, sqlite3.Connection):
        statement = statement.replace("?", "%s")
    return conn.execute(statement, params)


def _drop_guards(conn) -> None:
    if isinstance(conn, sqlite3.Connection):
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("DROP TRIGGER audit_events_no_delete")
    else:
        conn.execute("DROP FUNCTION audit_events_append_only() CASCADE")


def _rows(conn) -> list[dict]:
    cursor = conn.execute("SELECT * FROM audit_events ORDER BY seq")
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        if isinstance(row["detail"], str):
            row["detail"] = json.loads(row["detail"])
    return rows


def _rechain_from(conn, first: int, key: bytes | None, *, unkey: bool = False) -> None:
    """Edit row ``first`` and recompute every hash from there with ``key`` (not idp's)."""
    rows = _rows(conn)
    prev = None
    for row in rows:
        if row["seq"] >= first:
            if row["seq"] == first:
                row["actor"] = "mallory"
            row["prev_hash"] = prev or row["prev_hash"]
            row["hash"] = chain_hash(SimpleNamespace(**row), key)
            _query(
                conn,
                "UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ?, mac_kid = ? "
                "WHERE seq = ?",
                (row["actor"], row["prev_hash"], row["hash"],
                 None if unkey else row["mac_kid"], row["seq"]),
            )  # fmt: skip
        prev = row["hash"]


def _delete_tail(conn, count: int, *, checkpoints: bool = False) -> None:
    last = conn.execute("SELECT MAX(seq) FROM audit_events").fetchone()[0]
    _query(conn, "DELETE FROM audit_events WHERE seq > ?", (last - count,))
    if checkpoints:
        conn.execute("DELETE FROM audit_checkpoints")


TAMPERING = {
    "untampered": lambda conn: None,
    "edited": lambda conn: conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"),
    "re-chained, legacy formula": lambda conn: _rechain_from(conn, 2, None),
    "re-chained, guessed key": lambda conn: _rechain_from(conn, 2, b"k" * 32),
    "re-chained as unkeyed rows": lambda conn: _rechain_from(conn, 1, None, unkey=True),
    "tail deleted": lambda conn: _delete_tail(conn, 2),
    "tail and checkpoints deleted": lambda conn: _delete_tail(conn, 2, checkpoints=True),
}


def _act(server) -> None:
    for n in range(ROLES):  # one at a time: each is a process, as the periodic checkpoint sees
        server.cli("roles", "create", f"keyed-{n}")


def _copy(server, case_dir, postgres_url):
    """A copy of ``server``'s instance (keys and database) in ``case_dir``; its env."""
    shutil.copytree(server.instance, case_dir, ignore=shutil.ignore_patterns("idp.sqlite3*"))
    env = {**server.env, "IDP_INSTANCE_PATH": str(case_dir)}
    if "IDP_DATABASE_URL" not in server.env:
        source = sqlite3.connect(server.instance / "idp.sqlite3")
        target = sqlite3.connect(case_dir / "idp.sqlite3")
        with closing(source), closing(target):
            source.backup(target)
        return env
    original = make_url(server.env["IDP_DATABASE_URL"]).database
    name = f"{original}_{case_dir.parent.name.replace('-', '_')}"[-60:]
    admin = make_url(postgres_url).set(database="postgres").render_as_string(hide_password=False)
    _execute_autocommit(
        admin,
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(original)
        ),
    )
    url = make_url(server.env["IDP_DATABASE_URL"]).set(database=name)
    env["IDP_DATABASE_URL"] = url.render_as_string(hide_password=False)
    return env


def _tampered_runs(server, tmp_path_factory, postgres_url) -> dict:
    """Export a checkpoint, then per case: copy, tamper, and verify with and without the file."""
    exported = server.instance.parent / "checkpoint.json"
    server.cli("audit", "checkpoint", "--export", str(exported))
    commands = []
    for n, (case, tamper) in enumerate(TAMPERING.items()):
        env = _copy(server, tmp_path_factory.mktemp(f"keyed-case{n}") / "instance", postgres_url)
        copy = SimpleNamespace(env=env, instance=Path(env["IDP_INSTANCE_PATH"]))
        with connect(copy) as conn:
            _drop_guards(conn)
            tamper(conn)
            conn.commit()
        commands.append((["audit", "verify"], env))
        commands.append((["audit", "verify", "--checkpoint", str(exported)], env))
    results = iter(run_parallel(commands))
    return {case: (next(results), next(results)) for case in TAMPERING}


@pytest.fixture(scope="module")
def acted_sqlite(tmp_path_factory):
    server = make_server(tmp_path_factory.mktemp("keyed-sqlite") / "instance", None)
    _act(server)
    return server


@pytest.fixture(scope="module")
def acted_postgresql(tmp_path_factory, postgres_url):
    url = fresh_postgres_database(postgres_url, "idp_keyed")
    server = make_server(tmp_path_factory.mktemp("keyed-pg") / "instance", url)
    _act(server)
    return server


@pytest.fixture(scope="module")
def runs_sqlite(acted_sqlite, tmp_path_factory):
    return _tampered_runs(acted_sqlite, tmp_path_factory, None)


@pytest.fixture(scope="module")
def runs_postgresql(acted_postgresql, tmp_path_factory, postgres_url):
    return _tampered_runs(acted_postgresql, tmp_path_factory, postgres_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def runs(request):
    """Per backend: each tampering case's (verify, verify --checkpoint FILE) results."""
    return request.getfixturevalue(f"runs_{request.param}")


@pytest.fixture(params=["sqlite", "postgresql"])
def acted(request):
    return request.getfixturevalue(f"acted_{request.param}")


# --- rows and checkpoints as written ---------------------------------------------------------


def test_every_row_names_the_ring_key_of_its_hmac(acted):
    rows = audit_rows(acted)
    assert len(rows) == ROLES
    assert {row["mac_kid"] for row in rows} == {"dev1"}
    for row in rows:  # not the unkeyed formula
        fields = {**row, "detail": row["detail"]}
        if isinstance(fields["detail"], str):
            fields["detail"] = json.loads(fields["detail"])
        assert chain_hash(SimpleNamespace(**fields)) != row["hash"]


def test_an_append_checkpoints_the_chain_once_an_interval(acted):
    """The first append with a row before it and no checkpoint yet signs one; the next appends
    (other processes, within the hour) read it and write none."""
    with connect(acted) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM audit_checkpoints ORDER BY id")]
    assert seqs[0] == 1
    assert seqs[1:] in ([], [ROLES])  # and the exported one, once the runs fixture has run


# --- tampering -------------------------------------------------------------------------------


def test_untampered_chain_verifies_with_and_without_the_exported_checkpoint(runs):
    for result in runs["untampered"]:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"audit chain intact: {ROLES} rows"


def test_an_edited_row_is_named_as_edited(runs):
    for result in runs["edited"]:
        message = one_line_error(result)
        assert "row 2 edited" in message, message


@pytest.mark.parametrize(
    "case", ["re-chained, legacy formula", "re-chained, guessed key", "re-chained as unkeyed rows"]
)
def test_a_chain_recomputed_without_the_key_is_named_at_its_first_row(runs, case):
    first = 1 if "unkeyed" in case else 2
    for result in runs[case]:
        message = one_line_error(result)
        assert f"row {first}'s hash does not match the key" in message, message
        assert "re-chained without the key" in message, message


def test_a_deleted_tail_is_detected_against_the_stored_checkpoint(runs):
    for result in runs["tail deleted"]:
        message = one_line_error(result)
        assert f"tail deleted after seq {ROLES - 2}" in message, message


def test_a_deleted_tail_with_its_checkpoints_is_detected_against_the_exported_file(runs):
    """Without the exported checkpoint the shortened chain is consistent: keep one elsewhere."""
    alone, with_file = runs["tail and checkpoints deleted"]
    assert alone.returncode == 0, alone.stderr
    message = one_line_error(with_file)
    assert f"tail deleted after seq {ROLES - 2}" in message, message


# --- the exported checkpoint -------------------------------------------------------------------


def test_the_exported_checkpoint_verifies_outside_idp_with_its_public_key(acted_sqlite, tmp_path):
    exported = tmp_path / "checkpoint.json"
    acted_sqlite.cli("audit", "checkpoint", "--export", str(exported))
    document = json.loads(exported.read_text())
    key = jwt.PyJWK(document["jwk"])
    claims = jwt.decode(document["signature"], key.key, algorithms=[document["jwk"]["alg"]])
    assert claims["seq"] == document["seq"] == audit_rows(acted_sqlite)[-1]["seq"]
    assert claims["hash"] == document["hash"] == audit_rows(acted_sqlite)[-1]["hash"]


def test_a_forged_checkpoint_file_is_refused(acted_sqlite, tmp_path):
    exported = tmp_path / "checkpoint.json"
    acted_sqlite.cli("audit", "checkpoint", "--export", str(exported))
    document = json.loads(exported.read_text())
    head, payload, signature = document["signature"].split(".")
    claims = json.loads(_b64decode(payload))
    forged = _b64encode(json.dumps({**claims, "seq": claims["seq"] + 100}).encode())
    exported.write_text(json.dumps({**document, "signature": f"{head}.{forged}.{signature}"}))
    result = acted_sqlite.cli("audit", "verify", "--checkpoint", str(exported), check=False)
    assert "not genuine" in one_line_error(result)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- rows written before the keyed chain -------------------------------------------------------

UPGRADE_TO_0018 = (
    "from idp.app import create_app\n"
    "from idp import db\n"
    "with create_app().app_context():\n"
    "    db.upgrade('0018')\n"
)


def _legacy_rows(conn, count: int) -> None:
    """Rows as the unkeyed chain wrote them: SHA-256 of the previous hash and the fields."""
    prev = "0" * 64
    for n in range(count):
        row = SimpleNamespace(
            at=1_700_000_000 + n, event="role_created", outcome="success", actor="cli",
            subject=None, client_id=None, ip=None, user_agent=None, request_id=None,
            detail={"role": f"legacy-{n}"}, prev_hash=prev,
        )  # fmt: skip
        row.hash = chain_hash(row)
        _query(
            conn,
            "INSERT INTO audit_events (at, event, outcome, actor, detail, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.at, row.event, row.outcome, row.actor, json.dumps(row.detail), prev, row.hash),
        )
        prev = row.hash


@pytest.fixture(params=["sqlite", "postgresql"])
def upgraded(request, tmp_path_factory):
    """A provider whose log has 3 unkeyed rows from before migration 0019, then 2 keyed ones."""
    instance = tmp_path_factory.mktemp("keyed-legacy") / "instance"
    url = None
    if request.param == "postgresql":
        url = fresh_postgres_database(request.getfixturevalue("postgres_url"), "idp_legacy")
    env = {**os.environ, "IDP_INSTANCE_PATH": str(instance)}
    env["IDP_ENV"] = "development"
    if url:
        env["IDP_DATABASE_URL"] = url
    subprocess.run([sys.executable, "-c", UPGRADE_TO_0018], env=env, check=True)  # noqa: S603
    with connect(SimpleNamespace(env=env, instance=instance)) as conn:
        _legacy_rows(conn, 3)
        conn.commit()
    server = make_server(instance, url)  # upgrades to the newest revision
    server.cli("roles", "create", "after-upgrade-1")
    server.cli("roles", "create", "after-upgrade-2")
    return server


def test_legacy_rows_stay_verifiable_up_to_the_cut_over_and_new_rows_are_keyed(upgraded):
    rows = audit_rows(upgraded)
    assert [row["mac_kid"] for row in rows] == [None, None, None, "dev1", "dev1"]
    with connect(upgraded) as conn:
        assert conn.execute("SELECT keyed_from FROM audit_chain").fetchone()[0] == 4
    result = upgraded.cli("audit", "verify", check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "audit chain intact: 5 rows"


def test_an_edited_legacy_row_is_still_detected(upgraded):
    with connect(upgraded) as conn:
        _drop_guards(conn)
        conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
        conn.commit()
    message = one_line_error(upgraded.cli("audit", "verify", check=False))
    assert re.search(r"\brow 2 edited\b", message), message


def test_rows_stay_verifiable_after_the_encryption_key_ring_rotates(tmp_path):
    """A row names its ring key: rows keyed before a rotation verify with the old key."""
    server = make_server(tmp_path / "instance", None)
    server.cli("roles", "create", "before-rotation")
    server.cli("keys", "rotate-encryption")  # development: a new ring key signs from now on
    server.cli("roles", "create", "after-rotation")
    kids = [row["mac_kid"] for row in audit_rows(server)]
    assert kids[0] == "dev1" and kids[-1] not in (None, "dev1"), kids
    result = server.cli("audit", "verify", check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"audit chain intact: {len(kids)} rows"
