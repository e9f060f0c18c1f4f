"""Where the token endpoint spends CPU: cProfile over a Flask test-client loop, one process.

Companion of ``token_endpoint.py`` (which measures throughput under gunicorn). This builds the
provider in-process on a throwaway SQLite instance, signs a user in through the real hosted pages
to get refresh tokens, then profiles N ``client_credentials`` and N ``refresh_token`` requests
separately. It prints CPU ms per request, SQL statements per request, and the top functions.

    .venv/bin/python bench/profile_token.py [--requests N] [--top K] [--sort tottime|cumtime]
                                            [--database-url URL] [--tmpdir /dev/shm]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import io
import os
import pstats
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

REDIRECT_URI = "http://127.0.0.1:9/bench/callback"
PASSWORD = "bench-password-" + secrets.token_hex(8)
EMAIL = f"bench-{secrets.token_hex(6)}@example.com"


def _setup(workdir: Path, database_url: str | None = None):
    os.environ.update(
        IDP_ENV="development",
        IDP_ISSUER="http://localhost:5000",
        IDP_INSTANCE_PATH=str(workdir / "instance"),
    )
    os.environ.pop("IDP_DATABASE_URL", None)
    if database_url:
        os.environ["IDP_DATABASE_URL"] = database_url
    from idp import db as schema
    from idp.accounts import users
    from idp.app import create_app
    from idp.extensions import db
    from idp.oauth2.registration import register

    app = create_app()
    with app.app_context():
        schema.upgrade()
        users.create(EMAIL, PASSWORD, actor="bench")
        client, secret = register(
            name="bench",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token", "client_credentials"],
            first_party=True,
        )
        db.session.commit()
        return app, client.client_id, secret


def _refresh_tokens(app, client_id: str, auth: dict, count: int) -> list[str]:
    """Sign in through /authorize and /login once, then exchange ``count`` codes."""
    browser = app.test_client()
    tokens = []
    for _ in range(count):
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid email profile",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        response = browser.get("/authorize", query_string=query)
        location = response.headers.get("Location", "")
        if not location.startswith(REDIRECT_URI):
            page = browser.get(location)
            html = page.get_data(as_text=True)
            csrf = unescape(re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1))
            nxt = unescape(re.search(r'name="next"[^>]*value="([^"]*)"', html).group(1))
            form = {"csrf_token": csrf, "email": EMAIL, "password": PASSWORD}
            response = browser.post("/login", data={**form, "next": nxt})
            response = browser.get(response.headers["Location"])
            location = response.headers["Location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }
        token = app.test_client().post("/token", data=data, headers=auth)
        tokens.append(token.get_json()["refresh_token"])
    return tokens


@contextmanager
def _counting_statements(statements: Counter[str], texts: Counter[str]) -> Iterator[None]:
    """Count SQL statements: SQLAlchemy's own (its cursor events), the hot path's
    ``DriverStatement`` ones (which bypass those events), and transaction begins and commits,
    the Session's and the ``DriverTransaction``'s alike."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from idp.models.statements import DriverStatement, DriverTransaction

    def count(statement: str) -> None:
        statements[statement.split()[0].upper()] += 1
        texts[" ".join(statement.split())[:150]] += 1

    def on_cursor(conn, cursor, statement, parameters, context, executemany):
        count(statement)

    def on_begin(conn):
        count("BEGIN" + (" IMMEDIATE" if conn.dialect.name == "sqlite" else ""))

    def on_commit(conn):
        count("COMMIT")

    run, connection, end = DriverStatement._run, DriverTransaction.connection, DriverTransaction.end

    def counted_run(self, values):
        compiled, cursor = run(self, values)
        count(compiled.sql)
        return compiled, cursor

    def counted_connection(self):
        if self._pooled is None:
            count("BEGIN (driver transaction)")
        return connection(self)

    def counted_end(self, commit):
        if self._pooled is not None:
            count("COMMIT" if commit else "ROLLBACK")
        return end(self, commit)

    listeners = [("before_cursor_execute", on_cursor), ("begin", on_begin), ("commit", on_commit)]
    for name, listener in listeners:
        event.listen(Engine, name, listener)
    DriverStatement._run = counted_run
    DriverTransaction.connection, DriverTransaction.end = counted_connection, counted_end
    try:
        yield
    finally:
        DriverStatement._run = run
        DriverTransaction.connection, DriverTransaction.end = connection, end
        for name, listener in listeners:
            event.remove(Engine, name, listener)


def _profile(name, app, make_request, n: int, top: int, sort: str) -> None:
    statements: Counter[str] = Counter()
    texts: Counter[str] = Counter()
    client = app.test_client()
    for i in range(20):  # warm up outside the profile
        make_request(client, i)
    profiler = cProfile.Profile(time.process_time)  # CPU, not time waiting for fsync
    with _counting_statements(statements, texts):
        cpu0 = time.process_time()
        profiler.enable()
        for i in range(n):
            response = make_request(client, i)
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {response.status_code} {response.get_data()[:200]!r}")
        profiler.disable()
        cpu = time.process_time() - cpu0

    # A second, unprofiled loop gives the CPU per request without cProfile's own overhead.
    cpu1 = time.process_time()
    for i in range(n):
        make_request(client, n + i)
    plain = time.process_time() - cpu1

    per_kind = ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(statements.items()))
    print(f"\n=== {name}: {n} requests")
    print(f"CPU per request: {1000 * plain / n:.2f} ms (under cProfile {1000 * cpu / n:.2f} ms)")
    print(f"SQL statements per request: {sum(statements.values()) / n:.1f} ({per_kind})")
    for text, times in texts.most_common():
        print(f"  {times / n:4.1f} x {text}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort).print_stats(top)
    print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="cumtime", choices=["cumtime", "tottime"])
    parser.add_argument("--database-url", help="SQLAlchemy URL; default: SQLite in a temp dir")
    parser.add_argument("--tmpdir", help="parent of the temporary folder (e.g. /dev/shm)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="idp-profile-", dir=args.tmpdir))
    try:
        app, client_id, secret = _setup(workdir, args.database_url)
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        auth = {"Authorization": f"Basic {basic}"}

        def client_credentials(client, i):
            return client.post("/token", data={"grant_type": "client_credentials"}, headers=auth)

        _profile("client_credentials", app, client_credentials, args.requests, args.top, args.sort)

        chains = _refresh_tokens(app, client_id, auth, 4)

        def refresh(client, i):
            value = chains[i % len(chains)]
            data = {"grant_type": "refresh_token", "refresh_token": value}
            response = client.post("/token", data=data, headers=auth)
            if response.status_code == 200:
                chains[i % len(chains)] = response.get_json()["refresh_token"]
            return response

        _profile("refresh_token", app, refresh, args.requests, args.top, args.sort)
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
