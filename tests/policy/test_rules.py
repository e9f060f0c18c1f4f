"""``idp.policy.rules``: the strictest combination of role policies, and per-user overrides."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.policy.rules import MODES, MfaPolicy, Override, effective, strictest

NOW = 1_000_000


def test_no_policy_at_all_is_off() -> None:
    assert strictest([]) == MfaPolicy()


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(
            MfaPolicy(mode="recommended"), MfaPolicy(mode="required"),
            MfaPolicy(mode="required"), id="strongest_mode_wins",
        ),
        pytest.param(
            MfaPolicy(factors=frozenset({"totp", "passkey"})),
            MfaPolicy(factors=frozenset({"passkey"})),
            MfaPolicy(factors=frozenset({"passkey"})), id="only_kinds_every_role_allows",
        ),
        pytest.param(
            MfaPolicy(), MfaPolicy(factors=frozenset({"passkey"})),
            MfaPolicy(factors=frozenset({"passkey"})), id="any_kind_narrowed_by_the_other_role",
        ),
        pytest.param(
            MfaPolicy(factors=frozenset({"totp"})), MfaPolicy(factors=frozenset({"passkey"})),
            MfaPolicy(factors=frozenset()),
            id="disjoint_kinds_allow_none_rather_than_the_weaker_role_s",
        ),
        pytest.param(
            MfaPolicy(remember_device=True), MfaPolicy(remember_device=False),
            MfaPolicy(remember_device=False), id="remember_device_only_if_every_role_allows",
        ),
        pytest.param(
            MfaPolicy(factor_max_age=3600), MfaPolicy(factor_max_age=600),
            MfaPolicy(factor_max_age=600), id="shortest_second_factor_age",
        ),
        pytest.param(
            MfaPolicy(), MfaPolicy(factor_max_age=600),
            MfaPolicy(factor_max_age=600), id="an_age_limit_beats_none",
        ),
        pytest.param(
            MfaPolicy(mode="required", grace_signins=5),
            MfaPolicy(mode="required", grace_signins=2),
            MfaPolicy(mode="required", grace_signins=2), id="least_grace_of_the_requiring_roles",
        ),
        pytest.param(
            MfaPolicy(mode="required", grace_days=3), MfaPolicy(mode="recommended", grace_days=30),
            MfaPolicy(mode="required", grace_days=3), id="grace_of_a_non_requiring_role_ignored",
        ),
        pytest.param(
            MfaPolicy(), MfaPolicy(require_attested_passkeys=True),
            MfaPolicy(require_attested_passkeys=True), id="attested_passkeys_if_any_role_asks",
        ),
    ],
)  # fmt: skip
def test_strictest_of_two(a: MfaPolicy, b: MfaPolicy, expected: MfaPolicy) -> None:
    assert strictest([a, b]) == expected
    assert strictest([b, a]) == expected


@pytest.mark.parametrize(
    ("override", "mode"),
    [
        pytest.param(None, "required", id="no_override"),
        pytest.param(Override("exempt", NOW + 60, "lost phone"), "off", id="exempt_lifts_it"),
        pytest.param(Override("exempt", NOW, "lost phone"), "required", id="exemption_expired"),
        pytest.param(Override("exempt", NOW - 1, "x"), "required", id="exemption_long_expired"),
    ],
)
def test_exemption_lasts_until_its_expiry(override: Override | None, mode: str) -> None:
    policy = effective(MfaPolicy(), [MfaPolicy(mode="required")], override, NOW)
    assert policy.mode == mode


def test_require_override_imposes_mfa_on_a_user_without_a_requiring_role() -> None:
    override = Override("require", NOW + 60, "audit finding")
    assert effective(MfaPolicy(), [], override, NOW).mode == "required"


def test_override_changes_only_the_mode() -> None:
    role = MfaPolicy(mode="required", factors=frozenset({"passkey"}), factor_max_age=60)
    policy = effective(MfaPolicy(), [role], Override("exempt", NOW + 1, "x"), NOW)
    assert policy.factors == frozenset({"passkey"}) and policy.factor_max_age == 60


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"mode": "sometimes"}, id="unknown_mode"),
        pytest.param({"factors": frozenset({"carrier_pigeon"})}, id="unknown_kind"),
        pytest.param({"grace_days": -1}, id="negative_grace"),
        pytest.param({"factor_max_age": -5}, id="negative_age"),
    ],
)
def test_invalid_policies_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        MfaPolicy(**kwargs)


def test_backup_codes_are_always_allowed_as_recovery() -> None:
    assert MfaPolicy(factors=frozenset({"passkey"})).allows("backup_codes")
    assert not MfaPolicy(factors=frozenset({"passkey"})).allows("totp")


policies = st.builds(
    MfaPolicy,
    mode=st.sampled_from(MODES),
    factors=st.one_of(
        st.none(), st.frozensets(st.sampled_from(("totp", "passkey", "email", "sms")), min_size=1)
    ),
    remember_device=st.booleans(),
    factor_max_age=st.one_of(st.none(), st.integers(1, 10_000)),
    grace_signins=st.integers(0, 5),
    grace_days=st.integers(0, 30),
)


@given(st.lists(policies, min_size=1, max_size=4))
def test_property_the_combination_is_at_least_as_strict_as_each_role(roles) -> None:
    combined = strictest(roles)
    for role in roles:
        assert MODES.index(combined.mode) >= MODES.index(role.mode)
        assert role.remember_device or not combined.remember_device
        if role.factor_max_age is not None:
            assert combined.factor_max_age <= role.factor_max_age


@given(st.lists(policies, min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_property_role_order_does_not_matter(roles, rnd) -> None:
    shuffled = list(roles)
    rnd.shuffle(shuffled)
    assert strictest(roles) == strictest(shuffled)
