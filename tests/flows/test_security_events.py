"""A person's own security page lists what happened to their account in plain sentences: their
sign-ins and sign-outs, the methods they added, and failed attempts (a wrong password, a wrong
code), with the steps inside one action (a challenge issued, an enrolment started, an
unfinished enrolment abandoned) left out and repeats collapsed into one line with a count.
"""

from __future__ import annotations

import re
import time
from html import unescape

import pyotp
import pytest

from tests.support.factors import password_sign_in
from tests.support.oidc import HostedPages, csrf_token, hidden, submit_code

INTERNAL = re.compile(r"\b[a-z]+_[a-z_]+\b")  # an event name: sign_in, enrollment_started, ...


def _wrong(secret: str) -> str:
    near = {pyotp.TOTP(secret).at(time.time() + 30 * k) for k in range(-3, 4)}
    return next(c for c in (f"{n:06d}" for n in range(10**6)) if c not in near)


class Lines(list):
    """The lines of "Recent security events", without their times; ``emphasised``: the
    sentences shown in bold."""

    emphasised: list[str]


def _events(browser: HostedPages) -> Lines:
    page = browser.get(browser.base + "/account/security/")
    assert page.status_code == 200, page.text[:300]
    section = page.text.split('id="events-h"')[1].split("</section>")[0]
    raw = re.findall(r"<li[^>]*>(.*?)</li>", section, re.S)
    lines = Lines(unescape(re.sub(r"<time>.*?</time> — |</?strong>", "", li)).strip() for li in raw)
    lines.emphasised = [unescape(text) for text in re.findall(r"<strong>(.*?)</strong>", section)]
    return lines


def _add_totp_after_three_false_starts(server, browser: HostedPages) -> str:
    """Open the authenticator app page four times, answer a wrong code, then the right one."""
    for _ in range(4):
        page = browser.get(server.url + "/account/security/totp")
        assert page.status_code == 200
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)
    form = {"csrf_token": csrf_token(page.text), "challenge": hidden(page.text, "challenge"),
            "name": "Phone"}  # fmt: skip
    wrong = browser.post(
        server.url + "/account/security/totp", data={**form, "code": _wrong(secret)}
    )
    assert wrong.status_code == 400
    done = browser.post(
        server.url + "/account/security/totp", data={**form, "code": pyotp.TOTP(secret).now()}
    )
    assert done.status_code == 200, done.text[:300]
    return secret


def _sign_out(server, browser: HostedPages) -> None:
    page = browser.get(server.url + "/logout")
    gone = browser.post(server.url + "/logout/confirm", data={"csrf_token": csrf_token(page.text)})
    assert gone.status_code == 200


@pytest.fixture(scope="module")
def history(server):
    """A person's morning: two wrong passwords, a sign-in, an authenticator app added after
    false starts, a sign-out, a wrong code and a right one, and what the page then says."""
    account = server.create_user()
    browser = HostedPages(server.url)
    for _ in range(2):
        password_sign_in(browser, {**account, "password": "not my password"})
    password_sign_in(browser, account)
    secret = _add_totp_after_three_false_starts(server, browser)
    _sign_out(server, browser)
    password_sign_in(browser, account)
    page = browser.follow(server.url + "/mfa/?next=security", stop_at="/never")
    page = submit_code(browser, page, _wrong(secret), stop_at="/never")
    assert page.status_code == 401
    later = pyotp.TOTP(secret).at(time.time() + 30)
    done = submit_code(browser, page, later, stop_at="/never")
    assert done.status_code == 200, done.text[:300]
    return _events(browser)


def test_the_persons_actions_read_as_sentences_newest_first(history):
    expected = [
        "You confirmed it was you with your second factor.",
        "A sign-in failed: wrong code.",
        "You signed in.",
        "You signed out.",
        "You created new backup codes.",
        "You added an authenticator app 'Phone'.",
        "Adding a sign-in method failed: wrong code.",
        "You signed in.",
        "A sign-in failed: wrong password. (2 times)",
        "Your account was created.",
    ]
    assert [re.sub(r" From [\d.:a-f]+\.$", "", line) for line in history] == expected


def test_repeats_collapse_and_internal_steps_are_not_shown(history):
    text = "\n".join(history)
    assert "(2 times)" in text
    assert not INTERNAL.search(text), text  # no event names
    assert "removed" not in text  # the abandoned enrolments: no "you removed" either
    assert "challenge" not in text.lower() and "enrol" not in text.lower()


def test_a_sign_in_from_the_browser_names_its_address(history):
    assert history[2].startswith("You signed in.") and " From " in history[2]


def test_failures_are_emphasised_and_nothing_else(history):
    assert history.emphasised == [
        "A sign-in failed: wrong code.",
        "Adding a sign-in method failed: wrong code.",
        "A sign-in failed: wrong password.",
    ]
