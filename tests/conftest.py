"""Shared fixtures: a live provider per database backend, on SQLite and on a real PostgreSQL.

Flow tests use ``server``, which is parametrised over both backends, so every flow runs on the
embedded default and on PostgreSQL.
"""

from __future__ import annotations

import pytest

from tests.support.live import backend_server
from tests.support.postgres import postgres_server


@pytest.fixture(scope="session")
def postgres_url():
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    with backend_server(request, tmp_path_factory, "flows") as live:
        yield live


@pytest.fixture(scope="session")
def user(server):
    return server.create_user()


@pytest.fixture(scope="session")
def rp(server):
    """A confidential first-party relying party with a registered logout URI."""
    return server.create_client(
        "--name", "Flow RP",
        "--redirect-uri", "http://localhost:9/cb",
        "--post-logout-redirect-uri", "http://localhost:9/bye",
        "--first-party",
    )  # fmt: skip


@pytest.fixture(scope="session")
def no_pkce_rp(server):
    """A confidential client registered with the audited opt-out from PKCE."""
    return server.create_client(
        "--name", "Legacy RP", "--redirect-uri", "http://localhost:9/legacy",
        "--first-party", "--allow-no-pkce",
    )  # fmt: skip


@pytest.fixture(scope="session")
def public_rp(server):
    return server.create_client(
        "--name", "Public RP", "--redirect-uri", "http://localhost:9/spa", "--public",
        "--first-party",
    )  # fmt: skip
