"""The enroll prompt's ``acr_enrollment`` check (issue 12, 5e): a requested level that the
user's own factors cannot reach, but an allowed kind they could add right now would, is an
offer to enroll one (skippable, once per sign-in session), not a silent lower level.

Pure: every case is an ``AuthContext`` built by hand; ``enrollable`` is what the provider
declares (a passkey at best ``hwk``).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.policy import AuthContext, AuthEvent, FactorOption, Fail, Interact, Proceed, decide
from idp.policy.acr import MFA, PASSWORD, PHR, PHRH
from idp.policy.decide import ENROLL_PROMPT, MFA_PROMPT
from idp.policy.rules import MfaPolicy

NOW = 100_000
PWD = AuthEvent("pwd", ("pwd",), NOW - 100)
OTP = AuthEvent("totp", ("otp",), NOW - 50)
SYNCED = AuthEvent("passkey", ("swk", "user"), NOW - 50)

TOTP_F = FactorOption("totp", frozenset({"otp"}))
KEY_F = FactorOption("passkey", frozenset({"hwk"}))
SYNCED_F = FactorOption("passkey", frozenset({"swk"}))
EMAIL_F = FactorOption("email", frozenset({"otp"}))
SMS_F = FactorOption("sms", frozenset({"otp", "sms"}))
ENROLLABLE = (TOTP_F, KEY_F, EMAIL_F, SMS_F)
NO_PASSKEY = MfaPolicy(factors=frozenset({"totp", "email", "sms"}))
NONE = frozenset({"none"})


def ctx(**kw) -> AuthContext:
    base = {"now": NOW, "user_id": "u", "events": (PWD,), "first_party": True,
            "enrollable": ENROLLABLE}  # fmt: skip
    return AuthContext(**{**base, **kw})


def outcome(result) -> tuple:
    if isinstance(result, Fail):
        return ("fail", result.error)
    if isinstance(result, Interact):
        return ("interact", result.prompt, result.reasons, result.kinds)
    return ("proceed", result.acr, result.amr)


def offer(*kinds: str, reasons: tuple[str, ...] = ("acr_enrollment",)) -> tuple:
    return ("interact", "enroll", reasons, frozenset(kinds))


TOTP_SESSION = {"factors": (TOTP_F,), "events": (PWD, OTP)}

CASES = [
    pytest.param(
        ctx(**TOTP_SESSION, acr_values=(PHR,)),
        offer("passkey"),
        id="voluntary_phr_beyond_a_totp_user_offers_a_passkey",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, essential_acr=(PHR,)),
        offer("passkey"),
        id="essential_phr_beyond_a_totp_user_offers_a_passkey_before_it_is_unmet",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, client_minimum_acr=PHR),
        offer("passkey"),
        id="a_client_minimum_beyond_the_users_factors_offers_a_passkey",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, client_default_acr=(PHR,)),
        offer("passkey"),
        id="the_client_default_acr_offers_like_acr_values",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, acr_values=(PHRH,)),
        offer("passkey"),
        id="phrh_offers_a_passkey_which_may_be_device_bound",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), acr_values=(PHR,)),
        ("interact", "mfa", ("mfa_required", "enrollment_step_up"), frozenset({"totp"})),
        id="the_routine_factor_comes_first_then_the_offer",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), trusted_device=True, acr_values=(PHR,)),
        ("interact", "mfa", ("enrollment_step_up",), frozenset({"totp"})),
        id="a_remembered_browser_answers_its_factor_before_the_offer_as_adding_one_needs_it",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), trusted_device=True, acr_values=(PHR,), enrollment_skipped=True),
        ("proceed", PASSWORD, ("pwd",)),
        id="a_declined_offer_lets_a_remembered_browser_skip_its_factor_again",
    ),
    pytest.param(
        ctx(acr_values=(MFA,)),
        offer("totp", "passkey", "email", "sms"),
        id="a_user_without_factors_asked_for_mfa_is_offered_every_allowed_kind",
    ),
    pytest.param(
        ctx(acr_values=(PHR,)),
        offer("passkey"),
        id="a_user_without_factors_asked_for_phr_is_offered_a_passkey_only",
    ),
    pytest.param(
        ctx(acr_values=(MFA,), role_policies=(MfaPolicy(mode="recommended"),)),
        offer("totp", "passkey", "email", "sms",
              reasons=("enrollment_recommended", "acr_enrollment")),
        id="a_recommendation_and_the_offer_are_one_interaction",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, acr_values=(PHR,), default_policy=NO_PASSKEY),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="a_role_that_forbids_passkeys_gets_no_offer_and_the_level_reached",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, essential_acr=(PHR,), default_policy=NO_PASSKEY),
        ("fail", "unmet_authentication_requirements"),
        id="a_role_that_forbids_passkeys_leaves_an_essential_phr_unmet",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, acr_values=(PHR,), enrollment_skipped=True),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="declined_voluntary_offer_proceeds_with_the_level_reached",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, essential_acr=(PHR,), enrollment_skipped=True),
        ("fail", "unmet_authentication_requirements"),
        id="declined_essential_offer_is_unmet",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, acr_values=(PHR,), prompt=NONE),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="prompt_none_makes_no_offer_and_proceeds_as_before",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, essential_acr=(PHR,), prompt=NONE),
        ("fail", "unmet_authentication_requirements"),
        id="prompt_none_with_an_essential_phr_is_unmet_as_before",
    ),
    pytest.param(
        ctx(factors=(SYNCED_F,), events=(PWD, SYNCED), essential_acr=(PHRH,)),
        ("fail", "unmet_authentication_requirements"),
        id="a_user_with_a_passkey_of_that_kind_already_gets_no_second_offer",
    ),
    pytest.param(
        ctx(factors=(TOTP_F, KEY_F), events=(PWD, OTP), acr_values=(PHR,)),
        ("interact", "mfa", ("acr_values",), frozenset({"passkey"})),
        id="a_level_the_users_factors_reach_steps_up_instead",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, acr_values=(MFA,)),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="a_level_already_met_offers_nothing",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, acr_values=(PHR,), enrollable=()),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="nothing_enrollable_nothing_offered",
    ),
    pytest.param(
        ctx(**TOTP_SESSION, acr_values=(PHR, MFA)),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="a_voluntary_list_met_by_one_of_its_values_offers_nothing",
    ),
    pytest.param(
        ctx(acr_values=("urn:example:unknown",)),
        ("proceed", PASSWORD, ("pwd",)),
        id="an_unknown_level_offers_nothing",
    ),
    pytest.param(
        ctx(events=(PWD,), essential_acr=(PHR,), client_minimum_acr=MFA),
        offer("passkey"),
        id="a_kind_reaching_every_requested_level_is_preferred",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("context", "expected"), CASES)
def test_acr_enrollment(context: AuthContext, expected: tuple) -> None:
    assert outcome(decide(context)) == expected


def test_the_offer_is_skippable_even_where_mfa_is_required() -> None:
    result = decide(ctx(**TOTP_SESSION, acr_values=(PHR,), default_policy=MfaPolicy("required")))
    assert isinstance(result, Interact) and result.reasons == ("acr_enrollment",)
    assert result.skippable


def test_a_required_enrollment_with_the_offer_is_not_skippable() -> None:
    result = decide(ctx(acr_values=(PHR,), default_policy=MfaPolicy("required")))
    assert isinstance(result, Interact)
    assert result.reasons == ("enrollment_required", "acr_enrollment") and not result.skippable


def test_the_checks_are_listed_in_their_prompts() -> None:
    assert "acr_enrollment" in [check.name for check in ENROLL_PROMPT.checks]
    assert "enrollment_step_up" in [check.name for check in MFA_PROMPT.checks]


def test_the_provider_pages_without_acr_values_never_get_the_offer() -> None:
    account = ctx(**TOTP_SESSION, operation="add_factor", operation_window=300)
    assert not isinstance(decide(account), Interact)


LEVELS = st.sampled_from((PASSWORD, MFA, PHR, PHRH, "1", "2"))
HELD = st.sets(st.sampled_from(ENROLLABLE), max_size=2).map(tuple)


@settings(max_examples=200, deadline=None)
@given(level=LEVELS, held=HELD, used=st.booleans())
def test_property_enrolling_an_offered_kind_and_using_it_reaches_the_level(level, held, used):
    """Whatever the offer names, adding one (which counts as its second factor, then any
    other factor the user has answered) meets the requested level: no offer comes back."""
    events = (PWD, *((OTP,) if used and TOTP_F in held else ()))
    before = ctx(factors=held, events=events, acr_values=(level,))
    result = decide(before)
    if not (isinstance(result, Interact) and "acr_enrollment" in result.reasons):
        return
    for kind in result.kinds:
        option = next(f for f in ENROLLABLE if f.kind == kind)
        added = AuthEvent(kind, tuple(option.amr), NOW - 10)
        others = tuple(AuthEvent(f.kind, tuple(f.amr), NOW - 20) for f in held)
        after = ctx(factors=(*held, option), events=(PWD, *others, added), acr_values=(level,))
        assert isinstance(decide(after), Proceed), (level, held, kind)
        assert decide(after).acr == level
