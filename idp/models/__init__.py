"""State: SQLAlchemy models and their transitions. Nothing here talks to the network."""

from idp.models.audit import AuditEvent
from idp.models.authenticator_model import AuthenticatorModel
from idp.models.browser_state import BrowserStateValue
from idp.models.client import Client
from idp.models.device import RateLimitCounter, TrustedDevice
from idp.models.factor import BackupCode, Challenge, Factor
from idp.models.logout_notice import LogoutNotice
from idp.models.operation_window import OperationWindow
from idp.models.policy import DefaultPolicy, PolicyOverride
from idp.models.recovery import RecoveryRequest
from idp.models.session import AuthenticationEvent, Consent, LoginSession
from idp.models.tokens import AuthorizationCode, Token
from idp.models.user import EmailChange, PasswordFailures, PasswordReset, Role, User

__all__ = [
    "AuditEvent",
    "AuthenticationEvent",
    "AuthenticatorModel",
    "AuthorizationCode",
    "BackupCode",
    "BrowserStateValue",
    "Challenge",
    "Client",
    "Consent",
    "DefaultPolicy",
    "EmailChange",
    "Factor",
    "LoginSession",
    "LogoutNotice",
    "OperationWindow",
    "PasswordFailures",
    "PasswordReset",
    "PolicyOverride",
    "RateLimitCounter",
    "RecoveryRequest",
    "Role",
    "Token",
    "TrustedDevice",
    "User",
]
