"""Throwaway PostgreSQL clusters for tests.

The application must be tested against the database it runs on in production, not only SQLite, so
these helpers start a private cluster from Debian's binaries in a temporary directory on a free
loopback port and remove it afterwards. PostgreSQL refuses to run as root, so when the tests run as
root the server is run as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

SUPERUSER = "idp"
DEFAULT_DATABASE = "idp_test"
SERVER_SETTINGS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
)
START_ATTEMPTS = 3


def find_bindir() -> Path:
    """Return the bin directory of the highest installed PostgreSQL version."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
            "run scripts/install-test-deps.sh or apt-get install -y postgresql"
        )
    return max((Path(p).parent for p in found), key=lambda d: _version_key(d.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _as_server_user(argv: list[str]) -> list[str]:
    """Prefix a command so it runs as ``postgres`` when we are root."""
    if not _running_as_root():
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *argv]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(_quote(a) for a in argv)]


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # cwd must be readable by the postgres user (root's cwd often is not).
    return subprocess.run(
        _as_server_user(argv), cwd=cwd, capture_output=True, text=True, check=False
    )


def _check(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def free_port() -> int:
    """Ask the kernel for a currently unused loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_workdir() -> Path:
    # As root, use /tmp: $TMPDIR may sit under a directory postgres cannot enter.
    workdir = Path(tempfile.mkdtemp(prefix="idp-pg-", dir="/tmp" if _running_as_root() else None))
    if _running_as_root():
        shutil.chown(workdir, user="postgres", group="postgres")
    return workdir


def _initdb(bindir: Path, workdir: Path) -> Path:
    datadir = workdir / "data"
    argv = [str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", SUPERUSER]
    argv += ["--no-sync", "--encoding=UTF8", "--locale=C"]
    _check(_run(argv, workdir), "initdb")
    return datadir


def _start(bindir: Path, workdir: Path, datadir: Path) -> int:
    """Start the server on a free port, retrying if another process grabs the port first."""
    logfile = workdir / "server.log"
    for _ in range(START_ATTEMPTS):
        port = free_port()
        options = f"-p {port} -k {workdir} {SERVER_SETTINGS}"
        argv = [str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(logfile), "-w", "-t", "60"]
        result = _run([*argv, "-o", options, "start"], workdir)
        if result.returncode == 0:
            return port
    log = logfile.read_text(errors="replace") if logfile.exists() else ""
    raise RuntimeError(f"pg_ctl start failed:\n{result.stdout}{result.stderr}\n{log}")


def _stop(bindir: Path, workdir: Path, datadir: Path) -> None:
    _run([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"], workdir)


def _execute_autocommit(url: str, statement: sql.Composable) -> None:
    """Run one statement outside a transaction (CREATE DATABASE needs that)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(statement)


def create_database(url: str, name: str) -> str:
    """Create a fresh database on the server behind ``url`` and return a URL for it."""
    admin_url = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    _execute_autocommit(admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Run a private PostgreSQL server; yield a SQLAlchemy URL to its ``idp_test`` database."""
    bindir = find_bindir()
    workdir = _make_workdir()
    datadir = workdir / "data"
    try:
        _initdb(bindir, workdir)
        port = _start(bindir, workdir, datadir)
        base = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/postgres"
        yield create_database(base, DEFAULT_DATABASE)
    finally:
        if (datadir / "postmaster.pid").exists():
            _stop(bindir, workdir, datadir)
        shutil.rmtree(workdir, ignore_errors=True)
