"""Migration tests: an app on a fresh database upgraded to the newest revision, and the
differences between its schema and the models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from idp import db as schema
from idp.app import create_app
from idp.extensions import db
from tests.support.postgres import create_database


@contextmanager
def upgraded_app(tmp_path, request, backend: str, name: str) -> Iterator[Flask]:
    """Inside its app context: an app whose database (SQLite, or PostgreSQL ``idp_<name>``)
    is upgraded to the newest revision; its connections are closed afterwards."""
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    if backend == "postgresql":
        url = create_database(request.getfixturevalue("postgres_url"), f"idp_{name}")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": url})
    with app.app_context():
        try:
            schema.upgrade()
            yield app
        finally:
            db.engine.dispose()


def schema_differences() -> list:
    """What autogenerate finds between the database and the models (empty: they match)."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)
