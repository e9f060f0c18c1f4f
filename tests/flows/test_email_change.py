"""Changing the account's email: a sensitive operation confirmed by a single-use link mailed to
the new address, announced to the old one, and never revealing whether an address is taken."""

from __future__ import annotations

import email
import re
import time

from tests.support.factors import password_sign_in
from tests.support.oidc import HostedPages, csrf_token


def _mails(server, to: str) -> list[email.message.Message]:
    found = [email.message_from_bytes(p.read_bytes()) for p in server.instance.glob("outbox/*")]
    return [m for m in found if m["To"] == to]


def _text(message: email.message.Message) -> str:
    return message.get_payload(decode=True).decode()


def _request_change(browser: HostedPages, new_email: str):
    page = browser.get(browser.base + "/account/")
    return browser.post(
        browser.base + "/account/email",
        data={"csrf_token": csrf_token(page.text), "email": new_email},
        allow_redirects=False,
    )


def _signed_in(server) -> tuple[dict, HostedPages]:
    person = server.create_user()
    browser = HostedPages(server.url)
    assert password_sign_in(browser, person, "account").status_code == 303
    return person, browser


def _link(server, to: str) -> str:
    [mail] = [m for m in _mails(server, to) if m["Subject"] == "Confirm your new email"]
    return re.search(r"(http://\S+/account/email/confirm/\S+)", _text(mail)).group(1)


def test_new_email_takes_effect_only_through_the_link_and_only_once(server):
    person, browser = _signed_in(server)
    new_email = f"new-{time.time_ns()}@example.com"
    asked = _request_change(browser, new_email)
    assert asked.status_code == 303
    assert any("was requested" in _text(m) for m in _mails(server, person["email"]))
    link = _link(server, new_email)

    other = HostedPages(server.url)  # the mail may be opened anywhere
    confirm = other.get(link)
    assert confirm.status_code == 200 and new_email in confirm.text  # a GET changes nothing
    assert password_sign_in(HostedPages(server.url), person).status_code == 303
    done = other.post(link, data={"csrf_token": csrf_token(confirm.text)}, allow_redirects=False)
    assert done.status_code == 303

    assert password_sign_in(HostedPages(server.url), person).status_code == 401  # old: refused
    moved = {**person, "email": new_email}
    assert password_sign_in(HostedPages(server.url), moved).status_code == 303
    assert any(f"changed to {new_email}" in _text(m) for m in _mails(server, person["email"]))
    again = other.post(link, data={"csrf_token": csrf_token(confirm.text)})
    assert again.status_code == 400 and "no longer works" in again.text
    assert "[redacted]" in server.log and link.rsplit("/", 1)[1] not in server.log


def test_a_taken_address_is_told_to_that_address_not_to_the_requester(server):
    person, browser = _signed_in(server)
    owner = server.create_user()
    asked = _request_change(browser, owner["email"])
    assert asked.status_code == 303  # the same answer as for a free address
    [notice] = [m for m in _mails(server, owner["email"]) if "not possible" in m["Subject"]]
    assert "Nothing was changed" in _text(notice)
    assert not [m for m in _mails(server, owner["email"]) if "Confirm" in m["Subject"]]


def test_bad_input_is_shown_next_to_the_field_and_changes_nothing(server):
    person, browser = _signed_in(server)
    for bad, message in (("not-an-email", "Enter an email address"),
                         (person["email"].upper(), "already your email")):  # fmt: skip
        refused = _request_change(browser, bad)
        assert refused.status_code == 400 and message in refused.text
    assert not [m for m in _mails(server, "not-an-email") if m]


def test_a_forged_or_unknown_link_does_nothing(server):
    page = HostedPages(server.url).get(server.url + "/account/email/confirm/not-a-real-secret")
    assert page.status_code == 400 and "no longer works" in page.text
