"""Remember this device, and the per-IP rate limit, through the live server."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from tests.support.factors import enroll_totp, password_sign_in
from tests.support.live import make_server
from tests.support.oidc import HostedPages, RelyingParty, csrf_token, hidden


@pytest.fixture(scope="module")
def device_server(tmp_path_factory):
    live = make_server(tmp_path_factory.mktemp("idp-devices"), None)
    live.start()
    yield live
    live.stop()


def _enroll(server) -> dict:
    return {**enroll_totp(server), "step": 1}


def _second_factor(browser, person, page, remember: bool):
    code = pyotp.TOTP(person["secret"]).at(time.time() + 30 * person["step"])
    person["step"] += 1
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    data = {"csrf_token": csrf_token(page.text), "challenge": hidden(page.text, "challenge"),
            "next": hidden(page.text, "next"), "code": code}  # fmt: skip
    if remember:
        data["remember"] = "y"
    return browser.post(browser.base + action, data=data, allow_redirects=False)


def _authorize(server, rp, browser, person, **params):
    relying = RelyingParty(server, rp)
    return relying, relying.sign_in(browser, person, **params)


@pytest.fixture(scope="module")
def remembered(device_server):
    rp = device_server.create_client(
        "--name", "RP", "--redirect-uri", "http://localhost:9/cb", "--first-party"
    )
    person = _enroll(device_server)
    browser = HostedPages(device_server.url)
    _, result = _authorize(device_server, rp, browser, person)
    answered = _second_factor(browser, person, result.response, remember=True)
    assert answered.status_code == 303 and "idp_device" in answered.headers["Set-Cookie"]
    cookie = answered.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    return {"rp": rp, "person": person, "device": browser.cookies.get("idp_device")}


def _fresh_browser_with_device(server, remembered) -> HostedPages:
    browser = HostedPages(server.url)
    browser.cookies.set("idp_device", remembered["device"])
    return browser


def test_remembered_device_skips_routine_second_factor(device_server, remembered):
    browser = _fresh_browser_with_device(device_server, remembered)
    relying, result = _authorize(device_server, remembered["rp"], browser, remembered["person"])
    assert "code=" in result.location
    claims = relying.verify_id_token(relying.redeem(result).json()["id_token"], result.nonce, None)
    assert claims["amr"] == ["pwd"]  # truthful: no second factor was used


def test_remembered_device_does_not_satisfy_an_explicit_acr_request(device_server, remembered):
    browser = _fresh_browser_with_device(device_server, remembered)
    _, result = _authorize(
        device_server, remembered["rp"], browser, remembered["person"],
        acr_values="urn:idp:acr:mfa",
    )  # fmt: skip
    assert "Two-step verification" in result.response.text


def test_remembered_device_does_not_satisfy_a_sensitive_operation(device_server, remembered):
    browser = _fresh_browser_with_device(device_server, remembered)
    password_sign_in(browser, remembered["person"], "security")
    page = browser.get(device_server.url + "/account/security/")
    factor_id = re.search(r"/account/security/(\d+)/remove", page.text).group(1)
    response = browser.post(
        f"{device_server.url}/account/security/{factor_id}/remove",
        data={"csrf_token": csrf_token(page.text)}, allow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303 and "/mfa/" in response.headers["Location"]


def test_revoked_device_and_password_change_end_the_cookie(device_server):
    rp = device_server.create_client(
        "--name", "RP2", "--redirect-uri", "http://localhost:9/cb2", "--first-party"
    )
    for revoke_by in ("user", "password"):
        person = _enroll(device_server)  # a TOTP step may be used once: a fresh user each time
        browser = HostedPages(device_server.url)
        _, result = _authorize(device_server, rp, browser, person)
        _second_factor(browser, person, result.response, remember=True)
        device = browser.cookies.get("idp_device")
        page = browser.get(device_server.url + "/account/security/")
        if revoke_by == "user":
            browser.post(device_server.url + "/account/security/devices/revoke",
                         data={"csrf_token": csrf_token(page.text)})  # fmt: skip
        else:
            new = person["password"] + "!"
            changed = browser.post(device_server.url + "/account/password", data={
                "csrf_token": csrf_token(page.text), "current_password": person["password"],
                "password": new, "confirm": new}, allow_redirects=False)  # fmt: skip
            assert changed.headers["Location"].endswith("/account/"), changed.text[-800:]
            person["password"] = new
        again = HostedPages(device_server.url)
        again.cookies.set("idp_device", device)
        _, result = _authorize(device_server, rp, again, person)
        assert "Two-step verification" in result.response.text, revoke_by


def test_too_many_sign_in_attempts_from_one_address_get_429(tmp_path):
    limited = make_server(tmp_path, None, RATE_LIMIT_PER_MINUTE=12)
    limited.start()
    try:
        _attempts_until_429(limited)
    finally:
        limited.stop()


def _attempts_until_429(device_server) -> None:
    _start_of_a_fresh_window()
    statuses = []
    for n in range(14):  # a new email each time: one address guessing at many accounts
        browser = HostedPages(device_server.url)
        page = browser.get(device_server.url + "/login")
        email = f"x{n}@example.com"
        response = browser.post(
            device_server.url + "/login",
            data={"csrf_token": csrf_token(page.text), "email": email, "password": "p"},
        )
        statuses.append(response.status_code)
    assert statuses[:12] == [401] * 12 and statuses[12:] == [429, 429]
    assert int(response.headers["Retry-After"]) <= 60


def _start_of_a_fresh_window(window: int = 60, needed: float = 25.0) -> None:
    """The limit counts in fixed windows aligned to the minute: the 14 attempts must fall in one,
    so when too little of the current window is left, wait for the next (a test that crossed a
    boundary saw its count start again and no 429)."""
    left = window - time.time() % window
    if left < needed:
        time.sleep(left + 0.5)
