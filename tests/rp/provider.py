"""A tiny stand-in provider on loopback: discovery and a JWKS, over real HTTP, counting requests.

Tests sign their own tokens with keys they hold, publish the public halves here, and watch how
often the relying-party code comes back for the JWKS.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
    hits: dict[str, int] = field(default_factory=lambda: {"discovery": 0, "jwks": 0})
    issuer: str = ""
    extra_jwks: list[dict] = field(default_factory=list)

    def start(self) -> StubProvider:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server hook's name)
                if self.path == "/.well-known/openid-configuration":
                    stub.hits["discovery"] += 1
                    body = {"issuer": stub.issuer, "jwks_uri": stub.issuer + "/jwks.json"}
                elif self.path == "/jwks.json":
                    stub.hits["jwks"] += 1
                    body = {"keys": [k.public_jwk() for k in stub.keys] + stub.extra_jwks}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

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


class FakeClock:
    """A monotonic clock the test moves by hand (only the refresh interval uses it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
