"""A role that requires MFA keeps its members from removing their last second factor."""

from __future__ import annotations

import json
import re
import time

import pyotp

from tests.support.factors import enroll_totp, password_sign_in
from tests.support.oidc import HostedPages, csrf_token, submit_code


def _security_page_after_second_factor(server, person) -> HostedPages:
    browser = HostedPages(server.url)
    response = password_sign_in(browser, person, "security")
    page = browser.follow(server.url + response.headers["Location"], stop_at="never")
    while page.status_code in (302, 303):
        page = browser.get(server.url + page.headers["Location"], allow_redirects=False)
    code = pyotp.TOTP(person["secret"]).at(time.time() + 30)
    done = submit_code(browser, page, code, stop_at="never")
    assert done.status_code == 200 and "Security" in done.text, done.text[:300]
    browser.security_page = done
    return browser


def _remove_first_factor(server, browser) -> str:
    page = browser.get(server.url + "/account/security/")
    factor_id = re.search(r"/account/security/(\d+)/remove", page.text).group(1)
    answered = browser.post(
        f"{server.url}/account/security/{factor_id}/remove",
        data={"csrf_token": csrf_token(page.text)},
    )  # follows the 303 to the security page, which shows the outcome once
    return answered.text


def test_last_factor_cannot_be_removed_while_a_role_requires_mfa(server):
    role = f"admins{time.time_ns()}"
    server.cli("roles", "create", role)
    out = json.loads(server.cli("roles", "set-policy", role, "--mode", "required").stdout)
    assert out["role"] == role and out["mode"] == "required"
    email, password = f"{role}@example.com", "correct horse battery"
    created = server.cli(
        "users", "create", email, "--password-stdin", "--role", role, stdin=password + "\n"
    )
    person = enroll_totp(server, {**json.loads(created.stdout), "password": password})
    browser = _security_page_after_second_factor(server, person)
    refused = _remove_first_factor(server, browser)
    assert "requires two-step verification" in refused
    assert "/remove" in refused  # the factor is still listed
    server.cli("roles", "set-policy", role, "--mode", "off")
    allowed = _remove_first_factor(server, browser)
    assert "was removed" in allowed and "/remove" not in allowed
