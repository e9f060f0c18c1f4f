"""What the writes the issue requires cost on their own: the floor, the durable floor, the provider.

Companion of ``token_endpoint.py``, whose floor signs a token and writes nothing. A token
response of the provider must also be durable (its jti recorded, a refresh token rotated, an
audit row chained, in one transaction). ``durable_floor_app.py`` adds exactly those writes to the
floor, on the stdlib ``sqlite3`` driver with no framework, so the figures split the provider's
cost over the floor into what the database work alone costs and what the rest (Flask, Authlib,
the provider's code) costs. SQLite only: the durable floor speaks ``sqlite3``.

All servers run under the same gunicorn settings and take turns, round by round:

    floor                        floor_app.py (client_credentials)
    durable: client_credentials  durable_floor_app.py, token row + audit row
    durable: refresh_token       durable_floor_app.py, rotation + user + token row + audit row
    client_credentials           the provider
    refresh_token                the provider, rotating chains seeded by real code exchanges

The durable floor works on a copy of the provider's freshly migrated database (its own file, so
the two never contend). Its refresh variant is called like the floor (a client-credentials
request) and rotates the previous refresh token of its worker: the same statements as the
provider's refresh grant, without the refresh token in the answer.

    .venv/bin/python bench/durable_floor.py [--requests N] [--threads T] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
from collections import deque
from pathlib import Path

import token_endpoint as bench


def start_durable(setup: bench.Setup, workdir: Path, settings: list[str]) -> dict:
    """Copy the provider's database (before the provider runs) and start both durable servers."""
    database = workdir / "durable.sqlite3"
    with (
        contextlib.closing(sqlite3.connect(workdir / "instance" / "idp.sqlite3")) as source,
        contextlib.closing(sqlite3.connect(database)) as copy,
    ):
        source.backup(copy)
        (user_id,) = copy.execute("SELECT id FROM users").fetchone()
    servers = {}
    for grant in ("client_credentials", "refresh_token"):
        env = {
            **setup.floor.env,
            "DURABLE_DATABASE": str(database),
            "DURABLE_USER_ID": str(user_id),
            "DURABLE_GRANT": grant,
        }
        port = bench.free_port()
        server = bench.Gunicorn(
            f"durable-{grant}", "durable_floor_app:app", port, env, workdir, settings
        )
        servers[grant] = server
    return servers


def refresh_chains(setup: bench.Setup, auth: str, threads: int) -> list[deque]:
    """Refresh tokens from real code exchanges (sign-in through the hosted pages)."""
    browser = bench.Browser(setup.provider.base, setup.client_id, setup.email, bench.PASSWORD)
    codes = bench.collect_codes([browser], 2 * threads)
    pool: list[str] = []
    call = bench.code_exchange_call(auth, codes, pool)
    result = bench.run_load(setup.provider, "codes", call, len(codes), threads)
    if result.errors or len(pool) < threads:
        raise RuntimeError(f"code exchanges failed: {result.first_error}")
    return [deque(pool[i::threads]) for i in range(threads)]


def measure(setup: bench.Setup, durable: dict, args) -> list[bench.Result]:
    auth = bench.basic_auth(setup.client_id, setup.client_secret)
    cc, refresh = bench.client_credentials_call(auth), bench.refresh_call(auth)
    chains = refresh_chains(setup, auth, args.threads)
    state = {"thread_state": lambda i: chains[i]}
    turns = [
        ("floor", setup.floor, cc, {}),
        ("durable: client_credentials", durable["client_credentials"], cc, {}),
        ("durable: refresh_token", durable["refresh_token"], cc, {}),
        ("client_credentials", setup.provider, cc, {}),
        ("refresh_token", setup.provider, refresh, state),
    ]
    warm = max(20, 10 * args.threads)
    for name, server, call, kw in turns:
        warmup = bench.run_load(server, "warm-up", call, warm, args.threads, **kw)
        if warmup.errors:
            raise RuntimeError(f"warm-up of {name} failed: {warmup.first_error}")
    results = [bench.Result(name) for name, *_ in turns]
    for index in range(args.rounds):
        share = args.requests // args.rounds + (1 if index < args.requests % args.rounds else 0)
        for result, (name, server, call, kw) in zip(results, turns, strict=True):
            result.add(bench.run_load(server, name, call, share, args.threads, **kw))
        print(f"  round {index + 1}/{args.rounds}", file=sys.stderr, flush=True)
    return results


def _median_ratio(result: bench.Result, base: bench.Result) -> float:
    """Median over rounds of the ratio (each round measures both back to back)."""
    return statistics.median(p / b for p, b in zip(result.parts, base.parts, strict=True))


def report(results: list[bench.Result], settings: list[str], args) -> str:
    floor, durable_cc, durable_refresh = results[:3]
    durable_of = {"client_credentials": durable_cc, "refresh_token": durable_refresh}
    lines = [
        "durable floor benchmark (SQLite)",
        f"  gunicorn: {' '.join(settings)}; {args.requests} requests per scenario, "
        f"{args.threads} client threads, {args.rounds} rounds in turns",
        "",
        f"{'scenario':<28} {'reqs':>5} {'err':>4} {'CPU ms/req':>10} {'x floor':>8} "
        f"{'x durable':>10}",
    ]
    for result in results:
        durable = durable_of.get(result.name)
        versus = f"{_median_ratio(result, durable):>9.3f}x" if durable else f"{'':>10}"
        lines.append(
            f"{result.name:<28} {result.requests:>5} {result.errors:>4} {result.cpu_ms:>10.2f} "
            f"{_median_ratio(result, floor):>7.3f}x {versus}"
        )
        if result.errors:
            lines.append(f"  ! first error: {result.first_error}")
    lines += [
        "",
        "x floor, x durable: median over the rounds of the CPU ratio to the floor, and of the",
        "provider to the durable floor of the same grant. The durable floor's excess over the",
        "floor is the database work alone; the provider's excess over it is everything else.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per scenario")
    parser.add_argument("--threads", type=int, default=4, help="client threads (connections)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument("--rounds", type=int, default=5, help="turns of the five scenarios")
    parser.add_argument("--tmpdir", help="parent of the temporary folder")
    args = parser.parse_args(argv)
    if min(args.requests, args.threads, args.workers, args.rounds) < 1:
        parser.error("--requests, --threads, --workers and --rounds must be positive")
    if args.rounds > args.requests:
        parser.error("--rounds cannot exceed --requests")
    settings = ["--workers", str(args.workers), "--worker-class", "sync", "--log-level", "warning"]
    signal.signal(signal.SIGTERM, bench._raise_on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="idp-durable-", dir=args.tmpdir))
    servers: list[bench.Gunicorn] = []
    try:
        setup = bench.prepare(workdir, None, settings)
        durable = start_durable(setup, workdir, settings)
        servers += [setup.provider, setup.floor, *durable.values()]
        setup.provider.start("/.well-known/openid-configuration")
        for server in (setup.floor, *durable.values()):
            server.start("/token", extra=["--pythonpath", str(bench.BENCH_DIR)])
        print(report(measure(setup, durable, args), settings, args), flush=True)
        return 0
    except KeyboardInterrupt:
        return 130
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for server in servers:
            print(f"--- {server.name} log tail ---\n{server.log_tail()}", file=sys.stderr)
        return 1
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
