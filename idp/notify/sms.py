"""Sending text messages: one small interface, an outbox for development, a webhook for real.

``OutboxSmsSender`` (the default while ``IDP_SMS_WEBHOOK_URL`` is empty) writes each message as
JSON ``{"to", "body"}`` to ``instance/sms_outbox/<time>.txt`` and logs only the file's path,
never the message (it holds a code). ``WebhookSmsSender`` POSTs the same JSON over HTTPS to an
SMS provider's gateway (or an adapter in front of one), signed with HMAC-SHA256 over the exact
body bytes in ``X-Idp-Signature: sha256=<hex>`` so the receiver can tell the request is ours.

SMS is the weaker second factor (NIST SP 800-63B 5.1.3.3 calls the public telephone network
"restricted"): numbers can be ported or SIM-swapped and messages intercepted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import requests
from flask import current_app

from idp import random_tokens

log = logging.getLogger(__name__)

PLACEHOLDER = "{{code}}"
SIGNATURE_HEADER = "X-Idp-Signature"


class SmsDeliveryError(Exception):
    """The message could not be handed over; the text never includes the message body."""


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> None:
        """Hand one message to ``to`` (E.164) over, or raise ``SmsDeliveryError``."""


def render(template: str, code: str) -> str:
    """The configured template with its ``{{code}}`` placeholder filled in (no Jinja)."""
    return template.replace(PLACEHOLDER, code)


def payload(to: str, body: str) -> bytes:
    return json.dumps({"to": to, "body": body}, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """The ``X-Idp-Signature`` value for ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class OutboxSmsSender:
    """Development sender: one JSON file per message; the log gets the path only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, to: str, body: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{time.time_ns()}-{random_tokens.token(4)}.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload(to, body))
        log.warning("SMS to the outbox (IDP_SMS_WEBHOOK_URL unset): %s", path)


class WebhookSmsSender:
    """HTTPS POST of ``{"to", "body"}`` with an HMAC-SHA256 signature header and a timeout."""

    def __init__(self, url: str, secret: str, timeout: float, *, production: bool) -> None:
        if urlsplit(url).scheme != "https" and production:
            raise SmsDeliveryError("the SMS webhook must use https in production")
        if not secret:
            raise SmsDeliveryError("the SMS webhook needs IDP_SMS_WEBHOOK_SECRET")
        self.url, self.secret, self.timeout = url, secret, timeout

    def send(self, to: str, body: str) -> None:
        data = payload(to, body)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self.secret, data),
        }
        try:
            response = requests.post(
                self.url, data=data, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise SmsDeliveryError(f"SMS webhook unreachable ({type(exc).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise SmsDeliveryError(f"SMS webhook answered {response.status_code}")


def sender() -> SmsSender:
    """The configured sender: the webhook when ``IDP_SMS_WEBHOOK_URL`` is set, else the outbox.

    ``app.extensions["idp.sms_sender"]`` overrides both (for an in-process provider SDK).
    """
    override = current_app.extensions.get("idp.sms_sender")
    if override is not None:
        return override
    cfg = current_app.config
    if cfg["SMS_WEBHOOK_URL"]:
        return WebhookSmsSender(
            cfg["SMS_WEBHOOK_URL"],
            cfg["SMS_WEBHOOK_SECRET"],
            cfg["SMS_WEBHOOK_TIMEOUT"],
            production=cfg["ENV"] == "production",
        )
    return OutboxSmsSender(Path(cfg["INSTANCE_PATH"]) / "sms_outbox")
