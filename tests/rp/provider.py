"""A tiny stand-in provider on loopback: discovery, a JWKS and introspection, over real HTTP,
counting requests.

Tests sign their own tokens with keys they hold, publish the public halves here, and watch how
often the relying-party code comes back for the JWKS. ``jwks_delay`` makes the key endpoint
slow; ``/introspect`` (RFC 7662) answers for the resource server ``rs`` / ``rs-secret`` and
calls a token inactive once its ``jti`` is in ``revoked``.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


@dataclass
class Key:
    kid: str
    alg: str
    private: Any

    def public_jwk(self) -> dict:
        jwk = json.loads(jwt.get_algorithm_by_name(self.alg).to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


def new_key(alg: str = "RS256", kid: str | None = None) -> Key:
    private = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    return Key(kid or uuid.uuid4().hex[:12], alg, private)


@dataclass
class StubProvider:
    """Serves ``/.well-known/openid-configuration`` and ``/jwks.json`` for ``keys``."""

    keys: list[Key] = field(default_factory=list)
    hits: dict[str, int] = field(
        default_factory=lambda: {"discovery": 0, "jwks": 0, "introspect": 0}
    )
    issuer: str = ""
    extra_jwks: list[dict] = field(default_factory=list)
    jwks_delay: float = 0.0
    jwks_started: threading.Event = field(default_factory=threading.Event)
    revoked: set[str] = field(default_factory=set)
    introspection_client: tuple[str, str] = ("rs", "rs-secret")
    introspect_status: int = 200

    def start(self) -> StubProvider:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server hook's name)
                if self.path == "/.well-known/openid-configuration":
                    stub.hits["discovery"] += 1
                    body = {"issuer": stub.issuer, "jwks_uri": stub.issuer + "/jwks.json",
                            "introspection_endpoint": stub.issuer + "/introspect"}  # fmt: skip
                elif self.path == "/jwks.json":
                    stub.hits["jwks"] += 1
                    stub.jwks_started.set()
                    time.sleep(stub.jwks_delay)
                    body = {"keys": [k.public_jwk() for k in stub.keys] + stub.extra_jwks}
                else:
                    self.send_error(404)
                    return
                self.reply(200, body)

            def do_POST(self) -> None:  # noqa: N802
                if self.path != "/introspect":
                    self.send_error(404)
                    return
                stub.hits["introspect"] += 1
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                if stub.introspect_status != 200:
                    self.reply(stub.introspect_status, {"error": "server_error"})
                elif _basic(self.headers.get("Authorization")) != stub.introspection_client:
                    self.reply(401, {"error": "invalid_client"})
                else:
                    self.reply(200, stub.introspect(form["token"][0]))

            def reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def introspect(self, token: str) -> dict:
        """RFC 7662 2.2: active unless revoked or expired (read, not verified: the stub's own)."""
        claims = jwt.decode(token, options={"verify_signature": False})
        if claims.get("jti") in self.revoked or claims["exp"] <= time.time():
            return {"active": False}
        return {"active": True, **claims}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def sign(
        self,
        key: Key,
        *,
        typ: str = "JWT",
        alg: str | None = None,
        headers: dict | None = None,
        **claims: Any,
    ) -> str:
        """A token signed by ``key`` with sensible claims from this issuer; override any."""
        now = int(time.time())
        body = {"iss": self.issuer, "sub": "user-1", "aud": "client-1", "iat": now,
                "exp": now + 300, "auth_time": now, **claims}  # fmt: skip
        body = {k: v for k, v in body.items() if v is not None}
        header = {"kid": key.kid, "typ": typ, **(headers or {})}
        return jwt.encode(body, key.private, algorithm=alg or key.alg, headers=header)

    def access_token(self, key: Key, **claims: Any) -> str:
        defaults = {"client_id": "client-1", "jti": uuid.uuid4().hex, "scope": "openid"}
        return self.sign(key, typ="at+jwt", **{**defaults, **claims})


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet about clients that hung up (a verifier whose timeout passed)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _basic(header: str | None) -> tuple[str, str] | None:
    """RFC 6749 2.3.1: client_secret_basic, each part form-encoded before base64."""
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return unquote(user), unquote(password)


class FakeClock:
    """A monotonic clock the test moves by hand (only the refresh interval uses it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
