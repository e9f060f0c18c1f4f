"""Outgoing mail: SMTP when ``IDP_SMTP_HOST`` is set, else a file per mail in instance/outbox.

The outbox is the development default: each message is written as an ``.eml`` file and its path
logged (never its content, which may hold a reset link).
"""

from __future__ import annotations

import logging
import smtplib
import time
from email.message import EmailMessage
from pathlib import Path

from flask import current_app

from idp import random_tokens

log = logging.getLogger(__name__)


def send(to: str, subject: str, body: str) -> None:
    cfg = current_app.config
    message = EmailMessage()
    message["From"] = cfg["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if cfg["SMTP_HOST"]:
        _send_smtp(message, cfg)
    else:
        _write_outbox(message, Path(cfg["INSTANCE_PATH"]) / "outbox")


def _send_smtp(message: EmailMessage, cfg) -> None:
    with smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=10) as smtp:
        if cfg["SMTP_STARTTLS"]:
            smtp.starttls()
        if cfg["SMTP_USERNAME"]:
            smtp.login(cfg["SMTP_USERNAME"], cfg["SMTP_PASSWORD"])
        smtp.send_message(message)


def _write_outbox(message: EmailMessage, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.time_ns()}-{random_tokens.token(4)}.eml"
    path.write_bytes(bytes(message))
    log.warning("mail to the outbox (IDP_SMTP_HOST unset): %s", path)
