"""``idp users set-roles`` and ``idp users show``, and the roles ``idp db upgrade`` creates."""

from __future__ import annotations

import json

from tests.admin.support import person, show
from tests.support.factors import enroll_totp


def test_db_upgrade_creates_the_admin_and_auditor_roles(server):
    listed = [json.loads(line) for line in server.cli("roles", "list").stdout.splitlines()]
    assert {"admin", "auditor"} <= {r["name"] for r in listed}


def test_set_roles_replaces_the_roles_and_is_audited_with_before_and_after(server):
    account = person(server, "auditor")
    out = server.cli("users", "set-roles", account["email"], "admin", "admin")
    assert json.loads(out.stdout) == {
        "email": account["email"], "before": ["auditor"], "after": ["admin"],
    }  # fmt: skip
    cleared = json.loads(server.cli("users", "set-roles", account["email"], "--none").stdout)
    assert cleared["after"] == []
    events = [
        e for e in show(server, account["email"])["recent_events"] if e["event"] == "roles_set"
    ]
    assert [(e["actor"], e["detail"]) for e in events] == [
        ("cli", {"before": ["admin"], "after": []}),
        ("cli", {"before": ["auditor"], "after": ["admin"]}),
        ("cli", {"before": [], "after": ["auditor"]}),
    ]


def test_set_roles_refuses_an_unknown_role_in_one_line_and_changes_nothing(server):
    account = person(server, "auditor")
    result = server.cli("users", "set-roles", account["email"], "admin", "root", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: no role named 'root'; create it with 'idp roles create'"
    ]
    assert show(server, account["email"])["roles"] == ["auditor"]


def test_set_roles_needs_roles_or_none_but_not_both(server):
    account = person(server)
    assert server.cli("users", "set-roles", account["email"], check=False).returncode == 2
    both = server.cli("users", "set-roles", account["email"], "admin", "--none", check=False)
    assert both.returncode == 2
    missing = server.cli("users", "set-roles", "nobody@example.com", "admin", check=False)
    assert missing.returncode == 1 and "no user with email" in missing.stderr


def test_show_prints_the_user_as_json_without_secrets(server):
    account = enroll_totp(server, person(server, "auditor"))
    shown = show(server, account["email"])
    assert shown["sub"] == account["sub"] and shown["email"] == account["email"]
    assert shown["roles"] == ["auditor"]
    kinds = {f["kind"]: f for f in shown["factors"]}
    assert kinds["totp"]["status"] == "active" and kinds["totp"]["name"]
    assert {"created_at", "last_used_at", "locked"} <= kinds["totp"].keys()
    assert "backup_codes" in kinds
    assert len(shown["sessions"]) == 1 and "pwd" in shown["sessions"][0]["amr"]
    assert shown["remembered_browsers"] == [] and shown["offline_grants"] == []
    assert any(e["event"] == "sign_in" for e in shown["recent_events"])
    text = json.dumps(shown)
    assert account["secret"] not in text and account["password"] not in text
    assert not any(code in text for code in account["codes"])
