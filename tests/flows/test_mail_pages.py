"""Self-registration and password reset by an emailed single-use link, via a real SMTP server."""

from __future__ import annotations

import re
import time

import pytest

from tests.support.live import make_server
from tests.support.oidc import HostedPages, csrf_token
from tests.support.smtp import smtp_server


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory):
    with smtp_server() as (inbox, port):
        live = make_server(
            tmp_path_factory.mktemp("idp-mail"),
            None,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=port,
            SELF_REGISTRATION="true",
            PASSWORD_RESET_TTL=2,
        )
        live.start()
        live.inbox = inbox
        yield live
        live.stop()


def _form(browser: HostedPages, path: str, **data):
    page = browser.get(browser.base + path)
    return browser.post(
        browser.base + path, data={"csrf_token": csrf_token(page.text), **data},
        allow_redirects=False,
    )  # fmt: skip


def _reset_link(mail_server, email: str) -> str:
    body = mail_server.inbox.wait_for(email).get_payload(decode=True).decode()
    return re.search(r"(http://\S+/password/reset/\S+)", body).group(1)


def test_self_registration_signs_the_new_user_in(mail_server):
    browser = HostedPages(mail_server.url)
    response = _form(
        browser, "/register", name="New", email="new@example.com", password="long enough pw"
    )
    assert response.status_code == 303
    assert "new@example.com" in browser.get(mail_server.url + "/account/").text


def test_registration_with_a_taken_email_says_so_next_to_the_field(mail_server):
    mail_server.create_user(email="taken@example.com")
    response = _form(
        HostedPages(mail_server.url), "/register", email="taken@example.com", password="pw long 123"
    )
    assert response.status_code == 400 and "An account with this email exists" in response.text


def test_password_reset_link_arrives_by_smtp_works_once(mail_server):
    person = mail_server.create_user(email="forgetful@example.com")
    browser = HostedPages(mail_server.url)
    sent = _form(browser, "/password/forgot", email=person["email"])
    assert sent.status_code == 303
    link = _reset_link(mail_server, person["email"])
    page = browser.get(link)
    new = {
        "csrf_token": csrf_token(page.text),
        "password": "brand new pw",
        "confirm": "brand new pw",
    }
    assert browser.post(link, data=new, allow_redirects=False).status_code == 303
    assert browser.post(link, data=new, allow_redirects=False).status_code == 400
    signed_in = _form(
        HostedPages(mail_server.url), "/login", email=person["email"], password="brand new pw"
    )
    assert signed_in.status_code == 303


def test_reset_link_secret_never_reaches_the_server_log(mail_server):
    person = mail_server.create_user(email="logged@example.com")
    _form(HostedPages(mail_server.url), "/password/forgot", email=person["email"])
    link = _reset_link(mail_server, person["email"])
    HostedPages(mail_server.url).get(link)
    secret = link.rsplit("/", 1)[1]
    assert "/password/reset/[redacted]" in mail_server.log
    assert secret not in mail_server.log


def test_password_reset_for_unknown_email_looks_the_same_and_sends_nothing(mail_server):
    before = len(mail_server.inbox.messages)
    sent = _form(HostedPages(mail_server.url), "/password/forgot", email="ghost@example.com")
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/password/sent")
    assert len(mail_server.inbox.messages) == before


def test_expired_password_reset_link_is_refused(mail_server):
    person = mail_server.create_user(email="slow@example.com")
    _form(HostedPages(mail_server.url), "/password/forgot", email=person["email"])
    link = _reset_link(mail_server, person["email"])
    time.sleep(2.5)
    assert HostedPages(mail_server.url).get(link).status_code == 400
