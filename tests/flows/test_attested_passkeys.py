"""Attested passkeys end to end (issue 14): the live provider on SQLite and PostgreSQL, the
``idp`` CLI, software authenticators attesting with chains made by test CAs, driving the
security page's registration endpoints as ``static/passkeys.js`` does, and a real OIDC client
reading the ID token's acr.

For a role with ``--require-attested-passkeys``: a model on the allow-list reaches ``phrh``; an
unlisted model, a chain from another CA and attestation ``none`` are refused at registration
with a message saying which; a passkey registered before the policy was tightened still signs
in, but as ``swk``, so it reaches ``phr`` and never ``phrh``, and its owner is asked for an
approved key after it at each sign-in ("Not now" goes on; within a role's enrollment grace
postponing is counted, and after it the key is required). The allow-list is managed with
``idp authenticators`` (also from a FIDO Metadata BLOB) and on /admin/authenticators.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest

from tests.admin.support import console_browser, user_id
from tests.support.attestation import (
    CertificateAuthority,
    mds_blob,
    mds_entry,
    security_key,
    tampered,
)
from tests.support.factors import answer_soft_passkey, password_sign_in
from tests.support.live import backend_server
from tests.support.oidc import AuthorizationResult, HostedPages, RelyingParty, csrf_token, hidden
from tests.support.webauthn import SoftAuthenticator

PHR, PHRH = "phr", "phrh"
UPGRADE_ASKED = "Your organisation now requires a security key or device from an approved list."


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    settings = {"ADMIN_REQUIRE_PASSKEY": "false"}  # console tests sign in with TOTP
    with backend_server(request, tmp_path_factory, "attested_passkeys", **settings) as server:
        yield server


@pytest.fixture(scope="module")
def client(live) -> dict:
    return live.create_client(
        "--name", "Attested RP", "--redirect-uri", "http://localhost:9/cb", "--first-party"
    )  # fmt: skip


@pytest.fixture(scope="module")
def vendor() -> CertificateAuthority:
    return CertificateAuthority("Test Keys Root CA")


@pytest.fixture(scope="module")
def model(live, vendor, tmp_path_factory) -> uuid.UUID:
    """A model allowed with ``idp authenticators allow``."""
    aaguid = uuid.uuid4()
    pem = tmp_path_factory.mktemp("roots") / "vendor.pem"
    pem.write_bytes(vendor.pem)
    out = live.cli(
        "authenticators", "allow", str(aaguid).upper(), "--description", "Test Key 5",
        "--root-cert", str(pem),
    )  # fmt: skip
    assert json.loads(out.stdout)["aaguid"] == str(aaguid)  # stored lower-case
    return aaguid


def _strict_role(live) -> str:
    name = f"strict{time.time_ns()}"
    live.cli("roles", "create", name)
    out = live.cli("roles", "set-policy", name, "--require-attested-passkeys")
    assert json.loads(out.stdout)["require_attested_passkeys"] is True
    return name


def _member(live, *roles: str) -> tuple[dict, HostedPages]:
    """A new user with ``roles``, signed in with the password on the security page."""
    email, password = f"a{time.time_ns()}@example.com", "correct horse battery"
    args = [arg for role in roles for arg in ("--role", role)]
    out = live.cli("users", "create", email, "--password-stdin", *args, stdin=password + "\n")
    person = {**json.loads(out.stdout), "password": password}
    browser = HostedPages(live.url)
    password_sign_in(browser, person, "security")
    return person, browser


def _register(browser: HostedPages, device: SoftAuthenticator):
    """The registration ceremony's two JSON calls; the options and the answer to the second."""
    page = browser.get(browser.base + "/account/security/passkeys")
    headers = {"X-CSRFToken": csrf_token(page.text)}
    options = browser.post(
        browser.base + "/account/security/passkeys/options", json={}, headers=headers
    ).json()
    credential = device.registration(options["publicKey"]["challenge"], browser.base)
    done = browser.post(
        browser.base + "/account/security/passkeys/verify",
        json={"challenge": options["challenge"], "credential": credential, "name": "Key"},
        headers=headers,
    )
    return options["publicKey"], done


def _sign_in_with_passkey(
    live, client, person, device: SoftAuthenticator, acr: str, *, sign_count: int = 1,
    not_now: bool = False,
) -> tuple[HostedPages, AuthorizationResult]:  # fmt: skip
    """A fresh sign-in asking for ``acr`` (essential), answered with the password and the
    passkey (and, with ``not_now``, "Not now" on the page asking for an approved key): the
    browser, and where it ends."""
    browser, relying = HostedPages(live.url), RelyingParty(live, client)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [acr]}}})
    result = relying.sign_in(browser, person, claims=claims)
    assert "/mfa/passkey/" in result.response.url, result.response.text[:300]
    credential = device.credential(person["sub"].encode())
    redirect = answer_soft_passkey(browser, result.response, credential, sign_count=sign_count)
    page = browser.follow(live.url + redirect, relying.redirect_uri)
    if not_now:
        page = _not_now(browser, page, relying.redirect_uri)
    return browser, AuthorizationResult(page, result.state, result.nonce, result.verifier)


def _not_now(browser: HostedPages, page, stop_at: str):
    """Postpone on the page asking for an approved security key; where it leads."""
    assert page.status_code == 200 and UPGRADE_ASKED in page.text, page.text[:300]
    form = {"csrf_token": csrf_token(page.text), "next": hidden(page.text, "next")}
    skipped = browser.post(browser.base + "/enroll/skip", data=form, allow_redirects=False)
    assert skipped.status_code == 303, skipped.text[:300]
    return browser.follow(browser.base + skipped.headers["Location"], stop_at)


def _claims(live, client, person, device: SoftAuthenticator, acr: str, **kw) -> dict:
    """``_sign_in_with_passkey`` that ends with a code: the ID token's claims."""
    relying = RelyingParty(live, client)
    _, done = _sign_in_with_passkey(live, client, person, device, acr, **kw)
    assert "code" in done.params, done.params
    tokens = relying.redeem(done).json()
    return relying.verify_id_token(tokens["id_token"], done.nonce, tokens["access_token"])


def _factors(live, email: str) -> list[dict]:
    return json.loads(live.cli("users", "show", email).stdout)["factors"]


# --- registration and the level reached -----------------------------------------------------


def test_an_allowed_model_reaches_phrh_for_a_role_that_requires_attestation(
    live, client, model, vendor
):
    person, browser = _member(live, _strict_role(live))
    device = security_key(vendor, model)
    options, done = _register(browser, device)
    assert options["attestation"] == "direct"
    assert done.status_code == 200, done.text[:300]
    claims = _claims(live, client, person, device, PHRH)
    assert claims["acr"] == PHRH and {"hwk", "mfa", "pwd"} <= set(claims["amr"])
    [key] = [f for f in _factors(live, person["email"]) if f["kind"] == "passkey"]
    assert key["aaguid"] == str(model) and key["below_policy"] is False


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda vendor, model: security_key(vendor, uuid.uuid4()), "not on your organisation"),
        (
            lambda vendor, model: security_key(CertificateAuthority("Other CA"), model),
            "does not come from its maker's trusted authority",
        ),
        (lambda vendor, model: SoftAuthenticator(aaguid=model.bytes), "did not say which device"),
    ],
    ids=["unlisted_aaguid", "chain_from_another_ca", "attestation_none"],
)
def test_a_passkey_that_does_not_prove_an_allowed_model_is_refused_at_registration(
    live, model, vendor, make, message
):
    person, browser = _member(live, _strict_role(live))
    _, done = _register(browser, make(vendor, model))
    assert done.status_code == 400 and message in done.json()["error"], done.text[:300]
    assert not [f for f in _factors(live, person["email"]) if f["kind"] == "passkey"]


def test_without_the_requirement_registration_is_unchanged(live, client):
    person, browser = _member(live)
    device = SoftAuthenticator()  # attestation none
    options, done = _register(browser, device)
    assert options["attestation"] == "none" and done.status_code == 200, done.text[:300]
    claims = _claims(live, client, person, device, PHRH)
    assert claims["acr"] == PHRH


def test_a_passkey_from_before_the_policy_was_tightened_reaches_phr_but_not_phrh(live, client):
    role = f"later{time.time_ns()}"
    live.cli("roles", "create", role)
    person, browser = _member(live, role)
    device = SoftAuthenticator()
    assert _register(browser, device)[1].status_code == 200
    live.cli("roles", "set-policy", role, "--require-attested-passkeys")
    shown = json.loads(live.cli("policy", "show").stdout)
    assert shown["roles"][role]["require_attested_passkeys"] is True
    claims = _claims(live, client, person, device, PHR, not_now=True)
    assert claims["acr"] == PHR and "swk" in claims["amr"] and "hwk" not in claims["amr"]
    _, back = _sign_in_with_passkey(live, client, person, device, PHRH, sign_count=2, not_now=True)
    assert back.params["error"] == "unmet_authentication_requirements" and "code" not in back.params


def _events(live, email: str, name: str) -> list[dict]:
    shown = json.loads(live.cli("users", "show", email).stdout)
    return [e for e in shown["recent_events"] if e["event"] == name]


def test_within_the_grace_not_now_is_counted_then_an_approved_key_is_required(
    live, client, model, vendor
):
    role = f"graced{time.time_ns()}"
    live.cli("roles", "create", role)
    live.cli("roles", "set-policy", role, "--mode", "required", "--grace-signins", "1")
    person, browser = _member(live, role)
    device = SoftAuthenticator()
    assert _register(browser, device)[1].status_code == 200
    live.cli("roles", "set-policy", role, "--require-attested-passkeys")

    browser, first = _sign_in_with_passkey(live, client, person, device, PHR)
    assert "You can postpone this" in first.response.text and "1 more time" in first.response.text
    done = _not_now(browser, first.response, client["redirect_uris"][0])
    assert "code=" in done.headers["Location"], done.headers
    [postponed] = _events(live, person["email"], "passkey_upgrade_postponed")
    assert postponed["detail"]["skips"] == 1
    assert len(_events(live, person["email"], "passkey_upgrade_asked")) == 1

    browser, again = _sign_in_with_passkey(live, client, person, device, PHRH, sign_count=2)
    assert UPGRADE_ASKED in again.response.text and "Not now" not in again.response.text
    form = {
        "csrf_token": csrf_token(again.response.text),
        "next": hidden(again.response.text, "next"),
    }
    assert browser.post(live.url + "/enroll/skip", data=form).status_code == 403
    assert _register(browser, security_key(vendor, model))[1].status_code == 200
    back = browser.follow(live.url + "/account/security/enrolled", client["redirect_uris"][0])
    result = AuthorizationResult(back, again.state, again.nonce, again.verifier)
    relying = RelyingParty(live, client)
    tokens = relying.redeem(result).json()
    claims = relying.verify_id_token(tokens["id_token"], again.nonce, tokens["access_token"])
    assert claims["acr"] == PHRH and "hwk" in claims["amr"]
    assert len(_events(live, person["email"], "passkey_upgrade_asked")) == 2


def test_the_console_flags_a_passkey_below_a_tightened_policy(live):
    role = f"later{time.time_ns()}"
    live.cli("roles", "create", role)
    person, browser = _member(live, role)
    assert _register(browser, SoftAuthenticator())[1].status_code == 200
    auditor, _ = console_browser(live, "auditor")
    flag = "Not an approved attested key"
    page = auditor.get(live.url + f"/admin/users/{user_id(auditor, person['email'])}")
    assert page.status_code == 200 and flag not in page.text
    live.cli("roles", "set-policy", role, "--require-attested-passkeys")
    assert flag in auditor.get(page.url).text
    [key] = [f for f in _factors(live, person["email"]) if f["kind"] == "passkey"]
    assert key["below_policy"] is True


# --- the allow-list: CLI, metadata import, console --------------------------------------------


def _listed(live) -> dict[str, dict]:
    lines = live.cli("authenticators", "list").stdout.splitlines()
    return {row["aaguid"]: row for row in map(json.loads, lines)}


def test_removing_a_model_refuses_its_new_passkeys_and_is_audited(live, vendor, tmp_path):
    aaguid = uuid.uuid4()
    pem = tmp_path / "root.pem"
    pem.write_bytes(vendor.pem)
    live.cli(
        "authenticators", "allow", str(aaguid), "--description", "Gone", "--root-cert", str(pem)
    )
    assert _listed(live)[str(aaguid)]["allowed"] is True
    removed = json.loads(live.cli("authenticators", "remove", str(aaguid)).stdout)
    assert removed == {"aaguid": str(aaguid), "removed": True}
    assert _listed(live)[str(aaguid)]["allowed"] is False
    _, browser = _member(live, _strict_role(live))
    _, done = _register(browser, security_key(vendor, aaguid))
    assert done.status_code == 400 and "not on your organisation" in done.json()["error"]
    bad = live.cli("authenticators", "allow", "not-a-uuid", "--description", "x", check=False)
    assert bad.returncode == 1 and "not an AAGUID" in bad.stderr


def test_import_mds_adds_the_blobs_models_and_refuses_a_tampered_blob(live, client, tmp_path):
    fido_root = CertificateAuthority("Test FIDO MDS Root")
    signer = CertificateAuthority("Test MDS Signing CA", parent=fido_root)
    maker = CertificateAuthority("Maker Root")
    certified, uncertified = uuid.uuid4(), uuid.uuid4()
    entries = [
        mds_entry(certified, "Maker Key L2", maker, "FIDO_CERTIFIED_L2"),
        mds_entry(uncertified, "Maker Prototype", maker, "NOT_FIDO_CERTIFIED"),
    ]
    blob = mds_blob(signer, entries)
    (tmp_path / "root.pem").write_bytes(fido_root.pem)
    (tmp_path / "blob.jwt").write_text(blob)
    (tmp_path / "tampered.jwt").write_text(tampered(blob))
    root = str(tmp_path / "root.pem")

    refused = live.cli("authenticators", "import-mds", str(tmp_path / "tampered.jwt"),
                       "--root-cert", root, check=False)  # fmt: skip
    assert refused.returncode == 1 and "signature does not verify" in refused.stderr
    assert str(certified) not in _listed(live)

    out = live.cli("authenticators", "import-mds", str(tmp_path / "blob.jwt"), "--root-cert",
                   root, "--status", "FIDO_CERTIFIED_L2")  # fmt: skip
    assert json.loads(out.stdout)["added"] == 1
    listed = _listed(live)
    assert listed[str(certified)]["source"] == "mds" and str(uncertified) not in listed
    audit = live.cli("audit", "verify", check=False)
    assert audit.returncode == 0, audit.stderr

    person, browser = _member(live, _strict_role(live))
    device = security_key(maker, certified)
    assert _register(browser, device)[1].status_code == 200
    assert _claims(live, client, person, device, PHRH)["acr"] == PHRH


def _row(page_html: str, aaguid: str) -> str:
    return next(r for r in page_html.split("<tr>") if aaguid in r)


def test_console_lists_models_for_auditors_and_admins_add_and_remove_them(live, vendor, model):
    auditor, _ = console_browser(live, "auditor")
    page = auditor.get(live.url + "/admin/authenticators")
    assert page.status_code == 200 and "Test Key 5" in page.text and str(model) in page.text
    assert "Test Keys Root CA" in _row(page.text, str(model))  # the trust anchor's subject
    assert "Add a model" not in page.text and 'action="' not in _row(page.text, str(model))

    admin, account = console_browser(live, "admin")
    page = admin.get(live.url + "/admin/authenticators")
    assert 'href="/admin/authenticators"' in page.text  # the console's navigation
    aaguid = str(uuid.uuid4())
    form = {"csrf_token": csrf_token(page.text), "aaguid": aaguid, "description": "Web Key",
            "roots": vendor.pem.decode()}  # fmt: skip
    added = admin.post(live.url + "/admin/authenticators", data=form)
    assert added.status_code == 200 and f"Allowed: Web Key ({aaguid})" in added.text
    assert _listed(live)[aaguid]["allowed"] is True
    wrong = admin.post(live.url + "/admin/authenticators", data={**form, "roots": "nonsense"})
    assert wrong.status_code == 400 and "no PEM certificate" in wrong.text

    action = re.search(rf'action="(/admin/authenticators/{aaguid}/remove)"', added.text).group(1)
    gone = admin.post(live.url + action, data={"csrf_token": csrf_token(added.text)})
    assert gone.status_code == 200 and "Removed from the allow-list" in gone.text
    assert _listed(live)[aaguid]["allowed"] is False
    token = csrf_token(auditor.get(live.url + "/account").text)  # the page offers no form
    refused = auditor.post(live.url + action, data={"csrf_token": token})
    assert refused.status_code == 403 and "changes nothing" in refused.text
    for event, state in (("authenticator_allowed", True), ("authenticator_removed", False)):
        exported = admin.get(live.url + "/admin/audit/export", params={"event": event}).text
        [row] = [r for r in map(json.loads, exported.splitlines())
                 if r["detail"]["after"]["aaguid"] == aaguid]  # fmt: skip
        assert row["actor"] == account["email"] and row["detail"]["after"]["allowed"] is state
