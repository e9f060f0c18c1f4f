"""The enroll prompt's passkey upgrade (issue 14): a policy that requires attested passkeys
asks a user whose passkeys all fall short (``attested_passkey_missing``) to add a compliant one,
after the second factor they use today, and never changes what that factor is worth.

Without a grace the user may always continue (asked again at the next sign-in session); with
the role's enrollment grace, as a required enrollment: postponed within it, then required.

Pure: every case is an ``AuthContext`` built by hand.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.policy import AuthContext, AuthEvent, FactorOption, Fail, Interact, Proceed, decide
from idp.policy.acr import PHR, PHRH
from idp.policy.rules import MfaPolicy

NOW = 100_000
DAY = 86_400
PWD = AuthEvent("pwd", ("pwd",), NOW - 100)
OLD_KEY = AuthEvent("passkey", ("swk", "user"), NOW - 50)  # a passkey below the policy
OTP = AuthEvent("totp", ("otp",), NOW - 50)
OLD_KEY_F = FactorOption("passkey", frozenset({"swk"}))
TOTP_F = FactorOption("totp", frozenset({"otp"}))
NONE = frozenset({"none"})


def strict(**kw) -> MfaPolicy:
    return MfaPolicy(require_attested_passkeys=True, **kw)


def ctx(**kw) -> AuthContext:
    base = {
        "now": NOW,
        "user_id": "u",
        "events": (PWD, OLD_KEY),
        "first_party": True,
        "factors": (OLD_KEY_F,),
        "role_policies": (strict(),),
        "attested_passkey_missing": True,
    }
    return AuthContext(**{**base, **kw})


def outcome(result) -> tuple:
    if isinstance(result, Fail):
        return ("fail", result.error)
    if isinstance(result, Interact):
        return ("interact", result.prompt, result.reasons, result.skippable)
    return ("proceed", result.acr)


ASKED = ("interact", "enroll", ("passkey_upgrade",), True)
BLOCKED = ("interact", "enroll", ("passkey_upgrade_required",), False)

CASES = [
    pytest.param(ctx(), ASKED, id="after_the_old_passkey_the_user_is_asked_and_may_continue"),
    pytest.param(
        ctx(events=(PWD,)),
        ("interact", "mfa", ("mfa_required",), False),
        id="the_second_factor_comes_first",
    ),
    pytest.param(
        ctx(factors=(OLD_KEY_F, TOTP_F), events=(PWD, OTP)),
        ASKED,
        id="asked_after_an_authenticator_app_too",
    ),
    pytest.param(
        ctx(enrollment_skipped=True),
        ("proceed", PHR),
        id="not_now_without_grace_continues_at_the_old_passkeys_level",
    ),
    pytest.param(
        ctx(attested_passkey_missing=False),
        ("proceed", PHR),
        id="a_compliant_passkey_is_not_asked_for",
    ),
    pytest.param(
        ctx(role_policies=(MfaPolicy(),)),
        ("proceed", PHR),
        id="a_policy_without_the_requirement_asks_nothing",
    ),
    pytest.param(
        ctx(default_policy=strict(), role_policies=()),
        ASKED,
        id="the_default_policy_requirement_asks_too",
    ),
    pytest.param(
        ctx(
            role_policies=(strict(factors=frozenset({"totp"})),),
            factors=(OLD_KEY_F, TOTP_F),
            events=(PWD, OTP),
        ),  # fmt: skip
        ("proceed", "urn:idp:acr:mfa"),
        id="a_policy_that_allows_no_passkeys_asks_for_none",
    ),
    pytest.param(ctx(prompt=NONE), ("proceed", PHR), id="prompt_none_without_grace_is_not_held_up"),
    pytest.param(
        ctx(role_policies=(strict(mode="required", grace_signins=2),), grace_skips=1),
        ASKED,
        id="within_the_sign_in_grace_the_user_may_postpone",
    ),
    pytest.param(
        ctx(role_policies=(strict(mode="required", grace_signins=2),), grace_skips=2),
        BLOCKED,
        id="once_the_sign_in_grace_is_used_up_it_is_required",
    ),
    pytest.param(
        ctx(
            role_policies=(strict(mode="required", grace_signins=2),),
            grace_skips=3,
            enrollment_skipped=True,
        ),  # fmt: skip
        BLOCKED,
        id="a_skip_beyond_the_grace_does_not_pass",
    ),
    pytest.param(
        ctx(
            role_policies=(strict(mode="required", grace_signins=2),), grace_skips=2, prompt=NONE
        ),  # fmt: skip
        ("fail", "interaction_required"),
        id="prompt_none_after_the_grace_fails_interaction_required",
    ),
    pytest.param(
        ctx(
            role_policies=(strict(mode="required", grace_signins=2),),
            grace_skips=2,
            enrollment_skipped=True,
            attested_passkey_missing=False,
        ),  # fmt: skip
        ("proceed", PHR),
        id="adding_a_compliant_passkey_ends_the_requirement",
    ),
    pytest.param(
        ctx(
            role_policies=(strict(mode="required", grace_signins=2),),
            grace_skips=2,
            enrollment_skipped=True,
        ),  # fmt: skip
        ("proceed", PHR),
        id="the_last_postponement_of_the_grace_proceeds",
    ),
    pytest.param(
        ctx(role_policies=(strict(grace_signins=2),), grace_skips=5),
        ASKED,
        id="grace_softens_only_a_required_mode_so_without_one_the_user_may_always_continue",
    ),
    pytest.param(
        ctx(
            role_policies=(strict(mode="required", grace_days=7),), grace_started_at=NOW - 6 * DAY
        ),  # fmt: skip
        ASKED,
        id="within_the_grace_days",
    ),
    pytest.param(
        ctx(
            role_policies=(strict(mode="required", grace_days=7),), grace_started_at=NOW - 7 * DAY
        ),  # fmt: skip
        BLOCKED,
        id="after_the_grace_days",
    ),
    pytest.param(
        ctx(essential_acr=(PHRH,)),
        ASKED,
        id="an_essential_phrh_is_offered_the_upgrade_before_it_is_refused",
    ),
    pytest.param(
        ctx(essential_acr=(PHRH,), enrollment_skipped=True),
        ("fail", "unmet_authentication_requirements"),
        id="declining_leaves_an_essential_phrh_unmet",
    ),
    pytest.param(
        ctx(acr_values=(PHRH,), enrollment_skipped=True),
        ("proceed", PHR),
        id="declining_a_voluntary_phrh_proceeds_at_phr",
    ),
    pytest.param(
        ctx(operation="add_factor", operation_window=300),
        ("proceed", PHR),
        id="a_sensitive_operation_is_not_held_up",
    ),
]


@pytest.mark.parametrize(("context", "expected"), CASES)
def test_passkey_upgrade(context: AuthContext, expected: tuple) -> None:
    assert outcome(decide(context)) == expected


def test_the_old_passkey_never_reaches_phrh() -> None:
    """The upgrade prompt changes what is asked, never the level: still only ``swk``."""
    result = decide(ctx(enrollment_skipped=True, acr_values=(PHRH, PHR)))
    assert isinstance(result, Proceed) and result.acr == PHR and "hwk" not in result.amr


contexts = st.builds(
    ctx,
    events=st.sampled_from([(PWD,), (PWD, OLD_KEY), (PWD, OTP), (OLD_KEY,)]),
    factors=st.sampled_from([(OLD_KEY_F,), (OLD_KEY_F, TOTP_F)]),
    role_policies=st.sampled_from(
        [
            (strict(),),
            (strict(mode="required", grace_signins=1),),
            (strict(mode="required", grace_days=1),),
            (MfaPolicy(),),
            (strict(factors=frozenset({"totp"})),),
        ]  # fmt: skip
    ),
    grace_skips=st.integers(0, 3),
    grace_started_at=st.sampled_from([None, NOW - 2 * DAY]),
    enrollment_skipped=st.booleans(),
    prompt=st.sampled_from([frozenset(), NONE]),
    acr_values=st.sampled_from([(), (PHR,), (PHRH,)]),
    essential_acr=st.sampled_from([(), (PHRH,)]),
)


@settings(max_examples=300, deadline=None)
@given(contexts)
def test_the_upgrade_only_ever_adds_a_prompt(context: AuthContext) -> None:
    """With the fact set, the decision is the one without it, or the upgrade prompt (or, with
    prompt=none after the grace, the error that prompt gets): no level or skip changes."""
    without = decide(dataclasses.replace(context, attested_passkey_missing=False))
    result = decide(context)
    if result == without:
        return
    if isinstance(result, Fail):
        assert result.error == "interaction_required" and "none" in context.prompt
        return
    assert isinstance(result, Interact) and result.prompt == "enroll"
    assert {"passkey_upgrade", "passkey_upgrade_required"} & set(result.reasons)
