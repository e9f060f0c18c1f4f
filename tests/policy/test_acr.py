"""``idp.policy.acr``: ordered levels, the amr sets that reach them, aliases, configuration."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.policy import acr
from idp.policy.acr import DEFAULT, MFA, PASSWORD, PHR, PHRH

UNKNOWN = "urn:example:acr:unknown"
AMR = ("pwd", "otp", "sms", "hwk", "swk", "mfa", "user")


def test_discovery_lists_levels_weakest_first_then_aliases() -> None:
    assert DEFAULT.supported == (PASSWORD, MFA, PHR, PHRH, "0", "1", "2")


@pytest.mark.parametrize(
    ("level", "amr", "expected"),
    [
        pytest.param(PASSWORD, ("pwd",), True, id="pwd_reaches_password_level"),
        pytest.param(PASSWORD, ("pwd", "otp", "mfa"), True, id="stronger_session_meets_weaker"),
        pytest.param(PASSWORD, (), False, id="nothing_reaches_nothing"),
        pytest.param(PASSWORD, ("hwk",), False, id="bare_key_without_verification_is_no_level"),
        pytest.param(MFA, ("otp", "pwd"), False, id="mfa_needs_the_mfa_value_not_its_parts"),
        pytest.param(MFA, ("mfa", "otp", "pwd"), True, id="password_and_totp_reach_mfa"),
        pytest.param(PHR, ("mfa", "otp", "pwd"), False, id="totp_is_not_phishing_resistant"),
        pytest.param(PHR, ("mfa", "otp", "pwd", "sms"), False, id="sms_is_not_phr"),
        pytest.param(PHR, ("hwk", "mfa", "pwd"), True, id="password_and_device_key_reach_phr"),
        pytest.param(PHR, ("hwk", "mfa", "user"), True, id="passwordless_passkey_reaches_phr"),
        pytest.param(PHR, ("mfa", "pwd", "swk"), True, id="synced_passkey_reaches_phr"),
        pytest.param(PHRH, ("mfa", "pwd", "swk"), False, id="synced_passkey_is_not_phrh"),
        pytest.param(PHRH, ("hwk", "mfa", "pwd"), True, id="device_bound_key_reaches_phrh"),
        pytest.param(MFA, ("hwk", "mfa", "pwd"), True, id="phr_meets_a_request_for_mfa"),
        pytest.param("1", ("mfa", "otp", "pwd"), True, id="alias_1_is_mfa"),
        pytest.param("2", ("mfa", "otp", "pwd"), False, id="alias_2_is_phr"),
        pytest.param("0", ("pwd",), True, id="alias_0_is_password"),
        pytest.param(UNKNOWN, ("pwd", "hwk", "mfa"), False, id="unknown_level_is_never_met"),
        pytest.param("", ("pwd",), False, id="empty_level_is_never_met"),
    ],
)
def test_satisfied(level: str, amr: tuple[str, ...], expected: bool) -> None:
    assert DEFAULT.satisfied(level, amr) is expected


@pytest.mark.parametrize(
    ("amr", "expected"),
    [
        pytest.param(("pwd",), PASSWORD, id="password"),
        pytest.param(("mfa", "otp", "pwd"), MFA, id="totp"),
        pytest.param(("mfa", "pwd", "swk"), PHR, id="synced_passkey"),
        pytest.param(("hwk", "mfa", "user"), PHRH, id="device_bound_passkey"),
        pytest.param(("hwk",), "", id="none"),
    ],
)
def test_achieved_is_the_strongest_level(amr: tuple[str, ...], expected: str) -> None:
    assert DEFAULT.achieved(amr) == expected


def test_reachable_combines_the_session_with_the_users_factors() -> None:
    session = frozenset({"pwd"})
    assert DEFAULT.reachable(PHR, (session, frozenset({"hwk"})))
    assert not DEFAULT.reachable(PHR, (session, frozenset({"otp"})))
    assert DEFAULT.reachable(MFA, (session, frozenset({"otp"})))
    assert not DEFAULT.reachable(MFA, (session,))


LEVEL_NAMES = st.sampled_from((PASSWORD, MFA, PHR, PHRH, "0", "1", "2", UNKNOWN))
AMRS = st.lists(st.sampled_from(AMR)).map(tuple)


@given(AMRS)
def test_property_achieved_level_is_satisfied_or_empty(amr: tuple[str, ...]) -> None:
    level = DEFAULT.achieved(amr)
    assert level == "" or DEFAULT.satisfied(level, amr)


@given(LEVEL_NAMES, AMRS, AMRS)
def test_property_more_amr_never_unsatisfies_a_level(level: str, a, b) -> None:
    if DEFAULT.satisfied(level, a):
        assert DEFAULT.satisfied(level, a + b)


@given(LEVEL_NAMES, LEVEL_NAMES, AMRS)
def test_property_meeting_a_level_meets_every_weaker_one(stronger: str, weaker: str, amr) -> None:
    rs, rw = DEFAULT.rank(stronger), DEFAULT.rank(weaker)
    if rs is not None and rw is not None and rw <= rs and DEFAULT.satisfied(stronger, amr):
        assert DEFAULT.satisfied(weaker, amr)


def test_configured_levels_and_aliases() -> None:
    levels = acr.parse_levels(
        json.dumps({"silver": [["pwd"]], "gold": [["mfa"]]}), json.dumps({"gold-alias": "gold"})
    )
    assert levels.supported == ("silver", "gold", "gold-alias")
    assert levels.satisfied("gold-alias", ("mfa",)) and not levels.satisfied("gold", ("pwd",))


def test_configured_levels_keep_only_default_aliases_that_still_name_a_level() -> None:
    levels = acr.parse_levels(json.dumps({PASSWORD: [["pwd"]], "gold": [["mfa"]]}), "")
    assert levels.aliases == {"0": PASSWORD}


@pytest.mark.parametrize(
    ("levels_json", "aliases_json"),
    [
        pytest.param("[1, 2]", "", id="levels_not_an_object"),
        pytest.param("{}", "", id="no_levels"),
        pytest.param('{"a": []}', "", id="level_without_amr_sets"),
        pytest.param('{"a": [[]]}', "", id="empty_amr_set"),
        pytest.param('{"a": [[1]]}', "", id="amr_not_a_string"),
        pytest.param("{not json", "", id="not_json"),
        pytest.param("", '{"x": "urn:nowhere"}', id="alias_to_unknown_level"),
        pytest.param("", "[]", id="aliases_not_an_object"),
        pytest.param(json.dumps({"x" * 201: [["pwd"]]}), "", id="level_name_too_long"),
        pytest.param("", json.dumps({"y" * 201: "phr"}), id="alias_too_long"),
    ],
)
def test_bad_configuration_is_refused(levels_json: str, aliases_json: str) -> None:
    with pytest.raises(ValueError):
        acr.parse_levels(levels_json, aliases_json)
