"""The floor for ``token_endpoint.py``: the least a client-credentials token endpoint must do.

A bare Flask app that checks a client secret (HTTP Basic, SHA-256 digest compared with
``hmac.compare_digest``, as the provider stores secrets) and signs an RS256 JWT access token with
claims like the provider's (RFC 9068 ``typ: at+jwt``, ``kid``), answering a token-response JSON.
No database, no framework for OAuth. Whatever the provider spends above this is overhead.

Configured by environment variables set by the benchmark: ``FLOOR_KEY_PEM`` (path to a PKCS#8
private key; a 2048-bit RSA key is generated if unset), ``FLOOR_CLIENT_ID``,
``FLOOR_SECRET_DIGEST`` (hex SHA-256 of the secret) and ``FLOOR_ISSUER``.
Run: ``gunicorn --workers 2 --worker-class sync bench.floor_app:app``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, request

ACCESS_TOKEN_TTL = 600


def _load_key():
    path = os.environ.get("FLOOR_KEY_PEM")
    if path:
        return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY = _load_key()
KID = "floor-key"
CLIENT_ID = os.environ.get("FLOOR_CLIENT_ID", "floor-client")
SECRET_DIGEST = os.environ.get("FLOOR_SECRET_DIGEST", hashlib.sha256(b"floor-secret").hexdigest())
ISSUER = os.environ.get("FLOOR_ISSUER", "http://localhost")

app = Flask(__name__)


def _error(status: int, error: str):
    response = jsonify(error=error)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@app.post("/token")
def token():
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or not auth.password:
        return _error(401, "invalid_client")
    presented = hashlib.sha256(auth.password.encode()).hexdigest()
    same_secret = hmac.compare_digest(presented, SECRET_DIGEST)
    if not (hmac.compare_digest(auth.username, CLIENT_ID) and same_secret):
        return _error(401, "invalid_client")
    if request.form.get("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type")
    scope = request.form.get("scope", "")
    issued = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": CLIENT_ID,
        "aud": CLIENT_ID,
        "client_id": CLIENT_ID,
        "iat": issued,
        "exp": issued + ACCESS_TOKEN_TTL,
        "jti": secrets.token_urlsafe(16),
        "scope": scope,
    }
    access_token = jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": KID, "typ": "at+jwt"})
    response = jsonify(
        token_type="Bearer", access_token=access_token, expires_in=ACCESS_TOKEN_TTL, scope=scope
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
