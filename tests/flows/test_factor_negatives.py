"""Negative cases of the second factors, each against live provider processes.

A code replayed on a second process that shares the database; an expired and a reused
challenge; back-off and its end; the hard lock; adding a factor without a recent sign-in;
removing one without a fresh second factor; and no TOTP seed or code in the logs or audit rows.

Narrowed time windows need servers of their own: ``short_server`` (challenges live 1 s, factors
may be added only within 1 s of signing in) and ``strict_server`` (back-off after 2 failures,
hard lock at 3, sensitive changes within 1 s of a second factor). Users on those servers are set
up in-process with the shipped code (``InProcess``) so that setup does not race the windows.
"""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, datetime
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import pyotp
import pytest

from tests.support.factor_state import InProcess, SecretsSeen, leaks, second_process, wait_until
from tests.support.factors import backup_code_page, enroll_totp, password_sign_in
from tests.support.live import make_server
from tests.support.oidc import HostedPages, RelyingParty, csrf_token, hidden, submit_code

NOWHERE = "http://nowhere.invalid/"  # a redirect target never reached: follow to the end
SEEN = SecretsSeen()
SERVERS: dict[str, object] = {}


# --- fixtures -----------------------------------------------------------------------------


def _dedicated(tmp_path_factory, name: str, **settings):
    live = make_server(tmp_path_factory.mktemp(name), None, **settings)
    live.env["PYTHONUNBUFFERED"] = "1"  # the log is complete when it is scanned
    live.start()
    live.inproc = InProcess(live)
    live.rp = live.inproc.create_client("RP", "http://localhost:9/cb")
    SERVERS[live.url] = live
    return live


@pytest.fixture(scope="module")
def short_server(tmp_path_factory):
    live = _dedicated(tmp_path_factory, "idp-short", CHALLENGE_TTL=1, STEPUP_WINDOWS="add_factor=1")
    yield live
    live.inproc.close()
    live.stop()


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    live = _dedicated(
        tmp_path_factory, "idp-strict", BACKOFF_AFTER=2, LOCKOUT_THRESHOLD=3, STEPUP_WINDOW=1
    )
    yield live
    live.inproc.close()
    live.stop()


@pytest.fixture(scope="module")
def shared(server):
    """The session's provider (SQLite or PostgreSQL), reachable in-process too."""
    SERVERS[server.url] = server
    server.inproc = InProcess(server)
    yield server
    server.inproc.close()


@pytest.fixture(scope="module")
def twin(shared, tmp_path_factory):
    """A second provider process on the same database and keys, on its own port and issuer."""
    other = second_process(shared, tmp_path_factory.mktemp("idp-twin"))
    other.start()
    other.rp = shared.inproc.create_client("Twin RP", "http://localhost:9/twin")  # same database
    SERVERS[other.url] = other
    yield other
    other.stop()


# --- helpers ------------------------------------------------------------------------------


def code_at(secret: str, steps_ahead: int = 1) -> str:
    """A valid code for a step not used yet (enrollment used the current one)."""
    code = pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)
    SEEN.add("totp code", code)
    return code


def wrong_code(secret: str) -> str:
    """Six random digits that match no step near now."""
    near = {pyotp.TOTP(secret).at(time.time() + 30 * k) for k in range(-3, 4)}
    rng = random.SystemRandom()
    code = next(c for c in iter(lambda: f"{rng.randrange(10**6):06d}", None) if c not in near)
    SEEN.add("typed wrong code", code)
    return code


def enrolled(server, person: dict | None = None) -> dict:
    person = server.inproc.enroll_totp(person)
    SEEN.add_person(person)
    return person


def second_factor_page(server, client: dict, person: dict):
    """Authorize through the RP and pass the password: the provider asks for the second factor."""
    relying, browser = RelyingParty(server, client), HostedPages(server.url)
    page = relying.sign_in(browser, person).response
    assert page.status_code == 200 and "Two-step verification" in page.text, page.text[:300]
    return relying, browser, page


def post_code(browser: HostedPages, page, code: str):
    """Answer the second-factor page in ``page``; the raw response, no redirect followed."""
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    data = {name: hidden(page.text, name) for name in ("challenge", "next")}
    data.update(csrf_token=csrf_token(page.text), code=code)
    return browser.post(urljoin(browser.base, unescape(action)), data=data, allow_redirects=False)


def issued_code(response) -> bool:
    return "code" in parse_qs(urlsplit(response.headers.get("Location", "")).query)


def refused(response, words: str) -> bool:
    return response.status_code == 401 and words in response.text


def try_again_after(page) -> str | None:
    found = re.search(r"try again after (\d\d:\d\d:\d\d) UTC", page.text)
    return found.group(1) if found else None


def utc_clock(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%H:%M:%S")


# --- replay and challenges -----------------------------------------------------------------


def test_totp_code_accepted_by_one_process_is_refused_by_another_on_the_same_database(
    shared, rp, twin
):
    person = enroll_totp(shared)  # through the security page of process A
    SEEN.add_person(person)
    code = code_at(person["secret"])

    relying, browser, page = second_factor_page(shared, rp, person)
    assert issued_code(submit_code(browser, page, code, relying.redirect_uri))

    relying, browser, page = second_factor_page(twin, twin.rp, person)  # process B
    again = submit_code(browser, page, code, relying.redirect_uri)
    assert refused(again, "already used"), again.text[:400]


def test_reused_challenge_says_already_completed(shared, rp):
    person = enrolled(shared)
    relying, browser, page = second_factor_page(shared, rp, person)
    code = code_at(person["secret"])

    assert issued_code(submit_code(browser, page, code, relying.redirect_uri))
    again = submit_code(browser, page, code, relying.redirect_uri)  # the same form, again

    assert refused(again, "already completed"), again.text[:400]


def test_expired_challenge_is_refused_as_expired(short_server):
    person = enrolled(short_server)
    relying, browser, page = second_factor_page(short_server, short_server.rp, person)
    wait_until(time.time() + 2.05)  # IDP_CHALLENGE_TTL=1

    late = submit_code(browser, page, code_at(person["secret"]), relying.redirect_uri)

    assert refused(late, "expired"), late.text[:400]
    events = [e["event"] for e in short_server.inproc.audit_events(person["email"])]
    assert "challenge_expired" in events and "challenge_verified" not in events
    assert short_server.inproc.factor(person["factor_id"])["failures"] == 0


# --- back-off and lock --------------------------------------------------------------------


def test_back_off_after_repeated_failures_refuses_the_right_code_until_it_ends(strict_server):
    person = enrolled(strict_server)
    relying, browser, page = second_factor_page(strict_server, strict_server.rp, person)
    right = code_at(person["secret"])

    for _ in range(2):  # IDP_BACKOFF_AFTER=2: the second failure starts a 2 s cooldown
        page = submit_code(browser, page, wrong_code(person["secret"]), relying.redirect_uri)
        assert refused(page, "not right"), page.text[:400]
    cooling_from = time.time()

    waiting = submit_code(browser, page, right, relying.redirect_uri)
    assert refused(waiting, "wait before trying again"), waiting.text[:400]
    shown = try_again_after(waiting)
    assert shown in {utc_clock(cooling_from + s) for s in range(-1, 4)}, waiting.text[:600]

    wait_until(cooling_from + 2.05)
    done = submit_code(browser, waiting, right, relying.redirect_uri)
    assert issued_code(done), done.text[:400]
    assert strict_server.inproc.factor(person["factor_id"])["failures"] == 0


def test_page_after_the_failure_that_starts_the_back_off_says_when_to_try_again(strict_server):
    person = enrolled(strict_server)
    relying, browser, page = second_factor_page(strict_server, strict_server.rp, person)
    for _ in range(2):
        page = submit_code(browser, page, wrong_code(person["secret"]), relying.redirect_uri)
    assert refused(page, "not right")
    assert try_again_after(page) is not None, "no 'try again after' on the page"


def test_hard_lock_at_the_limit_refuses_even_the_right_code(strict_server):
    person = enrolled(strict_server)
    relying, browser, page = second_factor_page(strict_server, strict_server.rp, person)
    right_step = int(time.time()) // 30 + 1  # enrollment used the current step
    right = pyotp.TOTP(person["secret"]).at(right_step * 30)
    SEEN.add("totp code", right)

    for _ in range(2):  # IDP_BACKOFF_AFTER=2: wait out the cooldown the second one starts
        page = submit_code(browser, page, wrong_code(person["secret"]), relying.redirect_uri)
        assert refused(page, "not right"), page.text[:400]
    wait_until(time.time() + 2.05)
    page = submit_code(browser, page, wrong_code(person["secret"]), relying.redirect_uri)
    assert refused(page, "not right"), page.text[:400]  # the third: IDP_LOCKOUT_THRESHOLD=3

    locked = submit_code(browser, page, right, relying.redirect_uri)
    assert refused(locked, "locked"), locked.text[:400]
    state = strict_server.inproc.factor(person["factor_id"])
    assert state["locked_at"] is not None and state["failures"] == 3
    assert state["totp_last_step"] < right_step  # the right code was not consumed
    events = [e["event"] for e in strict_server.inproc.audit_events(person["email"])]
    assert events.count("factor_locked") == 1


def test_fullwidth_digits_on_the_second_factor_page_are_refused_not_a_server_error(
    strict_server,
):
    person = enrolled(strict_server)
    relying, browser, page = second_factor_page(strict_server, strict_server.rp, person)
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in code_at(person["secret"]))
    answer = submit_code(browser, page, fullwidth, relying.redirect_uri)
    assert answer.status_code in (303, 401), answer.status_code


# --- sensitive account changes ------------------------------------------------------------


def test_enrolling_without_recent_authentication_sends_to_sign_in_again(short_server):
    person = short_server.inproc.create_user()
    browser = HostedPages(short_server.url)
    signed_in = password_sign_in(browser, person, "security")
    assert signed_in.status_code == 303
    wait_until(time.time() + 2.05)  # IDP_STEPUP_WINDOWS=add_factor=1

    response = browser.get(short_server.url + "/account/security/totp", allow_redirects=False)

    assert response.status_code in (302, 303)
    target = urlsplit(response.headers["Location"])
    assert target.path == "/login" and parse_qs(target.query)["next"] == ["security"]
    login = browser.get(urljoin(short_server.url, response.headers["Location"]))
    assert login.status_code == 200 and 'name="password"' in login.text
    assert short_server.inproc.factors(person["email"]) == []  # no enrollment was started
    # a GET (or a forged cross-site request) does not sign the user out: nothing changed
    account = browser.get(short_server.url + "/account/security/", allow_redirects=False)
    assert account.status_code == 200


def test_sign_in_again_page_says_why_after_an_old_sign_in_tries_to_add_a_factor(short_server):
    person = short_server.inproc.create_user()
    browser = HostedPages(short_server.url)
    password_sign_in(browser, person, "security")
    wait_until(time.time() + 2.05)  # IDP_STEPUP_WINDOWS=add_factor=1
    login = browser.get(short_server.url + "/account/security/totp")
    assert 'name="password"' in login.text
    assert "sign in again before adding" in login.text


def test_removing_a_factor_without_a_fresh_second_factor_asks_for_it_first(strict_server):
    person = enrolled(strict_server)
    browser = HostedPages(strict_server.url)
    password_sign_in(browser, person, "security")
    page = browser.follow(strict_server.url + "/account/security/", stop_at=NOWHERE)
    assert "Two-step verification" in page.text
    security = submit_code(browser, page, code_at(person["secret"]), NOWHERE)
    passed_at = time.time()
    assert security.status_code == 200 and "Remove Phone" in security.text
    token = csrf_token(security.text)
    remove = f"{strict_server.url}/account/security/{person['factor_id']}/remove"
    wait_until(passed_at + 2.05)  # IDP_STEPUP_WINDOW=1

    stale = browser.post(remove, data={"csrf_token": token}, allow_redirects=False)

    assert stale.status_code == 303, stale.text[:300]
    target = urlsplit(stale.headers["Location"])
    assert target.path == "/mfa/" and parse_qs(target.query)["next"] == ["security"]
    assert strict_server.inproc.factor(person["factor_id"])["status"] == "active"
    step_up = browser.follow(urljoin(strict_server.url, stale.headers["Location"]), NOWHERE)
    assert "Two-step verification" in step_up.text and "confirm it is you" in step_up.text

    # With a fresh second factor (a backup code), the same removal goes through.
    # (the 1 s window starts with the backup code: remove right away, no page in between)
    backup = backup_code_page(browser, step_up)
    passed = post_code(browser, backup, person["codes"][0])
    assert passed.status_code == 303, passed.text[:400]
    assert urlsplit(passed.headers["Location"]).path == "/account/security/"
    done = browser.post(remove, data={"csrf_token": token}, allow_redirects=False)
    assert done.status_code == 303 and urlsplit(done.headers["Location"]).path.endswith(
        "/account/security/"
    )
    assert strict_server.inproc.factor(person["factor_id"])["status"] == "revoked"


# --- secrets ------------------------------------------------------------------------------


def test_no_totp_secret_or_code_in_server_logs_or_audit_rows(strict_server):
    """Last in this module: scans every provider process the module ran, for every seed, code
    and backup code it used, after a sign-in of its own with a wrong and a right code."""
    person = enroll_totp(strict_server)  # the seed is shown on a page, a code posted
    SEEN.add_person(person)
    SEEN.add("totp code", *(pyotp.TOTP(person["secret"]).at(time.time() - s) for s in (0, 30)))
    relying, browser, page = second_factor_page(strict_server, strict_server.rp, person)
    page = submit_code(browser, page, wrong_code(person["secret"]), relying.redirect_uri)
    assert refused(page, "not right")
    backup = backup_code_page(browser, page)
    assert issued_code(submit_code(browser, backup, person["codes"][1], relying.redirect_uri))
    relying, browser, page = second_factor_page(strict_server, strict_server.rp, person)
    assert issued_code(submit_code(browser, page, code_at(person["secret"]), relying.redirect_uri))
    time.sleep(0.2)  # let the last request lines reach the logs

    assert SEEN.values["totp secret"] and SEEN.values["totp code"]
    # The scan does read both places: it finds what is there.
    assert "server.log" in str(leaks(SecretsSeen({"probe": {"POST /mfa/"}}), strict_server))
    assert "audit_events" in str(leaks(SecretsSeen({"p": {"challenge_verified"}}), strict_server))
    found = [leak for server in SERVERS.values() for leak in leaks(SEEN, server)]
    assert found == [], found
