"""Steps the admin console's tests share: people with roles, signed in on the hosted pages."""

from __future__ import annotations

import email
import json
import re
from html import unescape

from tests.support.factors import enroll_totp, next_totp, password_sign_in
from tests.support.oidc import HostedPages, csrf_token, submit_code


def person(server, *roles: str, **kw) -> dict:
    """A new user holding ``roles`` (set with ``idp users set-roles``)."""
    account = server.create_user(**kw)
    if roles:
        server.cli("users", "set-roles", account["email"], *roles)
    return account


def show(server, email: str) -> dict:
    return json.loads(server.cli("users", "show", email).stdout)


def user_id(browser: HostedPages, email: str) -> int:
    """The console's id of ``email``'s user, found through the user list."""
    page = browser.get(browser.base + "/admin/users", params={"q": email})
    assert page.status_code == 200, page.text[:300]
    return int(re.search(r'href="/admin/users/(\d+)"', page.text).group(1))


def console_browser(server, *roles: str) -> tuple[HostedPages, dict]:
    """A browser signed in with a password and an authenticator app code, as a new user with
    ``roles``, on the console's dashboard."""
    account = enroll_totp(server, person(server, *roles))
    browser = HostedPages(server.url)
    password_sign_in(browser, account)
    asked = browser.get(server.url + "/admin/", allow_redirects=False)
    assert asked.status_code in (302, 303), asked.text[:300]
    assert "/mfa/?next=admin" in asked.headers["Location"]
    page = browser.follow(server.url + asked.headers["Location"], stop_at="/never")
    done = submit_code(browser, page, next_totp(account), stop_at="/never")
    assert done.status_code == 200 and "Admin console" in done.text, done.text[:300]
    return browser, account


def roles_form(page_html: str) -> tuple[str, str]:
    """The set-roles form's action and CSRF token."""
    action = re.search(r'<form method="post" action="([^"]+/roles)"', page_html).group(1)
    return unescape(action), csrf_token(page_html)


# --- recovery (issue 14): the steps test_recovery*.py and the console journeys share ----------

RECOVERY_NOTE = (
    "Called them back on the number in the HR record; they answered the security questions."
)


def mails(live, to: str) -> list[email.message.Message]:
    """The mails to ``to`` in the provider's development outbox (``instance/outbox``)."""
    paths = sorted(live.instance.glob("outbox/*"))  # named by the time they were written
    messages = [email.message_from_bytes(p.read_bytes()) for p in paths]
    return [m for m in messages if m["To"] == to]


def mail_body(message: email.message.Message) -> str:
    return message.get_payload(decode=True).decode()


def mail_with(live, to: str, subject: str) -> str:
    found = [mail_body(m) for m in mails(live, to) if m["Subject"] == subject]
    assert found, f"no mail {subject!r} to {to}"
    return found[-1]


def lost_user(live) -> tuple[HostedPages, dict]:
    """A user with an authenticator app, past the password step in a browser of their own."""
    account = enroll_totp(live)
    browser = HostedPages(live.url)
    assert password_sign_in(browser, account).status_code == 303
    return browser, account


def ask(browser: HostedPages):
    """Ask for a recovery on ``/recovery/`` (the browser is past the password step)."""
    page = browser.get(browser.base + "/recovery/")
    assert page.status_code == 200, page.text[:300]
    return browser.post(
        browser.base + "/recovery/", data={"csrf_token": csrf_token(page.text)},
        allow_redirects=False,
    )  # fmt: skip


def request_id(live, account: dict, admin: dict) -> int:
    """The request's id, from the link in the mail ``admin`` got about ``account``."""
    mail = [b for b in map(mail_body, mails(live, admin["email"])) if account["email"] in b][-1]
    return int(re.search(r"/admin/recovery/(\d+)", mail).group(1))


def decide(
    browser: HostedPages, rid: int, action: str = "approve", note: str = RECOVERY_NOTE, **extra
):
    """An admin's decision on request ``rid`` (``approve``, ``deny`` or ``cancel``)."""
    page = browser.get(browser.base + f"/admin/recovery/{rid}")
    data = {"csrf_token": csrf_token(page.text), "note": note, **extra}
    return browser.post(
        browser.base + f"/admin/recovery/{rid}/{action}", data=data, allow_redirects=False
    )


def recovery_link(live, account: dict) -> str:
    """The single-use link of the last "Recover your account" mail to ``account``."""
    text = mail_with(live, account["email"], "Recover your account")
    return re.search(r"(http://\S+/recovery/link/\S+)", text).group(1)


def open_link(link: str, account: dict, password: str | None = None):
    """Open a recovery link in a new browser with the password; (browser, response)."""
    browser = HostedPages(link.split("/recovery/")[0])
    page = browser.get(link)
    assert page.status_code == 200, page.text[:300]
    data = {"csrf_token": csrf_token(page.text), "password": password or account["password"]}
    return browser, browser.post(link, data=data, allow_redirects=False)
