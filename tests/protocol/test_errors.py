"""Protocol errors as types: every code the policy names has its class, and each class its code.

No server, no Flask app: the policy is pure and the error classes are Authlib's and ours.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from idp.oauth2 import errors
from idp.policy import AuthContext, AuthEvent, FactorOption, Fail, decide
from idp.policy.acr import MFA
from idp.policy.decide import PROMPTS
from idp.policy.rules import MfaPolicy

NOW = 10_000
PWD = AuthEvent("pwd", ("pwd",), NOW - 100)
TOTP = FactorOption("totp", frozenset({"otp"}))
NONE = frozenset({"none"})


def _signed_in(**changes) -> AuthContext:
    return AuthContext(
        **{"now": NOW, "user_id": "u", "events": (PWD,), "first_party": True, **changes}
    )


#: One ``prompt=none`` request per way the policy fails, with the class the client must get.
POLICY_FAILURES = [
    pytest.param(
        AuthContext(now=NOW, user_id=None, prompt=NONE),
        errors.LoginRequiredError,
        id="no_session_is_login_required",
    ),
    pytest.param(
        _signed_in(factors=(TOTP,), prompt=NONE),
        errors.InteractionRequiredError,
        id="missing_second_factor_is_interaction_required",
    ),
    pytest.param(
        _signed_in(default_policy=MfaPolicy(mode="required"), prompt=NONE),
        errors.InteractionRequiredError,
        id="required_enrollment_is_interaction_required",
    ),
    pytest.param(
        _signed_in(first_party=False, prompt=NONE),
        errors.ConsentRequiredError,
        id="missing_consent_is_consent_required",
    ),
    pytest.param(
        _signed_in(essential_acr=(MFA,), prompt=NONE),
        errors.UnmetAuthenticationRequirementsError,
        id="unreachable_essential_acr_is_unmet_authentication_requirements",
    ),
    pytest.param(
        _signed_in(prompt=frozenset({"none", "login"})),
        errors.InvalidRequestError,
        id="prompt_none_with_another_value_is_invalid_request",
    ),
]


@pytest.mark.parametrize(("context", "expected"), POLICY_FAILURES)
def test_each_policy_failure_maps_to_the_class_of_its_code(context, expected):
    decision = decide(context)
    assert isinstance(decision, Fail)
    assert errors.for_code(decision.error) is expected
    assert expected.error == decision.error


@pytest.mark.parametrize("prompt", PROMPTS, ids=lambda p: p.name)
def test_every_prompt_error_code_has_a_class_with_that_code(prompt):
    assert errors.for_code(prompt.error).error == prompt.error


def test_authorization_error_classes_have_distinct_codes_and_documented_specs():
    codes = [cls.error for cls in errors.AUTHORIZATION_ERRORS]
    assert len(codes) == len(set(codes)) and all(codes)
    for cls in errors.AUTHORIZATION_ERRORS:
        assert issubclass(cls, errors.OAuth2Error)
        assert cls.__doc__ and cls.__doc__.strip(), cls


def test_unmet_authentication_requirements_cites_its_openid_spec():
    assert (
        "unmet-authentication-requirements" in errors.UnmetAuthenticationRequirementsError.__doc__
    )


def test_an_unknown_code_is_a_programming_error():
    with pytest.raises(KeyError):
        errors.for_code("no_such_error")


@pytest.mark.parametrize("cls", errors.AUTHORIZATION_ERRORS, ids=lambda cls: cls.error)
def test_an_authorization_error_redirects_with_its_code_description_and_state(cls):
    """RFC 6749 4.1.2.1: ``error``, ``error_description`` and ``state`` on the redirect URI."""
    error = cls("what went wrong", state="st", redirect_uri="https://rp.example/cb?x=1")
    status, _, headers = error()
    location = urlsplit(dict(headers)["Location"])
    assert status == 302 and location.netloc == "rp.example" and location.path == "/cb"
    assert parse_qs(location.query) == {
        "x": ["1"],
        "error": [cls.error],
        "error_description": ["what went wrong"],
        "state": ["st"],
    }


CHECKS = [check for prompt in PROMPTS for check in prompt.checks]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.name)
def test_every_check_has_a_one_line_description(check):
    text = check.description
    assert text and text == text.strip() and "\n" not in text and len(text) <= 100


def test_check_names_are_unique_across_prompts():
    names = [check.name for check in CHECKS]
    assert len(names) == len(set(names))
