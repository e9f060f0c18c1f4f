"""The mfa prompt of decide(): who is asked for a second factor, and when it is skipped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.policy import AuthContext, AuthEvent, FactorOption, Fail, Interact, Proceed, decide

PWD = AuthEvent("pwd", ("pwd",), 900)
TOTP = AuthEvent("totp", ("otp",), 950)
PASSKEY = AuthEvent("passkey", ("hwk", "user"), 950)


AMR_OF = {
    "totp": {"otp"}, "passkey": {"hwk"}, "email": {"otp"}, "sms": {"otp", "sms"},
    "backup_codes": {"otp"},
}  # fmt: skip


def having(*kinds: str) -> tuple[FactorOption, ...]:
    return tuple(FactorOption(k, frozenset(AMR_OF[k])) for k in kinds)


def ctx(**kw) -> AuthContext:
    base = {"now": 1000, "user_id": "u", "events": (PWD,), "first_party": True}
    return AuthContext(**{**base, **kw})


CASES = [
    pytest.param(ctx(), Proceed, id="user_without_factors_proceeds_after_password"),
    pytest.param(ctx(factors=having("totp")), Interact, id="user_with_totp_is_asked_for_it"),
    pytest.param(
        ctx(factors=having("backup_codes")),
        Proceed,
        id="backup_codes_alone_do_not_make_a_routine_second_factor",
    ),
    pytest.param(
        ctx(factors=having("totp"), events=(PWD, TOTP)),
        Proceed,
        id="session_with_second_factor_proceeds",
    ),
    pytest.param(
        ctx(factors=having("passkey"), events=(PASSKEY,)),
        Proceed,
        id="passwordless_passkey_counts_as_the_second_factor",
    ),
    pytest.param(
        ctx(factors=having("totp"), trusted_device=True),
        Proceed,
        id="remembered_device_skips_the_routine_factor",
    ),
    pytest.param(
        ctx(factors=having("totp"), trusted_device=True, acr_values=("urn:idp:acr:mfa",)),
        Interact,
        id="remembered_device_never_satisfies_an_explicit_acr_request",
    ),
    pytest.param(
        ctx(factors=having("totp"), prompt=frozenset({"none"})),
        Fail,
        id="prompt_none_needing_a_second_factor_fails",
    ),
]


@pytest.mark.parametrize(("context", "kind"), CASES)
def test_mfa_prompt(context: AuthContext, kind: type) -> None:
    result = decide(context)
    assert isinstance(result, kind), result
    if isinstance(result, Interact):
        assert result.prompt == "mfa" and set(result.reasons) <= {"mfa_required", "acr_values"}
    if isinstance(result, Fail):
        assert result.error == "interaction_required"


def test_password_and_totp_report_mfa_in_amr() -> None:
    result = decide(ctx(factors=having("totp"), events=(PWD, TOTP)))
    assert result.amr == ("mfa", "otp", "pwd") and result.acr == "urn:idp:acr:mfa"


KINDS = st.frozensets(st.sampled_from(["totp", "passkey", "email", "sms", "backup_codes"]))


@given(kinds=KINDS, trusted=st.booleans())
def test_a_user_with_a_routine_factor_never_proceeds_on_password_alone_unless_remembered(
    kinds: frozenset[str], trusted: bool
) -> None:
    result = decide(ctx(factors=having(*sorted(kinds)), trusted_device=trusted))
    routine = kinds - {"backup_codes"}
    if routine and not trusted:
        assert not isinstance(result, Proceed)


@given(kinds=KINDS, trusted=st.booleans())
def test_adding_a_second_factor_event_never_makes_the_result_stricter(
    kinds: frozenset[str], trusted: bool
) -> None:
    before = decide(ctx(factors=having(*sorted(kinds)), trusted_device=trusted))
    after = decide(ctx(factors=having(*sorted(kinds)), trusted_device=trusted, events=(PWD, TOTP)))
    if isinstance(before, Proceed):
        assert isinstance(after, Proceed)
