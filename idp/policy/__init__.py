"""The sign-in policy: ``decide(ctx)`` says what a sign-in still needs. Pure: no Flask, no DB."""

from idp.policy.context import AuthContext, AuthEvent, FactorOption
from idp.policy.decide import Fail, Interact, Proceed, decide
from idp.policy.rules import MfaPolicy, Override

__all__ = [
    "AuthContext",
    "AuthEvent",
    "FactorOption",
    "Fail",
    "Interact",
    "MfaPolicy",
    "Override",
    "Proceed",
    "decide",
]
