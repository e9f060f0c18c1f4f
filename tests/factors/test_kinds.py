"""Each factor kind is declared once, and the pure policy's plain-string lists agree with it."""

from __future__ import annotations

import pytest

from idp.factors import kinds, registry
from idp.models.factor import FactorKind
from idp.policy import rules
from idp.policy.context import METHOD_KIND


def test_every_stored_kind_is_declared_once_in_order():
    assert [k.name for k in kinds.declared()] == [k.value for k in FactorKind]
    with pytest.raises(ValueError, match="declared twice"):
        kinds.declare(kinds.of("totp"))


def test_policy_factor_kinds_are_the_routine_declared_kinds():
    routine = [k.name for k in kinds.declared() if k.routine]
    assert list(rules.FACTOR_KINDS) == routine
    assert {k.name for k in kinds.declared() if not k.routine} == {"backup_codes"}


def test_policy_reads_each_kind_from_the_method_its_answer_records():
    assert {k.method: k.name for k in kinds.declared()} == METHOD_KIND


def test_amr_values_are_rfc_8176_values():
    registered = {"hwk", "swk", "otp", "sms", "user", "pwd", "mfa", "face", "fpt", "pin"}
    for kind in kinds.declared():
        assert kind.amr and kind.amr <= registered, kind.name


def test_labels_name_every_kind():
    assert set(registry.LABELS) == {k.value for k in FactorKind}
    assert all(label.strip() for label in registry.LABELS.values())


def test_every_declared_page_is_a_registered_endpoint(factor_app):
    endpoints = set(factor_app.view_functions)
    for kind in kinds.declared():
        assert kind.signin_page in endpoints, kind.name
        assert kind.enroll_page is None or kind.enroll_page in endpoints, kind.name
