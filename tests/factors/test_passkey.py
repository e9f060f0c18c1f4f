"""The passkey verifier (``idp.factors.passkey``) without a browser or a server.

A software authenticator makes the registration and signs the assertions, so each WebAuthn
check can be met or broken on its own. The browser journeys are in tests/flows/test_passkeys.py.
"""

from __future__ import annotations

import uuid

import pytest

import idp.db as schema
from idp import config
from idp.accounts import users
from idp.app import create_app
from idp.clock import now
from idp.extensions import db
from idp.factors import passkey
from idp.factors.base import ChallengeExpired, ChallengeUsed
from idp.models import Factor
from idp.models.factor import FactorStatus
from tests.support.webauthn import UP, UV, SoftAuthenticator, b64url

ORIGIN = "http://localhost:5000"
SESSION = "login-session-1"


@pytest.fixture(scope="module")
def passkey_app(tmp_path_factory):
    path = tmp_path_factory.mktemp("passkeys")
    app = create_app(
        {
            "ISSUER": ORIGIN,
            "INSTANCE_PATH": str(path),
            "DATABASE_URL": f"sqlite:///{path}/t.db",
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
        }
    )
    with app.app_context():
        schema.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture()
def user(passkey_app):
    with passkey_app.app_context():
        yield users.create(f"{uuid.uuid4().hex[:12]}@example.com", "correct horse battery")
        db.session.rollback()


def _register(user, device: SoftAuthenticator, **response) -> Factor:
    row, options = passkey.registration_options(user, SESSION)
    answer = device.registration(options["challenge"], response.pop("origin", ORIGIN), **response)
    factor, _ = passkey.register(row, user, answer, "Laptop")
    return factor


def _second_factor(user, factor, device: SoftAuthenticator, count: int, **assertion):
    row, options = passkey.second_factor_options(user, SESSION, factor)
    credential = device.credential(user.sub.encode())
    answer = credential.assertion(options["challenge"], ORIGIN, sign_count=count, **assertion)
    return passkey.authenticate(row, factor, user, answer, require_user_verification=False)


def test_registration_options_follow_the_issue(user):
    _, options = passkey.registration_options(user, SESSION)
    assert options["rp"]["id"] == "localhost"
    assert options["user"]["id"] == b64url(user.sub.encode())
    assert options["attestation"] == "none"
    selection = options["authenticatorSelection"]
    assert selection["residentKey"] == "preferred"
    assert selection["userVerification"] == "preferred"
    assert options["excludeCredentials"] == []
    factor = _register(user, SoftAuthenticator())
    _, again = passkey.registration_options(user, SESSION)
    assert [c["id"] for c in again["excludeCredentials"]] == [factor.data["credential_id"]]


def test_registered_passkey_is_active_and_keeps_only_public_values(user):
    device = SoftAuthenticator()
    factor = _register(user, device)
    assert factor.status == FactorStatus.ACTIVE.value and factor.secret is None
    assert factor.lookup == passkey.lookup_key(device.credential_id)
    assert factor.data["credential_id"] == b64url(device.credential_id)
    assert factor.data["sign_count"] == 0
    assert factor.data["backup_eligible"] is False and factor.data["backed_up"] is False
    assert factor.data["transports"] == ["internal"]  # unknown transports are dropped
    assert factor.data["aaguid"] == "00000000-0000-0000-0000-000000000000"


def test_registration_for_another_rp_id_is_refused(user):
    device = SoftAuthenticator()
    with pytest.raises(passkey.WrongRelyingParty):
        _register(user, device, rp_id="evil.example")
    assert passkey.by_credential_id(device.credential_id) is None


def test_registration_made_on_another_origin_is_refused(user):
    with pytest.raises(passkey.WrongOrigin):
        _register(user, SoftAuthenticator(), origin="https://evil.example")


def test_registration_without_user_presence_is_refused(user):
    with pytest.raises(passkey.PasskeyRefused):
        _register(user, SoftAuthenticator(), flags=UV)


def test_registration_without_user_verification_is_accepted_as_it_is_only_preferred(user):
    assert _register(user, SoftAuthenticator(), flags=UP).data["uv_initialized"] is False


def test_a_credential_registered_already_is_refused(user):
    device = SoftAuthenticator()
    _register(user, device)
    other = users.create(f"{uuid.uuid4().hex[:12]}@example.com", "correct horse battery")
    with pytest.raises(passkey.PasskeyRefused, match="already registered"):
        _register(other, device)


def test_registration_challenge_is_single_use(user):
    device = SoftAuthenticator()
    row, options = passkey.registration_options(user, SESSION)
    passkey.register(row, user, device.registration(options["challenge"], ORIGIN), "Laptop")
    with pytest.raises(ChallengeUsed):
        passkey.register(
            row, user, SoftAuthenticator().registration(options["challenge"], ORIGIN), "x"
        )


def test_device_bound_passkey_with_uv_gives_hwk_and_user(user):
    device = SoftAuthenticator()
    factor = _register(user, device)
    result = _second_factor(user, factor, device, 1)
    assert (result.method, result.amr) == ("passkey", ("hwk", "user"))
    assert factor.data["sign_count"] == 1 and factor.last_used_at is not None


def test_synced_passkey_gives_swk(user):
    device = SoftAuthenticator(backup_eligible=True)
    factor = _register(user, device)
    assert factor.data["backup_eligible"] is True
    assert _second_factor(user, factor, device, 0).amr == ("swk", "user")


def test_second_factor_without_user_verification_gives_the_key_alone(user):
    device = SoftAuthenticator()
    factor = _register(user, device)
    assert _second_factor(user, factor, device, 1, flags=UP).amr == ("hwk",)


@pytest.mark.parametrize(
    ("backup_eligible", "flags"),
    [(False, UP | UV), (False, UP), (True, UP | UV), (True, UP)],
)
def test_registration_gives_the_amr_of_an_assertion_with_the_same_flags(
    user, backup_eligible, flags
):
    """Adding a passkey counts as a second factor: ``user`` only if the registration was
    verified (UV), exactly as an assertion with those flags."""
    device = SoftAuthenticator(backup_eligible=backup_eligible)
    row, options = passkey.registration_options(user, SESSION)
    answer = device.registration(options["challenge"], ORIGIN, flags=flags)
    factor, registered = passkey.register(row, user, answer, "Laptop")
    asserted = _second_factor(user, factor, device, 1, flags=flags)
    assert (registered.factor_id, registered.method) == (factor.id, "passkey")
    assert registered.amr == asserted.amr
    assert ("user" in registered.amr) is bool(flags & UV)


def test_passkey_whose_backup_eligibility_changed_is_refused(user):
    device = SoftAuthenticator()
    factor = _register(user, device)
    device.backup_eligible = True  # the assertion now carries BE=1
    with pytest.raises(passkey.PasskeyRefused, match="backup eligibility changed"):
        _second_factor(user, factor, device, 1)


def test_sign_count_is_stored_and_must_increase(user):
    device = SoftAuthenticator()
    factor = _register(user, device)
    _second_factor(user, factor, device, 5)
    assert factor.data["sign_count"] == 5
    with pytest.raises(passkey.PasskeyRefused, match="counter did not advance"):
        _second_factor(user, factor, device, 5)
    assert factor.data["sign_count"] == 5


def test_expired_passkey_challenge_is_refused(user):
    device = SoftAuthenticator()
    factor = _register(user, device)
    row, options = passkey.second_factor_options(user, SESSION, factor)
    row.expires_at = now() - 1
    answer = device.credential(user.sub.encode()).assertion(
        options["challenge"], ORIGIN, sign_count=1
    )
    with pytest.raises(ChallengeExpired):
        passkey.authenticate(row, factor, user, answer, require_user_verification=False)
    assert factor.data["sign_count"] == 0


def test_replayed_passwordless_answer_meets_the_settled_challenge(user):
    device = SoftAuthenticator()
    factor = _register(user, device)
    challenge, _ = passkey.passwordless_options()
    answer = device.credential(user.sub.encode()).assertion(challenge, ORIGIN, sign_count=1)
    row = passkey.passwordless_challenge("browser-1", challenge, now(), user, factor)
    first = passkey.authenticate(
        row, factor, user, answer, require_user_verification=True, throttled=False
    )
    assert first.amr == ("hwk", "user")
    again = passkey.passwordless_challenge("browser-1", challenge, now(), user, factor)
    assert again.id == row.id
    with pytest.raises(ChallengeUsed):
        passkey.authenticate(
            again, factor, user, answer, require_user_verification=True, throttled=False
        )


def test_passwordless_requires_user_verification(user):
    device = SoftAuthenticator()
    factor = _register(user, device)
    challenge, options = passkey.passwordless_options()
    assert options["userVerification"] == "required" and options["allowCredentials"] == []
    row = passkey.passwordless_challenge("browser-1", challenge, now(), user, factor)
    answer = device.credential(user.sub.encode()).assertion(
        challenge, ORIGIN, sign_count=1, flags=UP
    )
    with pytest.raises(passkey.PasskeyRefused, match="did not confirm it is you"):
        passkey.authenticate(
            row, factor, user, answer, require_user_verification=True, throttled=False
        )


# --- configuration ----------------------------------------------------------------------------


def _settings(tmp_path, **values):
    return config.load({"INSTANCE_PATH": str(tmp_path), **values})


def test_webauthn_settings_default_to_the_issuer(tmp_path):
    values = _settings(tmp_path, ISSUER="https://login.example.com:8443")
    assert values["WEBAUTHN_RP_ID"] == "login.example.com"
    assert values["WEBAUTHN_ORIGINS"] == ["https://login.example.com:8443"]


def test_a_parent_domain_rp_id_covers_several_origins(tmp_path):
    values = _settings(
        tmp_path,
        ISSUER="https://login.example.com",
        WEBAUTHN_RP_ID="example.com",
        WEBAUTHN_ORIGINS="https://login.example.com, https://example.com",
    )
    assert values["WEBAUTHN_ORIGINS"] == ["https://login.example.com", "https://example.com"]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"WEBAUTHN_RP_ID": "example.org"}, "IDP_WEBAUTHN_RP_ID"),
        ({"WEBAUTHN_RP_ID": "ample.com"}, "IDP_WEBAUTHN_RP_ID"),
        ({"WEBAUTHN_ORIGINS": "https://login.example.com/path"}, "IDP_WEBAUTHN_ORIGINS"),
        ({"WEBAUTHN_ORIGINS": "login.example.com"}, "IDP_WEBAUTHN_ORIGINS"),
    ],
)
def test_webauthn_settings_that_cannot_work_are_refused(tmp_path, values, named):
    with pytest.raises(config.ConfigError, match=named):
        _settings(tmp_path, ISSUER="https://login.example.com", **values)
