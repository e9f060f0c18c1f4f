"""``idp keys rotate-encryption``: secrets move to the new key while the service keeps working."""

from __future__ import annotations

import base64
import json
import os
import time

import pyotp

from tests.support.factors import enroll_totp
from tests.support.live import make_server
from tests.support.oidc import HostedPages, RelyingParty, submit_code


def _key(kid: str) -> str:
    return f"{kid}:" + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def _totp_sign_in_works(server, rp, person, step: int) -> bool:
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    result = relying.sign_in(browser, person)
    code = pyotp.TOTP(person["secret"]).at(time.time() + 30 * step)
    done = submit_code(browser, result.response, code, relying.redirect_uri)
    return "code=" in done.headers.get("Location", "")


def _rp(server) -> dict:
    return server.create_client(
        "--name", "RP", "--redirect-uri", "http://localhost:9/cb", "--first-party"
    )


def test_development_key_rotation_is_picked_up_without_restart(tmp_path):
    server = make_server(tmp_path, None)
    server.start()
    try:
        rp, person = _rp(server), enroll_totp(server)
        result = json.loads(server.cli("keys", "rotate-encryption").stdout)
        assert result["reencrypted"] >= 1
        time.sleep(1.1)  # the running server re-reads the key file at most once a second
        assert _totp_sign_in_works(server, rp, person, 1)
        server.cli("audit", "verify")  # the rotation was audited and the chain holds
    finally:
        server.stop()


def test_configured_key_rotation_then_old_key_removed(tmp_path):
    old, new = _key("old1"), _key("new1")
    server = make_server(tmp_path, None, ENCRYPTION_KEY=old)
    server.start()
    rp, person = _rp(server), enroll_totp(server)
    server.stop()
    server.env["IDP_ENCRYPTION_KEY"] = f"{new},{old}"
    server.start()  # every worker knows both keys before any row moves
    result = json.loads(server.cli("keys", "rotate-encryption").stdout)
    assert result == {"current": "new1", "reencrypted": 1}
    server.stop()
    server.env["IDP_ENCRYPTION_KEY"] = new
    server.start()
    try:
        assert _totp_sign_in_works(server, rp, person, 1)
    finally:
        server.stop()


def test_malformed_encryption_key_is_a_one_line_error(tmp_path):
    server = make_server(tmp_path, None)
    server.env["IDP_ENCRYPTION_KEY"] = "nonsense"
    result = server.cli("users", "list", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: IDP_ENCRYPTION_KEY: expected kid:base64key[,kid:key]"
    ]
