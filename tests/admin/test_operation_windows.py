"""Sensitive-operation windows an admin sets (``idp.accounts.operation_windows``, migration
0026) on SQLite and PostgreSQL: the configuration decides until a window is set; a set window
wins, is bounded, audited with before and after, and cleared back to the configuration; the
migration goes down and up and matches the model."""

from __future__ import annotations

import itertools

import pytest
from alembic import command
from sqlalchemy import inspect

from idp import db as schema
from idp.accounts import operation_windows
from idp.extensions import db
from idp.models import AuditEvent
from tests.support.migrations import schema_differences, upgraded_app

_DATABASES = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def app(tmp_path, request):
    name = f"operation_windows_{next(_DATABASES)}"  # one fresh database per test
    with upgraded_app(tmp_path, request, request.param, name) as app:
        app.config.update(STEPUP_WINDOW=300, STEPUP_WINDOWS={"add_factor": 600})
        yield app


def _changes() -> list[dict]:
    rows = db.session.query(AuditEvent).filter_by(event="operation_window_changed")
    return [r.detail for r in rows.order_by(AuditEvent.seq)]


def test_the_configuration_decides_until_an_admin_sets_a_window(app):
    assert operation_windows.window("add_factor") == 600
    assert operation_windows.window("admin") == 300
    assert operation_windows.window(None) == 300
    listed = {w.operation: w for w in operation_windows.windows()}
    assert listed["add_factor"].seconds == 600 and listed["add_factor"].source == "configuration"
    assert set(listed) == {
        "change_password", "change_email", "add_factor", "remove_factor",
        "regenerate_backup_codes", "revoke_devices", "admin",
    }  # fmt: skip


def test_a_set_window_wins_is_audited_and_clears_back_to_the_configuration(app):
    assert operation_windows.set_window("admin", 120, actor="ada@example.com")
    db.session.commit()
    assert operation_windows.window("admin") == 120
    admin = next(w for w in operation_windows.windows() if w.operation == "admin")
    assert (admin.seconds, admin.source, admin.configured) == (120, "console", 300)
    assert not operation_windows.set_window("admin", 120, actor="ada@example.com")
    assert operation_windows.clear_window("admin", actor="ada@example.com")
    db.session.commit()
    assert operation_windows.window("admin") == 300
    assert not operation_windows.clear_window("admin", actor="ada@example.com")
    assert _changes() == [
        {"operation": "admin", "before": {"seconds": 300},
         "after": {"seconds": 120, "source": "console"}},
        {"operation": "admin", "before": {"seconds": 120, "source": "console"},
         "after": {"seconds": 300, "source": "configuration"}},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("operation", "seconds"),
    [("admin", 29), ("admin", 86401), ("admin", 0), ("launch_rockets", 300)],
)
def test_out_of_bounds_or_unknown_changes_nothing(app, operation, seconds):
    with pytest.raises(ValueError):
        operation_windows.set_window(operation, seconds, actor="ada@example.com")
    db.session.rollback()
    assert operation_windows.window("admin") == 300 and _changes() == []


def _tables() -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def test_migration_0026_goes_down_and_up_and_matches_the_model(app):
    operation_windows.set_window("admin", 90, actor="ada@example.com")
    db.session.commit()
    db.session.close()
    command.downgrade(schema.alembic_config(), "0025")
    assert "operation_windows" not in _tables()
    schema.upgrade()
    assert "operation_windows" in _tables()
    assert [d for d in schema_differences() if "operation_windows" in repr(d)] == []
