"""Migration 0023: the audit log page's indexes, down and up, matching the models; and each
filter's real query (``idp.accounts.audit_log.page``) reads its index in ``seq`` order, with no
sort, on SQLite and PostgreSQL: a page costs a page of entries however long the log is."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import event, inspect

from idp import db as schema
from idp.accounts import admin_view, audit_log, users
from idp.extensions import db
from tests.support.migrations import schema_differences, upgraded_app

NEW = {
    "ix_audit_events_event_seq",
    "ix_audit_events_event_at",
    "ix_audit_events_client_id_seq",
    "ix_audit_events_ip_seq",
    "ix_audit_events_subject_seq",
}


def _indexes() -> set[str]:
    with db.engine.connect() as conn:
        return {i["name"] for i in inspect(conn).get_indexes("audit_events")}


def _audit_differences() -> list:
    """The schema's differences from the models on the audit table (other work in progress
    may differ elsewhere)."""
    return [d for d in schema_differences() if "audit_events" in repr(d)]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0023_goes_down_and_up_and_matches_the_models(tmp_path, request, backend):
    with upgraded_app(tmp_path, request, backend, "migration_0023"):
        assert _indexes() >= NEW
        assert _audit_differences() == []
        command.downgrade(schema.alembic_config(), "0022")
        assert _indexes() & NEW == set()
        assert "ix_audit_events_subject" in _indexes()
        schema.upgrade()
        assert _indexes() >= NEW and "ix_audit_events_subject" not in _indexes()
        assert _audit_differences() == []


FILTERS = {
    "event": (audit_log.Filters(event="sign_in"), "ix_audit_events_event_seq"),
    "client": (audit_log.Filters(client_id="app"), "ix_audit_events_client_id_seq"),
    "ip": (audit_log.Filters(ip="192.0.2.1"), "ix_audit_events_ip_seq"),
    "user": (audit_log.Filters(email="plan@example.com"), "ix_audit_events_subject_seq"),
}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("name", list(FILTERS))
def test_each_filters_page_reads_its_index_in_seq_order(tmp_path, request, backend, name):
    filters, index = FILTERS[name]
    with upgraded_app(tmp_path, request, backend, f"plan_{name}"):
        users.create("plan@example.com", "correct horse battery", actor="test")
        db.session.commit()
        plan = _plan(lambda: audit_log.page(filters, before=10**6, limit=3))
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_dashboards_sign_in_counts_read_a_range_of_the_event_at_index(
    tmp_path, request, backend
):
    with upgraded_app(tmp_path, request, backend, "plan_dashboard"):
        plans = _plans(admin_view.dashboard)
    assert len(plans) == 2  # the last day's and the last month's
    for plan in plans:
        assert "ix_audit_events_event_at" in plan, plan


def _plan(run) -> str:
    """The plan of the one audit query ``run`` executes."""
    (plan,) = _plans(run)
    return plan


def _plans(run) -> list[str]:
    """The plans of the audit queries ``run`` executes (PostgreSQL told to avoid whole-table
    scans, as it would at millions of rows)."""
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM audit_events" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    plans = []
    with db.engine.connect() as conn:
        driver = conn.connection.dbapi_connection
        cursor = driver.cursor()
        for statement, parameters in seen:
            if db.engine.dialect.name == "postgresql":
                cursor.execute("SET enable_seqscan = off")
                cursor.execute("EXPLAIN " + statement, parameters)
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append("\n".join(str(row) for row in cursor.fetchall()))
        driver.rollback()
    return plans
