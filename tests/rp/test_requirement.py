"""Requirements and the acr order: a stronger level meets a weaker requirement, never the reverse.

The phishing-resistant levels are tested on tokens signed here and verified against the loopback
JWKS, since the provider does not issue them yet.
"""

from __future__ import annotations

import pytest

from idp.rp import MFA, PASSWORD, PHR, PHRH, AcrLevels, Authentication, Requirement

ORDER = [PASSWORD, MFA, PHR, PHRH]
NOW = 1_700_000_000


def _auth(acr=None, amr=(), auth_time=NOW):
    return Authentication(acr=acr, amr=tuple(amr), auth_time=auth_time)


@pytest.mark.parametrize("have", range(4))
@pytest.mark.parametrize("need", range(4))
def test_a_level_meets_itself_and_every_weaker_one(have, need):
    requirement = Requirement(acr_values=(ORDER[need],))
    assert requirement.satisfied_by(_auth(ORDER[have]), now=NOW) is (have >= need)


@pytest.mark.parametrize(("alias", "level"), [("0", PASSWORD), ("1", MFA), ("2", PHR)])
def test_numeric_aliases_name_their_levels(alias, level):
    assert Requirement(acr_values=(alias,)).satisfied_by(_auth(level), now=NOW)
    assert Requirement(acr_values=(level,)).satisfied_by(_auth(alias), now=NOW)


def test_phrh_meets_alias_2_and_alias_1_does_not_meet_phr():
    assert Requirement(acr_values=("2",)).satisfied_by(_auth(PHRH), now=NOW)
    assert not Requirement(acr_values=(PHR,)).satisfied_by(_auth("1"), now=NOW)


def test_any_listed_value_is_enough():
    requirement = Requirement(acr_values=(PHRH, MFA))
    assert requirement.satisfied_by(_auth(MFA), now=NOW)
    assert requirement.unmet(_auth(PASSWORD), now=NOW) == ("acr",)


def test_missing_or_unknown_acr_meets_only_an_exact_unknown_requirement():
    assert not Requirement(acr_values=(PASSWORD,)).satisfied_by(_auth(None), now=NOW)
    assert not Requirement(acr_values=(PASSWORD,)).satisfied_by(_auth("urn:other"), now=NOW)
    assert Requirement(acr_values=("urn:other",)).satisfied_by(_auth("urn:other"), now=NOW)
    assert not Requirement(acr_values=("urn:other",)).satisfied_by(_auth(PHRH), now=NOW)


def test_callers_can_bring_their_own_order():
    levels = AcrLevels(order=("bronze", "silver", "gold"), aliases={"au": "gold"})
    assert Requirement(acr_values=("silver",)).satisfied_by(_auth("au"), now=NOW, levels=levels)
    assert not Requirement(acr_values=(MFA,)).satisfied_by(_auth(PHR), now=NOW, levels=levels)
    with pytest.raises(ValueError):
        AcrLevels(order=("a",), aliases={"x": "b"})


def test_amr_must_contain_every_listed_value():
    requirement = Requirement(amr=("hwk", "user"))
    assert requirement.satisfied_by(_auth(amr=["hwk", "mfa", "user"]), now=NOW)
    assert requirement.unmet(_auth(amr=["swk", "user"]), now=NOW) == ("amr",)


def test_max_age_counts_from_auth_time():
    requirement = Requirement(max_age=300)
    assert requirement.satisfied_by(_auth(auth_time=NOW - 300), now=NOW)
    assert requirement.unmet(_auth(auth_time=NOW - 301), now=NOW) == ("max_age",)
    assert requirement.unmet(_auth(auth_time=None), now=NOW) == ("max_age",)


def test_every_unmet_part_is_named_and_described():
    requirement = Requirement(acr_values=(PHR,), amr=("hwk",), max_age=60)
    unmet = requirement.unmet(_auth(MFA, ["otp"], NOW - 61), now=NOW)
    assert unmet == ("acr", "amr", "max_age")
    assert requirement.describe(unmet) == (
        "This resource needs an authentication level of at least phr and authentication "
        "methods hwk and an authentication within the last 60 seconds"
    )


def test_empty_requirement_is_always_met():
    assert Requirement().satisfied_by(_auth(None, (), None), now=NOW)


def test_space_separated_strings_are_split_and_bad_values_refused():
    assert Requirement(acr_values=f"{MFA} {PHR}").acr_values == (MFA, PHR)
    with pytest.raises(ValueError):
        Requirement(acr_values=("a b",))
    with pytest.raises(ValueError):
        Requirement(max_age=-1)
    with pytest.raises(ValueError):
        Requirement(max_age=True)


def test_authentication_from_claims_ignores_ill_typed_values():
    auth = Authentication.from_claims({"acr": 1, "amr": "pwd", "auth_time": "now"})
    assert auth == Authentication(acr=None, amr=(), auth_time=None)


@pytest.mark.parametrize(
    ("acr", "met"), [(PASSWORD, False), (MFA, True), (PHR, True), (PHRH, True), ("2", True)]
)
def test_signed_tokens_against_an_mfa_requirement(stub, verifier, acr, met):
    token = verifier.verify_access_token(stub.access_token(stub.keys[0], acr=acr, amr=["pwd"]))
    assert Requirement(acr_values=(MFA,)).satisfied_by(token) is met


def test_signed_phr_token_does_not_meet_phrh(stub, verifier):
    token = verifier.verify_id_token(stub.sign(stub.keys[0], acr=PHR, amr=["mfa", "swk", "user"]))
    assert Requirement(acr_values=(PHRH,)).unmet(token) == ("acr",)
    assert Requirement(acr_values=("2",), amr=("swk",), max_age=60).satisfied_by(token)
