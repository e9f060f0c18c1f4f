"""Email and SMS codes through the live server and a real OIDC client.

Email codes arrive at a real SMTP server on loopback; SMS codes are read from the server's
``sms_outbox`` folder, or received by a webhook on loopback that checks their signature. The
servers here are the suite's, with short send intervals and (for expiry) a short code lifetime.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urljoin

import pytest

from tests.cli.helpers import connect
from tests.support.factors import password_sign_in
from tests.support.live import make_server
from tests.support.oidc import HostedPages, RelyingParty, csrf_token, hidden, submit_code
from tests.support.postgres import create_database, free_port
from tests.support.smtp import smtp_server

RESEND_INTERVAL = 2
MAX_SENDS = 3
SHORT_TTL = 3
WEBHOOK_SECRET = "w" * 40
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
RP_ARGS = ("--name", "Codes RP", "--redirect-uri", "http://localhost:9/cb", "--first-party")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def code_server(request, tmp_path_factory):
    """A provider that mails through a real SMTP server and writes SMS to its outbox."""
    url = None
    if request.param == "postgresql":
        url = create_database(request.getfixturevalue("postgres_url"), "idp_delivered_codes")
    with smtp_server() as (inbox, port):
        live = make_server(
            tmp_path_factory.mktemp(f"idp-codes-{request.param}"),
            url,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=port,
            DELIVERED_CODE_RESEND_INTERVAL=RESEND_INTERVAL,
            DELIVERED_CODE_MAX_SENDS=MAX_SENDS,
        )
        live.start()
        live.inbox, live.codes = inbox, []
        live.rp = live.create_client(*RP_ARGS)
        yield live
        live.stop()


class _Webhook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's hook name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def short_server(tmp_path_factory):
    """Codes live SHORT_TTL seconds; SMS go to a signed webhook with a custom template."""
    hook = ThreadingHTTPServer(("127.0.0.1", free_port()), _Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    with smtp_server() as (inbox, port):
        live = make_server(
            tmp_path_factory.mktemp("idp-codes-short"),
            None,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=port,
            DELIVERED_CODE_TTL=SHORT_TTL,
            SMS_WEBHOOK_URL=f"http://127.0.0.1:{hook.server_port}/sms",
            SMS_WEBHOOK_SECRET=WEBHOOK_SECRET,
            SMS_TEMPLATE="{{code}} is your code for idp",
        )
        live.start()
        live.inbox, live.codes, live.webhook = inbox, [], _Webhook.received
        live.rp = live.create_client(*RP_ARGS)
        yield live
        live.stop()
    hook.shutdown()


# --- receiving codes -----------------------------------------------------------------------


def _mark(server) -> tuple[int, set[str], int]:
    """What was delivered so far, so a later look finds only what came after."""
    outbox = server.instance / "sms_outbox"
    files = {p.name for p in outbox.iterdir()} if outbox.exists() else set()
    return len(server.inbox.messages), files, len(getattr(server, "webhook", []))


def _mailed_code(server, to: str, mark, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in server.inbox.messages[mark[0] :]:
            if message["To"] == to and "code" in message["Subject"]:
                return _keep(server, message.get_payload(decode=True).decode())
        time.sleep(0.05)
    raise AssertionError(f"no code mailed to {to}")


def _texted_code(server, number: str, mark) -> str:
    if hasattr(server, "webhook"):
        for _, body in server.webhook[mark[2] :]:
            if json.loads(body)["to"] == number:
                return _keep(server, json.loads(body)["body"])
        raise AssertionError(f"no SMS to {number} at the webhook")
    for path in sorted((server.instance / "sms_outbox").iterdir()):
        message = json.loads(path.read_text())
        if path.name not in mark[1] and message["to"] == number:
            return _keep(server, message["body"])
    raise AssertionError(f"no SMS to {number} in the outbox")


def _keep(server, text: str) -> str:
    code = CODE.search(text).group(1)
    server.codes.append(code)
    return code


def _code(server, kind: str, to: str, mark) -> str:
    return _mailed_code(server, to, mark) if kind == "email" else _texted_code(server, to, mark)


# --- the steps of a person ----------------------------------------------------------------


def _start_enrollment(server, person: dict, kind: str, to: str):
    """Sign in, fill the "add" form; returns the browser, the code page and the mark."""
    browser = HostedPages(server.url)
    password_sign_in(browser, person, "security")
    path = f"{server.url}/account/security/{kind}"
    form = browser.get(path)
    assert form.status_code == 200
    mark = _mark(server)
    field = "email" if kind == "email" else "phone"
    data = {"csrf_token": csrf_token(form.text), "name": f"My {kind}", field: to}
    sent = browser.post(path, data=data, allow_redirects=False)
    assert sent.status_code == 303, sent.text[:500]
    page = browser.get(urljoin(server.url, sent.headers["Location"]))
    return browser, page, mark


def _enroll(server, kind: str, to: str | None = None) -> dict:
    """A new user with an email (their own address) or phone factor, confirmed by its code."""
    person = server.create_user()
    to = to or person["email"]
    browser, page, mark = _start_enrollment(server, person, kind, to)
    done = submit_code(browser, page, _code(server, kind, to, mark), server.url)
    assert done.status_code == 200 and "Your backup codes" in done.text, done.text[:500]
    return {**person, "kind": kind, "to": to}


_phones = iter(range(1000, 10000))


def _phone() -> str:
    return f"+1555010{next(_phones):04d}"


def _second_factor_page(server, person: dict):
    """Through the real RP up to the code page (which sends the code on its first visit)."""
    relying, browser = RelyingParty(server, server.rp), HostedPages(server.url)
    mark = _mark(server)
    result = relying.sign_in(browser, person)
    page = result.response
    assert page.status_code == 200 and "Two-step verification" in page.text, page.text[:500]
    return relying, browser, result, page, mark


def _resend(browser: HostedPages, page):
    action = re.findall(r'<form method="post" action="([^"]+)"', page.text)[1]
    data = {"csrf_token": csrf_token(page.text), "next": hidden(page.text, "next")}
    return browser.post(urljoin(browser.base, action), data=data, allow_redirects=False)


def _id_token_claims(relying: RelyingParty, result, done) -> dict:
    assert "code=" in done.headers.get("Location", ""), done.text[:500]
    result.response = done
    token = relying.redeem(result).json()
    return relying.verify_id_token(token["id_token"], result.nonce, token["access_token"])


# --- sign-in ------------------------------------------------------------------------------


def test_password_and_email_code_give_mfa_otp_pwd(code_server):
    person = _enroll(code_server, "email")
    relying, browser, result, page, mark = _second_factor_page(code_server, person)
    local, domain = person["email"].split("@")
    assert f"We sent a code to <strong>{local[0]}•••@{domain}</strong>" in page.text
    assert 'autocomplete="one-time-code"' in page.text and 'inputmode="numeric"' in page.text
    code = _mailed_code(code_server, person["email"], mark)
    done = submit_code(browser, page, code, relying.redirect_uri)
    claims = _id_token_claims(relying, result, done)
    assert claims["amr"] == ["mfa", "otp", "pwd"]
    assert claims["acr"] == "urn:idp:acr:mfa"


def test_password_and_sms_code_give_mfa_otp_pwd_sms(code_server):
    person = _enroll(code_server, "sms", _phone())
    relying, browser, result, page, mark = _second_factor_page(code_server, person)
    assert f"We sent a code to <strong>+•••• {person['to'][-4:]}</strong>" in page.text
    assert "weaker option" in page.text and person["to"] not in page.text
    done = submit_code(
        browser, page, _texted_code(code_server, person["to"], mark), relying.redirect_uri
    )
    claims = _id_token_claims(relying, result, done)
    assert claims["amr"] == ["mfa", "otp", "pwd", "sms"]


def test_used_email_code_is_refused_the_second_time(code_server):
    person = _enroll(code_server, "email")
    relying, browser, _, page, mark = _second_factor_page(code_server, person)
    code = _mailed_code(code_server, person["email"], mark)
    assert "code=" in submit_code(browser, page, code, relying.redirect_uri).headers["Location"]
    again = submit_code(browser, page, code, relying.redirect_uri)
    assert again.status_code == 401 and "already" in again.text


# --- enrollment ---------------------------------------------------------------------------


def test_email_enrollment_activates_only_with_the_emailed_code(code_server):
    person = code_server.create_user()
    address = f"second-{person['email']}"
    browser, page, mark = _start_enrollment(code_server, person, "email", address)
    assert f"{address[0]}•••@example.com" in page.text
    code = _mailed_code(code_server, address, mark)
    wrong = submit_code(browser, page, f"{(int(code) + 1) % 10**6:06d}", code_server.url)
    assert wrong.status_code == 401 and "not right" in wrong.text
    relying = RelyingParty(code_server, code_server.rp)
    pending = relying.sign_in(HostedPages(code_server.url), person)
    assert "code=" in pending.location, "a pending factor must not be asked for"
    done = submit_code(browser, wrong, code, code_server.url)
    assert done.status_code == 200 and "Your backup codes" in done.text
    notice = code_server.inbox.wait_for(person["email"])
    assert "new sign-in method was added" in notice.get_payload(decode=True).decode()
    _, _, _, page, _ = _second_factor_page(code_server, person)
    assert f"{address[0]}•••@example.com" in page.text


def _stored_factors(server, kind: str) -> list[tuple]:
    with connect(server) as conn:
        return conn.execute(
            "SELECT id, data, secret FROM factors WHERE kind = %s" if "IDP_DATABASE_URL"
            in server.env else "SELECT id, data, secret FROM factors WHERE kind = ?", (kind,)
        ).fetchall()  # fmt: skip


def test_email_factor_address_is_encrypted_at_rest(code_server):
    person = _enroll(code_server, "email", f"sealed-{code_server.create_user()['email']}")
    _, data, secret = max(_stored_factors(code_server, "email"))  # the factor just added
    assert secret and person["to"] not in str(secret), "no ciphertext"
    assert person["to"] not in str(data), "the address is stored in clear"


def test_upgrade_seals_an_address_an_older_version_kept_in_clear(code_server):
    person = _enroll(code_server, "email", f"legacy-{code_server.create_user()['email']}")
    factor_id = max(r[0] for r in _stored_factors(code_server, "email"))
    legacy = json.dumps({"address": person["to"], "masked": "l•••@example.com"})
    with connect(code_server) as conn:  # as the previous version stored it
        param = "%s" if "IDP_DATABASE_URL" in code_server.env else "?"
        conn.execute(
            f"UPDATE factors SET data = {param}, secret = NULL WHERE id = {param}",  # noqa: S608
            (legacy, factor_id),
        )
        conn.commit()

    upgraded = code_server.cli("db", "upgrade").stdout
    assert "1 email address(es) encrypted" in upgraded
    [(_, data, secret)] = [r for r in _stored_factors(code_server, "email") if r[0] == factor_id]
    assert secret and person["to"] not in str(data)
    relying, browser, result, page, mark = _second_factor_page(code_server, person)
    done = submit_code(
        browser, page, _mailed_code(code_server, person["to"], mark), relying.redirect_uri
    )
    assert "code=" in done.headers.get("Location", ""), done.text[:300]


def test_phone_enrollment_needs_an_e164_number_and_the_texted_code(code_server):
    person = code_server.create_user()
    browser = HostedPages(code_server.url)
    password_sign_in(browser, person, "security")
    form = browser.get(code_server.url + "/account/security/sms")
    assert "weaker option" in form.text
    refused = browser.post(
        code_server.url + "/account/security/sms",
        data={"csrf_token": csrf_token(form.text), "name": "Mobile", "phone": "555-0101"},
    )
    assert refused.status_code == 400 and "international format" in refused.text
    number = _phone()
    spaced = f"{number[:2]} {number[2:5]} {number[5:8]}-{number[8:]}"
    browser, page, mark = _start_enrollment(code_server, person, "sms", spaced)
    assert f"+•••• {number[-4:]}" in page.text and number not in page.text
    code = _texted_code(code_server, number, mark)
    wrong = submit_code(browser, page, "000000" if code != "000000" else "111111", "x")
    assert wrong.status_code == 401
    done = submit_code(browser, wrong, code, code_server.url)
    assert done.status_code == 200 and "Your backup codes" in done.text
    security = browser.get(code_server.url + "/account/security/")
    assert number not in security.text


def test_second_factor_added_after_the_first_gets_no_new_backup_codes(code_server):
    person = _enroll(code_server, "email")
    relying, browser, _, page, mark = _second_factor_page(code_server, person)
    code = _mailed_code(code_server, person["email"], mark)
    submit_code(browser, page, code, relying.redirect_uri)
    form = browser.get(code_server.url + "/account/security/sms")
    number = _phone()
    mark = _mark(code_server)
    sent = browser.post(
        code_server.url + "/account/security/sms",
        data={"csrf_token": csrf_token(form.text), "name": "Mobile", "phone": number},
        allow_redirects=False,
    )
    page = browser.get(urljoin(code_server.url, sent.headers["Location"]))
    done = submit_code(browser, page, _texted_code(code_server, number, mark), code_server.url)
    assert done.url.endswith("/account/security/") and "Mobile is ready" in done.text


# --- refusals -----------------------------------------------------------------------------


def test_email_code_from_another_sign_in_is_refused(code_server):
    person = _enroll(code_server, "email")
    relying_a, browser_a, result_a, page_a, mark = _second_factor_page(code_server, person)
    code_a = _mailed_code(code_server, person["email"], mark)
    time.sleep(RESEND_INTERVAL + 0.1)
    _, browser_b, _, page_b, mark = _second_factor_page(code_server, person)
    code_b = _mailed_code(code_server, person["email"], mark)
    assert code_b != code_a  # one in a million: two equal random codes
    typed = submit_code(browser_b, page_b, code_a, relying_a.redirect_uri)
    assert typed.status_code == 401 and "not right" in typed.text
    stolen = browser_b.post(
        code_server.url + re.search(r'action="(/mfa/code/\d+)"', page_a.text).group(1),
        data={"csrf_token": csrf_token(page_b.text), "challenge": hidden(page_a.text, "challenge"),
              "next": hidden(page_b.text, "next"), "code": code_a},
    )  # fmt: skip
    assert stolen.status_code == 400 and "no longer valid" in stolen.text
    done = submit_code(browser_a, page_a, code_a, relying_a.redirect_uri)
    assert _id_token_claims(relying_a, result_a, done)["amr"] == ["mfa", "otp", "pwd"]


def test_email_code_after_resend_is_refused_as_expired(code_server):
    person = _enroll(code_server, "email")
    relying, browser, result, old_page, mark = _second_factor_page(code_server, person)
    old_code = _mailed_code(code_server, person["email"], mark)
    time.sleep(RESEND_INTERVAL + 0.1)
    mark = _mark(code_server)
    resent = _resend(browser, old_page)
    assert resent.status_code == 303
    new_page = browser.get(urljoin(code_server.url, resent.headers["Location"]))
    assert "We sent a new code" in new_page.text
    new_code = _mailed_code(code_server, person["email"], mark)
    on_old_page = submit_code(browser, old_page, old_code, relying.redirect_uri)
    assert on_old_page.status_code == 401 and "expired" in on_old_page.text
    on_new_page = submit_code(browser, new_page, old_code, relying.redirect_uri)
    assert on_new_page.status_code == 401 and "expired" in on_new_page.text
    done = submit_code(browser, on_new_page, new_code, relying.redirect_uri)
    assert _id_token_claims(relying, result, done)["amr"] == ["mfa", "otp", "pwd"]


def test_send_rate_limit_says_when_to_retry(code_server):
    person = _enroll(code_server, "email")
    relying, browser, result, page, mark = _second_factor_page(code_server, person)
    code = _mailed_code(code_server, person["email"], mark)
    limited = _resend(browser, page)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) <= RESEND_INTERVAL
    assert re.search(
        r"You can ask for a new code in \d+ seconds? \(after \d\d:\d\d:\d\d UTC\)", limited.text
    ), limited.text[:800]
    done = submit_code(browser, limited, code, relying.redirect_uri)
    assert _id_token_claims(relying, result, done)["amr"] == ["mfa", "otp", "pwd"]


def test_sends_beyond_the_window_limit_wait_for_the_window(code_server):
    person = _enroll(code_server, "sms", _phone())
    _, browser, _, page, _ = _second_factor_page(code_server, person)
    for _ in range(MAX_SENDS - 1):
        time.sleep(RESEND_INTERVAL + 0.1)
        assert _resend(browser, page).status_code == 303
    time.sleep(RESEND_INTERVAL + 0.1)
    limited = _resend(browser, page)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 800
    assert re.search(r"in 1[45] minutes \(after \d\d:\d\d:\d\d UTC\)", limited.text)


def test_no_code_appears_in_the_server_log(code_server):
    for kind, to in (("email", None), ("sms", _phone())):
        person = _enroll(code_server, kind, to)
        relying, browser, _, page, mark = _second_factor_page(code_server, person)
        code = _code(code_server, kind, person["to"], mark)
        submit_code(browser, page, code, relying.redirect_uri)
    log = code_server.log
    assert "SMS to the outbox" in log and "/mfa/code/" in log
    assert len(code_server.codes) >= 4
    leaked = [c for c in code_server.codes if re.search(rf"(?<!\d){c}(?!\d)", log)]
    assert not leaked


def test_email_code_after_its_lifetime_is_refused(short_server):
    person = _enroll(short_server, "email")
    relying, browser, _, page, mark = _second_factor_page(short_server, person)
    code = _mailed_code(short_server, person["email"], mark)
    time.sleep(SHORT_TTL + 1.1)
    late = submit_code(browser, page, code, relying.redirect_uri)
    assert late.status_code == 401 and "expired" in late.text


def test_sms_webhook_gets_signed_json_with_the_configured_template(short_server):
    number = _phone()
    person = _enroll(short_server, "sms", number)
    headers, body = short_server.webhook[-1]
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Idp-Signature"], expected)
    message = json.loads(body)
    assert message["to"] == person["to"]
    assert re.fullmatch(r"\d{6} is your code for idp", message["body"])
    assert message["body"][:6] not in short_server.log


# --- settings -----------------------------------------------------------------------------


def _with_settings(server, **settings: str):
    return dataclasses.replace(
        server, env={**server.env, **{f"IDP_{k}": v for k, v in settings.items()}}
    )


def test_sms_template_without_the_code_placeholder_is_refused_at_start_up(short_server):
    broken = _with_settings(short_server, SMS_TEMPLATE="Your idp code is {code}")
    result = broken.cli("users", "list", check=False)
    assert result.returncode != 0 and "IDP_SMS_TEMPLATE" in result.stderr


def test_plain_http_sms_webhook_is_refused_in_production(short_server, tmp_path):
    production = _with_settings(
        short_server,
        ENV="production",
        ISSUER="https://id.example",
        SECRET_KEY="s" * 40,
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        ENCRYPTION_KEY="k1:" + base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="),
    )
    result = production.cli("users", "list", check=False)
    assert result.returncode != 0 and "IDP_SMS_WEBHOOK_URL" in result.stderr
    assert "https" in result.stderr
