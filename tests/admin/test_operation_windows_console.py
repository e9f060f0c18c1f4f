"""The console's sensitive-operation windows on the live provider (SQLite and PostgreSQL): an
admin sets a window and it is in force at once for users' account pages, sees it listed as set
by an admin, gives it back to the configuration; bad values are refused next to their field
and change nothing; auditors read and cannot change; every change is audited with the admin
as actor.

The configuration gives ``change_password`` a one-second window, so a user's second factor is
too old for it two seconds later, until the console sets a longer window.
"""

from __future__ import annotations

import json
import re
import time
from html import unescape

import pytest

from tests.admin.support import console_browser
from tests.support.factors import enroll_totp, next_totp, password_sign_in
from tests.support.live import backend_server
from tests.support.oidc import HostedPages, csrf_token, submit_code

PAGE = "/admin/policy/windows"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def console(request, tmp_path_factory):
    settings = {
        "ADMIN_REQUIRE_PASSKEY": "false",
        "STEPUP_WINDOW": "300",
        "STEPUP_WINDOWS": "add_factor=600,change_password=1",
    }
    with backend_server(request, tmp_path_factory, "admin_windows", **settings) as live:
        yield live


@pytest.fixture(scope="module")
def admin(console):
    return console_browser(console, "admin")


def section(page_html: str, operation: str) -> str:
    """The text of ``operation``'s section on the page, whitespace collapsed."""
    found = re.search(rf'<section aria-labelledby="{operation}-h">(.*?)</section>', page_html, re.S)
    assert found, f"no section for {operation}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def set_window(browser: HostedPages, base: str, operation: str, seconds: str, **extra):
    """Post ``operation``'s form as the page shows it, with ``seconds`` typed in."""
    page = browser.get(base + PAGE)
    token = re.search(rf'name="{operation}-csrf_token"[^>]*value="([^"]+)"', page.text)
    data = {f"{operation}-csrf_token": token.group(1), f"{operation}-seconds": seconds, **extra}
    return browser.post(f"{base}{PAGE}/{operation}", data=data, allow_redirects=False)


def clear_window(browser: HostedPages, base: str, operation: str):
    token = csrf_token(browser.get(base + PAGE).text)
    return browser.post(
        f"{base}{PAGE}/{operation}/clear", data={"csrf_token": token}, allow_redirects=False
    )


def listed(console) -> dict:
    return json.loads(console.cli("policy", "windows").stdout)


def window_changes(browser: HostedPages, base: str, operation: str) -> list[dict]:
    """The audit log's ``operation_window_changed`` rows for ``operation``, from its export."""
    exported = browser.get(
        base + "/admin/audit/export", params={"event": "operation_window_changed"}
    )
    assert exported.status_code == 200, exported.text[:300]
    rows = [json.loads(line) for line in exported.text.splitlines()]
    return sorted(
        (r for r in rows if r["detail"]["operation"] == operation), key=lambda r: r["seq"]
    )


def test_a_window_set_here_is_listed_as_such_and_cleared_back_to_the_configuration(console, admin):
    browser, account = admin
    page = browser.get(console.url + PAGE)
    assert page.status_code == 200
    assert section(page.text, "revoke_devices") == (
        "Forget remembered browsers Window: 5 minutes (300 seconds), from the configuration. "
        "Window in seconds Set the window"
    )
    assert "Use the configured value" not in section(page.text, "revoke_devices")

    done = set_window(browser, console.url, "revoke_devices", "90")
    assert done.status_code == 303 and done.headers["Location"] == PAGE
    shown = browser.get(console.url + PAGE).text
    assert "Forget remembered browsers: the window is now 1 minute 30 seconds." in shown
    assert section(shown, "revoke_devices").startswith(
        "Forget remembered browsers Window: 1 minute 30 seconds (90 seconds), set by an admin; "
        "the configuration gives 5 minutes."
    )
    field = re.search(r'<input[^>]*name="revoke_devices-seconds"[^>]*>', shown).group(0)
    assert 'value="90"' in field and 'min="30"' in field and 'max="86400"' in field
    assert "Use the configured value (5 minutes)" in section(shown, "revoke_devices")
    assert listed(console)["revoke_devices"] == {
        "seconds": 90, "source": "console", "configured": 300,
    }  # fmt: skip

    cleared = clear_window(browser, console.url, "revoke_devices")
    assert cleared.status_code == 303
    shown = browser.get(console.url + PAGE).text
    assert "Forget remembered browsers: the window is now the configured 5 minutes." in shown
    assert "from the configuration." in section(shown, "revoke_devices")
    assert listed(console)["revoke_devices"]["source"] == "configuration"

    changes = window_changes(browser, console.url, "revoke_devices")
    assert [(c["actor"], c["detail"]["before"], c["detail"]["after"]) for c in changes] == [
        (account["email"], {"seconds": 300}, {"seconds": 90, "source": "console"}),
        (account["email"], {"seconds": 90, "source": "console"},
         {"seconds": 300, "source": "configuration"}),
    ]  # fmt: skip


def test_a_window_set_in_the_console_decides_when_a_user_is_asked_again(console, admin):
    """The configuration's one second is over, the console's hour is not, and clearing it
    brings the one second back: each time the same password change is let through or not."""
    browser, _ = admin
    user = enroll_totp(console)
    pages = HostedPages(console.url)
    password_sign_in(pages, user, "account")

    def change_password():
        token = csrf_token(pages.get(console.url + "/account/").text)
        data = {"csrf_token": token, "current_password": "not the password",
                "password": "a new long password", "confirm": "a new long password"}  # fmt: skip
        return pages.post(console.url + "/account/password", data=data, allow_redirects=False)

    def asked(response) -> bool:
        if response.status_code == 303 and "/mfa/" in response.headers["Location"]:
            return True
        assert response.status_code == 400 and "not your current password" in response.text
        return False

    first = change_password()
    assert asked(first)
    page = pages.follow(console.url + first.headers["Location"], stop_at="/never")
    submit_code(pages, page, next_totp(user), stop_at="/never")
    assert not asked(change_password())  # the second factor is fresh
    time.sleep(2)
    assert asked(change_password())  # older than the configured second

    assert set_window(browser, console.url, "change_password", "3600").status_code == 303
    assert not asked(change_password())
    assert clear_window(browser, console.url, "change_password").status_code == 303
    assert asked(change_password())


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("29", "Give between 30 and 86400 seconds (24 hours)."),
        ("86401", "Give between 30 and 86400 seconds (24 hours)."),
        ("five minutes", "Not a valid integer value."),
        ("", "Give a number of seconds."),
    ],
)
def test_a_bad_value_is_refused_next_to_its_field_and_changes_nothing(console, admin, typed, error):
    browser, _ = admin
    refused = set_window(browser, console.url, "regenerate_backup_codes", typed)
    assert refused.status_code == 400
    field = re.search(
        r'<input[^>]*aria-invalid="true"[^>]*name="regenerate_backup_codes-seconds"[^>]*>\s*'
        r'<p class="error" id="regenerate_backup_codes-seconds-error">([^<]*)</p>',
        refused.text,
    )
    assert field and error in unescape(field.group(1)), refused.text
    assert "from the configuration." in section(refused.text, "regenerate_backup_codes")
    assert listed(console)["regenerate_backup_codes"]["source"] == "configuration"
    assert window_changes(browser, console.url, "regenerate_backup_codes") == []


def test_without_a_csrf_token_nothing_changes(console, admin):
    browser, _ = admin
    refused = browser.post(
        f"{console.url}{PAGE}/change_email", data={"change_email-seconds": "60"},
        allow_redirects=False,
    )  # fmt: skip
    assert refused.status_code == 400
    assert listed(console)["change_email"]["source"] == "configuration"


def test_an_auditor_reads_the_windows_and_cannot_change_them(console, admin):
    assert set_window(admin[0], console.url, "remove_factor", "120").status_code == 303
    auditor, _ = console_browser(console, "auditor")
    page = auditor.get(console.url + PAGE)
    assert page.status_code == 200 and '<form method="post"' not in page.text
    assert "set by an admin" in section(page.text, "remove_factor")
    token = csrf_token(auditor.get(console.url + "/account/").text)
    for path in ("/remove_factor", "/remove_factor/clear"):
        refused = auditor.post(
            console.url + PAGE + path,
            data={"csrf_token": token, "remove_factor-csrf_token": token,
                  "remove_factor-seconds": "60"},
        )  # fmt: skip
        assert refused.status_code == 403
    assert listed(console)["remove_factor"]["seconds"] == 120
    assert clear_window(admin[0], console.url, "remove_factor").status_code == 303


def test_the_admin_window_warns_that_a_fresh_second_factor_may_be_asked(console, admin):
    text = section(admin[0].get(console.url + PAGE).text, "admin")
    assert "you may be asked for your second factor again at your next change" in text


def test_an_unknown_operation_is_a_404(console, admin):
    browser, _ = admin
    token = csrf_token(browser.get(console.url + "/account/").text)
    for path in ("/launch_rockets", "/launch_rockets/clear"):
        data = {"csrf_token": token, "launch_rockets-seconds": "60"}
        assert browser.post(console.url + PAGE + path, data=data).status_code == 404


def test_the_policy_page_links_to_the_windows(console, admin):
    page = admin[0].get(console.url + "/admin/policy")
    assert f'href="{PAGE}"' in page.text
