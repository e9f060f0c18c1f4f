"""TOTP against RFC 6238, the AES-GCM key ring that protects factor secrets, and backup codes."""

from __future__ import annotations

import base64
import math
import time

import pyotp
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from idp.clock import now
from idp.extensions import db
from idp.factors import backup_codes, registry, totp
from idp.factors.base import CodeReused, WrongCode
from idp.keys.encryption import DecryptionError, EncryptionKeyError, KeyRing, factor_aad, keyring
from idp.models import BackupCode, Factor
from idp.models.factor import FactorStatus

# RFC 6238 Appendix B: the SHA-1 seed is the 20-byte ASCII string "12345678901234567890".
RFC6238_SEED = b"12345678901234567890"
RFC6238_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
SEED_B32 = base64.b32encode(RFC6238_SEED).decode()


# --- RFC 6238 -----------------------------------------------------------------------------


def test_module_uses_the_rfc6238_parameters_the_issue_asks_for():
    assert (totp.DIGITS, totp.PERIOD, totp.TOLERANCE, totp.SECRET_BYTES) == (6, 30, 1, 20)


@pytest.mark.parametrize(("at", "expected"), RFC6238_SHA1, ids=[str(t) for t, _ in RFC6238_SHA1])
def test_rfc6238_sha1_test_vectors_with_eight_digits(at, expected):
    """pyotp configured as our module configures it (SHA-1, 30 s), with the RFC's 8 digits."""
    assert pyotp.TOTP(SEED_B32, digits=8, interval=totp.PERIOD).at(at) == expected


@pytest.mark.parametrize(("at", "expected"), RFC6238_SHA1, ids=[str(t) for t, _ in RFC6238_SHA1])
def test_rfc6238_sha1_test_vectors_through_matching_step(at, expected):
    """Our 6-digit check finds the RFC's time step: a 6-digit HOTP value is the 8-digit one
    mod 10**6 (RFC 4226 section 5.3), i.e. its last six digits."""
    assert totp.matching_step(SEED_B32, expected[-6:], at) == at // totp.PERIOD


def test_matching_step_reports_the_step_of_the_code_within_tolerance():
    # 1111111109 and 1111111111 fall in adjacent steps: the earlier code is one step behind.
    assert totp.matching_step(SEED_B32, "081804", 1111111111) == 1111111109 // 30


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_matching_step_accepts_one_step_either_way(offset):
    at = 1234567890
    code = pyotp.TOTP(SEED_B32).at(at + 30 * offset)
    assert totp.matching_step(SEED_B32, code, at) == at // 30 + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_matching_step_refuses_codes_two_or_more_steps_away(offset):
    at = 1234567890
    code = pyotp.TOTP(SEED_B32).at(at + 30 * offset)
    assert totp.matching_step(SEED_B32, code, at) is None


@pytest.mark.parametrize("code", ["", "28708", "2870820", "94287082", "28708a", "287 82"])
def test_matching_step_refuses_malformed_codes(code):
    assert totp.matching_step(SEED_B32, code, 59) is None


@pytest.mark.parametrize("code", ["２８７０８２", "٢٨٧٠٨٢"], ids=["fullwidth", "arabic-indic"])
def test_non_ascii_digits_are_refused_or_normalised_not_an_error(code):
    """Phones with an IME or another numbering system type such digits into the code field."""
    assert totp.matching_step(SEED_B32, code, 59) in (None, 59 // 30)


def test_enrollment_draws_a_160_bit_secret_and_stores_it_encrypted(ctx, user):
    factor, secret = totp.enroll(user, "Phone")
    db.session.commit()

    assert len(base64.b32decode(secret)) * 8 == 160
    assert factor.status == FactorStatus.PENDING.value
    assert secret not in factor.secret and factor.secret.startswith("v1.")
    assert totp.secret_of(factor) == secret
    other, other_secret = totp.enroll(user, "Tablet")
    assert other_secret != secret


def test_secret_copied_into_another_factor_row_does_not_decrypt(ctx, user):
    factor, _ = totp.enroll(user, "Phone")
    other, _ = totp.enroll(user, "Tablet")
    other.secret = factor.secret
    with pytest.raises(DecryptionError):
        totp.secret_of(other)


def test_provisioning_uri_carries_the_module_parameters(ctx, user):
    _, secret = totp.enroll(user, "Phone")
    uri = totp.provisioning_uri(secret, user.email)
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == secret and parsed.digits == 6 and parsed.interval == 30
    assert totp.qr_svg(uri).lstrip().startswith("<svg")


def test_accepted_time_step_is_refused_the_second_time(ctx, user):
    factor, secret = totp.enroll(user, "Phone")
    at = now()
    code = pyotp.TOTP(secret).at(at)
    assert totp.verify(factor, code, at).amr == ("otp",)
    with pytest.raises(CodeReused):
        totp.verify(factor, code, at)
    with pytest.raises(CodeReused):  # an older step after a newer one is a replay too
        totp.verify(factor, pyotp.TOTP(secret).at(at - 30), at)
    assert totp.verify(factor, pyotp.TOTP(secret).at(at + 30), at).method == "totp"
    db.session.commit()
    assert db.session.get(Factor, factor.id).totp_last_step == at // 30 + 1


def test_code_two_steps_away_is_a_wrong_code(ctx, user):
    factor, secret = totp.enroll(user, "Phone")
    with pytest.raises(WrongCode):
        totp.verify(factor, pyotp.TOTP(secret).at(time.time() + 60), time.time())
    assert factor.totp_last_step is None


# --- the key ring -------------------------------------------------------------------------


def ring(kid: str = "k1") -> KeyRing:
    return KeyRing({kid: AESGCM.generate_key(bit_length=256)}, kid)


def test_key_ring_round_trip_names_its_key_and_uses_a_fresh_nonce():
    keys = ring()
    first = keys.encrypt(b"JBSWY3DPEHPK3PXP", "factor:1:totp")
    second = keys.encrypt(b"JBSWY3DPEHPK3PXP", "factor:1:totp")
    assert first != second and first.startswith("v1.k1.") and keys.key_id_of(first) == "k1"
    assert keys.decrypt(first, "factor:1:totp") == b"JBSWY3DPEHPK3PXP"
    assert b"JBSWY3DPEHPK3PXP".decode() not in first


def test_key_ring_refuses_the_wrong_associated_data():
    keys = ring()
    sealed = keys.encrypt(b"seed", factor_aad(1, "totp"))
    for aad in (factor_aad(2, "totp"), factor_aad(1, "sms"), ""):
        with pytest.raises(DecryptionError):
            keys.decrypt(sealed, aad)


@pytest.mark.parametrize("part", [2, 3], ids=["nonce", "ciphertext"])
def test_key_ring_refuses_a_tampered_ciphertext(part):
    keys = ring()
    pieces = keys.encrypt(b"seed", "aad").split(".")
    raw = bytearray(base64.urlsafe_b64decode(pieces[part] + "=" * (-len(pieces[part]) % 4)))
    raw[0] ^= 0x01
    pieces[part] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(DecryptionError):
        keys.decrypt(".".join(pieces), "aad")


@pytest.mark.parametrize("token", ["", "v1.k1.abc", "v2.k1.AAAA.AAAA", "not a ciphertext"])
def test_key_ring_refuses_malformed_ciphertexts(token):
    with pytest.raises(DecryptionError):
        ring().decrypt(token, "aad")


def test_key_ring_refuses_a_ciphertext_under_an_unknown_key_id():
    sealed = ring("k1").encrypt(b"seed", "aad")
    with pytest.raises(DecryptionError, match="not configured"):
        ring("k2").decrypt(sealed, "aad")
    with pytest.raises(DecryptionError):  # same kid, different key material
        ring("k1").decrypt(sealed, "aad")


def test_rotation_encrypts_with_the_new_key_and_keeps_old_ciphertexts_readable():
    old = ring("k1")
    sealed_before = old.encrypt(b"old seed", "aad")
    new = old.with_new_key()
    assert new.current != "k1" and set(new.keys) == {"k1", new.current}
    sealed_after = new.encrypt(b"new seed", "aad")
    assert new.key_id_of(sealed_after) == new.current
    assert new.decrypt(sealed_before, "aad") == b"old seed"
    with pytest.raises(DecryptionError):  # the old ring does not know the new key
        old.decrypt(sealed_after, "aad")
    reloaded = KeyRing.parse(new.spec())  # what IDP_ENCRYPTION_KEY / the key file would hold
    assert reloaded == new
    assert reloaded.decrypt(sealed_before, "aad") == b"old seed"


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "k1",
        "k1:",
        "k1:A",
        "k-1:" + "A" * 43,
        "k1:" + base64.urlsafe_b64encode(b"x" * 16).decode(),
    ],
    ids=["empty", "no-key", "empty-key", "not-base64", "bad-kid", "128-bit"],
)
def test_key_ring_configuration_refuses_malformed_keys(spec):
    with pytest.raises(EncryptionKeyError):
        KeyRing.parse(spec)


def test_factor_secrets_are_sealed_with_the_configured_current_key(ctx, user):
    factor, _ = totp.enroll(user, "Phone")
    assert keyring().key_id_of(factor.secret) == keyring().current


# --- backup codes -------------------------------------------------------------------------


def test_backup_codes_have_at_least_fifty_bits_by_construction():
    alphabet, length = backup_codes.ALPHABET, backup_codes.LENGTH
    assert len(set(alphabet)) == len(alphabet)  # no repeated symbol inflating the count
    assert len(alphabet) ** length >= 2**50
    assert length * math.log2(len(alphabet)) >= 50


def test_a_new_set_has_ten_distinct_well_formed_codes_stored_only_as_salted_hashes(ctx, user):
    codes = backup_codes.generate(user, actor=user.email)
    db.session.commit()

    assert backup_codes.COUNT == 10 and len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        symbols = backup_codes.normalize(code)
        assert len(symbols) == backup_codes.LENGTH
        assert set(symbols) <= set(backup_codes.ALPHABET)
    factor = backup_codes.active_set(user)
    digests = db.session.execute(
        select(BackupCode.digest).where(BackupCode.factor_id == factor.id)
    ).scalars()
    digests = list(digests)
    assert len(set(digests)) == 10
    for digest in digests:
        assert digest.startswith("$argon2id$")
        assert not any(backup_codes.normalize(c) in digest for c in codes)
    assert backup_codes.remaining(factor) == 10


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("abcd-efgh-jkmnp", "ABCDEFGHJKMNP"),
        ("ABCD-EFGH-JKMNP", "ABCDEFGHJKMNP"),
        (" abcd efgh jkmnp ", "ABCDEFGHJKMNP"),
        ("AbCd-eFgH-jKmNp", "ABCDEFGHJKMNP"),
    ],
)
def test_normalize_accepts_lower_case_dashes_and_spaces(typed, expected):
    assert backup_codes.normalize(typed) == expected


def test_backup_code_typed_in_lower_case_without_dashes_works_once(ctx, user):
    codes = backup_codes.generate(user, actor=user.email)
    factor = backup_codes.active_set(user)
    typed = codes[3].lower().replace("-", "")
    assert backup_codes.verify(factor, typed, user.sub).method == "backup_code"
    assert backup_codes.remaining(factor) == 9
    with pytest.raises(WrongCode):
        backup_codes.verify(factor, codes[3], user.sub)
    assert registry.kind_of(factor).verify(None, factor, user, codes[4].lower()).amr == ("otp",)


def test_regenerating_revokes_the_old_set_and_its_codes(ctx, user):
    old_codes = backup_codes.generate(user, actor=user.email)
    old = backup_codes.active_set(user)
    backup_codes.generate(user, actor=user.email)
    db.session.commit()
    new = backup_codes.active_set(user)
    assert new.id != old.id and db.session.get(Factor, old.id).status == "revoked"
    with pytest.raises(WrongCode):
        backup_codes.verify(new, old_codes[0], user.sub)
