"""Attested passkeys (``idp.factors.attestation``, ``idp.factors.mds``) without a server.

Software authenticators attest with chains made by test CAs in the test; a Metadata BLOB is
signed by a test root. A role with ``require_attested_passkeys`` makes registration ask for
attestation and refuse what does not prove an allowed model; its users' passkeys that are not so
attested count as ``swk``. The HTTP journeys are in tests/flows/test_attested_passkeys.py.
"""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import inspect

from idp import db as schema
from idp.accounts import policies, users
from idp.extensions import db
from idp.factors import attestation, mds, passkey
from idp.factors.base import FactorError
from idp.policy.rules import MfaPolicy
from tests.support.attestation import (
    CertificateAuthority,
    mds_blob,
    mds_entry,
    security_key,
    tampered,
)
from tests.support.migrations import schema_differences, upgraded_app
from tests.support.webauthn import PackedAttestation, SoftAuthenticator

ORIGIN = "http://localhost:5000"
SESSION = "login-session-attestation"


@pytest.fixture(scope="module")
def vendor() -> CertificateAuthority:
    return CertificateAuthority("Test Keys Root CA")


@pytest.fixture()
def model(ctx, vendor) -> uuid.UUID:
    """A model on the allow-list whose attestation chains to ``vendor``."""
    aaguid = uuid.uuid4()
    attestation.allow(
        str(aaguid), description="Test Key 5", roots=[vendor.pem.decode()], actor="test"
    )
    return aaguid


@pytest.fixture()
def strict(user):
    """``user`` in a role whose policy requires attested passkeys."""
    _require_attestation(user)
    return user


def _require_attestation(user) -> None:
    """Put ``user`` in a new role whose policy requires attested passkeys."""
    role = users.create_role(f"strict{uuid.uuid4().hex[:8]}", actor="test")
    db.session.flush()  # the columns' defaults
    policies.set_role_policy(role, MfaPolicy(require_attested_passkeys=True), actor="test")
    user.roles.append(role)


def _register(user, device: SoftAuthenticator):
    row, options = passkey.registration_options(user, SESSION)
    return passkey.register(row, user, device.registration(options["challenge"], ORIGIN), "Key")


def _refusal(user, device: SoftAuthenticator) -> FactorError:
    with pytest.raises(FactorError) as refused:
        _register(user, device)
    return refused.value


# --- registration under a policy that requires attestation -------------------------------------


def test_registration_asks_for_direct_attestation_only_when_the_policy_requires_it(user):
    assert passkey.registration_options(user, SESSION)[1]["attestation"] == "none"
    _require_attestation(user)
    assert passkey.registration_options(user, SESSION)[1]["attestation"] == "direct"


def test_an_allowed_model_is_stored_as_attested_and_counts_as_a_hardware_key(strict, model, vendor):
    factor, verified = _register(strict, security_key(vendor, model))
    assert factor.data["aaguid"] == str(model) and factor.data["attested"] is True
    assert factor.data["attestation_fmt"] == "packed"
    assert factor.data["attested_model"] == "Test Key 5"
    assert factor.data["attestation_anchor"] == vendor.certificate.subject.rfc4514_string()
    assert "hwk" in verified.amr and passkey.key_amr(factor) == "hwk"


def test_a_chain_through_an_intermediate_to_the_allowed_root_is_accepted(strict, model, vendor):
    issuing = CertificateAuthority("Test Keys Issuing CA", parent=vendor)
    factor, _ = _register(strict, security_key(issuing, model))
    assert passkey.key_amr(factor) == "hwk"


def test_attestation_none_is_refused_saying_the_device_did_not_say_what_it_is(strict, model):
    refusal = _refusal(strict, SoftAuthenticator(aaguid=model.bytes))
    assert isinstance(refusal, attestation.NoAttestation)
    assert "did not say which device" in str(refusal) and not passkey.passkeys(strict)


def test_an_unlisted_model_is_refused_naming_it(strict, vendor):
    stranger = uuid.uuid4()
    refusal = _refusal(strict, security_key(vendor, stranger))
    assert isinstance(refusal, attestation.UnlistedModel) and str(stranger) in str(refusal)


def test_a_chain_from_another_ca_is_refused(strict, model):
    refusal = _refusal(strict, security_key(CertificateAuthority("Someone Else's CA"), model))
    assert isinstance(refusal, attestation.UntrustedChain)
    assert "trusted authority" in str(refusal)


def test_a_certificate_for_another_model_is_refused(strict, model, vendor):
    """One vendor root often covers many models: the leaf's AAGUID extension must name the
    model the authenticator claims (WebAuthn L3 8.2.1)."""
    other = uuid.uuid4().bytes
    refusal = _refusal(strict, security_key(vendor, model, certified_aaguid=other))
    assert isinstance(refusal, attestation.OtherModel)


def test_an_attestation_signed_by_another_key_than_the_certificates_is_refused(
    strict, model, vendor
):
    device = security_key(vendor, model)
    other_key = ec.generate_private_key(ec.SECP256R1())  # the chain is right, the key is not
    device.attestation = PackedAttestation(other_key, device.attestation.chain)
    refusal = _refusal(strict, device)
    assert type(refusal) is passkey.PasskeyRefused  # py_webauthn's signature check


def test_a_removed_model_is_refused_and_its_passkeys_stop_counting_as_hardware(
    strict, model, vendor
):
    factor, _ = _register(strict, security_key(vendor, model))
    assert attestation.remove(str(model), actor="test") is True
    assert passkey.key_amr(factor) == "swk"
    refusal = _refusal(strict, security_key(vendor, model))
    assert isinstance(refusal, attestation.UnlistedModel)
    attestation.allow(str(model), description=None, roots=None, actor="test")  # known: allow
    assert passkey.key_amr(factor) == "hwk"


# --- users whose policy does not require it, and a policy tightened later ----------------------


def test_without_the_requirement_nothing_changes(user, model, vendor):
    plain, _ = _register(user, SoftAuthenticator())
    assert "attested" not in plain.data and passkey.key_amr(plain) == "hwk"
    attested, _ = _register(user, security_key(vendor, model))  # not asked, so not checked
    assert "attested" not in attested.data
    synced, _ = _register(user, SoftAuthenticator(backup_eligible=True))
    assert passkey.key_amr(synced) == "swk"


def test_a_passkey_from_before_the_policy_was_tightened_counts_as_software(user):
    factor, verified = _register(user, SoftAuthenticator())
    assert "hwk" in verified.amr
    _require_attestation(user)
    assert passkey.key_amr(factor) == "swk"
    assert not attestation.compliant(factor)


# --- the allow-list ----------------------------------------------------------------------------


def test_a_new_model_needs_a_description_and_roots_and_a_real_aaguid(ctx, vendor):
    with pytest.raises(ValueError, match="description and its root"):
        attestation.allow(str(uuid.uuid4()), description="X", roots=None, actor="test")
    with pytest.raises(ValueError, match="not an AAGUID"):
        attestation.allow("yubikey", description="X", roots=[vendor.pem.decode()], actor="test")
    with pytest.raises(ValueError, match="no PEM certificate"):
        attestation.pem_roots(b"-----BEGIN NOTHING-----")


# --- FIDO Metadata Service BLOBs ----------------------------------------------------------------


@pytest.fixture(scope="module")
def fido_root() -> CertificateAuthority:
    return CertificateAuthority("Test FIDO MDS Root")


@pytest.fixture(scope="module")
def mds_signer(fido_root) -> CertificateAuthority:
    return CertificateAuthority("Test MDS Signing CA", parent=fido_root)


def test_a_blob_signed_under_the_fido_root_is_read(fido_root, mds_signer, vendor):
    aaguid = uuid.uuid4()
    blob = mds.read(mds_blob(mds_signer, [mds_entry(aaguid, "Key A", vendor)]), fido_root.pem)
    [entry] = blob.entries
    assert blob.number == 7 and entry.aaguid == str(aaguid) and entry.description == "Key A"
    assert attestation.fingerprint(entry.roots[0]) == attestation.fingerprint(vendor.pem.decode())


def test_a_tampered_blob_and_one_under_another_root_are_refused(fido_root, mds_signer, vendor):
    good = mds_blob(mds_signer, [mds_entry(uuid.uuid4(), "Key A", vendor)])
    with pytest.raises(mds.BlobRefused, match="signature"):
        mds.read(tampered(good), fido_root.pem)
    impostor = CertificateAuthority("Impostor Signing CA", parent=CertificateAuthority("Fake"))
    with pytest.raises(mds.BlobRefused, match="chain"):
        mds.read(mds_blob(impostor, [mds_entry(uuid.uuid4(), "Key A", vendor)]), fido_root.pem)
    with pytest.raises(mds.BlobRefused, match="x5c"):
        mds.read("not.a.jws", fido_root.pem)


def test_import_skips_compromised_and_filtered_models_and_keeps_a_removed_one_removed(
    ctx, fido_root, mds_signer, vendor
):
    certified, plain, broken, removed = (uuid.uuid4() for _ in range(4))
    attestation.allow(str(removed), description="Old", roots=[vendor.pem.decode()], actor="t")
    attestation.remove(str(removed), actor="t")
    entries = [
        mds_entry(certified, "Certified", vendor, "FIDO_CERTIFIED_L2"),
        mds_entry(plain, "Not certified", vendor, "NOT_FIDO_CERTIFIED"),
        mds_entry(broken, "Broken", vendor, "FIDO_CERTIFIED_L1", "ATTESTATION_KEY_COMPROMISE"),
        mds_entry(removed, "Removed", vendor, "FIDO_CERTIFIED_L1"),
    ]
    blob = mds.read(mds_blob(mds_signer, entries), fido_root.pem)
    wanted = frozenset({"FIDO_CERTIFIED_L1", "FIDO_CERTIFIED_L2"})
    counts = mds.import_blob(blob, statuses=wanted, allow=True, actor="t")
    assert counts["added"] == 1 and counts["kept_manual"] == 1
    assert counts["skipped"] == {"status_filtered": 1, "untrusted_status": 1}
    assert attestation.allowed(str(certified)) and attestation.model(str(certified)).source == "mds"
    assert attestation.model(str(plain)) is None and attestation.model(str(broken)) is None
    assert not attestation.allowed(str(removed))
    db.session.rollback()


# --- migration 0024 ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0024_goes_down_and_up_and_matches_the_models(tmp_path, request, backend):
    with upgraded_app(tmp_path, request, backend, "migration_0024"):
        assert schema_differences() == []
        command.downgrade(schema.alembic_config(), "0023")
        with db.engine.connect() as conn:
            assert "authenticator_models" not in inspect(conn).get_table_names()
            for table in ("roles", "default_policy"):
                columns = {c["name"] for c in inspect(conn).get_columns(table)}
                assert "require_attested_passkeys" not in columns
        schema.upgrade()
        assert schema_differences() == []
