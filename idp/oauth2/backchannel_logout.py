"""OpenID Connect Back-Channel Logout 1.0, the provider's side: logout tokens and one delivery
attempt of a queued notice (``idp.models.logout_notice``; the threads that run the attempts
are ``idp.oauth2.logout_dispatcher``).

* 2.4 the logout token: a JWT signed with the current signing key, explicitly typed
  ``logout+jwt`` (2.4 recommends it; RFC 8725 3.11), with ``iss``, ``aud`` (the client), ``iat``,
  ``exp`` (two minutes: it is signed afresh at each attempt), ``jti``, ``sub``, ``sid`` and the
  back-channel logout event; never a ``nonce`` ("MUST NOT", so it cannot pass for an ID token).
* 2.5 it is POSTed as the ``logout_token`` form parameter, redirects not followed, within
  ``IDP_BACKCHANNEL_LOGOUT_TIMEOUT`` seconds.
* 2.8 200 (or 204) is success. Anything else (another status, a timeout, a refused connection)
  is retried after ``IDP_BACKCHANNEL_LOGOUT_RETRY_FIRST`` seconds, doubling up to
  ``IDP_BACKCHANNEL_LOGOUT_RETRY_MAX``, until ``IDP_BACKCHANNEL_LOGOUT_GIVE_UP`` seconds after
  the session ended. Delivered and given up are audited; no token reaches a log or the queue.
"""

from __future__ import annotations

import logging

import requests
from flask import current_app
from sqlalchemy import select

from idp import audit, random_tokens
from idp.clock import now
from idp.extensions import db
from idp.models import Client, logout_notice
from idp.models.logout_notice import Claim
from idp.oauth2 import signing

log = logging.getLogger(__name__)

#: The event a logout token carries (2.4).
EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: Explicit typing (2.4, RFC 8725 3.11): a logout token cannot be taken for another JWT.
TOKEN_TYPE = "logout+jwt"  # noqa: S105 (a JWT type, not a secret)
#: Seconds a logout token is valid: it is signed at each attempt, so this only bounds replay.
TOKEN_TTL = 120


def logout_token(*, client_id: str, sub: str, sid: str, at: int) -> str:
    """The signed logout token telling ``client_id`` that session ``sid`` of ``sub`` ended."""
    claims = {
        "iss": current_app.config["ISSUER"],
        "aud": client_id,
        "iat": at,
        "exp": at + TOKEN_TTL,
        "jti": random_tokens.token(16),
        "sub": sub,
        "sid": sid,
        "events": {EVENT: {}},
    }
    return signing.sign(claims, typ=TOKEN_TYPE)


def post(uri: str, token: str, timeout: float) -> str | None:
    """POST ``token`` to a client's logout URI; ``None`` on success, else a short reason that
    never quotes the token or the client's answer."""
    try:
        response = requests.post(
            uri,
            data={"logout_token": token},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        return "timed out"
    except requests.RequestException as exc:
        return f"unreachable ({type(exc).__name__})"
    if response.status_code in (200, 204):
        return None
    return f"answered HTTP {response.status_code}"


def retry_delay(attempt: int, first: int, longest: int) -> int:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): ``first``, then
    doubling, at most ``longest``."""
    return min(longest, first * 2 ** min(attempt - 1, 30))


def lease(timeout: float) -> int:
    """Seconds a claim lasts: longer than any attempt (connect and read each get ``timeout``),
    so only a sender that died leaves its notice to another process."""
    return int(2 * timeout) + 10


def claim_next() -> Claim | None:
    """Claim the oldest due notice for this process and commit the claim (its lease)."""
    at = now()
    taken = logout_notice.claim_next(
        at, at + lease(current_app.config["BACKCHANNEL_LOGOUT_TIMEOUT"])
    )
    db.session.commit()
    return taken


def deliver(taken: Claim) -> bool:
    """Run one claimed attempt: sign, POST, and record the outcome; True if delivered.

    No transaction is open during the POST (on SQLite one would hold the write lock).
    """
    cfg = current_app.config
    uri = db.session.execute(
        select(Client.backchannel_logout_uri).where(Client.client_id == taken.client_id)
    ).scalar()
    db.session.rollback()
    if uri is None:
        error = "the client is no longer registered for back-channel logout"
    else:
        token = logout_token(client_id=taken.client_id, sub=taken.sub, sid=taken.sid, at=now())
        error = post(uri, token, cfg["BACKCHANNEL_LOGOUT_TIMEOUT"])
    if error is None:
        _delivered(taken)
    else:
        _failed(taken, error, final=uri is None)
    db.session.commit()
    return error is None


def _delivered(taken: Claim) -> None:
    if logout_notice.delivered(taken, now()):
        audit.record(
            "backchannel_logout_delivered", actor="idp", subject=taken.sub,
            client_id=taken.client_id, sid=taken.sid, attempts=taken.attempt,
        )  # fmt: skip


def _failed(taken: Claim, error: str, *, final: bool) -> None:
    cfg, at = current_app.config, now()
    delay = retry_delay(
        taken.attempt, cfg["BACKCHANNEL_LOGOUT_RETRY_FIRST"], cfg["BACKCHANNEL_LOGOUT_RETRY_MAX"]
    )
    if final or at + delay > taken.created_at + cfg["BACKCHANNEL_LOGOUT_GIVE_UP"]:
        if logout_notice.give_up(taken, at, error):
            log.warning(
                "back-channel logout to client %s: gave up after %d attempt(s): %s",
                taken.client_id, taken.attempt, error,
            )  # fmt: skip
            audit.record(
                "backchannel_logout_gave_up", outcome="failure", actor="idp", subject=taken.sub,
                client_id=taken.client_id, sid=taken.sid, attempts=taken.attempt, error=error,
            )  # fmt: skip
        return
    if logout_notice.retry(taken, at + delay, error):
        log.warning(
            "back-channel logout to client %s failed (%s), attempt %d; next in %d s",
            taken.client_id, error, taken.attempt, delay,
        )  # fmt: skip
