"""A person's own audit trail in plain words, for their security page.

Every event the code records is either given a sentence here (``SENTENCES``) or deliberately
hidden (``HIDDEN``): the steps inside one action (a challenge issued, an enrolment started, a
token issued) and events about the provider, not a person. A test reads every
``audit.record(...)`` in idp and fails on a name in neither, so a new event cannot reach the
page unnamed or vanish from it silently. A sentence may still return ``None`` for a row
another event already tells (an abandoned enrolment, backup codes replaced by new ones).

Consecutive identical entries collapse into one with a count (four wrong codes in a row are
one line, "4 times"), failures included: they are what a person most needs to see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Client, Factor, User

#: How many entries the page lists, and how many rows are read to find them.
ENTRIES = 20
_SCAN = 200

#: What a factor kind is called in a sentence ("You added a passkey").
_KINDS = {
    "passkey": "a passkey",
    "totp": "an authenticator app",
    "email": "email codes",
    "sms": "text message codes",
    "backup_codes": "backup codes",
}
_CODE_KINDS = {"totp", "email", "sms", "backup_codes"}


@dataclass(frozen=True)
class Row:
    """What a sentence reads of an audit row, with the reader's email and factor names."""

    event: AuditEvent
    email: str
    factor_names: Mapping[int, str]
    client_names: Mapping[str, str]

    @property
    def detail(self) -> dict:
        return self.event.detail or {}

    @property
    def by_you(self) -> bool:
        return self.event.actor in (None, self.email)

    @property
    def who(self) -> str:
        return "You" if self.by_you else "An administrator"

    def factor(self) -> str:
        """The factor named in the row: "a passkey 'Laptop'"."""
        what = _KINDS.get(self.detail.get("kind", ""), "a sign-in method")
        name = self.factor_names.get(self.detail.get("factor_id"))
        return f"{what} '{name}'" if name else what


def _sign_in(row: Row) -> str:
    if row.event.outcome == "success":
        return "You signed in."
    if row.detail.get("reason") == "account_disabled":
        return "A sign-in was refused: the account is disabled."
    if row.detail.get("method", "pwd") == "pwd":
        return "A sign-in failed: wrong password."
    return "A sign-in with a passkey failed."


def _second_factor_failed(row: Row) -> str:
    what = "wrong code" if row.detail.get("challenge_kind") in _CODE_KINDS else "not accepted"
    if row.detail.get("purpose") == "enroll":
        return f"Adding a sign-in method failed: {what}."
    return f"A sign-in failed: {what}."


def _factor_activated(row: Row) -> str | None:
    if row.detail.get("kind") == "backup_codes":
        return None  # backup_codes_generated tells it
    return f"{row.who} added {row.factor()}."


def _factor_revoked(row: Row) -> str | None:
    reason = row.detail.get("reason")
    if reason in ("abandoned", "regenerated"):
        return None  # an unfinished enrolment; old backup codes replaced (told by the new)
    if reason == "no factor left":
        return "Your backup codes were revoked: no other sign-in method was left."
    return f"{row.who} removed {row.factor()}."


_SESSION_ENDED = {
    "signed_out": None,  # the signed_out event tells it
    "another_user_signed_in": "You were signed out: someone else signed in in this browser.",
    "password_changed": "Your other sessions were signed out after the password change.",
    "password_reset": "Your sessions were signed out after the password reset.",
    "ended_by_admin": "An administrator signed you out everywhere.",
    "account_disabled": "Your sessions were ended: the account was disabled.",
}


def _session_ended(row: Row) -> str | None:
    return _SESSION_ENDED.get(row.detail.get("reason"), "A session of yours was ended.")


def _trusted_device_revoked(row: Row) -> str:
    if row.detail.get("reason") == "by the user":
        return "You forgot a remembered browser."
    if not row.by_you:
        return "An administrator forgot your remembered browsers."
    return "Your remembered browsers were forgotten."


def _recovery_approved(row: Row) -> str:
    if row.detail.get("link_sent"):
        return "Your recovery request was approved: a recovery link was sent to you."
    return "An administrator approved your recovery request; a second approval is needed."


def _client(row: Row) -> str:
    client_id = row.event.client_id
    return row.client_names.get(client_id) or client_id or "an app"


Sentence = Callable[[Row], "str | None"]
SENTENCES: dict[str, Sentence] = {
    "sign_in": _sign_in,
    "second_factor_passed": lambda r: "You confirmed it was you with your second factor.",
    "second_factor_failed": _second_factor_failed,
    "signed_out": lambda r: "You signed out.",
    "session_ended": _session_ended,
    "factor_activated": _factor_activated,
    "factor_revoked": _factor_revoked,
    "factor_renamed": lambda r: (
        f"You renamed '{r.detail.get('before')}' to '{r.detail.get('after')}'."
    ),
    "factor_locked": lambda r: f"{r.factor().capitalize()} was locked after too many wrong codes.",
    "factor_cooldown": lambda r: (
        f"Too many wrong codes: sign-in paused for {r.detail.get('seconds')} seconds."
    ),
    "factor_unlocked": lambda r: f"{r.factor().capitalize()} was unlocked.",
    "factors_reset": lambda r: "An administrator removed your sign-in methods.",
    "backup_codes_generated": lambda r: f"{r.who} created new backup codes.",
    "backup_code_used": lambda r: f"You used a backup code ({r.detail.get('remaining')} left).",
    "code_send_limited": lambda r: "Too many codes were asked for: sending is paused.",
    "password_backoff": lambda r: "Several sign-ins failed: wrong password. Sign-in is paused.",
    "password_backoff_cleared": lambda r: "An administrator lifted the pause on sign-in.",
    "password_changed": lambda r: "You changed your password.",
    "password_reset": lambda r: "You reset your password.",
    "password_reset_requested": lambda r: "A password reset link was sent to you.",
    "email_change_requested": lambda r: "You asked to change your email.",
    "email_changed": lambda r: f"Your email was changed to {r.detail.get('after')}.",
    "profile_changed": lambda r: "You changed your profile.",
    "trusted_device_added": lambda r: "You chose to remember a browser.",
    "trusted_device_revoked": _trusted_device_revoked,
    "consent_granted": lambda r: f"You allowed {_client(r)} to use your account.",
    "sign_in_cancelled": lambda r: f"You cancelled signing in to {_client(r)}.",
    "offline_access_revoked": lambda r: f"You stopped {_client(r)}'s offline access.",
    "code_replay_detected": lambda r: (
        f"A sign-in code for {_client(r)} was used twice: its access was revoked."
    ),
    "refresh_replay_detected": lambda r: (
        f"An old token of {_client(r)} was used again: its access was revoked."
    ),
    "enrollment_skipped": lambda r: "You postponed setting up two-step verification.",
    "enrollment_postponed": lambda r: "You postponed setting up two-step verification.",
    "passkey_upgrade_postponed": lambda r: "You postponed adding an approved security key.",
    "user_created": lambda r: "Your account was created.",
    "roles_set": lambda r: f"Your roles were set to: {', '.join(r.detail.get('after') or [])}.",
    "policy_override_set": lambda r: "An administrator changed your sign-in requirements.",
    "policy_override_cleared": lambda r: "An administrator changed your sign-in requirements.",
    "recovery_requested": lambda r: "You asked for help to recover your account.",
    "recovery_started": lambda r: "An administrator started a recovery of your account.",
    "recovery_approved": _recovery_approved,
    "recovery_denied": lambda r: "An administrator turned down your recovery request.",
    "recovery_expired": lambda r: "Your recovery request expired.",
    "recovery_cancelled": lambda r: f"{r.who} withdrew your recovery request.",
    "recovery_link_opened": lambda r: (
        "You opened your recovery link."
        if r.event.outcome == "success"
        else "Opening your recovery link failed: wrong password."
    ),
    "recovery_used": lambda r: "You recovered your account with a new sign-in method.",
    "account_disabled": lambda r: "An administrator disabled your account.",
    "account_enabled": lambda r: "An administrator enabled your account.",
}

#: Steps inside an action another event tells, and events about the provider, not a person.
HIDDEN = frozenset({
    "challenge_issued", "challenge_verified", "challenge_expired", "challenge_failed",
    "enrollment_started", "token_issued", "token_revoked", "refresh_reuse_within_interval",
    "password_rehashed", "backchannel_logout_delivered", "backchannel_logout_gave_up",
    "client_created", "client_changed", "client_secret_rotated", "client_disabled",
    "client_enabled", "keys_rotated", "encryption_key_rotated",
    "role_created", "role_policy_changed", "default_policy_changed", "operation_window_changed",
    "authenticator_allowed", "authenticator_removed", "authenticator_metadata_imported",
    "passkey_upgrade_asked",
})  # fmt: skip


def known_events() -> list[str]:
    """Every event name the code records, as this module knows them."""
    return sorted({*SENTENCES, *HIDDEN})


@dataclass(frozen=True)
class Entry:
    """One line of the page: the newest of ``count`` consecutive identical events."""

    at: int
    text: str
    failure: bool
    ip: str | None
    count: int = 1


def entries(
    rows: Iterable[AuditEvent],
    email: str,
    factor_names: Mapping[int, str],
    client_names: Mapping[str, str] | None = None,
) -> list[Entry]:
    """``rows`` (newest first) as sentences; unnamed rows left out; runs collapsed."""
    listed: list[Entry] = []
    for event in rows:
        sentence = SENTENCES.get(event.event)
        row = Row(event, email, factor_names, client_names or {})
        text = sentence(row) if sentence else None
        if text is None:
            continue
        if listed and listed[-1].text == text:
            last = listed[-1]
            listed[-1] = Entry(last.at, text, last.failure, last.ip, last.count + 1)
            continue
        listed.append(Entry(event.at, text, event.outcome != "success", event.ip))
    return listed


def recent(user: User) -> list[Entry]:
    """The newest ``ENTRIES`` lines of ``user``'s own events (by ``sub``: kept across an email
    change), read newest first along ``ix_audit_events_subject_seq``."""
    rows = list(
        db.session.execute(
            select(AuditEvent)
            .where(AuditEvent.subject == user.sub, AuditEvent.event.not_in(HIDDEN))
            .order_by(AuditEvent.seq.desc())
            .limit(_SCAN)
        ).scalars()
    )
    owned = select(Factor.id, Factor.name).where(Factor.user_id == user.id)
    apps = select(Client.client_id, Client.name).where(
        Client.client_id.in_({r.client_id for r in rows if r.client_id})
    )
    names = dict(db.session.execute(owned).all())
    return entries(rows, user.email, names, dict(db.session.execute(apps).all()))[:ENTRIES]
