"""``VerifiedToken.claims`` is a read-only dict: it serialises as JSON, and cannot be changed."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle

import pytest
from flask import Flask, jsonify


@pytest.fixture()
def verified(stub, verifier):
    token = stub.access_token(stub.keys[0], acr="urn:idp:acr:mfa", amr=["mfa", "otp", "pwd"])
    return verifier.verify_access_token(token)


def test_claims_serialise_as_json(verified):
    assert json.loads(json.dumps(verified.claims)) == verified.claims
    with Flask(__name__).app_context():
        assert jsonify(claims=verified.claims).json["claims"]["amr"] == ["mfa", "otp", "pwd"]
    assert dataclasses.asdict(verified)["claims"] == dict(verified.claims)


def test_claims_compare_equal_to_the_json_they_came_from(verified):
    assert isinstance(verified.claims, dict)
    assert verified.claims["amr"] == ["mfa", "otp", "pwd"]
    assert verified.claims == json.loads(json.dumps(dict(verified.claims)))


def test_claims_cannot_be_changed_but_copies_can(verified):
    claims = verified.claims
    for change in (
        lambda: claims.__setitem__("sub", "admin"),
        lambda: claims.__delitem__("sub"),
        lambda: claims.update(sub="admin"),
        lambda: claims.setdefault("admin", True),
        lambda: claims.pop("sub"),
        claims.popitem,
        claims.clear,
    ):
        with pytest.raises(TypeError):
            change()
    assert verified.subject == "user-1"
    mutable = claims.copy()
    mutable["sub"] = "other"
    assert type(mutable) is dict and claims["sub"] == "user-1"


def test_claims_survive_pickle_and_copy(verified):
    for clone in (pickle.loads(pickle.dumps(verified.claims)), copy.deepcopy(verified.claims)):
        assert clone == verified.claims and type(clone) is type(verified.claims)
