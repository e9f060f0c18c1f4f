"""The console's audit log at /admin/audit on the live provider (SQLite and PostgreSQL), three
rows a page: each filter narrows to exactly the rows the database holds for it, pages walk
them by key without a duplicate or a gap, the export writes the same rows as JSON Lines, and
"Verify the chain" reports an intact chain, then the row an attacker with database access
edited. Admins and auditors read it; anyone else gets a 403.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import event, insert, select

from idp.accounts import audit_log
from idp.extensions import db
from idp.models import AuditEvent
from tests.admin.support import console_browser, person
from tests.admin.test_audit_log_migration import _plans
from tests.cli.helpers import audit_rows, connect
from tests.cli.test_audit_keyed import _drop_guards, _query
from tests.support.factors import password_sign_in
from tests.support.live import backend_server
from tests.support.migrations import upgraded_app
from tests.support.oidc import HostedPages

PAGE_SIZE = 3


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def audit_server(request, tmp_path_factory):
    settings = {"ADMIN_REQUIRE_PASSKEY": "false", "ADMIN_PAGE_SIZE": PAGE_SIZE}
    with backend_server(request, tmp_path_factory, "audit_log", **settings) as live:
        yield live


@pytest.fixture(scope="module")
def seeded(audit_server):
    """An admin and an auditor signed in, a client, and a user with a wrong password and a
    right one: rows from the CLI (no address) and the browser, with and without a client."""
    live = audit_server
    live.create_client("--name", "Audited", "--redirect-uri", "http://localhost/cb")
    target = person(live)
    password_sign_in(HostedPages(live.url), {**target, "password": "wrong password!"})
    password_sign_in(HostedPages(live.url), target)
    admin, _ = console_browser(live, "admin")
    auditor, _ = console_browser(live, "auditor")
    return {"admin": admin, "auditor": auditor, "target": target}


def _truth(server) -> list[dict]:
    """Every row as the database holds it, newest first (``detail`` decoded)."""
    rows = audit_rows(server)
    for row in rows:
        if isinstance(row["detail"], str):
            row["detail"] = json.loads(row["detail"])
    return rows[::-1]


def _walk(browser: HostedPages, params: dict) -> list[int]:
    """The seqs of every page of the list, following "Older" links."""
    seqs: list[int] = []
    page = browser.get(browser.base + "/admin/audit", params=params)
    for _ in range(1000):
        assert page.status_code == 200, page.text[:300]
        found = [int(s) for s in re.findall(r'<tr id="seq-(\d+)">', page.text)]
        assert len(found) <= PAGE_SIZE
        seqs += found
        older = re.search(r'<a href="([^"]+)" rel="next">Older</a>', page.text)
        if older is None:
            return seqs
        page = browser.get(browser.base + unescape(older.group(1)))
    raise AssertionError("no last page")


def _export(browser: HostedPages, params: dict) -> list[dict]:
    response = browser.get(browser.base + "/admin/audit/export", params=params)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    assert re.match(r'attachment; filename="audit-\d{8}T\d{6}Z\.jsonl"',
                    response.headers["Content-Disposition"])  # fmt: skip
    assert response.text.endswith("\n") or not response.text
    return [json.loads(line) for line in response.text.splitlines()]


def _day(row: dict) -> date:
    """The UTC day a row was written, as the page's date filters read it."""
    return datetime.fromtimestamp(row["at"], UTC).date()


def _filters(server, seeded) -> dict[str, tuple[dict, object]]:
    """Filter name -> (query arguments, the rows it must select)."""
    target, rows = seeded["target"], _truth(server)
    client_id = next(r["client_id"] for r in rows if r["event"] == "client_created")
    address = next(r["ip"] for r in rows if r["ip"])
    newest, oldest = _day(rows[0]), _day(rows[-1])  # a run may cross midnight (UTC)
    return {
        "event": ({"event": "sign_in"}, lambda r: r["event"] == "sign_in"),
        "user": ({"email": target["email"]}, lambda r: r["subject"] == target["sub"]),
        "client": ({"client_id": client_id}, lambda r: r["client_id"] == client_id),
        "outcome": ({"outcome": "failure"}, lambda r: r["outcome"] == "failure"),
        "ip": ({"ip": address}, lambda r: r["ip"] == address),
        "event and outcome": (
            {"event": "sign_in", "outcome": "success"},
            lambda r: r["event"] == "sign_in" and r["outcome"] == "success",
        ),
        "today": ({"since": str(newest), "until": str(newest)}, lambda r: _day(r) == newest),
        "from tomorrow": ({"since": str(newest + timedelta(days=1))}, lambda r: False),
        "until yesterday": ({"until": str(oldest - timedelta(days=1))}, lambda r: False),
    }


FILTERS = ["event", "user", "client", "outcome", "ip", "event and outcome", "today",
           "from tomorrow", "until yesterday"]  # fmt: skip


def test_unfiltered_pages_walk_every_row_newest_first_without_duplicates_or_gaps(
    audit_server, seeded
):
    seqs = _walk(seeded["admin"], {})
    assert seqs == [row["seq"] for row in _truth(audit_server)]
    assert len(seqs) > 3 * PAGE_SIZE  # several pages were walked


@pytest.mark.parametrize("name", FILTERS)
def test_each_filter_selects_exactly_its_rows_on_every_page(audit_server, seeded, name):
    params, wanted = _filters(audit_server, seeded)[name]
    rows = _truth(audit_server)
    expected = [row["seq"] for row in rows if wanted(row)]
    if name not in ("today", "from tomorrow", "until yesterday"):
        assert 0 < len(expected) < len(rows), "the filter narrows"
    assert _walk(seeded["admin"], params) == expected


@pytest.mark.parametrize("name", ["user", "client", "event and outcome", "today"])
def test_export_writes_exactly_the_filtered_rows_as_json_lines(audit_server, seeded, name):
    params, wanted = _filters(audit_server, seeded)[name]
    exported = _export(seeded["admin"], params)
    assert exported == [row for row in _truth(audit_server) if wanted(row)]


def test_a_row_is_shown_in_full_with_its_detail_as_indented_json(audit_server, seeded):
    row = next(r for r in _truth(audit_server) if r["event"] == "client_created")
    page = seeded["admin"].get(
        audit_server.url + "/admin/audit", params={"event": "client_created"}
    )
    shown = page.text.split(f'<tr id="seq-{row["seq"]}">')[1].split("</tr>")[0]
    for value in (row["hash"], row["prev_hash"], row["mac_kid"], row["client_id"], row["actor"]):
        assert value in shown
    assert f'"name": "{row["detail"]["name"]}"' in unescape(shown)  # indented: ", " spaced


@pytest.mark.parametrize(
    ("params", "message"),
    [({"email": "nobody@example.com"}, "No user has this email."),
     ({"since": "31/12/2026"}, "From: a date as YYYY-MM-DD.")],
)  # fmt: skip
def test_an_unreadable_filter_is_refused_beside_the_form(audit_server, seeded, params, message):
    for path in ("/admin/audit", "/admin/audit/export"):
        page = seeded["admin"].get(audit_server.url + path, params=params)
        assert page.status_code == 400 and message in page.text


def test_auditor_reads_exports_and_verifies(audit_server, seeded):
    auditor = seeded["auditor"]
    assert len(_walk(auditor, {"event": "sign_in"})) > 0
    assert _export(auditor, {"event": "sign_in"})
    page = auditor.get(audit_server.url + "/admin/audit/verify")
    assert page.status_code == 200 and "Chain intact" in page.text


def test_someone_without_a_console_role_gets_403_on_every_audit_page(audit_server, seeded):
    browser = HostedPages(audit_server.url)
    password_sign_in(browser, person(audit_server))
    for path in ("/admin/audit", "/admin/audit/export", "/admin/audit/verify"):
        page = browser.get(audit_server.url + path, allow_redirects=False)
        assert page.status_code == 403 and "changes nothing" not in page.text


def test_verify_reports_intact_then_the_edited_row_then_intact_once_restored(audit_server, seeded):
    admin, url = seeded["admin"], audit_server.url + "/admin/audit/verify"
    rows = _truth(audit_server)
    intact = admin.get(url)
    assert "Chain intact" in intact.text and f"{len(rows)} rows" in intact.text
    victim = rows[len(rows) // 2]
    _set_actor(audit_server, victim["seq"], "mallory")
    try:
        broken = admin.get(url)
        assert broken.status_code == 200
        report = unescape(re.search(r'id="chain-report">([^<]+)', broken.text).group(1))
        assert f"Chain broken at row {victim['seq']}" in report and "edited" in report
        assert f'<tr id="seq-{victim["seq"]}">' in broken.text  # the rows from the broken one
    finally:
        _set_actor(audit_server, victim["seq"], victim["actor"])
    assert "Chain intact" in admin.get(url).text


def _set_actor(server, seq: int, actor: str | None) -> None:
    """Edit a row as someone with database access (the append-only triggers dropped)."""
    with connect(server) as conn:
        try:
            _drop_guards(conn)
        except Exception:  # noqa: BLE001 -- dropped by an earlier call
            conn.rollback()
        _query(conn, "UPDATE audit_events SET actor = ? WHERE seq = ?", (actor, seq))
        conn.commit()


BASE_DAY = date(2026, 1, 1)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_dates_alone_select_exactly_their_rows_even_when_clocks_disagree(
    tmp_path, request, backend
):
    """Dates without an indexed filter: a range that is the smaller share of the log is first
    turned into a ``seq`` range from the (at, seq) index, a larger one walks down from the
    newest row; both list exactly the rows of those days, newest first, page by page, also
    rows whose ``at`` is earlier than the row before (a node whose clock runs behind)."""
    with upgraded_app(tmp_path, request, backend, "audit_dates"):
        truth = _seed_days(days=10, per_day=30)
        day = lambda n: str(BASE_DAY + timedelta(days=n))  # noqa: E731
        cases = [  # (filters, the rows' days, bounded by seq first)
            (audit_log.Filters(since=day(2), until=day(2)), {2}, True),
            (audit_log.Filters(since=day(1), until=day(3)), {1, 2, 3}, True),
            (audit_log.Filters(until=day(1)), {0, 1}, True),
            (audit_log.Filters(since=day(2), until=day(2), outcome="failure"), {2}, True),
            (audit_log.Filters(since=day(3)), set(range(3, 10)), False),
            (audit_log.Filters(since=day(20)), set(), False),
        ]
        for filters, days, bounded in cases:
            expected = [
                seq for seq, at, outcome in truth
                if (at - _midnight(0)) // 86400 in days
                and (not filters.outcome or outcome == filters.outcome)
            ]  # fmt: skip
            walked, statements = _walk_pages(filters)
            assert walked == expected, filters
            assert any("min(audit_events.seq +" in s for s in statements) == bounded, filters
            assert days == set() or len(expected) > 7  # several pages
        _, bounds, _ = _plans(lambda: audit_log.page(cases[0][0], limit=7))  # span, bounds, page
        assert "ix_audit_events_at_seq" in bounds, bounds  # not a walk of the primary key


def _midnight(day: int) -> int:
    return int(
        datetime.combine(BASE_DAY + timedelta(days=day), datetime.min.time(), UTC).timestamp()
    )


def _seed_days(days: int, per_day: int) -> list[tuple[int, int, str]]:
    """``per_day`` rows a day in ``seq`` order over ``days`` days, every fourth a failure; then
    rows appended late with an earlier ``at`` (a clock behind: on day 2, and on day 0), and
    one in the middle with a later one. Returns (seq, at, outcome) newest first."""
    stamps = [_midnight(d) + 60 + i * 2000 for d in range(days) for i in range(per_day)]
    stamps[5 * per_day] = _midnight(2) + 7  # day 5's first row carries day 2's time
    stamps += [_midnight(2) + 500, _midnight(0) + 9]
    rows = [
        {"at": at, "event": "sign_in", "outcome": "failure" if i % 4 == 0 else "success",
         "detail": {}, "prev_hash": "0" * 64, "hash": "0" * 64}
        for i, at in enumerate(stamps)
    ]  # fmt: skip
    db.session.execute(insert(AuditEvent), rows)
    db.session.commit()
    query = select(AuditEvent.seq, AuditEvent.at, AuditEvent.outcome).order_by(AuditEvent.seq)
    return [tuple(r) for r in db.session.execute(query).all()][::-1]


def _walk_pages(filters) -> tuple[list[int], list[str]]:
    """Every page of ``audit_log.page`` (7 a page), and the statements it sent."""
    statements: list[str] = []

    def record(conn, cursor, statement, *_):
        statements.append(statement)

    seqs: list[int] = []
    before: int | None = None
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        while True:
            page = audit_log.page(filters, before=before, limit=7)
            seqs += [row.seq for row in page.rows]
            db.session.remove()
            if page.next_before is None:
                return seqs, statements
            before = page.next_before
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
