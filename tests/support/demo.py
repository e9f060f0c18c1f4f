"""The demo relying app (``examples/demo_rp``) as a real process on a loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def demo_app(server, name: str, *, backchannel_logout: bool = False) -> Iterator[str]:
    """Register the demo as a first-party client of ``server`` (for back-channel logout too,
    if asked) and run it; yields its URL."""
    port = free_port()
    base = f"http://localhost:{port}"
    extra = ("--backchannel-logout-uri", f"{base}/backchannel-logout") if backchannel_logout else ()
    client = server.create_client(
        "--name", name, "--redirect-uri", f"{base}/callback",
        "--post-logout-redirect-uri", f"{base}/", "--first-party", *extra,
    )  # fmt: skip
    env = {
        **os.environ,
        "DEMO_ISSUER": server.url,
        "DEMO_CLIENT_ID": client["client_id"],
        "DEMO_CLIENT_SECRET": client["client_secret"],
        "DEMO_BASE_URL": base,
    }
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "examples.demo_rp.app", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(base)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")
