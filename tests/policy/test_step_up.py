"""decide() for issue 4: acr step-up, role policy and enrollment, client policy, elevation
lifetime, sensitive operations; and the two properties the issue names.

Pure: every case is an ``AuthContext`` built by hand.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.policy import AuthContext, AuthEvent, FactorOption, Fail, Interact, Proceed, decide
from idp.policy.acr import DEFAULT, MFA, PASSWORD, PHR, PHRH
from idp.policy.decide import failing_checks
from idp.policy.rules import MfaPolicy, Override

NOW = 100_000
PWD = AuthEvent("pwd", ("pwd",), NOW - 100)
OTP = AuthEvent("totp", ("otp",), NOW - 50)
KEY = AuthEvent("passkey", ("hwk", "user"), NOW - 50)
SYNCED = AuthEvent("passkey", ("swk", "user"), NOW - 50)
EMAIL = AuthEvent("email_otp", ("otp",), NOW - 50)

TOTP_F = FactorOption("totp", frozenset({"otp"}))
KEY_F = FactorOption("passkey", frozenset({"hwk"}))
SYNCED_F = FactorOption("passkey", frozenset({"swk"}))
EMAIL_F = FactorOption("email", frozenset({"otp"}))
BACKUP_F = FactorOption("backup_codes", frozenset({"otp"}))

SMS_F = FactorOption("sms", frozenset({"otp", "sms"}))
SMS = AuthEvent("sms_otp", ("otp", "sms"), NOW - 50)
REQUIRED = MfaPolicy(mode="required")
NO_SMS = frozenset({"totp", "passkey"})
RECOMMENDED = MfaPolicy(mode="recommended")


def ctx(**kw) -> AuthContext:
    base = {"now": NOW, "user_id": "u", "events": (PWD,), "first_party": True}
    return AuthContext(**{**base, **kw})


def outcome(result) -> tuple:
    if isinstance(result, Fail):
        return ("fail", result.error)
    if isinstance(result, Interact):
        return ("interact", result.prompt, result.reasons)
    return ("proceed", result.acr, result.amr)


STEP_UP_CASES = [
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), acr_values=(MFA,)),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="session_already_at_mfa_is_reused_for_an_mfa_request",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), trusted_device=True, acr_values=(MFA,)),
        ("interact", "mfa", ("acr_values",)),
        id="mfa_request_steps_up_a_password_session_even_on_a_remembered_browser",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), trusted_device=True),
        ("proceed", PASSWORD, ("pwd",)),
        id="remembered_browser_skips_the_routine_factor_and_reports_the_password_level",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), essential_acr=(PHR,)),
        ("fail", "unmet_authentication_requirements"),
        id="essential_phr_for_a_totp_only_user_is_unmet",
    ),
    pytest.param(
        ctx(factors=(TOTP_F, KEY_F), events=(PWD, OTP), essential_acr=(PHR,)),
        ("interact", "mfa", ("acr_values",)),
        id="essential_phr_asks_a_totp_session_for_the_passkey_only",
    ),
    pytest.param(
        ctx(factors=(TOTP_F, KEY_F), events=(PWD, OTP, KEY), essential_acr=(PHR,)),
        ("proceed", PHR, ("hwk", "mfa", "otp", "pwd", "user")),
        id="phr_with_a_passkey_succeeds_and_says_phr",
    ),
    pytest.param(
        ctx(factors=(SYNCED_F,), events=(PWD, SYNCED), essential_acr=(PHRH,)),
        ("fail", "unmet_authentication_requirements"),
        id="synced_passkey_cannot_reach_phrh",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), acr_values=(PHR,)),
        ("interact", "mfa", ("mfa_required",)),
        id="voluntary_phr_out_of_reach_still_asks_the_routine_factor",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), acr_values=(PHR,)),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="voluntary_phr_out_of_reach_proceeds_with_the_level_reached",
    ),
    pytest.param(
        ctx(factors=(BACKUP_F,), acr_values=(MFA,)),
        ("interact", "mfa", ("acr_values",)),
        id="backup_codes_can_step_up_to_mfa",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), acr_values=("1",)),
        ("proceed", "1", ("mfa", "otp", "pwd")),
        id="alias_is_echoed_as_the_client_spelled_it",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), client_minimum_acr=PHR),
        ("fail", "unmet_authentication_requirements"),
        id="client_minimum_out_of_reach_is_unmet",
    ),
    pytest.param(
        ctx(factors=(KEY_F,), events=(PWD, OTP), client_minimum_acr=PHR),
        ("interact", "mfa", ("acr_values",)),
        id="client_minimum_steps_up_when_reachable",
    ),
    pytest.param(
        ctx(factors=(KEY_F,), events=(PWD, KEY), client_minimum_acr=MFA, acr_values=(PASSWORD,)),
        ("proceed", PHRH, ("hwk", "mfa", "pwd", "user")),
        id="a_requested_value_below_the_client_minimum_is_not_reported",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), client_default_acr=(MFA,)),
        ("interact", "mfa", ("mfa_required", "acr_values")),
        id="client_default_acr_applies_without_acr_values",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), trusted_device=True, client_default_acr=(MFA,)),
        ("interact", "mfa", ("acr_values",)),
        id="client_default_acr_is_not_met_by_a_remembered_browser",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), client_default_acr=(MFA,),
            acr_values=(PASSWORD,)),
        ("proceed", PASSWORD, ("mfa", "otp", "pwd")),
        id="request_acr_values_replace_the_client_default",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), client_default_acr=(PHR,),
            essential_acr=(MFA,)),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="an_essential_request_replaces_the_client_default_too",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("context", "expected"), STEP_UP_CASES)
def test_step_up(context: AuthContext, expected: tuple) -> None:
    assert outcome(decide(context)) == expected


def test_step_up_names_the_factor_kinds_that_can_reach_the_level() -> None:
    result = decide(ctx(factors=(TOTP_F, KEY_F, BACKUP_F), essential_acr=(PHR,)))
    assert isinstance(result, Interact) and result.kinds == {"passkey"}
    result = decide(ctx(factors=(TOTP_F, KEY_F, BACKUP_F), acr_values=(MFA,)))
    assert isinstance(result, Interact) and result.kinds == {"totp", "passkey", "backup_codes"}


ELEVATION_CASES = [
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), elevation_lifetime=60),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="second_factor_within_its_lifetime_counts",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), elevation_lifetime=40),
        ("interact", "mfa", ("mfa_required",)),
        id="expired_elevation_asks_again",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), elevation_lifetime=40, trusted_device=True),
        ("proceed", PASSWORD, ("pwd",)),
        id="expired_elevation_reports_the_level_the_session_still_has",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), role_policies=(MfaPolicy(factor_max_age=40),)),
        ("interact", "mfa", ("mfa_required",)),
        id="role_second_factor_max_age_re_asks",
    ),
    pytest.param(
        ctx(
            factors=(TOTP_F,), events=(PWD, OTP), trusted_device=True,
            role_policies=(MfaPolicy(factor_max_age=40, remember_device=False),),
        ),
        ("interact", "mfa", ("mfa_required",)),
        id="role_forbidding_remember_device_ignores_the_remembered_browser",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("context", "expected"), ELEVATION_CASES)
def test_elevation_lifetime_and_factor_age(context: AuthContext, expected: tuple) -> None:
    assert outcome(decide(context)) == expected


ENROLL_CASES = [
    pytest.param(
        ctx(role_policies=(REQUIRED,)),
        ("interact", "enroll", ("enrollment_required",)),
        id="required_without_factor_must_enroll",
    ),
    pytest.param(
        ctx(role_policies=(REQUIRED,), enrollment_skipped=True),
        ("interact", "enroll", ("enrollment_required",)),
        id="required_without_grace_cannot_be_skipped",
    ),
    pytest.param(
        ctx(role_policies=(REQUIRED,), prompt=frozenset({"none"})),
        ("fail", "interaction_required"),
        id="required_enrollment_with_prompt_none_fails",
    ),
    pytest.param(
        ctx(role_policies=(REQUIRED,), factors=(TOTP_F,), events=(PWD, OTP)),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="required_with_a_factor_proceeds_after_using_it",
    ),
    pytest.param(
        ctx(role_policies=(REQUIRED,), factors=(BACKUP_F,)),
        ("interact", "enroll", ("enrollment_required",)),
        id="backup_codes_alone_do_not_meet_a_requirement",
    ),
    pytest.param(
        ctx(role_policies=(MfaPolicy(mode="required", factors=frozenset({"passkey"})),),
            factors=(TOTP_F,), events=(PWD, OTP)),
        ("interact", "enroll", ("enrollment_required",)),
        id="a_factor_of_a_kind_the_role_does_not_allow_does_not_count",
    ),
    pytest.param(
        ctx(role_policies=(RECOMMENDED,)),
        ("interact", "enroll", ("enrollment_recommended",)),
        id="recommended_nudges",
    ),
    pytest.param(
        ctx(role_policies=(RECOMMENDED,), enrollment_skipped=True),
        ("proceed", PASSWORD, ("pwd",)),
        id="recommended_can_be_skipped",
    ),
    pytest.param(
        ctx(role_policies=(RECOMMENDED,), prompt=frozenset({"none"})),
        ("fail", "interaction_required"),
        id="recommended_nudge_with_prompt_none_fails_like_any_interaction",
    ),
    pytest.param(
        ctx(role_policies=(MfaPolicy(mode="required", grace_signins=2),)),
        ("interact", "enroll", ("enrollment_grace",)),
        id="required_within_sign_in_grace_may_be_postponed",
    ),
    pytest.param(
        ctx(role_policies=(MfaPolicy(mode="required", grace_signins=2),), enrollment_skipped=True,
            grace_skips=1),
        ("proceed", PASSWORD, ("pwd",)),
        id="postponed_within_grace_proceeds",
    ),
    pytest.param(
        ctx(role_policies=(MfaPolicy(mode="required", grace_signins=1),), enrollment_skipped=True,
            grace_skips=1),
        ("proceed", PASSWORD, ("pwd",)),
        id="the_last_postponement_lasts_its_sign_in_session",
    ),
    pytest.param(
        ctx(role_policies=(MfaPolicy(mode="required", grace_signins=2),), grace_skips=2),
        ("interact", "enroll", ("enrollment_required",)),
        id="grace_sign_ins_used_up_blocks_the_next_sign_in",
    ),
    pytest.param(
        ctx(role_policies=(MfaPolicy(mode="required", grace_signins=2),), enrollment_skipped=True,
            grace_skips=3),
        ("interact", "enroll", ("enrollment_required",)),
        id="more_postponements_than_the_grace_block",
    ),
    pytest.param(
        ctx(role_policies=(REQUIRED,), enrollment_skipped=True),
        ("interact", "enroll", ("enrollment_required",)),
        id="a_recommended_skip_does_not_postpone_a_requirement_without_grace",
    ),
    pytest.param(
        ctx(role_policies=(MfaPolicy(mode="required", grace_days=7),),
            grace_started_at=NOW - 6 * 86400),
        ("interact", "enroll", ("enrollment_grace",)),
        id="within_grace_days",
    ),
    pytest.param(
        ctx(role_policies=(MfaPolicy(mode="required", grace_days=7),), enrollment_skipped=True,
            grace_started_at=NOW - 7 * 86400),
        ("interact", "enroll", ("enrollment_required",)),
        id="grace_days_over_blocks",
    ),
    pytest.param(
        ctx(role_policies=(RECOMMENDED, REQUIRED)),
        ("interact", "enroll", ("enrollment_required",)),
        id="strictest_of_two_roles_wins",
    ),
    pytest.param(
        ctx(default_policy=REQUIRED),
        ("interact", "enroll", ("enrollment_required",)),
        id="the_global_default_applies_without_roles",
    ),
    pytest.param(
        ctx(role_policies=(REQUIRED,), override=Override("exempt", NOW + 10, "lost phone")),
        ("proceed", PASSWORD, ("pwd",)),
        id="exempt_user_proceeds",
    ),
    pytest.param(
        ctx(role_policies=(REQUIRED,), override=Override("exempt", NOW, "lost phone")),
        ("interact", "enroll", ("enrollment_required",)),
        id="exemption_ends_at_its_expiry",
    ),
    pytest.param(
        ctx(override=Override("require", NOW + 10, "incident")),
        ("interact", "enroll", ("enrollment_required",)),
        id="require_override_without_role",
    ),
    pytest.param(
        ctx(role_policies=(REQUIRED,), first_party=False),
        ("interact", "enroll", ("enrollment_required",)),
        id="enrollment_comes_before_consent",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("context", "expected"), ENROLL_CASES)
def test_enrollment(context: AuthContext, expected: tuple) -> None:
    assert outcome(decide(context)) == expected


DISALLOWED_FACTOR_CASES = [
    pytest.param(
        ctx(role_policies=(MfaPolicy(mode="required", factors=NO_SMS, grace_signins=3),),
            factors=(SMS_F,), enrollment_skipped=True, grace_skips=1),
        ("interact", "mfa", ("mfa_required",)),
        id="postponing_enrollment_of_an_allowed_kind_still_asks_for_the_factor_the_user_has",
    ),
    pytest.param(
        ctx(role_policies=(MfaPolicy(mode="required", factors=NO_SMS, grace_signins=3),),
            factors=(SMS_F,), events=(PWD, SMS), enrollment_skipped=True, grace_skips=1),
        ("proceed", MFA, ("mfa", "otp", "pwd", "sms")),
        id="with_it_and_the_postponement_the_sign_in_proceeds",
    ),
    pytest.param(
        ctx(default_policy=MfaPolicy(factors=frozenset({"passkey"})), factors=(SMS_F,)),
        ("interact", "mfa", ("mfa_required",)),
        id="a_kinds_restriction_without_a_requirement_never_drops_a_factor_the_user_has",
    ),
    pytest.param(
        ctx(default_policy=MfaPolicy(factors=frozenset({"passkey"})), factors=(SMS_F, KEY_F),
            events=(PWD, SMS)),
        ("interact", "mfa", ("mfa_required",)),
        id="with_an_allowed_factor_only_an_allowed_kind_counts",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("context", "expected"), DISALLOWED_FACTOR_CASES)
def test_factors_the_policy_does_not_allow(context: AuthContext, expected: tuple) -> None:
    assert outcome(decide(context)) == expected


@pytest.mark.parametrize(
    ("factors", "policy", "kinds"),
    [
        pytest.param((TOTP_F, KEY_F), MfaPolicy(factors=frozenset({"passkey"})), {"passkey"},
                     id="only_allowed_kinds"),
        pytest.param((TOTP_F, KEY_F, BACKUP_F), MfaPolicy(factors=frozenset({"passkey"})),
                     {"passkey", "backup_codes"}, id="and_backup_codes_for_recovery"),
        pytest.param((SMS_F,), MfaPolicy(factors=frozenset({"passkey"})), {"sms"},
                     id="the_users_own_when_none_is_allowed"),
    ],
)  # fmt: skip
def test_the_routine_step_offers_only_kinds_that_satisfy_it(factors, policy, kinds) -> None:
    result = decide(ctx(factors=factors, default_policy=policy))
    assert isinstance(result, Interact) and result.kinds == kinds


def test_only_a_blocking_enrollment_is_not_skippable() -> None:
    blocking = decide(ctx(role_policies=(REQUIRED,)))
    nudge = decide(ctx(role_policies=(RECOMMENDED,)))
    assert not blocking.skippable and nudge.skippable


OPERATION_CASES = [
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), operation="remove_factor", operation_window=300),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="fresh_second_factor_allows_the_operation",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), operation="remove_factor", operation_window=30),
        ("interact", "mfa", ("step_up",)),
        id="second_factor_older_than_the_window_steps_up",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), trusted_device=True, operation="change_password",
            operation_window=300),
        ("interact", "mfa", ("step_up",)),
        id="remembered_browser_never_satisfies_a_sensitive_operation",
    ),
    pytest.param(
        ctx(operation="change_password", operation_window=300),
        ("proceed", PASSWORD, ("pwd",)),
        id="user_without_factor_recently_signed_in_may",
    ),
    pytest.param(
        ctx(operation="change_password", operation_window=60),
        ("interact", "login", ("operation_reauth",)),
        id="user_without_factor_signs_in_again_after_the_window",
    ),
    pytest.param(
        ctx(role_policies=(REQUIRED,), operation="add_factor", operation_window=300),
        ("proceed", PASSWORD, ("pwd",)),
        id="enrolling_is_allowed_while_enrollment_is_owed",
    ),
    pytest.param(
        ctx(factors=(TOTP_F,), events=(PWD, OTP), operation="add_factor", operation_window=300,
            first_party=False),
        ("proceed", MFA, ("mfa", "otp", "pwd")),
        id="operations_never_ask_consent",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("context", "expected"), OPERATION_CASES)
def test_sensitive_operations(context: AuthContext, expected: tuple) -> None:
    assert outcome(decide(context)) == expected


# --- properties ------------------------------------------------------------------------------

FACTORS = (
    TOTP_F,
    KEY_F,
    SYNCED_F,
    EMAIL_F,
    BACKUP_F,
    FactorOption("sms", frozenset({"otp", "sms"})),
)
LEVELS = (PASSWORD, MFA, PHR, PHRH, "1", "urn:example:unknown")
METHOD_OF = {"totp": "totp", "passkey": "passkey", "email": "email_otp", "sms": "sms_otp",
             "backup_codes": "backup_code"}  # fmt: skip

policies = st.builds(
    MfaPolicy,
    mode=st.sampled_from(("off", "recommended", "required")),
    factors=st.one_of(
        st.none(), st.frozensets(st.sampled_from(("totp", "passkey", "email")), min_size=1)
    ),
    remember_device=st.booleans(),
    factor_max_age=st.one_of(st.none(), st.integers(1, 400)),
    grace_signins=st.integers(0, 2),
    grace_days=st.integers(0, 2),
)  # fmt: skip


@st.composite
def contexts(draw) -> AuthContext:
    """A signed-in session (password or passkey first) and a user with some factors; the
    events only carry amr values the password or the user's factors can give."""
    factors = tuple(draw(st.lists(st.sampled_from(FACTORS), max_size=3, unique=True)))
    first = draw(st.sampled_from((PWD, AuthEvent("passkey", ("hwk", "user"), NOW - 300))))
    extra = draw(st.lists(st.sampled_from(factors), max_size=2)) if factors else []
    events = (first, *(_event(f, draw(st.integers(NOW - 500, NOW))) for f in extra))
    return AuthContext(
        now=NOW,
        user_id="u",
        events=events,
        prompt=draw(st.frozensets(st.sampled_from(("login", "consent", "none")), max_size=1)),
        max_age=draw(st.one_of(st.none(), st.integers(0, 600))),
        acr_values=tuple(draw(st.lists(st.sampled_from(LEVELS), max_size=2))),
        essential_acr=tuple(draw(st.lists(st.sampled_from(LEVELS), max_size=2))),
        reauthenticated=draw(st.booleans()),
        first_party=draw(st.booleans()),
        consent_granted=draw(st.booleans()),
        factors=factors,
        trusted_device=draw(st.booleans()),
        client_minimum_acr=draw(st.one_of(st.none(), st.sampled_from(LEVELS[:4]))),
        client_default_acr=tuple(draw(st.lists(st.sampled_from(LEVELS), max_size=1))),
        default_policy=draw(policies),
        role_policies=tuple(draw(st.lists(policies, max_size=2))),
        override=draw(st.one_of(st.none(), st.builds(
            Override, st.sampled_from(("require", "exempt")), st.integers(NOW - 5, NOW + 5),
            st.just("r"),
        ))),
        elevation_lifetime=draw(st.one_of(st.none(), st.integers(1, 600))),
        enrollment_skipped=draw(st.booleans()),
        grace_started_at=draw(st.one_of(st.none(), st.integers(NOW - 3 * 86400, NOW))),
        grace_skips=draw(st.integers(0, 3)),
        operation=draw(st.one_of(st.none(), st.just("remove_factor"))),
        operation_window=300,
    )  # fmt: skip


def _event(factor: FactorOption, at: int) -> AuthEvent:
    amr = tuple(sorted(factor.amr | ({"user"} if factor.kind == "passkey" else set())))
    return AuthEvent(METHOD_OF[factor.kind], amr, at)


PROPERTY = settings(max_examples=400, deadline=None)


@PROPERTY
@given(contexts())
def test_property_proceed_satisfies_every_requirement_in_the_context(context: AuthContext):
    result = decide(context)
    if not isinstance(result, Proceed):
        return
    levels, amr, policy = DEFAULT, result.amr, context.policy
    if context.essential_acr:
        assert any(levels.satisfied(v, amr) for v in context.essential_acr)
    if context.client_minimum_acr:
        assert levels.satisfied(context.client_minimum_acr, amr)
    if result.acr:
        assert levels.satisfied(result.acr, amr)
    if context.max_age is not None and not context.reauthenticated:
        assert context.max_age > 0 and context.now - result.auth_time <= context.max_age
    if "login" in context.prompt:
        assert context.reauthenticated
    if context.operation is None:
        assert context.first_party or context.consent_granted
        if policy.mode == "required" and not context.usable_factors:
            assert context.postponed or (context.enrollment_skipped and context.grace_left)
        if context.routine_factors:  # used a second factor, or a browser the policy trusts
            assert context.has_second_factor or (context.trusted_device and policy.remember_device)
    else:
        window = context.now - context.operation_window
        if any(f.kind != "backup_codes" for f in context.factors):
            assert any(e.is_second_factor and e.at >= window for e in context.events)


@PROPERTY
@given(contexts(), st.data())
def test_property_adding_an_authentication_event_never_makes_the_result_stricter(
    context: AuthContext, data
) -> None:
    options = [f for f in FACTORS if f in context.factors] or [None]
    factor = data.draw(st.sampled_from(options))
    at = data.draw(st.integers(NOW - 500, NOW))
    added = _event(factor, at) if factor else AuthEvent("pwd", ("pwd",), at)
    after_ctx = dataclasses.replace(context, events=(*context.events, added))
    before = {prompt.name for prompt, _ in failing_checks(context)}
    after = {prompt.name for prompt, _ in failing_checks(after_ctx)}
    # No requirement (login, mfa, enroll, consent, acr) is newly unmet. A pending sign-in
    # stands for the whole sign-in, second factor included: while it is owed, what the second
    # factor step will ask is not known yet (it depends on the factors shown at sign-in).
    owed = {"mfa"} if "login" in before else set()
    assert after <= before | owed
    if isinstance(decide(context), Proceed):
        assert isinstance(decide(after_ctx), Proceed)


def test_a_passwordless_session_past_its_factor_age_signs_in_again_then_steps_up() -> None:
    """The case Hypothesis found: the only event (a passkey) is older than the role's second
    factor age, so the session no longer counts; a fresh synced passkey revives it, and phrh
    (the client's default) then needs the device-bound key."""
    old_key = AuthEvent("passkey", ("hwk", "user"), NOW - 300)
    context = ctx(
        events=(old_key,), factors=(KEY_F, SYNCED_F), client_default_acr=(PHRH,),
        default_policy=MfaPolicy(factor_max_age=197),
    )  # fmt: skip
    assert outcome(decide(context)) == ("interact", "login", ("no_session",))
    revived = dataclasses.replace(context, events=(old_key, SYNCED))
    assert outcome(decide(revived)) == ("interact", "mfa", ("acr_values",))
