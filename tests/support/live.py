"""A real provider process for flow tests: ``idp serve`` on ``http://localhost:PORT``.

The server runs as a subprocess with its own instance folder and database (SQLite or a
throwaway PostgreSQL), configured only through ``IDP_*`` variables, exactly as an operator would.
Users and clients are created through the ``idp`` CLI, so the CLI is exercised as well.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.support.postgres import create_database, free_port

IDP = str(Path(sys.executable).with_name("idp"))


@dataclass
class LiveServer:
    url: str
    env: dict
    instance: Path
    process: subprocess.Popen | None = None
    counter: list = field(default_factory=lambda: [0])
    made: dict = field(default_factory=dict)

    def once(self, key: str, make):
        """``make(self)``'s result, made on the first call per key and kept: the users and
        clients the whole suite shares outlive a switch of the ``server`` fixture's backend."""
        if key not in self.made:
            self.made[key] = make(self)
        return self.made[key]

    def cli(self, *args: str, stdin: str | None = None, check: bool = True):
        """Run ``idp ARGS`` against this server's database."""
        result = subprocess.run(  # noqa: S603
            [IDP, *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"idp {' '.join(args)} failed: {result.stderr}")
        return result

    def create_user(self, password: str = "correct horse battery", **kw) -> dict:
        self.counter[0] += 1
        email = kw.pop("email", None) or f"user{self.counter[0]}-{time.time_ns()}@example.com"
        out = self.cli("users", "create", email, "--password-stdin", stdin=password + "\n")
        return {**json.loads(out.stdout), "password": password}

    def create_client(self, *args: str) -> dict:
        return json.loads(self.cli("clients", "create", *args).stdout)

    def start(self) -> None:
        log = open(self.instance / "server.log", "w")  # noqa: SIM115
        port = self.url.rsplit(":", 1)[1]
        self.process = subprocess.Popen(  # noqa: S603
            [IDP, "serve", "--host", "localhost", "--port", port],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/.well-known/openid-configuration", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"provider did not start; see {self.instance / 'server.log'}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    @property
    def log(self) -> str:
        return (self.instance / "server.log").read_text()


def make_server(instance: Path, database_url: str | None, **settings: str) -> LiveServer:
    """Configure (not yet start) a provider; migrates its database through the CLI.

    The whole suite signs in from 127.0.0.1, so the per-IP rate limit is lifted unless a test
    sets ``RATE_LIMIT_PER_MINUTE`` itself to test it.
    """
    settings.setdefault("RATE_LIMIT_PER_MINUTE", 1_000_000)
    port = free_port()
    env = {
        **os.environ,
        "IDP_ISSUER": f"http://localhost:{port}",
        "IDP_INSTANCE_PATH": str(instance),
        "IDP_ENV": "development",
        **{f"IDP_{k}": str(v) for k, v in settings.items()},
    }
    if database_url:
        env["IDP_DATABASE_URL"] = database_url
    server = LiveServer(url=env["IDP_ISSUER"], env=env, instance=instance)
    server.cli("db", "upgrade")
    return server


@contextmanager
def backend_server(request, tmp_path_factory, name: str, **settings: str) -> Iterator[LiveServer]:
    """A started provider on the backend ``request.param`` (``"sqlite"``, or ``"postgresql"``
    with a database ``idp_<name>`` of its own) with ``settings``; stopped afterwards."""
    with started_server(request, tmp_path_factory, request.param, name, **settings) as live:
        yield live


@contextmanager
def started_server(
    request, tmp_path_factory, backend: str, name: str, **settings: str
) -> Iterator[LiveServer]:
    """``backend_server`` for a backend named by the caller rather than by ``request.param``."""
    url = None
    if backend == "postgresql":
        url = create_database(request.getfixturevalue("postgres_url"), f"idp_{name}")
    live = make_server(tmp_path_factory.mktemp(f"idp-{name}-{backend}"), url, **settings)
    live.backend = backend
    live.start()
    try:
        yield live
    finally:
        live.stop()
