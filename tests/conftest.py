"""Shared fixtures: a live provider per database backend, on SQLite and on a real PostgreSQL.

Flow tests use ``server``, which is parametrised over both backends, so every flow runs on the
embedded default and on PostgreSQL. pytest tears a parametrised session fixture down whenever
the next test wants the other parameter, which under pytest-xdist (files handed to workers one
by one) happens at every file; so each backend's provider is started once per worker by
``_shared_servers`` and ``server`` only picks one, and the users and clients made on it are
kept on it (``LiveServer.once``).
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from tests.support.live import started_server
from tests.support.postgres import postgres_server


@pytest.fixture(scope="session")
def postgres_url():
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def _shared_servers(request, tmp_path_factory):
    """Start each backend's shared provider on first use; stop them at the end of the session."""
    with ExitStack() as stack:
        started: dict = {}

        def get(backend: str):
            if backend not in started:
                server = started_server(request, tmp_path_factory, backend, "flows")
                started[backend] = stack.enter_context(server)
            return started[backend]

        yield get


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request, _shared_servers):
    return _shared_servers(request.param)


@pytest.fixture(scope="session")
def user(server):
    return server.once("user", lambda s: s.create_user())


@pytest.fixture(scope="session")
def rp(server):
    """A confidential first-party relying party with a registered logout URI."""
    return server.once("rp", lambda s: s.create_client(
        "--name", "Flow RP",
        "--redirect-uri", "http://localhost:9/cb",
        "--post-logout-redirect-uri", "http://localhost:9/bye",
        "--first-party",
    ))  # fmt: skip


@pytest.fixture(scope="session")
def no_pkce_rp(server):
    """A confidential client registered with the audited opt-out from PKCE."""
    return server.once("no_pkce_rp", lambda s: s.create_client(
        "--name", "Legacy RP", "--redirect-uri", "http://localhost:9/legacy",
        "--first-party", "--allow-no-pkce",
    ))  # fmt: skip


@pytest.fixture(scope="session")
def public_rp(server):
    return server.once("public_rp", lambda s: s.create_client(
        "--name", "Public RP", "--redirect-uri", "http://localhost:9/spa", "--public",
        "--first-party",
    ))  # fmt: skip
