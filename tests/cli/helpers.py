"""Helpers shared by the CLI tests: one-line error checks, database access, parallel runs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from contextlib import closing, contextmanager

import psycopg
from sqlalchemy.engine import make_url

from tests.support.live import IDP, LiveServer


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """Assert the command failed with exactly one ``Error: ...`` line and no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


def json_lines(text: str) -> list[dict]:
    """Every non-empty line of ``text`` must be one JSON object."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_parallel(commands: list[tuple]) -> list[subprocess.CompletedProcess]:
    """Run several ``idp`` commands at once, each ``(args, env)`` or ``(args, env, stdin)``;
    every process start costs about half a second, so independent commands overlap."""
    procs = []
    for args, env, *stdin in commands:
        proc = subprocess.Popen(  # noqa: S603
            [IDP, *args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append((proc, args, stdin[0] if stdin else ""))
    results = []
    for proc, args, stdin in procs:
        out, err = proc.communicate(stdin, timeout=120)
        results.append(subprocess.CompletedProcess([IDP, *args], proc.returncode, out, err))
    return results


def _command(spec: tuple, default_env: dict) -> tuple[list[str], dict, str | None]:
    """``args``, ``(args, stdin)`` or ``(args, stdin, env)`` as ``(args, env, stdin)``."""
    if isinstance(spec[0], str):  # bare arguments
        spec = (spec,)
    args, stdin, env = (*spec, None, None)[:3]
    return list(args), env or default_env, stdin


def run_stages(stages: list[dict], default_env: dict) -> dict:
    """Every named command's ``CompletedProcess``, stage after stage, each stage in parallel."""
    results = {}
    for stage in stages:
        commands = [_command(spec, default_env) for spec in stage.values()]
        results.update(zip(stage, run_parallel(commands), strict=True))
    return results


def ok(result: subprocess.CompletedProcess) -> dict:
    """The JSON a successful command printed."""
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@contextmanager
def connect(server: LiveServer):
    """A plain DB-API connection (sqlite3 or psycopg) to ``server``'s database, outside idp."""
    url = server.env.get("IDP_DATABASE_URL")  # unset: the default SQLite file
    if url:
        conninfo = make_url(url).set(drivername="postgresql")
        with psycopg.connect(conninfo.render_as_string(hide_password=False)) as conn:
            yield conn
    else:
        with closing(sqlite3.connect(server.instance / "idp.sqlite3")) as conn:
            yield conn


def audit_rows(server: LiveServer) -> list[dict]:
    """Every audit row, in order, as a dict of column name to value."""
    with connect(server) as conn:
        cursor = conn.execute("SELECT * FROM audit_events ORDER BY seq")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
