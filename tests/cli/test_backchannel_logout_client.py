"""``idp clients create/update --backchannel-logout-uri``: an absolute http(s) URI without a
fragment (OIDC Back-Channel Logout 1.0 2.2), shown in ``clients list``, changed and removed by
``update``, audited with the settings before and after."""

from __future__ import annotations

import json

import pytest

from tests.cli.helpers import audit_rows, json_lines, one_line_error

WEB = ("clients", "create", "--name", "Web", "--redirect-uri", "https://rp.example/cb")
URI = "https://rp.example/backchannel-logout?tenant=1"


def _listed(instance, client_id: str) -> dict:
    rows = json_lines(instance.cli("clients", "list").stdout)
    return next(row for row in rows if row["client_id"] == client_id)


def _changes(instance, client_id: str) -> list[dict]:
    rows = [r for r in audit_rows(instance) if r["client_id"] == client_id]
    return [json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"] for r in rows]


def test_a_client_registers_a_logout_uri_that_list_shows_and_update_changes(instance):
    client = json.loads(instance.cli(*WEB, "--backchannel-logout-uri", URI).stdout)
    cid = client["client_id"]
    assert client["backchannel_logout_uri"] == URI
    assert _listed(instance, cid)["backchannel_logout_uri"] == URI

    other = "http://10.0.0.5:8080/logout"
    instance.cli("clients", "update", cid, "--backchannel-logout-uri", other)
    assert _listed(instance, cid)["backchannel_logout_uri"] == other
    instance.cli("clients", "update", cid, "--no-backchannel-logout-uri")
    assert _listed(instance, cid)["backchannel_logout_uri"] is None

    created, changed, removed = _changes(instance, cid)
    assert created["after"]["backchannel_logout_uri"] == URI
    assert (
        changed["before"]["backchannel_logout_uri"],
        changed["after"]["backchannel_logout_uri"],
    ) == (
        URI,
        other,
    )
    assert removed["after"]["backchannel_logout_uri"] is None


def test_a_client_without_one_has_none(instance):
    assert json.loads(instance.cli(*WEB).stdout)["backchannel_logout_uri"] is None


@pytest.mark.parametrize(
    "uri",
    [
        "/logout",  # relative
        "rp.example/logout",  # no scheme
        "https://rp.example/logout#frag",  # fragment (2.2)
        "ftp://rp.example/logout",  # not POSTable
        "https:///logout",  # no host
    ],
)
def test_a_logout_uri_that_is_not_absolute_http_without_a_fragment_is_refused(instance, uri):
    error = one_line_error(instance.cli(*WEB, "--backchannel-logout-uri", uri, check=False))
    assert "back-channel logout URI" in error


def test_giving_a_logout_uri_and_its_removal_at_once_is_refused(instance):
    cid = json.loads(instance.cli(*WEB).stdout)["client_id"]
    result = instance.cli(
        "clients", "update", cid, "--backchannel-logout-uri", URI, "--no-backchannel-logout-uri",
        check=False,
    )  # fmt: skip
    assert "not both" in one_line_error(result)
