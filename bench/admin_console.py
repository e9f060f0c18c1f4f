"""Admin console benchmark: user search and audit page latencies over a million users and events.

Not a test: it prints figures. For each backend (``--backend sqlite|postgresql|both``) it makes
a fresh database (SQLite in a temporary folder; PostgreSQL as a private throwaway cluster from
``tests/support/postgres.py``), migrates it with ``idp db upgrade``, and seeds ``--users`` users
and ``--events`` audit events with bulk inserts straight into the tables (``executemany`` on
SQLite, ``COPY`` on PostgreSQL). Every user shares one precomputed argon2 hash: none signs in.
The seeded audit rows satisfy the schema and are linked ``prev_hash`` -> ``hash``, but their
hashes are random, not computed: ``idp audit verify`` would reject the chain.

It then starts the provider under gunicorn, signs an admin in on the hosted pages (password and
an authenticator app code; ``IDP_ADMIN_REQUIRE_PASSKEY=false``), registers a client-credentials
client with the ``admin`` scope, and times each scenario three ways, warm: the function itself
inside an app context (``admin_view.search``, ``dashboard`` and ``activity``,
``audit_log.page``), the console page over HTTP, and the admin API's JSON list over HTTP.

    .venv/bin/python bench/admin_console.py [--backend both] [--users N] [--events M] [--runs R]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the throwaway PostgreSQL cluster and sign-in steps of the tests

from token_endpoint import GUNICORN, Gunicorn, idp_cli  # noqa: E402

from tests.admin.support import console_browser  # noqa: E402
from tests.support.live import LiveServer, make_server  # noqa: E402
from tests.support.postgres import create_database, postgres_server  # noqa: E402

API = "/admin/api/v1"
DAY = 86400
LOG_SPAN = 180 * DAY  # the seeded audit log covers the last 180 days
SCENARIO_TIME_LIMIT = 30.0  # seconds per scenario and way, whatever --runs says
EXTRA_ROLES = {"staff": 20, "contractor": 50, "support": 100, "finance": 200}  # 1 user in k
FIRST = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "Mateo",
    "Isabella", "Lucas", "Mia", "Levi", "Evelyn", "Mark", "Maria", "Marco", "Martha", "Marie",
    "Harper", "James", "Luna", "Aiden", "Camila", "Ethan", "Sofia", "Jack", "Chloe", "Wei",
    "Yuki", "Priya", "Arjun", "Fatima", "Omar", "Aisha", "Kenji", "Ingrid", "Lars", "Zoe", "Hugo",
    "Ana", "Diego", "Lea", "Jonas", "Nora", "Ali",
)  # fmt: skip
LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Kim", "Chen", "Patel", "Muller",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example", "uni.example.edu")
EVENTS = (  # (event, weight, failure share)
    ("sign_in", 55, 0.12), ("second_factor_passed", 20, 0.0), ("signed_out", 10, 0.0),
    ("trusted_device_added", 3, 0.0), ("user_created", 2, 0.0), ("enrollment_started", 2, 0.0),
    ("password_reset_requested", 2, 0.0), ("profile_changed", 2, 0.0), ("factor_locked", 1, 1.0),
    ("backup_code_used", 1, 0.05), ("email_changed", 1, 0.0), ("roles_set", 0.2, 0.0),
)  # fmt: skip
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.1 Safari",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
USER_COLUMNS = ("id", "sub", "email", "name", "password_hash", "created_at",
                "password_changed_at", "grace_skips", "grace_started_at")  # fmt: skip
FACTOR_COLUMNS = ("user_id", "kind", "name", "status", "created_at", "activated_at", "data",
                  "failures", "locked_at")  # fmt: skip
#: One user in this many postponed a required enrollment (``mfa=grace``); one factor in this
#: many is locked by wrong codes (``mfa=locked``).
GRACE_EVERY, LOCKED_EVERY = 200, 2000
AUDIT_COLUMNS = ("at", "event", "outcome", "actor", "subject", "client_id", "ip", "user_agent",
                 "request_id", "detail", "prev_hash", "hash")  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Rows: generated lazily, so a million of them never sit in memory at once


def user_rows(first_id: int, count: int, password_hash: str, now: int) -> Iterator[tuple]:
    """Users with varied email shapes (first.last, flast, last.first, first) over a few
    domains, so that prefixes match realistic shares of the table."""
    rng = random.Random(1)
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = (f"{first}.{last}", f"{first[0]}{last}", f"{last}.{first}", first)[i % 4]
        email = f"{local.lower()}{i}@{DOMAINS[i % len(DOMAINS)]}"
        created = now - rng.randrange(3 * 365 * DAY)
        grace = created if i % GRACE_EVERY == 7 else None
        yield (first_id + i, str(uuid.UUID(int=rng.getrandbits(128), version=4)), email,
               f"{first} {last}", password_hash, created, created, 0, grace)  # fmt: skip


def member_rows(first_id: int, count: int, role_ids: dict[str, int]) -> Iterator[tuple]:
    for i in range(count):
        for name, every in EXTRA_ROLES.items():
            if i % every == every // 3:
                yield (first_id + i, role_ids[name])
        if i % 50_000 == 11:
            yield (first_id + i, role_ids["admin"])
        if i % 20_000 == 17:
            yield (first_id + i, role_ids["auditor"])


def factor_rows(first_id: int, count: int, now: int) -> Iterator[tuple]:
    """About 30% with an app, 5% with a passkey (each with backup codes), 3% with email
    codes, and a few pending or revoked: the dashboard's shares have something to count; one
    active factor in ``LOCKED_EVERY`` locked."""
    rng = random.Random(2)
    for i in range(count):
        user_id, at, r = first_id + i, now - rng.randrange(365 * DAY), rng.random()
        kinds = []
        if r < 0.30:
            kinds = [("totp", "Phone", "active"), ("backup_codes", "Backup codes", "active")]
        elif r < 0.35:
            kinds = [("passkey", "Key", "active"), ("backup_codes", "Backup codes", "active")]
        elif r < 0.38:
            kinds = [("email", "Email", "active")]
        elif r < 0.40:
            kinds = [("totp", "Phone", "pending")]
        elif r < 0.41:
            kinds = [("totp", "Old phone", "revoked")]
        for kind, name, status in kinds:
            locked = at if status == "active" and i % LOCKED_EVERY == 3 else None
            yield (user_id, kind, name, status, at, at if status != "pending" else None, "{}", 0,
                   locked)  # fmt: skip


def audit_rows(count: int, subjects: list[str], now: int) -> Iterator[tuple]:
    """Events in time order over ``LOG_SPAN``; subjects skewed (a few users have many
    events), addresses from a pool, most sign-ins through one of 25 clients."""
    rng = random.Random(3)
    names = [e[0] for e in EVENTS]
    weights = [e[1] for e in EVENTS]
    failures = {e[0]: e[2] for e in EVENTS}
    clients = [f"client-{n:02d}" for n in range(25)]
    ips = [".".join(str(rng.randrange(1, 224)) for _ in range(4)) for _ in range(40_000)]
    ips += [f"2001:db8::{n:x}" for n in range(10_000)]
    start, prev = now - LOG_SPAN, "0" * 64
    picks = rng.choices(names, weights, k=count)
    for i, event in enumerate(picks):
        outcome = "failure" if rng.random() < failures[event] else "success"
        subject = subjects[int(len(subjects) * rng.random() ** 2)]
        client = rng.choice(clients) if event == "sign_in" and rng.random() < 0.7 else None
        actor = "admin@corp.example" if event == "roles_set" else None
        detail = json.dumps({"method": "password"}) if event == "sign_in" else "{}"
        digest = f"{rng.getrandbits(256):064x}"
        yield (start + LOG_SPAN * i // count, event, outcome, actor, subject, client,
               rng.choice(ips), rng.choice(AGENTS), f"{rng.getrandbits(64):016x}", detail,
               prev, digest)  # fmt: skip
        prev = digest


# --------------------------------------------------------------------------------------------
# Seeding through the driver, not the ORM: tens of thousands of rows per second


@dataclass
class Seeded:
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    size_mb: float = 0.0


class Loader:
    """Bulk inserts on one backend: ``load(table, columns, rows)``, ``query``, ``size_mb``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith("postgresql")
        if self.postgres:
            import psycopg
            from sqlalchemy.engine import make_url

            conninfo = make_url(url).set(drivername="postgresql")
            self.conn = psycopg.connect(conninfo.render_as_string(hide_password=False))
        else:
            self.path = url.removeprefix("sqlite:///")
            self.conn = sqlite3.connect(self.path)
            self.conn.execute("PRAGMA cache_size = -262144")  # 256 MB: random index inserts
            self.conn.execute("PRAGMA synchronous = OFF")  # this connection's bulk load only

    def load(self, table: str, columns: tuple[str, ...], rows: Iterator[tuple]) -> int:
        counted = _Counter(rows)
        names = ", ".join(columns)
        if self.postgres:
            with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in counted:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            self.conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", counted)
        self.conn.commit()
        return counted.n

    def query(self, sql: str, *params) -> list[tuple]:
        if self.postgres:  # no parameters: no placeholders either (``%`` stays an operator)
            return list(self.conn.execute(sql.replace("?", "%s"), params or None).fetchall())
        return list(self.conn.execute(sql, params).fetchall())

    def finish(self) -> None:
        """Statistics for the planner, as autovacuum would gather after a load like this one
        (PostgreSQL); SQLite keeps none unless ANALYZE is run, and nobody runs it for us."""
        if self.postgres:
            self.conn.execute(
                "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))"
            )
            self.conn.commit()
            self.conn.autocommit = True
            self.conn.execute("VACUUM ANALYZE")

    def size_mb(self) -> float:
        if self.postgres:
            return self.query("SELECT pg_database_size(current_database())")[0][0] / 2**20
        files = [Path(self.path), Path(self.path + "-wal")]
        return sum(f.stat().st_size for f in files if f.exists()) / 2**20

    def close(self) -> None:
        self.conn.close()


class _Counter:
    def __init__(self, rows: Iterator[tuple]) -> None:
        self.rows, self.n = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.n += 1
            yield row


def seed(live: LiveServer, url: str, users: int, events: int) -> Seeded:
    from argon2 import PasswordHasher

    for name in EXTRA_ROLES:
        idp_cli(live.env, live.instance, "roles", "create", name)
    loader, seeded = Loader(url), Seeded()
    now = int(time.time())
    try:
        first_id = (loader.query("SELECT max(id) FROM users")[0][0] or 0) + 1
        role_ids = dict(loader.query("SELECT name, id FROM roles"))
        password_hash = PasswordHasher().hash(os.urandom(16).hex())
        steps = (
            ("users", USER_COLUMNS, lambda: user_rows(first_id, users, password_hash, now)),
            ("user_roles", ("user_id", "role_id"), lambda: member_rows(first_id, users, role_ids)),
            ("factors", FACTOR_COLUMNS, lambda: factor_rows(first_id, users, now)),
        )
        for table, columns, rows in steps:
            seeded.rows[table], seeded.seconds[table] = _timed_load(loader, table, columns, rows)
        # every 10th user's subject: the events' subjects, read back rather than kept
        subjects = [s for (s,) in loader.query("SELECT sub FROM users WHERE id % 10 = 3")]
        make = lambda: audit_rows(events, subjects, now)  # noqa: E731
        loaded = _timed_load(loader, "audit_events", AUDIT_COLUMNS, make)
        seeded.rows["audit_events"], seeded.seconds["audit_events"] = loaded
        started = time.monotonic()
        loader.finish()
        seeded.seconds["analyze"] = time.monotonic() - started
        seeded.size_mb = loader.size_mb()
    finally:
        loader.close()
    return seeded


def _timed_load(loader: Loader, table: str, columns, rows: Callable) -> tuple[int, float]:
    started = time.monotonic()
    n = loader.load(table, columns, rows())
    took = time.monotonic() - started
    log(f"  {table}: {n} rows in {took:.1f} s ({n / took:,.0f} rows/s)")
    return n, took


# --------------------------------------------------------------------------------------------
# Scenarios: each names what the function gets, and the console page's and the API's query


@dataclass
class Scenario:
    name: str
    call: Callable[[], object]  # inside an app context
    console: tuple[str, dict] | None
    api: tuple[str, dict] | None
    after: int = 0  # the user list's keyset position
    next_page: bool = False
    timings: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class Samples:
    """Real values from the seeded data to search and filter by."""

    email: str  # of a user with audit events
    client_id: str
    ip: str
    day_recent: str
    day_old: str
    month_old: tuple[str, str]  # a 30-day range, 120 to 91 days ago
    middle_id: int
    middle_seq: int


def samples(url: str) -> Samples:
    loader = Loader(url)
    try:
        seq = loader.query("SELECT max(seq) FROM audit_events")[0][0] // 2
        subject, ip = loader.query("SELECT subject, ip FROM audit_events WHERE seq = ?", seq)[0]
        email = loader.query("SELECT email FROM users WHERE sub = ?", subject)[0][0]
        middle = loader.query("SELECT max(id) FROM users")[0][0] // 2
    finally:
        loader.close()
    today = datetime.now(UTC).date()
    month = (str(today - timedelta(days=120)), str(today - timedelta(days=91)))
    return Samples(email, "client-07", ip, str(today - timedelta(days=3)),
                   str(today - timedelta(days=170)), month, middle, seq)  # fmt: skip


def dashboard_kept() -> object:
    """What the dashboard page reads: its counts and charts as kept (``IDP_ADMIN_DASHBOARD_TTL``)
    and who is held or suspicious now."""
    from idp.accounts import admin_view, dashboard

    return admin_view.dashboard(), dashboard.activity()


def dashboard_afresh() -> object:
    """The same, with nothing kept: what a view pays once a minute per worker."""
    from flask import current_app

    current_app.extensions.pop("idp.dashboard", None)
    return dashboard_kept()


def scenarios(s: Samples) -> list[Scenario]:
    from idp.accounts import admin_view, audit_log

    def users(
        name: str, q: str = "", role: str = "", *, mfa: str = "", next_page: bool = False
    ) -> Scenario:
        params = {k: v for k, v in {"q": q, "role": role, "mfa": mfa}.items() if v}
        scenario = Scenario(
            name,
            lambda: admin_view.search(q, role, mfa=mfa, after=scenario.after),
            ("/admin/users", params),
            (API + "/users", params),
        )
        scenario.next_page = next_page
        return scenario

    def audit(name: str, before: int | None = None, **filters: str) -> Scenario:
        extra = {"before": before} if before else {}
        return Scenario(
            name,
            lambda: audit_log.page(audit_log.Filters(**filters), before=before),
            ("/admin/audit", {**filters, **extra}),
            (API + "/audit-events", {**filters, **extra}),
        )

    return [
        users("users: first page, no filter"),
        users("users: prefix 'mar' (email+name)", q="mar"),
        users("users: name prefix 'Olivia Sm'", q="Olivia Sm"),
        users("users: exact email", q=s.email),
        users("users: prefix, no match 'qqq'", q="qqq"),
        users("users: role 'support' (1%)", role="support"),
        users("users: role 'admin' (rare)", role="admin"),
        users("users: prefix 'mar' + role finance", q="mar", role="finance"),
        users("users: prefix 'a' (common)", q="a"),
        users("users: prefix 'a' + role support", q="a", role="support"),
        users("users: prefix 'a' + role admin (rare)", q="a", role="admin"),
        users("users: next page, 'a' + support", q="a", role="support", next_page=True),
        users("users: next page, prefix 'mar'", q="mar", next_page=True),
        users("users: next page, role support", role="support", next_page=True),
        users("users: page after the middle id", next_page=True),
        users("users: mfa none", mfa="none"),
        users("users: mfa none + role support", role="support", mfa="none"),
        users("users: mfa enrolled + prefix 'mar'", q="mar", mfa="enrolled"),
        users("users: mfa grace (0.5%)", mfa="grace"),
        users("users: mfa locked (rare)", mfa="locked"),
        users("users: mfa locked + role support", role="support", mfa="locked"),
        users("users: next page, mfa none", mfa="none", next_page=True),
        Scenario("dashboard (figures kept)", dashboard_kept, ("/admin/", {}), None),
        Scenario("dashboard, counted afresh", dashboard_afresh, None, None),
        audit("audit: no filter"),
        audit("audit: page from middle (before)", before=s.middle_seq),
        audit("audit: event sign_in", event="sign_in"),
        audit("audit: event roles_set (rare)", event="roles_set"),
        audit("audit: outcome failure", outcome="failure"),
        audit("audit: sign_in + failure", event="sign_in", outcome="failure"),
        audit("audit: user email", email=s.email),
        audit("audit: client_id", client_id=s.client_id),
        audit("audit: ip", ip=s.ip),
        audit("audit: one day, 3 days ago", since=s.day_recent, until=s.day_recent),
        audit("audit: one day, 170 days ago", since=s.day_old, until=s.day_old),
        audit("audit: 30 days, 120-91 days ago", since=s.month_old[0], until=s.month_old[1]),
        audit("audit: since 170 days ago", since=s.day_old),
        audit(
            "audit: outcome failure, 170 days ago",
            outcome="failure",
            since=s.day_old,
            until=s.day_old,
        ),  # fmt: skip
        audit(
            "audit: roles_set, 170 days ago", event="roles_set", since=s.day_old, until=s.day_old
        ),  # fmt: skip
    ]


def resolve_after(scenario: Scenario, middle_id: int) -> None:
    """A next page starts after the first page's last id (the middle id for the unfiltered
    list): found once, before timing, and handed to all three ways alike."""
    from idp.accounts import admin_view

    if not scenario.next_page:
        return
    params = scenario.api[1]
    if params:
        first = admin_view.search(
            params.get("q", ""), params.get("role", ""), mfa=params.get("mfa", "")
        )
        scenario.after = first.next_after or 0
    else:
        scenario.after = middle_id
    for way in ("console", "api"):
        path, query = getattr(scenario, way)
        setattr(scenario, way, (path, {**query, "after": scenario.after}))


# --------------------------------------------------------------------------------------------
# Timing


def time_calls(call: Callable[[], object], runs: int) -> list[float]:
    for _ in range(3):  # warm: caches, connections, compiled statements
        call()
    timings: list[float] = []
    deadline = time.monotonic() + SCENARIO_TIME_LIMIT
    while len(timings) < runs and time.monotonic() < deadline:
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return timings


def http_call(session: requests.Session, url: str, params: dict) -> Callable[[], object]:
    def call():
        response = session.get(url, params=params, allow_redirects=False, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} {params}: {response.status_code} {response.text[:200]}")
        return response

    return call


def measure(app, live, console, api, listed: list[Scenario], runs: int, middle_id: int) -> None:
    from idp.extensions import db

    def in_app(call):
        def run():
            try:
                return call()
            finally:
                db.session.remove()  # as at the end of a request: no identity map carried over

        return run

    with app.app_context():
        for scenario in listed:
            in_app(lambda s=scenario: resolve_after(s, middle_id))()
            ways = {"function": in_app(scenario.call)}
            for way, session in (("console", console), ("api", api)):
                target = getattr(scenario, way)
                if target is not None:
                    ways[way] = http_call(session, live.url + target[0], target[1])
            for way, call in ways.items():
                try:
                    scenario.timings[way] = time_calls(call, runs)
                except Exception as exc:  # noqa: BLE001 - reported in the table, run goes on
                    scenario.errors[way] = f"{type(exc).__name__}: {exc}"[:300]
            figures = "  ".join(f"{w} {_p(t, 0.5):.1f}" for w, t in scenario.timings.items())
            log(f"  {scenario.name}: {figures} ms (p50)")
        db.engine.dispose()


def _p(timings: list[float], p: float) -> float:
    if not timings:
        return float("nan")
    if p == 0.5:
        return 1000 * statistics.median(timings)
    ordered = sorted(timings)
    return 1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))]


# --------------------------------------------------------------------------------------------
# Slow statements: what a slow scenario sends, each timed alone, with the database's plan


def explain_slow(app, listed: list[Scenario], threshold_ms: float) -> list[str]:
    """For each scenario whose function p50 reaches ``threshold_ms``: its statements that take
    a fifth of that or more alone, with ``EXPLAIN (ANALYZE, BUFFERS)`` (PostgreSQL) or
    ``EXPLAIN QUERY PLAN`` (SQLite)."""
    from sqlalchemy import event

    from idp.extensions import db

    lines: list[str] = []
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
        for scenario in listed:
            if _p(scenario.timings.get("function", []), 0.5) < threshold_ms:
                continue
            sent: list[tuple[str, object]] = []

            def record(conn, cursor, statement, parameters, *_, sent=sent):
                sent.append((statement, parameters))

            event.listen(db.engine, "before_cursor_execute", record)
            try:
                scenario.call()
            finally:
                event.remove(db.engine, "before_cursor_execute", record)
                db.session.remove()
            with db.engine.connect() as conn:
                for statement, parameters in sent:
                    started = time.perf_counter()
                    conn.exec_driver_sql(statement, parameters).all()
                    took = 1000 * (time.perf_counter() - started)
                    if took < threshold_ms / 5:
                        continue
                    plan = conn.exec_driver_sql(prefix + statement, parameters).all()
                    lines += [f"--- {scenario.name}: {took:.0f} ms", " ".join(statement.split()),
                              f"    parameters: {parameters}"]  # fmt: skip
                    lines += ["    " + " ".join(str(c) for c in row) for row in plan]
        db.engine.dispose()
    return lines


# --------------------------------------------------------------------------------------------
# One backend


@dataclass
class Outcome:
    backend: str
    seeded: Seeded
    listed: list[Scenario]
    plans: list[str]


def run_backend(backend: str, url: str, workdir: Path, args) -> Outcome:
    from idp.app import create_app

    instance = workdir / "instance"
    instance.mkdir()
    log(f"[{backend}] migrating (idp db upgrade)")
    live = make_server(instance, url, ADMIN_REQUIRE_PASSKEY="false")
    log(f"[{backend}] seeding {args.users} users and {args.events} audit events")
    seeded = seed(live, url, args.users, args.events)
    port = int(live.url.rsplit(":", 1)[1])
    settings = ["--workers", str(args.workers), "--worker-class", "sync", "--log-level", "warning"]
    server = Gunicorn("idp", "idp.wsgi:app", port, live.env, workdir, settings)
    try:
        server.start("/.well-known/openid-configuration")
        log(f"[{backend}] signing an admin in; registering an admin API client")
        console, _ = console_browser(live, "admin")
        api = requests.Session()
        api.headers["Authorization"] = "Bearer " + _api_token(live)
        app = create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": url})
        found = samples(url)
        listed = scenarios(found)
        log(f"[{backend}] measuring ({args.runs} runs per scenario and way, warm)")
        measure(app, live, console, api, listed, args.runs, found.middle_id)
        plans = explain_slow(app, listed, args.explain_ms)
    except Exception:
        log(f"--- gunicorn log tail ---\n{server.log_tail()}")
        raise
    finally:
        server.stop()
    return Outcome(backend, seeded, listed, plans)


def _api_token(live: LiveServer) -> str:
    client = live.create_client("--name", "Bench", "--grant-type", "client_credentials",
                                "--scope", "admin")  # fmt: skip
    response = requests.post(
        live.url + "/token",
        data={"grant_type": "client_credentials", "scope": "admin"},
        auth=(client["client_id"], client["client_secret"]),
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["access_token"]


# --------------------------------------------------------------------------------------------
# Report


def report(outcomes: list[Outcome], args) -> str:
    lines = [
        "admin console benchmark",
        f"  data:   {args.users:,} users, {args.events:,} audit events (seeded in bulk; audit "
        "hashes random, chain not verifiable)",
        f"  server: gunicorn --workers {args.workers} --worker-class sync idp.wsgi:app; one "
        f"client, sequential requests; {os.cpu_count()} CPUs",
        f"  runs:   up to {args.runs} per scenario and way after 3 warm-up calls (at most "
        f"{SCENARIO_TIME_LIMIT:.0f} s each); page size 50",
        "  ways:   function = the accounts function inside an app context; console = the HTML",
        "          page over HTTP as a signed-in admin; API = /admin/api/v1 JSON with a bearer",
    ]
    for outcome in outcomes:
        s = outcome.seeded
        loads = ", ".join(f"{t} {s.rows[t]:,} rows {s.seconds[t]:.0f} s" for t in s.rows)
        lines += [
            "",
            f"[{outcome.backend}] seeding: {loads}; analyze {s.seconds['analyze']:.0f} s; "
            f"database {s.size_mb:,.0f} MB",
        ]
        head = (
            f"{'scenario':<36} {'function p50/p95':>17} {'console p50/p95':>17} "
            f"{'API p50/p95':>17}  (ms)"
        )
        lines += [head, "-" * len(head)]
        for sc in outcome.listed:
            cells = [_cell(sc, way) for way in ("function", "console", "api")]
            lines.append(f"{sc.name:<36} " + " ".join(f"{c:>17}" for c in cells))
        for sc in outcome.listed:
            for way, error in sc.errors.items():
                lines.append(f"! {sc.name} ({way}): {error}")
        if outcome.plans:
            lines += ["", f"[{outcome.backend}] statements of scenarios at or over "
                      f"{args.explain_ms:g} ms (function p50):", *outcome.plans]  # fmt: skip
    return "\n".join(lines)


def _cell(scenario: Scenario, way: str) -> str:
    if way in scenario.errors:
        return "error"
    timings = scenario.timings.get(way)
    if not timings:
        return "-"
    n = "" if len(timings) >= 10 else f" n={len(timings)}"
    return f"{_p(timings, 0.5):.1f} / {_p(timings, 0.95):.1f}{n}"


# --------------------------------------------------------------------------------------------


def _raise_on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Figures go to stdout, progress to stderr. See bench/README.md.",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50, help="timed calls per scenario and way")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--explain-ms",
        type=float,
        default=50.0,
        help="print the plans of scenarios whose function p50 reaches this (ms)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite)")
    args = parser.parse_args(argv)
    if min(args.users, args.events) < 1000 or args.runs < 1:
        parser.error("--users and --events at least 1000, --runs at least 1")
    if not GUNICORN.exists():
        parser.error(f"{GUNICORN} not found: run with the project's venv python (.venv/bin/python)")
    signal.signal(signal.SIGTERM, _raise_on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    outcomes: list[Outcome] = []
    workdir = Path(tempfile.mkdtemp(prefix="idp-bench-admin-"))
    try:
        for backend in backends:
            folder = workdir / backend
            folder.mkdir()
            with contextlib.ExitStack() as stack:
                if backend == "postgresql":
                    base = stack.enter_context(postgres_server())
                    url = create_database(base, "idp_bench")
                else:
                    url = f"sqlite:///{folder / 'idp.sqlite3'}"
                outcomes.append(run_backend(backend, url, folder, args))
        print(report(outcomes, args), flush=True)
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
