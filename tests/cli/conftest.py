"""Fixtures of the CLI tests: fresh instances configured through ``IDP_*`` only."""

from __future__ import annotations

import uuid

import pytest

from tests.support.live import make_server
from tests.support.postgres import create_database


def fresh_postgres_database(postgres_url: str, prefix: str) -> str:
    return create_database(postgres_url, f"{prefix}_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """A migrated SQLite instance, not serving: only its ``.cli()`` is used."""
    return make_server(tmp_path_factory.mktemp("idp-cli"), None)


@pytest.fixture(scope="module")
def pg_instance(tmp_path_factory, postgres_url):
    """A migrated instance on a fresh PostgreSQL database, not serving."""
    url = fresh_postgres_database(postgres_url, "idp_cli")
    return make_server(tmp_path_factory.mktemp("idp-cli-pg"), url)
