"""``decide(ctx)``: the sign-in policy, table-driven and with Hypothesis properties.

Pure tests: no Flask, no database. Every case builds an ``AuthContext`` by hand.

The default context below is a happy one: a first-party client and a signed-in user whose only
authentication is a password at ``PWD_AT``, made before this authorization request arrived
(``reauthenticated=False``), and ``now`` a little later.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from idp.policy import AuthContext, AuthEvent, Fail, Interact, Proceed, acr, decide
from idp.policy.acr import PASSWORD
from idp.policy.amr import with_mfa

NOW = 10_000
PWD_AT = 9_000  # the session's password authentication, before the request
MFA = acr.MFA
UNKNOWN = "urn:example:acr:unknown"

PWD = AuthEvent("pwd", ("pwd",), PWD_AT)
OTP = AuthEvent("totp", ("otp",), 9_500)


def ctx(**changes) -> AuthContext:
    base = AuthContext(
        now=NOW,
        user_id="user-1",
        events=(PWD,),
        reauthenticated=False,
        first_party=True,
    )
    return dataclasses.replace(base, **changes)


def pwd_at(at: int) -> tuple[AuthEvent, ...]:
    return (AuthEvent("pwd", ("pwd",), at),)


def outcome(result: Proceed | Interact | Fail) -> tuple:
    """The parts of a decision the tests compare (a Fail's description is free text)."""
    if isinstance(result, Fail):
        return ("fail", result.error)
    if isinstance(result, Interact):
        return ("interact", result.prompt, result.reasons)
    assert isinstance(result, Proceed)
    return ("proceed", result.acr, result.amr, result.auth_time)


def proceed(auth_time: int = PWD_AT, acr_: str = PASSWORD, amr: tuple[str, ...] = ("pwd",)):
    return ("proceed", acr_, amr, auth_time)


def interact(prompt: str, *reasons: str):
    return ("interact", prompt, reasons)


def fail(error: str):
    return ("fail", error)


# --- the login prompt ----------------------------------------------------------------------

LOGIN_CASES = [
    pytest.param(
        ctx(user_id=None, events=()),
        interact("login", "no_session"),
        id="no_session_interacts_login_no_session",
    ),
    pytest.param(
        ctx(events=()),
        interact("login", "no_session"),
        id="user_without_authentication_events_interacts_login_no_session",
    ),
    pytest.param(
        ctx(user_id=None),
        interact("login", "no_session"),
        id="events_without_user_interacts_login_no_session",
    ),
    pytest.param(
        ctx(user_id=None, events=(), first_party=False),
        interact("login", "no_session"),
        id="no_session_third_party_asks_login_before_consent",
    ),
    pytest.param(
        ctx(user_id=None, events=(), prompt=frozenset({"none"})),
        fail("login_required"),
        id="prompt_none_without_session_fails_login_required",
    ),
    pytest.param(
        ctx(prompt=frozenset({"none", "login"})),
        fail("invalid_request"),
        id="prompt_none_with_login_fails_invalid_request_even_with_session",
    ),
    pytest.param(
        ctx(user_id=None, events=(), prompt=frozenset({"none", "login"})),
        fail("invalid_request"),
        id="prompt_none_with_login_fails_invalid_request_before_login_required",
    ),
    pytest.param(
        ctx(prompt=frozenset({"none", "consent"})),
        fail("invalid_request"),
        id="prompt_none_with_consent_fails_invalid_request",
    ),
    pytest.param(
        ctx(prompt=frozenset({"none"})),
        proceed(),
        id="prompt_none_with_valid_session_proceeds",
    ),
    pytest.param(
        ctx(prompt=frozenset({"login"})),
        interact("login", "login_prompt"),
        id="prompt_login_with_authentication_before_request_interacts_login_prompt",
    ),
    pytest.param(
        ctx(prompt=frozenset({"login"}), events=pwd_at(NOW)),
        interact("login", "login_prompt"),
        id="prompt_login_with_same_second_authentication_before_request_interacts_login",
    ),
    pytest.param(
        ctx(prompt=frozenset({"login"}), reauthenticated=True),
        proceed(),
        id="prompt_login_with_reauthentication_during_request_proceeds",
    ),
    pytest.param(
        ctx(prompt=frozenset({"login"}), reauthenticated=True, events=pwd_at(NOW)),
        proceed(NOW),
        id="prompt_login_with_reauthentication_this_very_second_proceeds",
    ),
    pytest.param(
        ctx(prompt=frozenset({"login"}), reauthenticated=True, events=(PWD, OTP)),
        proceed(OTP.at, acr_=acr.MFA, amr=("mfa", "otp", "pwd")),
        id="prompt_login_after_reauthentication_auth_time_is_latest_event",
    ),
    pytest.param(
        ctx(user_id=None, events=(), prompt=frozenset({"login"}), reauthenticated=True),
        interact("login", "no_session"),
        id="prompt_login_reauthenticated_flag_without_session_interacts_login_no_session",
    ),
    pytest.param(
        ctx(user_id=None, events=(), prompt=frozenset({"login"})),
        interact("login", "no_session", "login_prompt"),
        id="prompt_login_without_session_interacts_login_with_both_reasons",
    ),
    pytest.param(
        ctx(max_age=NOW - PWD_AT - 1),
        interact("login", "max_age"),
        id="max_age_exceeded_by_one_second_interacts_login_max_age",
    ),
    pytest.param(
        ctx(max_age=NOW - PWD_AT),
        proceed(),
        id="max_age_exactly_equal_to_elapsed_proceeds",
    ),
    pytest.param(
        ctx(max_age=NOW - PWD_AT + 1),
        proceed(),
        id="max_age_not_reached_proceeds",
    ),
    pytest.param(
        ctx(max_age=NOW - PWD_AT - 1, prompt=frozenset({"none"})),
        fail("login_required"),
        id="max_age_exceeded_with_prompt_none_fails_login_required",
    ),
    pytest.param(
        ctx(max_age=60, user_id=None, events=()),
        interact("login", "no_session"),
        id="max_age_without_session_interacts_login_no_session_only",
    ),
    pytest.param(
        ctx(max_age=NOW - PWD_AT - 1, prompt=frozenset({"login"})),
        interact("login", "login_prompt", "max_age"),
        id="prompt_login_and_max_age_both_failing_list_both_reasons",
    ),
    pytest.param(
        ctx(max_age=0),
        interact("login", "max_age"),
        id="max_age_zero_with_authentication_before_request_interacts_login",
    ),
    pytest.param(
        ctx(max_age=0, reauthenticated=True, events=pwd_at(NOW)),
        proceed(NOW),
        id="max_age_zero_with_reauthentication_this_very_second_proceeds",
    ),
]


@pytest.mark.parametrize(("context", "expected"), LOGIN_CASES)
def test_login_prompt(context: AuthContext, expected: tuple) -> None:
    assert outcome(decide(context)) == expected


def test_max_age_zero_refuses_same_second_authentication_from_before_request_like_prompt_login():
    before_request_same_second = ctx(events=pwd_at(NOW), reauthenticated=False)
    with_max_age_zero = dataclasses.replace(before_request_same_second, max_age=0)
    with_prompt_login = dataclasses.replace(before_request_same_second, prompt=frozenset({"login"}))
    assert outcome(decide(with_prompt_login)) == interact("login", "login_prompt")
    assert outcome(decide(with_max_age_zero)) == interact("login", "max_age")


def test_max_age_zero_is_satisfied_by_reauthentication_during_this_request() -> None:
    # The user was sent to log in, signed in at NOW - 2 and came back to /authorize at NOW.
    context = ctx(max_age=0, events=pwd_at(NOW - 2), reauthenticated=True)
    assert outcome(decide(context)) == proceed(NOW - 2)


@pytest.mark.parametrize("max_age", [1, 5])
def test_short_max_age_is_satisfied_by_reauthentication_during_this_request(max_age: int):
    context = ctx(max_age=max_age, events=pwd_at(NOW - max_age - 1), reauthenticated=True)
    assert outcome(decide(context)) == proceed(NOW - max_age - 1)


# --- the consent prompt --------------------------------------------------------------------

CONSENT_CASES = [
    pytest.param(
        ctx(first_party=False),
        interact("consent", "consent_missing"),
        id="third_party_without_consent_interacts_consent",
    ),
    pytest.param(
        ctx(first_party=False, prompt=frozenset({"none"})),
        fail("consent_required"),
        id="third_party_without_consent_with_prompt_none_fails_consent_required",
    ),
    pytest.param(
        ctx(first_party=False, consent_granted=True),
        proceed(),
        id="third_party_with_consent_granted_proceeds",
    ),
    pytest.param(
        ctx(first_party=False, consent_granted=True, prompt=frozenset({"none"})),
        proceed(),
        id="third_party_with_consent_granted_and_prompt_none_proceeds",
    ),
    pytest.param(
        ctx(first_party=True, consent_granted=False),
        proceed(),
        id="first_party_without_consent_proceeds",
    ),
    pytest.param(
        ctx(first_party=True, prompt=frozenset({"consent"})),
        interact("consent", "consent_prompt"),
        id="first_party_with_prompt_consent_and_no_consent_interacts_consent",
    ),
    pytest.param(
        ctx(first_party=False, prompt=frozenset({"consent"})),
        interact("consent", "consent_missing", "consent_prompt"),
        id="third_party_with_prompt_consent_and_no_consent_lists_both_reasons",
    ),
    pytest.param(
        ctx(first_party=False, prompt=frozenset({"login"})),
        interact("login", "login_prompt"),
        id="login_prompt_is_asked_before_consent",
    ),
    pytest.param(
        ctx(first_party=False, prompt=frozenset({"login"}), reauthenticated=True),
        interact("consent", "consent_missing"),
        id="after_fresh_login_third_party_without_consent_interacts_consent",
    ),
]


@pytest.mark.parametrize(("context", "expected"), CONSENT_CASES)
def test_consent_prompt(context: AuthContext, expected: tuple) -> None:
    assert outcome(decide(context)) == expected


@pytest.mark.parametrize("first_party", [False, True], ids=["third_party", "first_party"])
def test_prompt_consent_asks_again_even_with_consent_on_record(first_party: bool) -> None:
    """OIDC Core 3.1.2.1: with prompt=consent the OP SHOULD ask before releasing information."""
    context = ctx(first_party=first_party, consent_granted=True, prompt=frozenset({"consent"}))
    assert outcome(decide(context)) == interact("consent", "consent_prompt")


@pytest.mark.parametrize("first_party", [False, True], ids=["third_party", "first_party"])
def test_prompt_consent_answered_during_this_request_proceeds(first_party: bool) -> None:
    context = ctx(
        first_party=first_party,
        consent_granted=True,
        consented_during_request=True,
        prompt=frozenset({"consent"}),
    )
    assert outcome(decide(context)) == proceed()


# --- Proceed: acr, amr, auth_time ------------------------------------------------------------


def test_proceed_carries_sorted_distinct_amr_and_latest_auth_time() -> None:
    events = (
        AuthEvent("totp", ("otp", "mfa"), 9_500),
        AuthEvent("pwd", ("pwd",), 9_000),
        AuthEvent("pwd", ("pwd",), 9_200),
    )
    result = decide(ctx(events=events))
    assert result == Proceed(acr=acr.MFA, amr=("mfa", "otp", "pwd"), auth_time=9_500)


def test_proceed_auth_time_is_latest_event_whatever_the_event_order() -> None:
    events = (AuthEvent("a", ("pwd",), 9_700), AuthEvent("b", ("otp",), 9_100))
    assert decide(ctx(events=events)).auth_time == 9_700
    assert decide(ctx(events=events[::-1])).auth_time == 9_700


ACR_CASES = [
    pytest.param(ctx(), proceed(), id="no_acr_requested_proceeds_with_achieved_level"),
    pytest.param(
        ctx(acr_values=(PASSWORD,)),
        proceed(),
        id="voluntary_acr_met_proceeds_with_it",
    ),
    pytest.param(
        ctx(acr_values=(UNKNOWN,)),
        proceed(),
        id="voluntary_unknown_acr_proceeds_with_achieved_level",
    ),
    pytest.param(
        ctx(acr_values=(UNKNOWN, PASSWORD)),
        proceed(),
        id="voluntary_unknown_then_met_acr_proceeds_with_the_met_one",
    ),
    pytest.param(
        ctx(events=(AuthEvent("passkey", ("hwk", "user"), PWD_AT),), acr_values=(PASSWORD,)),
        proceed(acr_=PASSWORD, amr=("hwk", "mfa", "user")),
        id="voluntary_weaker_acr_met_by_a_stronger_session_reports_the_requested_value",
    ),
    pytest.param(
        ctx(events=(AuthEvent("passkey", ("hwk",), PWD_AT),)),
        proceed(acr_="", amr=("hwk",)),
        id="session_reaching_no_level_proceeds_with_empty_acr",
    ),
    pytest.param(
        ctx(essential_acr=(PASSWORD,)),
        proceed(),
        id="essential_acr_met_proceeds_with_it",
    ),
    pytest.param(
        ctx(essential_acr=(UNKNOWN,)),
        fail("unmet_authentication_requirements"),
        id="essential_unknown_acr_fails_unmet_authentication_requirements",
    ),
    pytest.param(
        ctx(essential_acr=(PASSWORD,), events=(AuthEvent("passkey", ("hwk",), PWD_AT),)),
        fail("unmet_authentication_requirements"),
        id="essential_acr_unmet_by_session_fails_unmet_authentication_requirements",
    ),
    pytest.param(
        ctx(essential_acr=(UNKNOWN,), prompt=frozenset({"none"})),
        fail("unmet_authentication_requirements"),
        id="essential_acr_unmet_with_prompt_none_fails_unmet_authentication_requirements",
    ),
    pytest.param(
        ctx(essential_acr=(UNKNOWN, PASSWORD)),
        proceed(),
        id="essential_acr_list_with_one_met_value_proceeds_with_it",
    ),
    pytest.param(
        ctx(essential_acr=(PASSWORD,), acr_values=(UNKNOWN,)),
        proceed(),
        id="essential_acr_takes_precedence_over_voluntary_acr_values",
    ),
    pytest.param(
        ctx(essential_acr=(UNKNOWN,), user_id=None, events=()),
        interact("login", "no_session"),
        id="essential_acr_unmet_without_session_asks_login_first",
    ),
]


@pytest.mark.parametrize(("context", "expected"), ACR_CASES)
def test_acr_outcome(context: AuthContext, expected: tuple) -> None:
    assert outcome(decide(context)) == expected


MFA_LEVEL_CASES = [
    pytest.param(
        ctx(acr_values=(MFA,)),
        proceed(acr_=PASSWORD),
        id="voluntary_stronger_acr_unmet_proceeds_with_achieved_level_not_requested",
    ),
    pytest.param(
        ctx(events=(PWD, OTP)),
        proceed(9_500, acr_=MFA, amr=("mfa", "otp", "pwd")),
        id="no_acr_requested_proceeds_with_strongest_achieved_level",
    ),
    pytest.param(
        ctx(events=(PWD, OTP), acr_values=(PASSWORD,)),
        proceed(9_500, acr_=PASSWORD, amr=("mfa", "otp", "pwd")),
        id="voluntary_weaker_acr_met_proceeds_with_the_requested_weaker_level",
    ),
    pytest.param(
        ctx(events=(PWD, OTP), acr_values=(MFA, PASSWORD)),
        proceed(9_500, acr_=MFA, amr=("mfa", "otp", "pwd")),
        id="voluntary_acr_values_honour_preference_order",
    ),
    pytest.param(
        ctx(essential_acr=(MFA,)),
        fail("unmet_authentication_requirements"),
        id="essential_stronger_acr_unmet_fails_rather_than_asking_step_up",
    ),
    pytest.param(
        ctx(essential_acr=(MFA, PASSWORD)),
        proceed(acr_=PASSWORD),
        id="essential_acr_list_proceeds_with_first_met_value",
    ),
]


@pytest.mark.parametrize(("context", "expected"), MFA_LEVEL_CASES)
def test_acr_outcome_with_a_stronger_level(context: AuthContext, expected: tuple) -> None:
    assert outcome(decide(context)) == expected


# --- properties ----------------------------------------------------------------------------

AMR_VALUES = ("pwd", "otp", "hwk", "swk", "mfa", "user", "pin", "face", "sms")
ACR_VALUES = (PASSWORD, MFA, UNKNOWN, "")
PROMPT_VALUES = ("none", "login", "consent", "select_account")

times = st.integers(min_value=0, max_value=2_000)

events_st = st.lists(
    st.builds(
        AuthEvent,
        method=st.sampled_from(("pwd", "totp", "passkey", "backup_code")),
        amr=st.lists(st.sampled_from(AMR_VALUES), max_size=3).map(tuple),
        at=times,
    ),
    max_size=4,
).map(tuple)

contexts = st.builds(
    AuthContext,
    now=st.integers(min_value=0, max_value=3_000),
    user_id=st.one_of(st.none(), st.just("user-1")),
    roles=st.frozensets(st.sampled_from(("admin", "staff"))),
    events=events_st,
    prompt=st.frozensets(st.sampled_from(PROMPT_VALUES), max_size=3),
    max_age=st.one_of(st.none(), st.integers(min_value=0, max_value=3_000)),
    acr_values=st.lists(st.sampled_from(ACR_VALUES), max_size=3).map(tuple),
    essential_acr=st.lists(st.sampled_from(ACR_VALUES), max_size=2).map(tuple),
    reauthenticated=st.booleans(),
    first_party=st.booleans(),
    consent_granted=st.booleans(),
    requested_scopes=st.frozensets(st.sampled_from(("openid", "profile", "email"))),
)

PROPERTY = settings(max_examples=300, deadline=None)


@PROPERTY
@given(contexts)
def test_property_no_events_never_proceeds(context: AuthContext) -> None:
    context = dataclasses.replace(context, events=())
    assert not isinstance(decide(context), Proceed)


@PROPERTY
@given(contexts)
def test_property_no_user_never_proceeds(context: AuthContext) -> None:
    context = dataclasses.replace(context, user_id=None)
    assert not isinstance(decide(context), Proceed)


@PROPERTY
@given(contexts)
def test_property_proceed_auth_time_is_latest_event_time(context: AuthContext) -> None:
    result = decide(context)
    if isinstance(result, Proceed):
        assert result.auth_time == max(e.at for e in context.events)


@PROPERTY
@given(contexts)
def test_property_proceed_amr_is_sorted_union_of_event_amr(context: AuthContext) -> None:
    result = decide(context)
    if isinstance(result, Proceed):
        union = with_mfa({v for e in context.events for v in e.amr})
        assert result.amr == union  # sorted, distinct, mfa when two categories of factor


@PROPERTY
@given(contexts)
def test_property_proceed_acr_is_satisfied_by_its_amr(context: AuthContext) -> None:
    result = decide(context)
    if isinstance(result, Proceed) and result.acr:
        assert acr.DEFAULT.satisfied(result.acr, result.amr)


@PROPERTY
@given(contexts)
def test_property_proceed_acr_is_one_of_the_essential_values(
    context: AuthContext,
) -> None:
    result = decide(context)
    if isinstance(result, Proceed) and context.essential_acr:
        assert result.acr in context.essential_acr


@PROPERTY
@given(contexts)
def test_property_prompt_none_never_interacts(context: AuthContext) -> None:
    context = dataclasses.replace(context, prompt=context.prompt | {"none"})
    assert not isinstance(decide(context), Interact)


@PROPERTY
@given(contexts)
def test_property_prompt_none_with_another_value_fails_invalid_request(context: AuthContext):
    context = dataclasses.replace(context, prompt=context.prompt | {"none", "login"})
    result = decide(context)
    assert isinstance(result, Fail) and result.error == "invalid_request"


@PROPERTY
@given(contexts)
def test_property_decide_is_deterministic(context: AuthContext) -> None:
    copy = dataclasses.replace(context)
    assert decide(context) == decide(context) == decide(copy)


@PROPERTY
@given(contexts, st.randoms(use_true_random=False))
def test_property_event_order_does_not_matter(context: AuthContext, rnd) -> None:
    shuffled = list(context.events)
    rnd.shuffle(shuffled)
    assert decide(context) == decide(dataclasses.replace(context, events=tuple(shuffled)))


@PROPERTY
@given(contexts)
def test_property_proceed_respects_max_age_and_prompt_login(context: AuthContext) -> None:
    result = decide(context)
    if isinstance(result, Proceed):
        if context.max_age is not None:  # fresh enough, or authenticated during this request
            fresh = context.now - result.auth_time <= context.max_age
            assert fresh or context.reauthenticated
        if "login" in context.prompt:
            assert context.reauthenticated


@PROPERTY
@given(contexts)
def test_property_third_party_without_consent_never_proceeds(context: AuthContext) -> None:
    context = dataclasses.replace(context, first_party=False, consent_granted=False)
    assert not isinstance(decide(context), Proceed)


def _shape(result: Proceed | Interact | Fail) -> tuple:
    """A decision without the names of the failing checks (they differ: max_age vs login_prompt)."""
    if isinstance(result, Interact):
        return ("interact", result.prompt)
    return outcome(result)


@PROPERTY
@given(contexts)
@example(ctx(events=pwd_at(NOW - 2), reauthenticated=True))  # the re-login loop
@example(ctx(events=pwd_at(NOW), reauthenticated=False))  # same second, before the request
def test_property_max_age_zero_decides_like_prompt_login(context: AuthContext) -> None:
    plain = dataclasses.replace(context, max_age=None, prompt=context.prompt - {"login", "none"})
    with_max_age_zero = dataclasses.replace(plain, max_age=0)
    with_prompt_login = dataclasses.replace(plain, prompt=plain.prompt | {"login"})
    assert _shape(decide(with_max_age_zero)) == _shape(decide(with_prompt_login))
