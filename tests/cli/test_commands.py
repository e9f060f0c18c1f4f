"""The ``idp`` command line, run as a subprocess with ``IDP_*`` settings, as an operator would.

Bad input must give a one-line ``Error: ...`` on stderr, a non-zero exit status and no traceback.

Each command is a new process that takes about half a second to start, so the commands of this
module run as one scenario in three stages, the commands of a stage at the same time (a stage
needs only what earlier stages did); the tests then check one outcome each.
"""

from __future__ import annotations

import base64
import os
import re
import uuid

import pytest
from click.testing import CliRunner

from idp.cli.commands import main
from tests.cli.helpers import json_lines, ok, one_line_error, run_parallel, run_stages

PASSWORD = "correct horse battery staple"
BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
RUN = uuid.uuid4().hex[:8]

EMAIL = f"ada-{RUN}@example.com"
DUP_EMAIL = f"dup-{RUN}@example.com"
NO_ROLE_EMAIL = f"norole-{RUN}@example.com"
TWICE_EMAIL = f"twice-{RUN}@example.com"
STAFF, AUDITORS, TWICE = f"staff-{RUN}", f"auditors-{RUN}", f"twice-{RUN}"
WEB = (
    "clients", "create", "--name", "Web", "--redirect-uri", "https://rp.example/cb",
    "--post-logout-redirect-uri", "https://rp.example/bye", "--first-party",
)  # fmt: skip


def settings_free_env() -> dict:
    """The test process's environment without any IDP_* variable a developer may have set."""
    return {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}


def user_create(email: str, *extra: str, password: str = PASSWORD) -> tuple:
    return ("users", "create", email, "--password-stdin", *extra), password + "\n"


def stages(instance, outside) -> list[dict]:
    """Named commands: ``args`` or ``(args, stdin)`` or ``(args, stdin, env)``."""
    production = {**settings_free_env(), "IDP_INSTANCE_PATH": str(outside), "IDP_ENV": "production"}
    return [
        {
            "role staff": ("roles", "create", STAFF),
            "role twice": ("roles", "create", TWICE),
            "role auditors": ("roles", "create", AUDITORS, "--description", "Read the audit log"),
            "user dup": user_create(DUP_EMAIL),
            "user unknown role": user_create(NO_ROLE_EMAIL, "--role", "no-such-role"),
            "user short password": user_create(f"weak-{RUN}@example.com", password="short"),
            "user blank email": user_create("   "),
            "user email without @": user_create("not-an-email"),
            "client web": WEB,
            "client machine": ("clients", "create", "--name", "Batch",
                               "--grant-type", "client_credentials"),
            "client public": ("clients", "create", "--name", "SPA",
                              "--redirect-uri", "http://localhost:9/spa", "--public"),
            "client fragment": ("clients", "create", "--name", "Frag",
                                "--redirect-uri", "https://rp.example/cb#frag"),
            "client no redirect": ("clients", "create", "--name", "NoURI"),
            "client public machine": ("clients", "create", "--name", "Bad", "--public",
                                      "--grant-type", "client_credentials"),
            "ftp issuer": (("users", "list"), None, {**instance.env, "IDP_ISSUER": "ftp://x"}),
            "production no secret key": (("users", "list"), None, production),
            "help": (("--help",), None, {**settings_free_env(), "IDP_ISSUER": "ftp://x",
                                         "IDP_INSTANCE_PATH": str(outside)}),
        },
        {
            "user with role": user_create(EMAIL, "--name", "Ada", "--role", STAFF),
            "user dup again": user_create(f"  {DUP_EMAIL.upper()} "),
            "role staff again": ("roles", "create", STAFF),
            "user twice role": user_create(TWICE_EMAIL, "--role", TWICE, "--role", TWICE),
        },
        {
            "users list": ("users", "list"),
            "roles list": ("roles", "list"),
            "clients list": ("clients", "list"),
        },
    ]  # fmt: skip


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """An empty folder given as IDP_INSTANCE_PATH to commands that must not write to it."""
    return tmp_path_factory.mktemp("idp-outside")


@pytest.fixture(scope="module")
def ran(instance, outside) -> dict:
    """Every command's ``CompletedProcess`` by name, stage after stage."""
    return run_stages(stages(instance, outside), instance.env)


# --- users ---------------------------------------------------------------------------------


def test_users_create_prints_the_user_and_users_list_shows_it_as_json_lines(ran):
    printed = ok(ran["user with role"])
    assert printed["email"] == EMAIL and printed["roles"] == [STAFF]
    uuid.UUID(printed["sub"])  # the subject identifier is a UUID
    listed = json_lines(ran["users list"].stdout)
    assert all(set(row) == {"sub", "email", "roles"} for row in listed)
    assert {"sub": printed["sub"], "email": EMAIL, "roles": [STAFF]} in listed


def test_duplicate_email_in_other_case_and_padded_is_a_one_line_error_and_adds_no_user(ran):
    ok(ran["user dup"])
    message = one_line_error(ran["user dup again"])
    assert DUP_EMAIL in message and "exists" in message
    assert [row["email"] for row in json_lines(ran["users list"].stdout)].count(DUP_EMAIL) == 1


def test_unknown_role_is_a_one_line_error_and_creates_no_user(ran):
    assert "no-such-role" in one_line_error(ran["user unknown role"])
    assert NO_ROLE_EMAIL not in ran["users list"].stdout


def test_too_short_password_is_a_one_line_error_naming_the_password(ran):
    assert one_line_error(ran["user short password"]).startswith("Error: password:")


def test_repeated_role_option_gives_no_traceback(ran):
    result = ran["user twice role"]
    assert "Traceback" not in result.stderr, result.stderr[-300:]
    if result.returncode != 0:
        one_line_error(result)
    else:
        listed = [
            row for row in json_lines(ran["users list"].stdout) if row["email"] == TWICE_EMAIL
        ]
        assert [row["roles"] for row in listed] == [[TWICE]]


@pytest.mark.parametrize("case", ["user blank email", "user email without @"])
def test_malformed_email_is_a_one_line_error(ran, case):
    one_line_error(ran[case])


# --- roles ---------------------------------------------------------------------------------


def test_roles_create_prints_the_role_and_roles_list_shows_it_with_description(ran):
    assert ok(ran["role auditors"]) == {"name": AUDITORS}
    listed = json_lines(ran["roles list"].stdout)
    auditors = next(row for row in listed if row["name"] == AUDITORS)
    assert auditors["description"] == "Read the audit log" and auditors["mode"] == "off"
    names = [row["name"] for row in listed]
    assert names == sorted(names)


def test_duplicate_role_is_a_one_line_error(ran):
    ok(ran["role staff"])
    message = one_line_error(ran["role staff again"])
    assert STAFF in message and "exists" in message


# --- clients -------------------------------------------------------------------------------


def test_confidential_client_create_prints_client_id_and_a_256_bit_base64url_secret(ran):
    client = ok(ran["client web"])
    assert client["client_id"] and client["public"] is False and client["first_party"] is True
    assert client["redirect_uris"] == ["https://rp.example/cb"]
    assert client["post_logout_redirect_uris"] == ["https://rp.example/bye"]
    assert client["grant_types"] == ["authorization_code", "refresh_token"]
    secret = client["client_secret"]
    assert len(secret) >= 43 and BASE64URL.match(secret), secret
    assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) >= 32


def test_machine_client_needs_no_redirect_uri_and_gets_a_secret(ran):
    client = ok(ran["client machine"])
    assert client["grant_types"] == ["client_credentials"] and client["redirect_uris"] == []
    assert len(client["client_secret"]) >= 43
    assert client["client_secret"] != ok(ran["client web"])["client_secret"]


def test_public_client_create_prints_no_secret(ran):
    client = ok(ran["client public"])
    assert client["public"] is True
    assert "client_secret" not in client


def test_clients_list_never_prints_a_secret(ran):
    out = ran["clients list"].stdout
    rows = json_lines(out)
    created = [ok(ran[name]) for name in ("client web", "client machine", "client public")]
    assert {client["client_id"] for client in created} <= {row["client_id"] for row in rows}
    assert all("client_secret" not in row and "secret_digest" not in row for row in rows)
    assert "secret" not in out.lower()
    secrets = [client["client_secret"] for client in created if "client_secret" in client]
    assert len(secrets) == 2 and not any(secret in out for secret in secrets)


def test_redirect_uri_with_fragment_is_a_one_line_error(ran):
    message = one_line_error(ran["client fragment"])
    assert "fragment" in message and "https://rp.example/cb#frag" in message


def test_authorization_code_client_without_redirect_uri_is_a_one_line_error(ran):
    assert "--redirect-uri" in one_line_error(ran["client no redirect"])


def test_public_client_with_client_credentials_is_a_one_line_error(ran):
    assert "public" in one_line_error(ran["client public machine"])


def test_refused_clients_are_not_registered(ran):
    names = {row["name"] for row in json_lines(ran["clients list"].stdout)}
    assert names.isdisjoint({"Frag", "NoURI", "Bad"})


# --- configuration -------------------------------------------------------------------------


def test_non_http_issuer_is_a_one_line_error_naming_IDP_ISSUER(ran):
    assert one_line_error(ran["ftp issuer"]).startswith("Error: IDP_ISSUER:")


def test_production_without_secret_key_is_refused_naming_IDP_SECRET_KEY(ran, outside):
    assert one_line_error(ran["production no secret key"]).startswith("Error: IDP_SECRET_KEY:")
    assert not any(outside.iterdir()), "production must not generate a secret key"


# --- help ----------------------------------------------------------------------------------

GROUPS = {
    "db": ["upgrade"],
    "users": ["create", "list"],
    "roles": ["create", "list"],
    "clients": ["create", "list"],
    "keys": ["rotate"],
    "audit": ["verify"],
}
COMMANDS = [("serve",), ("demo",), *((group,) for group in GROUPS)]
COMMANDS += [(group, command) for group, commands in GROUPS.items() for command in commands]


def test_idp_help_exits_0_and_lists_every_command_without_a_valid_configuration(ran, outside):
    """The installed ``idp`` script; help needs no valid configuration and touches no files."""
    result = ran["help"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: idp [OPTIONS] COMMAND") and not result.stderr
    for command in ("serve", "demo", *GROUPS):
        assert re.search(rf"^\s+{command}\b", result.stdout, re.M), f"{command} not listed"
    assert not any(outside.iterdir())


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_group_and_command_answers_help_with_status_0(command):
    """Through the same click entry point in-process (a process each costs half a second),
    with a configuration that would be refused."""
    result = CliRunner().invoke(
        main, [*command, "--help"], prog_name="idp", env={"IDP_ISSUER": "ftp://x"}
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: idp {' '.join(command)} [OPTIONS]"), result.output
    for sub in GROUPS.get(command[0], []) if len(command) == 1 else []:
        assert re.search(rf"^\s+{sub}\b", result.output, re.M), f"{sub} not listed"


# --- PostgreSQL: column limits the CLI does not check --------------------------------------

OVER_LONG = {
    "role-name": (("roles", "create", "r" * 65), None),
    "user-email": user_create("e" * 320 + "@example.com"),
    "client-name": (
        ("clients", "create", "--name", "n" * 201, "--redirect-uri", "https://rp.example/cb"),
        None,
    ),
}


@pytest.fixture(scope="module")
def over_long(pg_instance) -> dict:
    commands = [(list(args), pg_instance.env, stdin) for args, stdin in OVER_LONG.values()]
    return dict(zip(OVER_LONG, run_parallel(commands), strict=True))


@pytest.mark.parametrize("case", list(OVER_LONG))
def test_over_long_value_is_a_one_line_error_on_postgresql(over_long, case):
    result = over_long[case]
    assert "$argon2" not in result.stderr, "the password hash leaked to stderr"
    one_line_error(result)
