"""The MFA policy from the command line: ``idp roles set-policy``, ``idp policy show``,
``idp policy set-default``, ``idp users override`` and ``idp clients set-acr``.

Every change is audited with the policy before and after; bad input is a one-line error and
changes nothing. Commands run in parallel stages (see ``test_commands.py``).
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.cli.helpers import audit_rows, json_lines, ok, one_line_error, run_stages

RUN = uuid.uuid4().hex[:8]
ADMINS, STAFF = f"admins-{RUN}", f"staff-{RUN}"
ALICE = f"alice-{RUN}@example.com"
PASSWORD = "correct horse battery staple\n"


def stages() -> list[dict]:
    return [
        {
            "role admins": ("roles", "create", ADMINS),
            "role staff": ("roles", "create", STAFF),
            "user alice": (("users", "create", ALICE, "--password-stdin"), PASSWORD),
            "client": ("clients", "create", "--name", "Admin tool", "--redirect-uri",
                       "https://admin.example/cb", "--minimum-acr", "phr",
                       "--default-acr", "urn:idp:acr:mfa"),
            "client bad acr": ("clients", "create", "--name", "X", "--redirect-uri",
                               "https://x.example/cb", "--minimum-acr", "urn:nope"),
        },
        {
            "admins policy": ("roles", "set-policy", ADMINS, "--mode", "required",
                              "--factors", "passkey,totp", "--no-remember-device",
                              "--factor-max-age", "3600", "--grace-signins", "3"),
            "staff policy": ("roles", "set-policy", STAFF, "--mode", "recommended"),
            "default policy": ("policy", "set-default", "--grace-days", "7"),
            "exempt alice": ("users", "override", ALICE, "--exempt", "--until", "2099-01-31",
                             "--reason", "lost phone"),
            "unknown role": ("roles", "set-policy", f"nobody-{RUN}", "--mode", "required"),
            "unknown kind": ("roles", "set-policy", STAFF, "--factors", "pigeon"),
            "no kind": ("roles", "set-policy", STAFF, "--factors", ","),
            "bad mode": ("roles", "set-policy", STAFF, "--mode", "sometimes"),
            "override in the past": ("users", "override", ALICE, "--require", "--until",
                                     "2001-01-01", "--reason", "x"),
            "override without reason": ("users", "override", ALICE, "--require", "--until",
                                        "2099-01-01"),
            "override without until": ("users", "override", ALICE, "--exempt", "--reason", "x"),
            "override bad date": ("users", "override", ALICE, "--exempt", "--until",
                                  "next tuesday", "--reason", "x"),
            "override unknown user": ("users", "override", f"nobody-{RUN}@example.com",
                                      "--exempt", "--until", "2099-01-01", "--reason", "x"),
        },
        {"admins again": ("roles", "set-policy", ADMINS, "--grace-signins", "1")},
        {"client default only": ("clients", "set-acr", "CLIENT", "--default-acr", "1")},
        {"client clear minimum": ("clients", "set-acr", "CLIENT", "--no-minimum-acr")},
        {"show": ("policy", "show"), "roles list": ("roles", "list")},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def ran(instance) -> dict:
    """Stage after stage; ``CLIENT`` stands for the id of the client the first stage made."""
    results: dict = {}
    for stage in stages():
        if "client" in results:
            client_id = json.loads(results["client"].stdout)["client_id"]
            stage = {
                k: tuple(client_id if a == "CLIENT" else a for a in v) for k, v in stage.items()
            }
        results.update(run_stages([stage], instance.env))
    return results


def test_set_policy_prints_the_whole_policy(ran):
    printed = ok(ran["admins policy"])
    assert printed == {
        "role": ADMINS, "mode": "required", "factors": ["passkey", "totp"],
        "remember_device": False, "factor_max_age": 3600, "grace_signins": 3, "grace_days": 0,
        "require_attested_passkeys": False,
    }  # fmt: skip


def test_options_not_given_keep_their_values(ran):
    printed = ok(ran["admins again"])
    assert printed["grace_signins"] == 1 and printed["mode"] == "required"
    assert printed["factors"] == ["passkey", "totp"] and printed["remember_device"] is False


def test_policy_show_lists_the_default_every_role_and_the_overrides(ran):
    shown = ok(ran["show"])
    assert shown["default"]["grace_days"] == 7 and shown["default"]["mode"] == "off"
    assert shown["roles"][STAFF]["mode"] == "recommended"
    assert shown["roles"][ADMINS]["grace_signins"] == 1
    [override] = [o for o in shown["overrides"] if o["email"] == ALICE]
    # a plain date means through that day (UTC)
    assert override == {"email": ALICE, "kind": "exempt", "until": "2099-02-01T00:00:00+00:00",
                        "reason": "lost phone"}  # fmt: skip


def test_roles_list_shows_each_policy(ran):
    listed = {row["name"]: row for row in json_lines(ran["roles list"].stdout)}
    assert listed[STAFF]["mode"] == "recommended" and listed[ADMINS]["factor_max_age"] == 3600


def test_set_acr_changes_only_what_it_is_given(ran):
    changed = ok(ran["client default only"])
    assert changed["minimum_acr"] == "phr" and changed["default_acr_values"] == ["1"]
    cleared = ok(ran["client clear minimum"])
    assert cleared["minimum_acr"] is None and cleared["default_acr_values"] == ["1"]


def test_client_acr_policy_is_printed_and_checked(ran):
    client = ok(ran["client"])
    assert client["minimum_acr"] == "phr" and client["default_acr_values"] == ["urn:idp:acr:mfa"]
    assert "urn:nope" in one_line_error(ran["client bad acr"])


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("unknown role", "no role named"),
        ("unknown kind", "pigeon"),
        ("no kind", "at least one kind"),
        ("override in the past", "future"),
        ("override without reason", "reason"),
        ("override without until", "--until"),
        ("override bad date", "next tuesday"),
        ("override unknown user", "no user"),
    ],
)
def test_bad_input_is_a_one_line_error(ran, case, words):
    assert words in one_line_error(ran[case])


def test_an_unknown_mode_is_a_usage_error(ran):
    assert ran["bad mode"].returncode == 2 and "'sometimes' is not one of" in ran["bad mode"].stderr


def test_every_change_is_audited_with_before_and_after(ran, instance):
    rows = audit_rows(instance)
    changes = [r for r in rows if r["event"] == "role_policy_changed"]
    details = [json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"]
               for r in changes]  # fmt: skip
    admins = [d for d in details if d["role"] == ADMINS]
    assert admins[0]["before"]["mode"] == "off" and admins[0]["after"]["mode"] == "required"
    assert admins[1]["before"]["grace_signins"] == 3 and admins[1]["after"]["grace_signins"] == 1
    events = {r["event"] for r in rows}
    assert {"default_policy_changed", "policy_override_set"} <= events
    # refused changes wrote nothing: exactly the three accepted role changes are recorded
    assert len([d for d in details if d["role"] in (ADMINS, STAFF)]) == 3


# --- sensitive-operation windows: ``idp policy windows``, ``set-window``, ``clear-window`` ------


def window_stages() -> list[dict]:
    return [
        {"windows before": ("policy", "windows")},
        {
            "set admin": ("policy", "set-window", "admin", "120"),
            "set too short": ("policy", "set-window", "change_password", "29"),
            "set too long": ("policy", "set-window", "change_password", "86401"),
            "set unknown": ("policy", "set-window", "launch_rockets", "300"),
            "set not a number": ("policy", "set-window", "admin", "soon"),
            "clear not set": ("policy", "clear-window", "remove_factor"),
            "clear unknown": ("policy", "clear-window", "launch_rockets"),
        },
        {"set admin again": ("policy", "set-window", "admin", "120")},
        {"windows set": ("policy", "windows")},
        {"clear admin": ("policy", "clear-window", "admin")},
        {"windows after": ("policy", "windows")},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def windows_ran(instance) -> dict:
    return run_stages(window_stages(), instance.env)


def test_policy_windows_lists_every_operation_from_the_configuration(windows_ran):
    shown = ok(windows_ran["windows before"])
    assert list(shown) == [
        "change_password", "change_email", "add_factor", "remove_factor",
        "regenerate_backup_codes", "revoke_devices", "admin",
    ]  # fmt: skip
    assert shown["add_factor"] == {"seconds": 600, "source": "configuration", "configured": 600}
    assert shown["admin"] == {"seconds": 300, "source": "configuration", "configured": 300}


def test_set_window_wins_until_clear_window_gives_it_back(windows_ran):
    assert ok(windows_ran["set admin"]) == {
        "operation": "admin", "seconds": 120, "source": "console", "configured": 300,
        "changed": True,
    }  # fmt: skip
    assert ok(windows_ran["set admin again"])["changed"] is False
    assert ok(windows_ran["windows set"])["admin"]["source"] == "console"
    assert ok(windows_ran["clear admin"]) == {
        "operation": "admin", "seconds": 300, "source": "configuration", "configured": 300,
        "changed": True,
    }  # fmt: skip
    assert ok(windows_ran["clear not set"])["changed"] is False
    assert ok(windows_ran["windows after"]) == ok(windows_ran["windows before"])


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("set too short", "between 30 and 86400 seconds"),
        ("set too long", "between 30 and 86400 seconds"),
        ("set unknown", "unknown operation 'launch_rockets'"),
        ("clear unknown", "unknown operation 'launch_rockets'"),
    ],
)
def test_a_bad_window_is_a_one_line_error(windows_ran, case, words):
    assert words in one_line_error(windows_ran[case])


def test_a_window_that_is_not_a_number_is_a_usage_error(windows_ran):
    refused = windows_ran["set not a number"]
    assert refused.returncode == 2 and "'soon' is not a valid integer" in refused.stderr


def test_window_changes_are_audited_as_the_cli_and_refusals_are_not(windows_ran, instance):
    rows = [r for r in audit_rows(instance) if r["event"] == "operation_window_changed"]
    details = [json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"]
               for r in rows]  # fmt: skip
    assert [r["actor"] for r in rows] == ["cli", "cli"]
    assert details == [
        {"operation": "admin", "before": {"seconds": 300},
         "after": {"seconds": 120, "source": "console"}},
        {"operation": "admin", "before": {"seconds": 120, "source": "console"},
         "after": {"seconds": 300, "source": "configuration"}},
    ]  # fmt: skip
