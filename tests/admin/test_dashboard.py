"""The console's dashboard on the live provider (SQLite and PostgreSQL): sign-in charts whose
figures table counts this hour's and today's sign-ins, factors locked and passwords waiting
now, and the last day's suspicious events; and its audit queries read the (event, at) index."""

from __future__ import annotations

import re
import time
from html import unescape

import pytest

from idp.accounts import dashboard
from idp.clock import now
from tests.admin.support import console_browser, person, user_id
from tests.admin.test_audit_log_migration import _plans
from tests.support.factors import enroll_soft_passkey, enroll_totp, password_sign_in
from tests.support.live import backend_server
from tests.support.migrations import upgraded_app
from tests.support.oidc import HostedPages, RelyingParty, submit_code

SETTINGS = {
    "ADMIN_REQUIRE_PASSKEY": "false",
    "LOCKOUT_THRESHOLD": "3",  # three wrong codes lock a factor
    "BACKOFF_AFTER": "50",
    "PASSWORD_BACKOFF_FIRST": "600",  # a back-off that outlasts the test
    "ADMIN_DASHBOARD_TTL": "0",  # each test reads what it just did
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def console(request, tmp_path_factory):
    with backend_server(request, tmp_path_factory, "admin_dashboard", **SETTINGS) as live:
        live.rp = live.create_client(
            "--name", "RP", "--redirect-uri", "http://localhost:9/cb", "--first-party"
        )
        yield live


@pytest.fixture(scope="module")
def admin(console):
    return console_browser(console, "admin")[0]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def kept_console(request, tmp_path_factory):
    """A provider that keeps the dashboard's counts and charts for an hour."""
    settings = {"ADMIN_REQUIRE_PASSKEY": "false", "ADMIN_DASHBOARD_TTL": "3600"}
    with backend_server(request, tmp_path_factory, "admin_dashboard_kept", **settings) as live:
        yield live


def _dashboard(console, browser) -> str:
    page = browser.get(console.url + "/admin/")
    assert page.status_code == 200, page.text[:300]
    return page.text


def _current(page_html: str, chart: str) -> tuple[str, int, int]:
    """The newest bucket's row of a chart's figures table: (label, signed in, failed)."""
    table = re.search(
        rf'<table class="data" id="chart-{chart}-table">(.*?)</table>', page_html, re.S
    )
    label, ok, failed = re.search(
        r"<tbody>\s*<tr><th scope=\"row\">([^<]+)</th><td>(\d+)</td><td>(\d+)</td>", table.group(1)
    ).groups()
    return label, int(ok), int(failed)


def _section(page_html: str, heading_id: str) -> str:
    """From the heading ``heading_id`` to the next heading."""
    rest = page_html[page_html.index(f'id="{heading_id}"') :]
    following = re.search(r"<h[23] ", rest)
    return rest[: following.start()] if following else rest


def _away_from_a_bucket_edge() -> None:
    """Wait out the last seconds of a clock hour, so a count lands in the bucket it is read in."""
    left = 3600 - time.time() % 3600
    if left < 30:
        time.sleep(left + 1)


def _wrong_password(console, account: dict) -> None:
    browser = HostedPages(console.url)
    refused = password_sign_in(browser, {**account, "password": "wrong password"})
    assert refused.status_code == 401, refused.text[:300]


def test_the_charts_count_this_hours_and_todays_sign_ins_and_failures(console, admin):
    _away_from_a_bucket_edge()
    before = _dashboard(console, admin)
    account = person(console)
    for _ in range(3):
        assert password_sign_in(HostedPages(console.url), account).status_code in (302, 303)
    for _ in range(2):
        _wrong_password(console, account)
    after = _dashboard(console, admin)
    for chart in ("hours", "days"):
        label, ok, failed = _current(after, chart)
        was_label, was_ok, was_failed = _current(before, chart)
        assert label == was_label
        assert (ok - was_ok, failed - was_failed) == (3, 2), chart
    assert '<svg class="chart" role="img"' in after
    assert '<title id="chart-hours-t">Sign-ins per hour, last 24 hours (UTC)</title>' in after


def test_a_factor_locked_by_wrong_codes_is_listed_under_lockouts(console, admin):
    account = enroll_totp(console)
    relying, browser = RelyingParty(console, console.rp), HostedPages(console.url)
    page = relying.sign_in(browser, account).response
    for _ in range(3):  # the third wrong code locks the factor
        page = submit_code(browser, page, "000000", relying.redirect_uri)
        assert page.status_code == 401, page.text[:300]
    locked = _section(_dashboard(console, admin), "locked-h")
    assert (
        f'href="/admin/users/{user_id(admin, account["email"])}">{account["email"]}</a>' in locked
    )
    assert int(re.search(r'<span class="count">(\d+)</span>', locked).group(1)) >= 1


def test_a_burst_of_wrong_passwords_is_suspicious_and_makes_the_password_wait(console, admin):
    _away_from_a_bucket_edge()
    account = person(console)
    for _ in range(dashboard.BURST):
        _wrong_password(console, account)
    page = _dashboard(console, admin)
    bursts = unescape(_section(page, "bursts-h"))
    uid = user_id(admin, account["email"])
    link = f'<a href="/admin/users/{uid}">{account["email"]}</a>'
    assert re.search(rf"{dashboard.BURST} failed for\s+{re.escape(link)}", bursts), bursts
    assert "/admin/audit?event=sign_in&outcome=failure&email=" in bursts
    assert "failed from address" in bursts and "ip=127.0.0.1" in bursts
    waiting = _section(page, "passwords-h")
    assert f'href="/admin/users/{uid}">{account["email"]}</a>' in waiting


def test_a_new_passkey_is_listed_among_suspicious_events(console, admin):
    account = person(console)
    browser = HostedPages(console.url)
    password_sign_in(browser, account, "security")
    enroll_soft_passkey(browser, account["sub"])
    passkeys = unescape(_section(_dashboard(console, admin), "passkeys-h"))
    assert (
        f'href="/admin/users/{user_id(admin, account["email"])}">{account["email"]}</a>' in passkeys
    )
    assert f"/admin/audit?event=factor_activated&email={account['email']}" in passkeys


def test_a_user_without_a_passkey_is_not_listed_among_new_passkeys(console, admin):
    account = enroll_totp(console)  # an authenticator app, not a passkey
    passkeys = _section(_dashboard(console, admin), "passkeys-h")
    assert account["email"] not in passkeys


def test_the_auditor_reads_the_dashboard(console):
    auditor, _ = console_browser(console, "auditor")
    page = _dashboard(console, auditor)
    assert "Lockouts and back-offs now" in page and "Suspicious activity, last 24 hours" in page
    assert 'id="chart-days-table"' in page


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_each_chart_is_one_query_over_a_range_of_the_event_at_index(tmp_path, request, backend):
    with upgraded_app(tmp_path, request, backend, "plan_charts"):
        for width, count in ((dashboard.HOUR, 24), (dashboard.DAY, 30)):
            (plan,) = _plans(lambda w=width, c=count: dashboard.sign_ins(w, c, now()))
            assert "ix_audit_events_event_at" in plan, plan
        plans = _plans(dashboard.activity)
    assert len(plans) == 7  # two charts, two kinds of burst, two event lists, password waits
    for plan in plans:
        assert "ix_audit_events_event_at" in plan, plan


def test_counts_and_charts_are_kept_for_the_ttl_and_say_as_of_when(kept_console):
    """The counts read every user and factor, so they are kept (``IDP_ADMIN_DASHBOARD_TTL``):
    a new user and a sign-in change neither the figures nor the charts until then, and the
    page says when they were counted; lockouts stay current."""
    browser, _ = console_browser(kept_console, "auditor")
    before = _dashboard(kept_console, browser)
    account = person(kept_console)
    assert password_sign_in(HostedPages(kept_console.url), account).status_code in (302, 303)
    after = _dashboard(kept_console, browser)
    assert _figures(after) == _figures(before)
    assert _current(after, "hours") == _current(before, "hours")
    as_of = re.search(r'<p class="hint" id="as-of">Counts and charts as of ([^,]+),', after)
    assert as_of and as_of.group(1).endswith(" UTC"), after[:2000]
    assert "counted again at most every 3600 seconds" in after


def _figures(page_html: str) -> dict[str, str]:
    return dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)%?</dd>", page_html))
