"""``idp.policy.acr``: which amr sets satisfy which acr level, and the strongest level reached."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.policy import acr
from idp.policy.acr import PASSWORD

MFA = "urn:test:acr:mfa"
UNKNOWN = "urn:example:acr:unknown"


@pytest.fixture
def mfa_level():
    with mock.patch.dict(acr.LEVELS, {MFA: (frozenset({"pwd", "otp"}), frozenset({"hwk"}))}):
        yield MFA


def test_password_level_is_supported() -> None:
    assert PASSWORD in acr.SUPPORTED


@pytest.mark.parametrize(
    ("level", "amr", "expected"),
    [
        pytest.param(PASSWORD, ("pwd",), True, id="pwd_satisfies_password_level"),
        pytest.param(PASSWORD, ("otp", "pwd"), True, id="extra_amr_still_satisfies_password"),
        pytest.param(PASSWORD, (), False, id="empty_amr_does_not_satisfy_password"),
        pytest.param(PASSWORD, ("hwk",), False, id="passkey_alone_does_not_satisfy_password"),
        pytest.param(UNKNOWN, ("pwd",), False, id="unknown_level_is_never_satisfied"),
        pytest.param("", ("pwd",), False, id="empty_level_is_never_satisfied"),
    ],
)
def test_satisfied(level: str, amr: tuple[str, ...], expected: bool) -> None:
    assert acr.satisfied(level, amr) is expected


@pytest.mark.parametrize(
    ("amr", "expected"),
    [
        pytest.param(("pwd",), PASSWORD, id="pwd_achieves_password_level"),
        pytest.param(("hwk",), "", id="no_level_reached_achieves_empty_string"),
        pytest.param((), "", id="empty_amr_achieves_empty_string"),
    ],
)
def test_achieved(amr: tuple[str, ...], expected: str) -> None:
    assert acr.achieved(amr) == expected


@pytest.mark.parametrize(
    ("amr", "expected"),
    [
        pytest.param(("pwd",), PASSWORD, id="pwd_alone_achieves_only_password"),
        pytest.param(("otp", "pwd"), MFA, id="pwd_and_otp_achieve_the_stronger_level"),
        pytest.param(("hwk",), MFA, id="any_one_amr_set_of_a_level_suffices"),
        pytest.param(("otp",), "", id="otp_alone_achieves_nothing"),
    ],
)
def test_achieved_picks_the_strongest_level(amr, expected, mfa_level) -> None:
    assert acr.achieved(amr) == expected


@given(st.lists(st.sampled_from(("pwd", "otp", "hwk", "mfa", "user", "sms"))).map(tuple))
def test_property_achieved_level_is_satisfied_or_empty(amr: tuple[str, ...]) -> None:
    level = acr.achieved(amr)
    assert level == "" or acr.satisfied(level, amr)


@given(
    st.lists(st.sampled_from(("pwd", "otp", "hwk", "mfa"))).map(tuple),
    st.lists(st.sampled_from(("pwd", "otp", "hwk", "mfa"))).map(tuple),
)
def test_property_more_amr_never_unsatisfies_a_level(a: tuple[str, ...], b: tuple[str, ...]):
    for level in acr.LEVELS:
        if acr.satisfied(level, a):
            assert acr.satisfied(level, a + b)
