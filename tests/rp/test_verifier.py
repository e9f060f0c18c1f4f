"""TokenVerifier and ProviderKeys against a real loopback JWKS: what verifies, what is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization

from idp.rp import InvalidToken, ProviderKeys, ProviderUnavailable, TokenVerifier
from tests.rp.provider import new_key


def test_valid_id_token_gives_acr_amr_auth_time(stub, verifier):
    token = stub.sign(stub.keys[0], acr="urn:idp:acr:mfa", amr=["mfa", "otp", "pwd"], nonce="n-1")
    verified = verifier.verify_id_token(token, nonce="n-1")
    assert verified.kind == "id_token" and verified.subject == "user-1"
    assert verified.acr == "urn:idp:acr:mfa"
    assert verified.amr == ("mfa", "otp", "pwd")
    assert verified.auth_time == verified.claims["auth_time"]
    assert stub.hits == {"discovery": 1, "jwks": 1, "introspect": 0}


def test_es256_access_token_verifies(stub, verifier):
    stub.keys.append(new_key("ES256"))
    verified = verifier.verify_access_token(stub.access_token(stub.keys[1], amr=["pwd"]))
    assert verified.kind == "access_token" and verified.amr == ("pwd",)


def test_jwks_is_cached_between_tokens(stub, verifier):
    for _ in range(3):
        verifier.verify_access_token(stub.access_token(stub.keys[0]))
    assert stub.hits["jwks"] == 1


def test_token_signed_by_another_key_with_a_known_kid_is_refused(stub, verifier):
    impostor = new_key("RS256", kid=stub.keys[0].kid)
    with pytest.raises(InvalidToken, match="signature does not verify"):
        verifier.verify_id_token(stub.sign(impostor))


def test_tampered_payload_is_refused(stub, verifier):
    header, _, signature = stub.sign(stub.keys[0]).split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"sub": "admin"}).encode()).rstrip(b"=")
    with pytest.raises(InvalidToken, match="signature does not verify"):
        verifier.verify_id_token(f"{header}.{forged.decode()}.{signature}")


def test_wrong_issuer_is_refused(stub, verifier):
    with pytest.raises(InvalidToken, match="another issuer"):
        verifier.verify_id_token(stub.sign(stub.keys[0], iss="http://evil.example"))


def test_wrong_audience_is_refused(stub, verifier):
    with pytest.raises(InvalidToken, match="another audience"):
        verifier.verify_id_token(stub.sign(stub.keys[0], aud="client-2"))
    with pytest.raises(InvalidToken, match="another audience"):
        verifier.verify_access_token(stub.access_token(stub.keys[0], aud="client-2"))


def test_several_audiences_need_our_azp(stub, verifier):
    token = stub.sign(stub.keys[0], aud=["client-1", "client-2"])
    with pytest.raises(InvalidToken, match="authorized party"):
        verifier.verify_id_token(token)
    ours = stub.sign(stub.keys[0], aud=["client-1", "client-2"], azp="client-1")
    assert verifier.verify_id_token(ours).subject == "user-1"


def test_expired_token_is_refused_beyond_the_leeway(stub, verifier):
    now = int(time.time())
    within = stub.sign(stub.keys[0], iat=now - 600, exp=now - 10)
    assert verifier.verify_id_token(within).subject == "user-1"
    expired = stub.sign(stub.keys[0], iat=now - 600, exp=now - 60)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify_id_token(expired)


def test_token_issued_in_the_future_is_refused(stub, verifier):
    now = int(time.time())
    with pytest.raises(InvalidToken, match="not valid yet"):
        verifier.verify_id_token(stub.sign(stub.keys[0], iat=now + 120, exp=now + 600))


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "sub"])
def test_token_missing_a_required_claim_is_refused(stub, verifier, claim):
    with pytest.raises(InvalidToken, match=f"lacks the {claim} claim|another issuer"):
        verifier.verify_id_token(stub.sign(stub.keys[0], **{claim: None}))


def test_nonce_must_match_when_given(stub, verifier):
    token = stub.sign(stub.keys[0], nonce="expected")
    with pytest.raises(InvalidToken, match="nonce"):
        verifier.verify_id_token(token, nonce="other")
    with pytest.raises(InvalidToken, match="nonce"):
        verifier.verify_id_token(stub.sign(stub.keys[0]), nonce="expected")


def _unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join([part(json.dumps(header).encode()), part(json.dumps(claims).encode()),
                     part(signature)])  # fmt: skip


def test_alg_none_is_refused(stub, verifier):
    now = int(time.time())
    claims = {"iss": stub.issuer, "sub": "u", "aud": "client-1", "iat": now, "exp": now + 60}
    token = _unsigned({"alg": "none", "kid": stub.keys[0].kid}, claims)
    with pytest.raises(InvalidToken, match="algorithm is not accepted"):
        verifier.verify_id_token(token)
    assert stub.hits["jwks"] == 0  # refused before any key is looked up


def test_hs256_signed_with_the_public_key_is_refused(stub, verifier):
    """The classic confusion: the RSA public key (public, after all) used as an HMAC secret."""
    now = int(time.time())
    claims = {"iss": stub.issuer, "sub": "u", "aud": "client-1", "iat": now, "exp": now + 60}
    public_pem = (
        stub.keys[0]
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = _unsigned({"alg": "HS256", "kid": stub.keys[0].kid}, claims).rstrip(".")
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    with pytest.raises(InvalidToken, match="algorithm is not accepted"):
        verifier.verify_id_token(token)


def test_alg_that_does_not_match_the_key_is_refused(stub, verifier):
    es = new_key("ES256")
    stub.keys.append(es)
    rs_kid_es_alg = stub.sign(es, headers={"kid": stub.keys[0].kid})
    with pytest.raises(InvalidToken, match="does not match its key"):
        verifier.verify_id_token(rs_kid_es_alg)


def test_hmac_and_unknown_keys_in_the_jwks_are_ignored(stub, verifier):
    stub.extra_jwks = [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
        {**stub.keys[0].public_jwk(), "kid": "rs512", "alg": "RS512"},
        {**stub.keys[0].public_jwk(), "kid": "enc", "use": "enc"},
        {"kty": "RSA", "kid": "broken", "n": "AQAB"},
    ]
    verifier.verify_id_token(stub.sign(stub.keys[0]))
    assert verifier.keys.kids == {stub.keys[0].kid}


def test_access_token_needs_the_at_jwt_type(stub, verifier):
    with pytest.raises(InvalidToken, match="not an access token"):
        verifier.verify_access_token(stub.sign(stub.keys[0], client_id="client-1", jti="j"))
    token = stub.sign(stub.keys[0], typ="application/at+jwt", client_id="client-1", jti="j")
    assert verifier.verify_access_token(token).kind == "access_token"


def test_access_token_is_not_accepted_as_an_id_token(stub, verifier):
    with pytest.raises(InvalidToken, match="not an id token"):
        verifier.verify_id_token(stub.access_token(stub.keys[0]))


def test_access_token_needs_client_id_and_jti(stub, verifier):
    with pytest.raises(InvalidToken, match="lacks the client_id claim"):
        verifier.verify_access_token(stub.access_token(stub.keys[0], client_id=None))


def test_ill_typed_amr_is_refused(stub, verifier):
    with pytest.raises(InvalidToken, match="amr"):
        verifier.verify_id_token(stub.sign(stub.keys[0], amr="pwd"))


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", None])
def test_garbage_is_an_invalid_token(verifier, token):
    with pytest.raises(InvalidToken):
        verifier.verify_id_token(token)


def test_unknown_kid_triggers_one_refresh_then_waits_for_the_interval(stub, verifier, clock):
    verifier.verify_id_token(stub.sign(stub.keys[0]))
    assert stub.hits["jwks"] == 1
    clock.advance(31)
    stranger = new_key("RS256")
    with pytest.raises(InvalidToken, match="unknown key"):
        verifier.verify_id_token(stub.sign(stranger))
    assert stub.hits["jwks"] == 2  # the first unknown kid after the interval refreshes at once
    for _ in range(5):  # an attacker's random kids inside the interval cost no request
        with pytest.raises(InvalidToken, match="unknown key"):
            verifier.verify_id_token(stub.sign(new_key("ES256")))
    assert stub.hits["jwks"] == 2
    stub.keys.append(stranger)  # the provider rotates; the new kid arrives within the interval
    with pytest.raises(InvalidToken, match="unknown key"):
        verifier.verify_id_token(stub.sign(stranger))
    clock.advance(30)
    assert verifier.verify_id_token(stub.sign(stranger)).subject == "user-1"
    assert stub.hits["jwks"] == 3
    assert stub.hits["discovery"] == 1


def test_rotated_key_is_picked_up_on_first_sight(stub, verifier, clock):
    verifier.verify_id_token(stub.sign(stub.keys[0]))
    clock.advance(45)
    stub.keys.append(new_key("ES256"))
    assert verifier.verify_id_token(stub.sign(stub.keys[1])).subject == "user-1"
    assert stub.hits["jwks"] == 2


def test_withdrawn_key_stops_verifying_once_the_cache_is_old(stub, verifier, clock):
    old = stub.keys[0]
    verifier.verify_id_token(stub.sign(old))
    stub.keys[:] = [new_key("RS256")]
    clock.advance(100)
    assert verifier.verify_id_token(stub.sign(old)).subject == "user-1"  # still fresh
    clock.advance(300)
    with pytest.raises(InvalidToken, match="unknown key"):
        verifier.verify_id_token(stub.sign(old))


def test_unreachable_provider_is_unavailable_not_invalid(stub, clock):
    keys = ProviderKeys("http://127.0.0.1:9", clock=clock, timeout=2)
    verifier = TokenVerifier("http://127.0.0.1:9", audience="client-1", keys=keys)
    with pytest.raises(ProviderUnavailable):
        verifier.verify_id_token(stub.sign(stub.keys[0]))
    with pytest.raises(ProviderUnavailable):  # inside the interval: no new attempt, same answer
        verifier.verify_id_token(stub.sign(stub.keys[0]))


def test_discovery_for_another_issuer_is_refused(stub, clock):
    keys = ProviderKeys(stub.issuer + "/other", clock=clock)
    with pytest.raises(ProviderUnavailable):
        keys.key(stub.keys[0].kid)
