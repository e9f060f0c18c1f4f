"""A worker killed between a refresh rotation's commit and its response: the retry succeeds.

The provider runs as in production, under gunicorn (one sync worker, so the request in flight
is that worker's), on SQLite and on PostgreSQL. A client rotates its refresh token over and
over. For each request a watcher reads the database, as any other process could, and the
moment the presented token's rotation is committed it sends the worker SIGKILL: the response,
whose access token is signed after the commit, is then usually never written. gunicorn starts a
new worker, and the client, which got a connection error, retries with the same token, as a
client that cannot know whether its request was processed does. Nothing in the provider knows
about the test.

Before the reuse interval that retry was taken for a replay and revoked the family; now it gets
a valid successor in the same family, and the successor the dead worker issued is retired.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
import pytest
import requests
from sqlalchemy.engine import make_url

from tests.cli.helpers import audit_rows
from tests.support.live import IDP, make_server
from tests.support.oidc import HostedPages, RelyingParty
from tests.support.postgres import create_database

GUNICORN = str(Path(IDP).with_name("gunicorn"))
WANTED = 2  # responses lost after their rotation committed, each retried
MAX_REQUESTS = 40  # bounds: this many refreshes, or this many seconds, whichever comes first
TIME_LIMIT = 25.0
REFRESH = "refresh_token"
# No response, or its headers without the whole body: either way the client has no token.
LOST = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


@pytest.fixture(params=["sqlite", "postgresql"])
def gunicorn_server(request, tmp_path):
    url = None
    if request.param == "postgresql":
        url = create_database(request.getfixturevalue("postgres_url"), "idp_refresh_kill")
    live = make_server(tmp_path / "instance", url)
    live.backend = request.param
    port = live.url.rsplit(":", 1)[1]
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115
    master = subprocess.Popen(  # noqa: S603
        [GUNICORN, "--workers", "1", "--worker-class", "sync", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "idp.wsgi:app"],
        env=live.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    live.process = master
    try:
        _worker(master)
        yield live
    finally:
        master.terminate()
        try:
            master.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(master.pid, signal.SIGKILL)  # the session started above: gunicorn's own
            master.wait(timeout=5)
        log.close()


def _children(master_pid: int) -> list[int]:
    """gunicorn's live workers (a killed one not yet reaped is a zombie: left out)."""
    found = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in found if _state(int(pid)) not in ("Z", "X", None)]


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return None


def _worker(master: subprocess.Popen, dead: set[int] = frozenset(), timeout: float = 30.0) -> int:
    """The pid of gunicorn's one worker (not one this test killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert master.poll() is None, "gunicorn exited"
        pids = [pid for pid in _children(master.pid) if pid not in dead]
        if len(pids) == 1:
            return pids[0]
        time.sleep(0.05)
    raise AssertionError("gunicorn started no worker")


@contextmanager
def _database(server):
    """A connection of the test's own (autocommit: every read sees the latest commit)."""
    url = server.env.get("IDP_DATABASE_URL")
    if url:
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            yield conn
    else:
        path = server.instance / "idp.sqlite3"
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            yield conn


def _rotated(conn, server, refresh_token: str) -> bool:
    mark = "%s" if server.backend == "postgresql" else "?"
    digest = hashlib.sha256(refresh_token.encode()).hexdigest()
    row = conn.execute(
        f"SELECT rotated_at FROM tokens WHERE refresh_digest = {mark}", (digest,)
    ).fetchone()
    return row is not None and row[0] is not None


class CommitWatcher(threading.Thread):
    """Kills ``pid`` as soon as the rotation of ``refresh_token`` is committed."""

    def __init__(self, server, refresh_token: str, pid: int) -> None:
        super().__init__(daemon=True)
        self.server, self.refresh_token, self.pid = server, refresh_token, pid
        self.done = threading.Event()
        self.killed = False

    def run(self) -> None:
        with _database(self.server) as conn:
            while not self.done.is_set():
                if _rotated(conn, self.server, self.refresh_token):
                    if self.pid in _children(self.server.process.pid):  # still our worker
                        os.kill(self.pid, signal.SIGKILL)
                        self.killed = True
                    return


def _refresh(relying: RelyingParty, token: str, timeout: float = 30) -> requests.Response:
    return requests.post(
        relying.meta["token_endpoint"],
        data={"grant_type": REFRESH, REFRESH: token},
        auth=(relying.client["client_id"], relying.client["client_secret"]),
        timeout=timeout,
    )


def test_a_refresh_whose_worker_died_after_the_commit_is_retried_successfully(gunicorn_server):
    server = gunicorn_server
    user = server.create_user()
    client = server.create_client(
        "--name", "Kill RP", "--redirect-uri", "http://localhost:9/kill", "--first-party"
    )
    relying = RelyingParty(server, client)
    first = relying.redeem(relying.sign_in(HostedPages(server.url), user))
    assert first.status_code == 200, first.text
    token, family_start = first.json()[REFRESH], first.json()[REFRESH]
    lost = retried = answered = 0
    started, dead = time.monotonic(), set()
    for _ in range(MAX_REQUESTS):
        if lost >= WANTED or time.monotonic() - started > TIME_LIMIT:
            break
        watcher = CommitWatcher(server, token, _worker(server.process, dead))
        watcher.start()
        try:
            response = _refresh(relying, token)
        except LOST:
            response = None
        watcher.done.set()
        watcher.join(timeout=10)
        if watcher.killed:
            dead.add(watcher.pid)
        if response is not None:  # the response was out before the kill (or no kill)
            assert response.status_code == 200, response.text
            token, answered = response.json()[REFRESH], answered + 1
            continue
        with _database(server) as conn:
            committed = _rotated(conn, server, token)
        assert committed and watcher.killed, "a connection error without a committed rotation"
        lost += 1
        retry = _refresh(relying, token)  # waits for gunicorn's next worker
        assert retry.status_code == 200, f"the retry was refused: {retry.text}"
        token, retried = retry.json()[REFRESH], retried + 1
    assert lost >= WANTED, f"only {lost} responses lost after a commit ({answered} answered)"
    assert retried == lost
    # The family was never taken for replayed: no revocation, and its last token works.
    events = [r for r in audit_rows(server) if r["client_id"] == client["client_id"]]
    assert not [r for r in events if r["event"] == "refresh_replay_detected"]
    reuses = [r for r in events if r["event"] == "refresh_reuse_within_interval"]
    assert len(reuses) == lost
    last = _refresh(relying, token)
    assert last.status_code == 200, last.text
    introspect = relying.meta["introspection_endpoint"]
    assert relying.post(introspect, {"token": last.json()[REFRESH]}).json()["active"] is True
    assert relying.post(introspect, {"token": family_start}).json()["active"] is False
    assert server.cli("audit", "verify").stdout.startswith("audit chain intact")
    for row in reuses:  # every retry's audit names the successor the dead worker issued
        detail = row["detail"] if isinstance(row["detail"], dict) else json.loads(row["detail"])
        assert detail["superseded_jti"]
