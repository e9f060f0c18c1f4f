"""Settings: read from ``IDP_*`` environment variables, validated once at start-up.

Every key has a documented default (README, "Configuration"). In development an insecure default
(secret key) is generated once into ``instance/`` with a warning; with ``IDP_ENV=production`` such
defaults are refused, so a misconfigured production deployment stops instead of running weakly.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from idp.policy import acr, rules

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"


#: A replay of a rotated refresh token goes undetected for this long at most: a lost response
#: is retried within seconds, and a longer interval only helps a thief.
MAX_REFRESH_REUSE_INTERVAL = 60


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable and what is wrong."""


@dataclass(frozen=True)
class Setting:
    """One ``IDP_*`` variable: its key in ``app.config``, default and parser."""

    name: str
    default: object
    parse: Callable[[Any], object] = str
    doc: str = ""


def _bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _origins(value: str | list) -> list[str]:
    """Comma-separated web origins (scheme://host[:port], no path)."""
    items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    for origin in items:
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path:
            raise ValueError(f"{origin!r} is not an origin like https://host[:port]")
    return list(items)


def _windows(value: str | dict) -> dict[str, int]:
    """``operation=seconds`` pairs, comma-separated, for the sensitive operations."""
    if isinstance(value, dict):
        return value
    windows = {}
    for item in filter(None, (v.strip() for v in value.split(","))):
        name, _, seconds = item.partition("=")
        if name.strip() not in rules.SENSITIVE_OPERATIONS:
            known = ", ".join(rules.SENSITIVE_OPERATIONS)
            raise ValueError(f"unknown operation {name.strip()!r}; known: {known}")
        if not seconds.strip().isdigit() or int(seconds) <= 0:
            raise ValueError(f"{item!r}: the window is a positive number of seconds")
        windows[name.strip()] = int(seconds)
    return windows


SETTINGS: tuple[Setting, ...] = (
    Setting("ENV", "development", str, "development | production"),
    Setting("ISSUER", "http://localhost:5000", str, "issuer URL, no trailing slash"),
    Setting("DATABASE_URL", "", str, "SQLAlchemy URL; default SQLite under instance/"),
    Setting("SECRET_KEY", "", str, "signs CSRF tokens and the remember-this-browser cookie"),
    Setting("INSTANCE_PATH", str(DEFAULT_INSTANCE), str, "folder for dev secrets, db, outbox"),
    Setting("KEYS_DIR", "", str, "folder of signing keys; default instance/keys"),
    Setting("SIGNING_ALG", "RS256", str, "RS256 | ES256 for new signing keys"),
    Setting("ACCESS_TOKEN_TTL", 600, int, "seconds"),
    Setting("ID_TOKEN_TTL", 600, int, "seconds"),
    Setting("AUTHORIZATION_CODE_TTL", 60, int, "seconds, at most 60"),
    Setting("REFRESH_TOKEN_TTL", 30 * 86400, int, "absolute lifetime of a refresh family, s"),
    Setting(
        "REFRESH_REUSE_INTERVAL",
        10,
        int,
        "seconds a just-rotated refresh token may be presented again by its client, 0 to 60",
    ),  # fmt: skip
    Setting("REFRESH_REUSE_PUBLIC", False, _bool, "public clients get the reuse interval too"),
    Setting("SESSION_TTL", 12 * 3600, int, "provider sign-in session lifetime, seconds"),
    Setting("PASSWORD_RESET_TTL", 900, int, "seconds a reset link stays valid"),
    Setting("EMAIL_CHANGE_TTL", 900, int, "seconds a link confirming a new email stays valid"),
    Setting("SELF_REGISTRATION", False, _bool, "allow sign-up from the sign-in page"),
    Setting("ARGON2_TIME_COST", 2, int, "argon2id iterations (OWASP: 2 with 19 MiB)"),
    Setting("ARGON2_MEMORY_COST", 19456, int, "argon2id memory in KiB"),
    Setting("ARGON2_PARALLELISM", 1, int, "argon2id lanes"),
    Setting("SMTP_HOST", "", str, "SMTP server; empty writes mail to instance/outbox"),
    Setting("SMTP_PORT", 25, int, "SMTP port"),
    Setting("SMTP_USERNAME", "", str, "SMTP login (optional)"),
    Setting("SMTP_PASSWORD", "", str, "SMTP password (optional)"),
    Setting("SMTP_STARTTLS", False, _bool, "use STARTTLS"),
    Setting("MAIL_FROM", "idp@localhost", str, "From address of mail"),
    Setting("ENCRYPTION_KEY", "", str, "kid:base64 AES-256 key(s) for factor secrets"),
    Setting(
        "AUDIT_CHECKPOINT_INTERVAL",
        3600,
        int,
        "seconds between signed checkpoints of the audit chain written by appends; 0: off",
    ),  # fmt: skip
    Setting(
        "AUDIT_STREAM",
        "",
        str,
        'each committed audit event also as a JSON line: "stdout", "stderr" or a file; "": off',
    ),  # fmt: skip
    Setting("CHALLENGE_TTL", 300, int, "seconds a second-factor challenge stays valid"),
    Setting("CHALLENGE_MAX_ATTEMPTS", 5, int, "wrong answers before a challenge fails"),
    Setting("STEPUP_WINDOW", 300, int, "seconds since a second factor for sensitive changes"),
    Setting(
        "STEPUP_WINDOWS",
        "add_factor=600",
        _windows,
        "per-operation windows, e.g. change_password=300,admin=120; others: STEPUP_WINDOW",
    ),  # fmt: skip
    Setting(
        "ELEVATION_LIFETIME",
        8 * 3600,
        int,
        "seconds a second factor keeps counting in an SSO session (acr/amr of later sign-ins)",
    ),  # fmt: skip
    Setting("ACR_LEVELS", "", str, "JSON: acr level -> amr sets, weakest first; default below"),
    Setting("ACR_ALIASES", "", str, 'JSON: alias -> level; default {"0": pwd, "1": mfa, "2": phr}'),
    Setting(
        "ADMIN_REQUIRE_PASSKEY",
        True,
        _bool,
        "the admin console needs a sign-in with a passkey; false: any second factor",
    ),  # fmt: skip
    Setting("ADMIN_PAGE_SIZE", 50, int, "rows per page of the console's user list and audit log"),
    Setting(
        "ADMIN_DASHBOARD_TTL",
        60,
        int,
        "seconds each process keeps the dashboard's counts and charts; 0: counted at every view",
    ),  # fmt: skip
    Setting(
        "RECOVERY_SINGLE_APPROVER",
        False,
        _bool,
        "one admin's approval recovers a user whose policy does not require MFA; else two",
    ),  # fmt: skip
    Setting("RECOVERY_LINK_TTL", 1800, int, "seconds an approved recovery's mailed link works"),
    Setting("RECOVERY_REQUEST_TTL", 7 * 86400, int, "seconds a recovery request waits for admins"),
    Setting("LOCKOUT_THRESHOLD", 100, int, "consecutive failures that lock a factor"),
    Setting(
        "PASSWORD_BACKOFF_AFTER",
        5,
        int,
        "consecutive wrong passwords for one account (any address) before its back-off starts",
    ),  # fmt: skip
    Setting("PASSWORD_BACKOFF_FIRST", 2, int, "first password back-off, seconds; then doubling"),
    Setting("PASSWORD_BACKOFF_MAX", 900, int, "longest password back-off, seconds"),
    Setting(
        "PASSWORD_LOCKOUT_THRESHOLD",
        100,
        int,
        "consecutive wrong passwords after which password sign-in needs a reset (at most 100)",
    ),  # fmt: skip
    Setting("PASSWORD_FAILURE_NOTICE", 10, int, "wrong passwords after which the user is mailed"),
    Setting(
        "PASSWORD_FAILURES_KEPT",
        7 * 86400,
        int,
        "seconds a quiet run of wrong passwords is remembered (a locked one: until a reset)",
    ),  # fmt: skip
    Setting("BACKOFF_AFTER", 5, int, "consecutive failures before back-off starts"),
    Setting("REMEMBER_DEVICE_DAYS", 30, int, "days a remembered device skips MFA; 0 = off"),
    Setting("RATE_LIMIT_PER_MINUTE", 30, int, "sign-in and code attempts per IP per minute"),
    Setting("WEBAUTHN_RP_ID", "", str, "passkey RP ID; default: the issuer's host"),
    Setting(
        "WEBAUTHN_ORIGINS", "", _origins, "comma-separated passkey origins; default: the issuer's"
    ),
    Setting(
        "DELIVERED_CODE_TTL", 600, int, "seconds an email or SMS code stays valid, at most 600"
    ),
    Setting("DELIVERED_CODE_RESEND_INTERVAL", 30, int, "seconds between two codes to one factor"),
    Setting("DELIVERED_CODE_MAX_SENDS", 5, int, "codes per factor per send window"),
    Setting("DELIVERED_CODE_SEND_WINDOW", 900, int, "seconds of the send window"),
    Setting("SMS_TEMPLATE", "Your idp code is {{code}}", str, "SMS text; must hold {{code}}"),
    Setting("SMS_WEBHOOK_URL", "", str, "HTTPS endpoint of the SMS provider; empty: outbox"),
    Setting("SMS_WEBHOOK_SECRET", "", str, "HMAC-SHA256 key signing webhook bodies"),
    Setting("SMS_WEBHOOK_TIMEOUT", 10, int, "seconds to wait for the SMS webhook"),
    Setting(
        "BACKCHANNEL_LOGOUT_TIMEOUT",
        5.0,
        float,
        "seconds to wait for a client's back-channel logout URI, at most 30",
    ),  # fmt: skip
    Setting(
        "BACKCHANNEL_LOGOUT_RETRY_FIRST",
        2,
        int,
        "seconds before retrying a failed back-channel logout; then doubling",
    ),  # fmt: skip
    Setting("BACKCHANNEL_LOGOUT_RETRY_MAX", 300, int, "longest wait between two retries, seconds"),
    Setting(
        "BACKCHANNEL_LOGOUT_GIVE_UP",
        3600,
        int,
        "seconds after the session ended that a back-channel logout is no longer retried",
    ),  # fmt: skip
)


def load(overrides: dict | None = None) -> dict:
    """Return validated settings from the environment, ``overrides`` winning."""
    overrides = overrides or {}
    values: dict = {}
    for s in SETTINGS:
        raw = overrides.get(s.name, os.environ.get(f"IDP_{s.name}", s.default))
        try:
            values[s.name] = s.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"IDP_{s.name}: {exc}") from exc
    extra = {k: v for k, v in overrides.items() if k not in values}
    values.update(extra)
    _validate(values)
    _fill_defaults(values)
    return values


def _validate(values: dict) -> None:
    if values["ENV"] not in {"development", "production"}:
        raise ConfigError("IDP_ENV: must be 'development' or 'production'")
    issuer = values["ISSUER"]
    parts = urlsplit(issuer)
    if parts.scheme not in {"http", "https"} or not parts.netloc or issuer.endswith("/"):
        raise ConfigError("IDP_ISSUER: must be an http(s) URL without a trailing slash")
    if values["SIGNING_ALG"] not in {"RS256", "ES256"}:
        raise ConfigError("IDP_SIGNING_ALG: must be RS256 or ES256")
    if not 1 <= values["AUTHORIZATION_CODE_TTL"] <= 60:
        raise ConfigError("IDP_AUTHORIZATION_CODE_TTL: must be between 1 and 60 seconds")
    if not 1 <= values["LOCKOUT_THRESHOLD"] <= 100:
        raise ConfigError("IDP_LOCKOUT_THRESHOLD: between 1 and 100 (NIST SP 800-63B)")
    if not 1 <= values["ADMIN_PAGE_SIZE"] <= 500:
        raise ConfigError("IDP_ADMIN_PAGE_SIZE: between 1 and 500")
    if not 0 <= values["ADMIN_DASHBOARD_TTL"] <= 3600:
        raise ConfigError("IDP_ADMIN_DASHBOARD_TTL: between 0 and 3600 seconds")
    _validate_password_backoff(values)
    if not 0 <= values["REFRESH_REUSE_INTERVAL"] <= MAX_REFRESH_REUSE_INTERVAL:
        raise ConfigError(
            f"IDP_REFRESH_REUSE_INTERVAL: between 0 (off) and {MAX_REFRESH_REUSE_INTERVAL} seconds"
        )
    for key in (
        "ACCESS_TOKEN_TTL", "ID_TOKEN_TTL", "REFRESH_TOKEN_TTL", "SESSION_TTL", "EMAIL_CHANGE_TTL",
        "CHALLENGE_TTL", "CHALLENGE_MAX_ATTEMPTS", "STEPUP_WINDOW",
        "ELEVATION_LIFETIME", "RECOVERY_LINK_TTL", "RECOVERY_REQUEST_TTL",
    ):  # fmt: skip
        if values[key] <= 0:
            raise ConfigError(f"IDP_{key}: must be a positive number of seconds")
    _validate_webauthn(values, parts)
    _parse_acr_levels(values)
    _validate_delivered_codes(values)
    _validate_backchannel_logout(values)
    stream = values["AUDIT_STREAM"]
    if stream not in ("", "stdout", "stderr") and not Path(stream).parent.is_dir():
        raise ConfigError('IDP_AUDIT_STREAM: "stdout", "stderr", or a file in a folder that exists')
    if values["ENV"] == "production":
        _refuse_insecure(values, parts.scheme)


def _validate_password_backoff(values: dict) -> None:
    after, limit = values["PASSWORD_BACKOFF_AFTER"], values["PASSWORD_LOCKOUT_THRESHOLD"]
    if not 1 <= after < limit <= 100:
        raise ConfigError(
            "IDP_PASSWORD_BACKOFF_AFTER, IDP_PASSWORD_LOCKOUT_THRESHOLD: 1 <= after < threshold "
            "<= 100 (NIST SP 800-63B 5.2.2)"
        )
    for key in (
        "PASSWORD_BACKOFF_FIRST", "PASSWORD_BACKOFF_MAX", "PASSWORD_FAILURE_NOTICE",
        "PASSWORD_FAILURES_KEPT",
    ):  # fmt: skip
        if values[key] <= 0:
            raise ConfigError(f"IDP_{key}: must be a positive number")


def _parse_acr_levels(values: dict) -> None:
    if isinstance(values["ACR_LEVELS"], acr.Levels):
        return
    try:
        values["ACR_LEVELS"] = acr.parse_levels(values["ACR_LEVELS"], values["ACR_ALIASES"])
    except ValueError as exc:
        raise ConfigError(f"IDP_ACR_LEVELS / IDP_ACR_ALIASES: {exc}") from exc


def _validate_webauthn(values: dict, issuer) -> None:
    """Default the passkey RP ID and origins to the issuer's; every origin's host must be the
    RP ID or a subdomain of it (WebAuthn L3 5.1.3), or no browser would run the ceremony."""
    rp_id = values["WEBAUTHN_RP_ID"] = values["WEBAUTHN_RP_ID"] or issuer.hostname
    origins = values["WEBAUTHN_ORIGINS"] or [f"{issuer.scheme}://{issuer.netloc}"]
    values["WEBAUTHN_ORIGINS"] = origins
    for host in (urlsplit(origin).hostname or "" for origin in origins):
        if host != rp_id and not host.endswith("." + rp_id):
            raise ConfigError(f"IDP_WEBAUTHN_RP_ID: {rp_id!r} does not cover origin host {host!r}")


def _validate_delivered_codes(values: dict) -> None:
    """Email and SMS codes: at most 10 minutes (issue 3), a template that shows the code, and
    a signed webhook that is HTTPS in production (the body carries the code)."""
    if not 1 <= values["DELIVERED_CODE_TTL"] <= 600:
        raise ConfigError("IDP_DELIVERED_CODE_TTL: must be between 1 and 600 seconds")
    for key in ("DELIVERED_CODE_MAX_SENDS", "DELIVERED_CODE_SEND_WINDOW", "SMS_WEBHOOK_TIMEOUT"):
        if values[key] <= 0:
            raise ConfigError(f"IDP_{key}: must be a positive number")
    if values["DELIVERED_CODE_RESEND_INTERVAL"] < 0:
        raise ConfigError("IDP_DELIVERED_CODE_RESEND_INTERVAL: must be 0 or more seconds")
    if "{{code}}" not in values["SMS_TEMPLATE"]:
        raise ConfigError("IDP_SMS_TEMPLATE: must contain the {{code}} placeholder")
    url = values["SMS_WEBHOOK_URL"]
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError("IDP_SMS_WEBHOOK_URL: must be an https URL")
    if parts.scheme != "https" and values["ENV"] == "production":
        raise ConfigError("IDP_SMS_WEBHOOK_URL: production needs an https URL")
    if len(values["SMS_WEBHOOK_SECRET"]) < 32:
        raise ConfigError("IDP_SMS_WEBHOOK_SECRET: needs 32+ characters with a webhook URL")


def _validate_backchannel_logout(values: dict) -> None:
    """A slow client must never hold a sender long (OIDC BCL 2.8 leaves the timeout to us)."""
    if not 0 < values["BACKCHANNEL_LOGOUT_TIMEOUT"] <= 30:
        raise ConfigError("IDP_BACKCHANNEL_LOGOUT_TIMEOUT: more than 0 and at most 30 seconds")
    first, longest = (
        values["BACKCHANNEL_LOGOUT_RETRY_FIRST"],
        values["BACKCHANNEL_LOGOUT_RETRY_MAX"],
    )
    if not 1 <= first <= longest:
        raise ConfigError(
            "IDP_BACKCHANNEL_LOGOUT_RETRY_FIRST, IDP_BACKCHANNEL_LOGOUT_RETRY_MAX: "
            "1 <= first <= longest seconds"
        )
    if values["BACKCHANNEL_LOGOUT_GIVE_UP"] <= 0:
        raise ConfigError("IDP_BACKCHANNEL_LOGOUT_GIVE_UP: must be a positive number of seconds")


def _refuse_insecure(values: dict, scheme: str) -> None:
    if not values["SECRET_KEY"] or len(values["SECRET_KEY"]) < 32:
        raise ConfigError("IDP_SECRET_KEY: production needs a random key of 32+ characters")
    if scheme != "https":
        raise ConfigError("IDP_ISSUER: production needs an https issuer")
    if not values["DATABASE_URL"]:
        raise ConfigError("IDP_DATABASE_URL: production needs an explicit database URL")
    if not values["ENCRYPTION_KEY"]:
        raise ConfigError("IDP_ENCRYPTION_KEY: production needs an explicit encryption key")
    plain = [o for o in values["WEBAUTHN_ORIGINS"] if urlsplit(o).scheme != "https"]
    if plain:
        raise ConfigError(f"IDP_WEBAUTHN_ORIGINS: production needs https origins, not {plain[0]}")


def _fill_defaults(values: dict) -> None:
    instance = Path(values["INSTANCE_PATH"])
    values["KEYS_DIR"] = values["KEYS_DIR"] or str(instance / "keys")
    if not values["DATABASE_URL"]:
        values["DATABASE_URL"] = f"sqlite:///{instance / 'idp.sqlite3'}"
    if not values["SECRET_KEY"]:
        values["SECRET_KEY"] = _development_secret(instance)


def _development_secret(instance: Path) -> str:
    """Generate the session key once into instance/ so restarts keep sessions valid."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
        log.warning("IDP_SECRET_KEY unset: generated a development key in %s", path)
    return path.read_text().strip()
