"""Step-up on the provider itself: each sensitive operation needs a second factor within its own
window (``IDP_STEPUP_WINDOWS``), and only what is missing is asked."""

from __future__ import annotations

import email
import re
import time

import pytest

from tests.support.factors import backup_code_page, enroll_totp, next_totp, password_sign_in
from tests.support.live import make_server
from tests.support.oidc import HostedPages, csrf_token, hidden

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(scope="module")
def windowed(tmp_path_factory):
    """A provider where changing the password or the email needs a second factor of the last
    2 seconds."""
    live = make_server(
        tmp_path_factory.mktemp("idp-stepup"),
        None,
        STEPUP_WINDOWS="change_password=2,change_email=2",
    )
    live.start()
    yield live
    live.stop()


def _answer(browser: HostedPages, page, code: str):
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    data = {"csrf_token": csrf_token(page.text), "challenge": hidden(page.text, "challenge"),
            "next": hidden(page.text, "next"), "code": code}  # fmt: skip
    return browser.post(browser.base + action, data=data, allow_redirects=False)


def _change_password(browser: HostedPages, person: dict):
    page = browser.get(browser.base + "/account/")
    data = {"csrf_token": csrf_token(page.text), "current_password": person["password"],
            "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}  # fmt: skip
    return browser.post(browser.base + "/account/password", data=data, allow_redirects=False)


def test_each_operation_has_its_own_window_and_step_up_asks_only_the_second_factor(windowed):
    person = enroll_totp(windowed)
    browser = HostedPages(windowed.url)
    asked = password_sign_in(browser, person, "account")
    second = browser.get(windowed.url + asked.headers["Location"])
    signed_in = _answer(browser, backup_code_page(browser, second), person["codes"][0])
    assert signed_in.headers["Location"].endswith("/account/")
    time.sleep(3)  # past change_password's 2 s, well inside the default 300 s

    refused = _change_password(browser, person)
    assert refused.status_code == 303 and "/mfa/" in refused.headers["Location"]
    account = browser.get(windowed.url + "/account/")
    email_change = browser.post(
        windowed.url + "/account/email",
        data={"csrf_token": csrf_token(account.text), "email": "elsewhere@example.com"},
        allow_redirects=False,
    )
    assert email_change.status_code == 303 and "/mfa/" in email_change.headers["Location"]
    sent_to = {
        email.message_from_bytes(p.read_bytes())["To"] for p in windowed.instance.glob("outbox/*")
    }
    assert "elsewhere@example.com" not in sent_to  # nothing was started
    page = browser.get(windowed.url + "/account/security/")
    regenerated = browser.post(
        windowed.url + "/account/security/backup-codes",
        data={"csrf_token": csrf_token(page.text)},
    )
    assert regenerated.status_code == 200 and "Your backup codes" in regenerated.text

    step = browser.follow(windowed.url + refused.headers["Location"], stop_at="nowhere")
    assert 'name="password"' not in step.text  # the session stands: only the factor is asked
    assert _answer(browser, step, next_totp(person)).headers["Location"].endswith("/account/")
    changed = _change_password(browser, person)
    assert changed.status_code == 303 and changed.headers["Location"].endswith("/account/")
    assert "Your password was changed." in browser.get(windowed.url + "/account/").text
