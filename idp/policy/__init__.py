"""The sign-in policy: ``decide(ctx)`` says what a sign-in still needs. Pure: no Flask, no DB."""

from idp.policy.context import AuthContext, AuthEvent
from idp.policy.decide import Fail, Interact, Proceed, decide

__all__ = ["AuthContext", "AuthEvent", "Fail", "Interact", "Proceed", "decide"]
