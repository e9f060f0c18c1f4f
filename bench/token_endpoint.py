"""Token endpoint benchmark: requests per second and server CPU per request, against a floor.

Not a test: it prints figures. It sets up a throwaway provider (temporary instance folder, SQLite
by default or ``--database-url``), migrates it and creates a user and a confidential first-party
client through the ``idp`` CLI, then runs the provider under gunicorn exactly as in production.
In the same run it starts ``bench/floor_app.py`` (client secret check + RS256 signature, nothing
else) under the same gunicorn settings, and reports every scenario as a ratio to that floor.

Server CPU is the utime+stime of the gunicorn master and all its workers, read from /proc before
and after each timed phase, divided by the number of requests. With ``--database-url`` pointing
at PostgreSQL the database server's own CPU is *not* included; ``--db-pid`` reports it apart.

    .venv/bin/python bench/token_endpoint.py [--requests N] [--threads T] [--database-url URL]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import itertools
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

BENCH_DIR = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
IDP = BIN / "idp"
GUNICORN = BIN / "gunicorn"
CLK_TCK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"
REDIRECT_URI = "http://127.0.0.1:9/bench/callback"  # never fetched: the code is read from Location
PASSWORD = "bench-password-" + secrets.token_hex(8)
TARGET_RATIO = 1.5  # the issue: client_credentials and refresh at most 1.5x the floor's CPU
SCENARIO_TIME_LIMIT = 25.0  # seconds, per timed phase
CODE_BATCH_TIME_LIMIT = 20.0  # seconds spent generating one batch of codes (they live 60 s)
CODE_SCENARIO_TIME_LIMIT = 60.0  # seconds for all batches of the code scenario together
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
NEXT = re.compile(r'name="next"[^>]*value="([^"]*)"')


# --------------------------------------------------------------------------------------------
# Server CPU from /proc


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as fh:
        data = fh.read()
    return data[data.rindex(")") + 2 :].split()  # fields from 3 (state) on


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids += [int(p) for p in fh.read().split()]
        return kids
    except FileNotFoundError:  # kernel without CONFIG_PROC_CHILDREN: scan for the parent pid
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if int(_stat_fields(int(entry))[1]) == pid:
                        kids.append(int(entry))
                except (FileNotFoundError, ProcessLookupError, IndexError):
                    pass
        return kids


def tree_cpu_seconds(master: int) -> float:
    """utime+stime of the master, of its live workers, and of workers it has reaped."""
    fields = _stat_fields(master)
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    for pid in _children(master):
        # A worker that exits in between is counted, once reaped, in the master's cutime/cstime.
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            ticks += sum(int(f) for f in _stat_fields(pid)[11:13])
    return ticks / CLK_TCK


# --------------------------------------------------------------------------------------------
# Processes and clean-up


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Gunicorn:
    """One gunicorn master started by this benchmark (in its own process group)."""

    name: str
    app: str
    port: int
    env: dict
    cwd: Path
    settings: list[str]
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.cwd / f"{self.name}-gunicorn.log"

    def start(self, ready_path: str, extra: list[str] = ()) -> None:
        argv = [str(GUNICORN), *self.settings, "--bind", f"{HOST}:{self.port}", *extra, self.app]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(  # noqa: S603
                argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(self.base + ready_path, timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def cpu(self) -> float:
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # gunicorn: graceful shutdown of the workers
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own process group, started above
            proc.wait(timeout=5)


def _raise_on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


# --------------------------------------------------------------------------------------------
# Load generation: a few threads, each with its own keep-alive connection, bounded by count and
# time. http.client instead of requests for the timed loops: on a 2-core machine the load
# generator shares the CPU with the server, and requests costs several times more per call.


@dataclass
class Result:
    name: str
    requests: int = 0
    errors: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    db_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""
    note: str = ""
    parts: list[float] = field(default_factory=list)  # CPU ms/req of each part added (rounds)

    @property
    def rps(self) -> float:
        return self.requests / self.wall if self.wall else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.requests if self.requests else float("nan")

    @property
    def db_cpu_ms(self) -> float:
        return 1000 * self.db_cpu / self.requests if self.requests else float("nan")

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    def add(self, other: Result) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.wall += other.wall
        self.cpu += other.cpu
        self.db_cpu += other.db_cpu
        self.latencies += other.latencies
        self.first_error = self.first_error or other.first_error
        self.parts.append(other.cpu_ms)


# call(conn, index, thread_state) -> (ok, error detail): sends one request, checks its response.
Call = Callable[[http.client.HTTPConnection, int, object], tuple[bool, str]]


def run_load(
    server: Gunicorn,
    name: str,
    call: Call,
    count: int,
    threads: int,
    thread_state: Callable[[int], object] = lambda i: None,
    time_limit: float = SCENARIO_TIME_LIMIT,
    db_pid: int | None = None,
) -> Result:
    """Send ``count`` requests from ``threads`` threads; measure wall time and server CPU."""
    result = Result(name)
    counter = itertools.count()
    lock = threading.Lock()
    start_barrier = threading.Barrier(threads + 1)
    deadline = [0.0]

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
        state = thread_state(index)
        latencies, errors, first_error = [], 0, ""
        start_barrier.wait()
        while True:
            i = next(counter)
            if i >= count or time.monotonic() > deadline[0]:
                break
            t0 = time.perf_counter()
            try:
                ok, detail = call(conn, i, state)
            except (OSError, http.client.HTTPException, ValueError, LookupError) as exc:
                conn.close()
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            latencies.append(time.perf_counter() - t0)
            if not ok:
                errors += 1
                first_error = first_error or detail
        conn.close()
        with lock:
            result.latencies += latencies
            result.errors += errors
            result.first_error = result.first_error or first_error

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    db0 = tree_cpu_seconds(db_pid) if db_pid else 0.0
    cpu0, t0 = server.cpu(), time.perf_counter()
    deadline[0] = time.monotonic() + time_limit
    start_barrier.wait()
    for t in pool:
        t.join()
    result.wall = time.perf_counter() - t0
    result.cpu = server.cpu() - cpu0
    result.db_cpu = tree_cpu_seconds(db_pid) - db0 if db_pid else 0.0
    result.requests = len(result.latencies)
    return result


def _exchange(conn, method: str, path: str, body: str | None = None, auth: str | None = None):
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if auth:
        headers["Authorization"] = auth
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def get_call(path: str) -> Call:
    def call(conn, i, state):
        status, body = _exchange(conn, "GET", path)
        return status == 200, f"GET {path}: {status} {body[:200]!r}"

    return call


def client_credentials_call(auth: str) -> Call:
    body = urlencode({"grant_type": "client_credentials"})

    def call(conn, i, state):
        status, data = _exchange(conn, "POST", "/token", body, auth)
        ok = status == 200 and b'"access_token"' in data
        return ok, f"client_credentials: {status} {data[:200]!r}"

    return call


def code_exchange_call(auth: str, codes: list[tuple[str, str]], refresh_out: list[str]) -> Call:
    def call(conn, i, state):
        code, verifier = codes[i]
        body = urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            }
        )
        status, data = _exchange(conn, "POST", "/token", body, auth)
        if status != 200:
            return False, f"authorization_code: {status} {data[:200]!r}"
        token = json.loads(data)
        refresh_out.append(token["refresh_token"])  # list.append is atomic
        return "id_token" in token, "authorization_code: no id_token"

    return call


def refresh_call(auth: str) -> Call:
    """Each thread owns a few refresh-token chains: use one, keep its successor."""

    def call(conn, i, chains: deque):
        value = chains.popleft()
        body = urlencode({"grant_type": "refresh_token", "refresh_token": value})
        status, data = _exchange(conn, "POST", "/token", body, auth)
        if status != 200:  # the chain ends here (a retry could look like a replay)
            return False, f"refresh_token: {status} {data[:200]!r}"
        chains.append(json.loads(data)["refresh_token"])
        return True, ""

    return call


# --------------------------------------------------------------------------------------------
# The real sign-in, to obtain authorization codes


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Browser:
    """A signed-in user agent (one ``requests.Session``) that collects authorization codes."""

    def __init__(self, base: str, client_id: str, email: str, password: str) -> None:
        self.base, self.client_id = base, client_id
        self.email, self.password = email, password
        self.session = requests.Session()

    def authorization_url(self) -> tuple[str, str]:
        verifier, challenge = pkce_pair()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid email profile offline_access",  # a refresh token (OIDC Core 11)
                "state": secrets.token_urlsafe(12),
                "nonce": secrets.token_urlsafe(12),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{self.base}/authorize?{query}", verifier

    def code(self) -> tuple[str, str]:
        """GET /authorize, signing in on the way if needed, until the redirect carries a code."""
        url, verifier = self.authorization_url()
        response = self.session.get(url, allow_redirects=False, timeout=30)
        for _ in range(8):
            location = response.headers.get("Location", "")
            if location.startswith(REDIRECT_URI):
                params = parse_qs(urlsplit(location).query)
                if "code" not in params:
                    raise RuntimeError(f"authorization failed: {location}")
                return params["code"][0], verifier
            if response.status_code == 200 and 'name="password"' in response.text:
                response = self._submit_login(response)
            elif location:
                next_url = urljoin(response.url, location)
                response = self.session.get(next_url, allow_redirects=False, timeout=30)
            else:
                break
        raise RuntimeError(f"no code: {response.status_code} {response.text[:300]}")

    def _submit_login(self, page: requests.Response) -> requests.Response:
        csrf, nxt = CSRF.search(page.text), NEXT.search(page.text)
        if csrf is None:
            raise RuntimeError("sign-in page has no csrf_token")
        data = {
            "csrf_token": unescape(csrf.group(1)),
            "email": self.email,
            "password": self.password,
            "next": unescape(nxt.group(1)) if nxt else "",
        }
        response = self.session.post(
            self.base + "/login", data=data, allow_redirects=False, timeout=30
        )
        if response.status_code != 303:
            raise RuntimeError(f"sign-in failed: {response.status_code} {response.text[:300]}")
        return response


def collect_codes(browsers: list[Browser], count: int) -> list[tuple[str, str]]:
    """Up to ``count`` fresh codes, one signed-in browser per thread, bounded in time."""
    codes: list[tuple[str, str]] = []
    deadline = time.monotonic() + CODE_BATCH_TIME_LIMIT
    counter = itertools.count()
    failures: list[BaseException] = []

    def work(browser: Browser) -> None:
        while next(counter) < count and time.monotonic() < deadline and not failures:
            try:
                codes.append(browser.code())
            except (RuntimeError, requests.RequestException) as exc:
                failures.append(exc)

    pool = [threading.Thread(target=work, args=(b,), daemon=True) for b in browsers]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if failures:
        raise RuntimeError(f"could not obtain authorization codes: {failures[0]}")
    return codes


# --------------------------------------------------------------------------------------------
# Set-up


@dataclass
class Setup:
    provider: Gunicorn
    floor: Gunicorn
    client_id: str
    client_secret: str
    email: str


def idp_cli(env: dict, cwd: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(  # noqa: S603
        [str(IDP), *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["(no output)"]
        errors = [line for line in lines if "Error:" in line or line.startswith("Error")]
        raise RuntimeError(f"idp {' '.join(args)} failed: {(errors or lines)[-1]}")
    return result.stdout


def prepare(workdir: Path, database_url: str | None, settings: list[str]) -> Setup:
    instance = workdir / "instance"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
        "IDP_ENV": "development",
        "IDP_ISSUER": f"http://localhost:{port}",
        "IDP_INSTANCE_PATH": str(instance),
    }
    if database_url:
        env["IDP_DATABASE_URL"] = database_url
    idp_cli(env, workdir, "db", "upgrade")
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    idp_cli(env, workdir, "users", "create", email, "--password-stdin", stdin=PASSWORD + "\n")
    out = idp_cli(
        env,
        workdir,
        "clients",
        "create",
        "--name",
        f"bench {uuid.uuid4().hex[:8]}",
        "--redirect-uri",
        REDIRECT_URI,
        "--first-party",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--grant-type",
        "client_credentials",
    )
    client = json.loads(out)
    provider = Gunicorn("idp", "idp.wsgi:app", port, env, workdir, settings)

    floor_key = workdir / "floor-key.pem"
    floor_key.write_bytes(_rsa_pem())
    floor_port = free_port()
    floor_env = {
        **os.environ,
        "FLOOR_KEY_PEM": str(floor_key),
        "FLOOR_CLIENT_ID": client["client_id"],
        "FLOOR_SECRET_DIGEST": hashlib.sha256(client["client_secret"].encode()).hexdigest(),
        "FLOOR_ISSUER": f"http://localhost:{floor_port}",
    }
    floor = Gunicorn("floor", "floor_app:app", floor_port, floor_env, workdir, settings)
    return Setup(provider, floor, client["client_id"], client["client_secret"], email)


def _rsa_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# --------------------------------------------------------------------------------------------
# The run


def measure(
    setup: Setup, n: int, threads: int, rounds: int, db_pid: int | None, log
) -> list[Result]:
    provider, floor = setup.provider, setup.floor
    auth = basic_auth(setup.client_id, setup.client_secret)
    cc = client_credentials_call(auth)
    warm = max(20, 10 * threads)
    results: list[Result] = []

    def load(server, name, call, count, **kw) -> Result:
        return run_load(server, name, call, count, threads, db_pid=db_pid, **kw)

    def scenario(server, name, call, **kw) -> Result:
        result = load(server, name, call, n, **kw)
        log(f"  {name}: {result.requests} requests in {result.wall:.1f} s, {result.errors} errors")
        results.append(result)
        return result

    log("warming up (not measured)")
    discovery, jwks = get_call("/.well-known/openid-configuration"), get_call("/jwks.json")
    for server, calls in ((floor, [cc]), (provider, [cc, discovery, jwks])):
        for call in calls:
            warmup = load(server, "warm-up", call, warm)
            if warmup.errors:
                raise RuntimeError(f"warm-up failed on {server.name}: {warmup.first_error}")

    log("measuring")
    refresh_pool: list[str] = []
    results.append(measure_code_exchange(setup, auth, n, threads, warm, load, refresh_pool, log))
    if len(refresh_pool) < threads:
        raise RuntimeError("too few refresh tokens from the code exchanges")
    chains = [deque(refresh_pool[i::threads]) for i in range(threads)]
    refresh = refresh_call(auth)
    load(provider, "warm-up", refresh, warm, thread_state=lambda i: chains[i])

    # The target scenarios take turns with the floor, a slice of the requests each per round,
    # so that a change in the machine's speed during the run (other tenants, frequency) weighs
    # on both sides of the ratio alike.
    floor_result = Result("floor: client_credentials")
    cc_result = Result("client_credentials")
    refresh_result = Result("refresh_token", note=f"{len(refresh_pool)} rotating chains")
    for index in range(rounds):
        share = n // rounds + (1 if index < n % rounds else 0)
        floor_result.add(load(floor, "floor", cc, share))
        cc_result.add(load(provider, "client_credentials", cc, share))
        refresh_result.add(
            load(provider, "refresh_token", refresh, share, thread_state=lambda i: chains[i])
        )
        log(f"  round {index + 1}/{rounds}: floor, client_credentials, refresh_token")
    results[:0] = [cc_result, refresh_result]
    scenario(provider, "discovery GET", discovery)
    scenario(provider, "JWKS GET", jwks)
    return [floor_result, *results]


def measure_code_exchange(
    setup: Setup, auth: str, n: int, threads: int, warm: int, load, refresh_pool, log
) -> Result:
    """Code exchanges, with codes obtained through the hosted sign-in before each timed batch."""
    browsers = [
        Browser(setup.provider.base, setup.client_id, setup.email, PASSWORD)
        for _ in range(max(1, min(threads, 4)))
    ]
    warm_codes = collect_codes(browsers, warm)  # also signs every browser in
    load(setup.provider, "warm-up", code_exchange_call(auth, warm_codes, refresh_pool), warm)
    exchange = Result("authorization_code", note="codes made before timing")
    scenario_deadline = time.monotonic() + CODE_SCENARIO_TIME_LIMIT
    while exchange.requests < n and time.monotonic() < scenario_deadline:
        t0 = time.monotonic()
        codes = collect_codes(browsers, n - exchange.requests)
        log(f"  {len(codes)} codes obtained through /authorize in {time.monotonic() - t0:.1f} s")
        limit = max(1.0, min(SCENARIO_TIME_LIMIT, scenario_deadline - time.monotonic()))
        call = code_exchange_call(auth, codes, refresh_pool)
        batch = load(setup.provider, "codes", call, len(codes), time_limit=limit)
        exchange.add(batch)
        if batch.requests == 0:
            break
    log(f"  authorization_code: {exchange.requests} requests, {exchange.errors} errors")
    return exchange


def report(results: list[Result], header: list[str], with_db: bool) -> str:
    floor = results[0]
    lines = [*header, ""]
    db_head = f" {'DB ms/req':>9}" if with_db else ""
    columns = (
        f"{'scenario':<26} {'reqs':>5} {'err':>4} {'req/s':>7} {'x floor':>8} "
        f"{'CPU ms/req':>10} {'x floor':>8}{db_head} {'p50 ms':>7} {'p95 ms':>7}  "
        f"target: CPU <= {TARGET_RATIO}x floor"
    )
    lines += [columns, "-" * len(columns)]
    verdicts = []
    for r in results:
        rps_ratio = r.rps / floor.rps if floor.rps else float("nan")
        cpu_ratio = r.cpu_ms / floor.cpu_ms if floor.cpu_ms else float("nan")
        target = ""
        if r.name in ("client_credentials", "refresh_token"):
            met = cpu_ratio <= TARGET_RATIO
            target = f"{'meets' if met else 'MISSES'} ({cpu_ratio:.3f}x)"
            verdicts.append(f"  {r.name}: {target}{_round_spread(r, floor)}")
        elif r.note:
            target = f"({r.note})"
        db_col = f" {r.db_cpu_ms:>9.2f}" if with_db else ""
        lines.append(
            f"{r.name:<26} {r.requests:>5} {r.errors:>4} {r.rps:>7.1f} {rps_ratio:>7.2f}x "
            f"{r.cpu_ms:>10.2f} {cpu_ratio:>7.2f}x{db_col} {r.percentile(0.5):>7.1f} "
            f"{r.percentile(0.95):>7.1f}  {target}"
        )
    lines += [
        "",
        "x floor: the figure divided by the floor's (req/s: higher is better, CPU: lower is",
        "better). CPU = utime+stime of the gunicorn master and its workers, per request.",
    ]
    if with_db:
        lines.append("DB ms/req: CPU of the --db-pid process tree, not included in CPU ms/req.")
    for r in results:
        if r.errors:
            lines.append(f"! {r.name}: {r.errors} errors, first: {r.first_error}")
    lines += ["target (the issue: at most 1.5x the floor's CPU per request):", *verdicts]
    return "\n".join(lines)


def _round_spread(result: Result, floor: Result) -> str:
    """The ratio round by round (each round measures the floor and the scenario back to back):
    its spread shows how much of a difference the machine's own drift could explain."""
    ratios = sorted(p / f for p, f in zip(result.parts, floor.parts, strict=True) if f > 0)
    if len(ratios) < 2:
        return ""
    return (
        f"; by round {ratios[0]:.2f}x-{ratios[-1]:.2f}x, "
        f"median {statistics.median(ratios):.2f}x ({len(ratios)} rounds)"
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(unparsable URL)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Figures go to stdout, progress to stderr. See bench/README.md.",
    )
    parser.add_argument("--requests", type=int, default=1000, help="requests per scenario")
    parser.add_argument("--threads", type=int, default=4, help="client threads (connections)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument(
        "--rounds", type=int, default=5, help="turns of floor / client_credentials / refresh"
    )
    parser.add_argument(
        "--database-url", help="SQLAlchemy URL (e.g. PostgreSQL); default: SQLite in the temp dir"
    )
    parser.add_argument(
        "--db-pid",
        type=int,
        help="also report the CPU of this process and its children (e.g. the postmaster)",
    )
    parser.add_argument(
        "--tmpdir", help="parent of the temporary folder (e.g. /dev/shm to take fsync out)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = parser.parse_args(argv)
    if min(args.requests, args.threads, args.workers, args.rounds) < 1:
        parser.error("--requests, --threads, --workers and --rounds must be positive")
    if args.rounds > args.requests:
        parser.error("--rounds cannot exceed --requests")
    if args.db_pid and not Path(f"/proc/{args.db_pid}/stat").exists():
        parser.error(f"--db-pid {args.db_pid}: no such process")
    for tool in (IDP, GUNICORN):
        if not tool.exists():
            parser.error(f"{tool} not found: run with the project's venv python (.venv/bin/python)")

    settings = ["--workers", str(args.workers), "--worker-class", "sync", "--log-level", "warning"]
    signal.signal(signal.SIGTERM, _raise_on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started in background
    workdir = Path(tempfile.mkdtemp(prefix="idp-bench-", dir=args.tmpdir))
    servers: list[Gunicorn] = []

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        log(f"setting up in {workdir}")
        setup = prepare(workdir, args.database_url, settings)
        servers += [setup.provider, setup.floor]
        setup.provider.start("/.well-known/openid-configuration")
        setup.floor.start("/token", extra=["--pythonpath", str(BENCH_DIR)])
        results = measure(setup, args.requests, args.threads, args.rounds, args.db_pid, log)
        gunicorn_version = subprocess.run(  # noqa: S603
            [str(GUNICORN), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        database = (
            _safe_url(args.database_url) if args.database_url else "SQLite in " + str(workdir)
        )
        header = [
            "token endpoint benchmark",
            f"  gunicorn: {' '.join(settings)} ({gunicorn_version}), bind {HOST}",
            f"  provider: idp.wsgi:app, IDP_ISSUER={setup.provider.env['IDP_ISSUER']}",
            f"  database: {database}",
            "  floor:    bench/floor_app.py (Basic auth + SHA-256 digest + RS256 JWT, no DB),",
            "            same gunicorn settings, measured in turns with the two target scenarios",
            f"  load:     {args.requests} requests per scenario, {args.threads} client threads "
            f"(http.client), same machine; {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}",
        ]
        if args.database_url and not args.db_pid:
            header.append("  note:     the database server's own CPU is not included (--db-pid)")
        print(report(results, header, with_db=bool(args.db_pid)), flush=True)
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except RuntimeError as exc:
        log(f"error: {exc}")
        for server in servers:
            log(f"--- {server.name} log tail ---\n{server.log_tail()}")
        return 1
    finally:
        for server in servers:
            server.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
