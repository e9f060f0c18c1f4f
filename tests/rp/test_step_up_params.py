"""From a challenge or a requirement to the extra parameters of a new authorization request."""

from __future__ import annotations

import json

from idp.rp import MFA, PHR, Requirement, StepUpChallenge, authorization_params


def test_challenge_becomes_acr_values_and_max_age():
    challenge = StepUpChallenge("insufficient_user_authentication", None, (MFA, PHR), 0)
    assert authorization_params(challenge) == {"acr_values": f"{MFA} {PHR}", "max_age": "0"}


def test_essential_acr_goes_into_the_claims_parameter():
    params = authorization_params(Requirement(acr_values=(PHR,), max_age=300), essential_acr=True)
    assert params["acr_values"] == PHR and params["max_age"] == "300"
    assert json.loads(params["claims"]) == {
        "id_token": {"acr": {"essential": True, "values": [PHR]}}
    }


def test_nothing_asked_gives_no_parameters():
    assert authorization_params(Requirement(amr=("hwk",)), essential_acr=True) == {}
