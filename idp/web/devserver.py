"""The development server's request log, with secrets in URLs redacted.

A password-reset or email-change link carries its secret in the path and an RP-initiated logout
may carry an ID token in the query: neither may reach a log (ARCHITECTURE.md, style rule 5).
"""

from __future__ import annotations

import re

from werkzeug.serving import WSGIRequestHandler

_SECRETS = (
    (re.compile(r"(/password/reset/|/account/email/confirm/)[^/?\s]+"), r"\1[redacted]"),
    (re.compile(r"((?:id_token_hint|code|access_token|refresh_token)=)[^&\s]+"), r"\1[redacted]"),
)


def redact(line: str) -> str:
    for pattern, replacement in _SECRETS:
        line = pattern.sub(replacement, line)
    return line


class RedactingRequestHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args) -> None:  # noqa: A002 (werkzeug's name)
        super().log(type, "%s", redact(message % args if args else message))
