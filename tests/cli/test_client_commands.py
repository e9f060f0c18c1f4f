"""``idp clients create/update/list``: PKCE is required of every client unless a confidential
one carries the audited ``--allow-no-pkce`` opt-out; ``update`` changes any registered setting,
checked as at registration and audited with the settings before and after."""

from __future__ import annotations

import json

import pytest

from tests.cli.helpers import audit_rows, json_lines, one_line_error

WEB = ("clients", "create", "--name", "Web", "--redirect-uri", "https://rp.example/cb")


def _created(instance, *extra: str) -> dict:
    return json.loads(instance.cli(*WEB, *extra).stdout)


def _listed(instance, client_id: str) -> dict:
    rows = json_lines(instance.cli("clients", "list").stdout)
    return next(row for row in rows if row["client_id"] == client_id)


def _detail(instance, event: str, client_id: str) -> dict:
    rows = [r for r in audit_rows(instance) if (r["event"], r["client_id"]) == (event, client_id)]
    detail = rows[-1]["detail"]
    return json.loads(detail) if isinstance(detail, str) else detail


def test_clients_need_pkce_unless_opted_out_and_list_shows_it(instance):
    plain, legacy = _created(instance), _created(instance, "--allow-no-pkce")
    assert plain["allow_no_pkce"] is False and legacy["allow_no_pkce"] is True
    assert _listed(instance, legacy["client_id"])["allow_no_pkce"] is True
    assert _detail(instance, "client_created", legacy["client_id"])["after"]["allow_no_pkce"]


def test_public_client_cannot_opt_out_of_pkce(instance):
    result = instance.cli(*WEB, "--public", "--allow-no-pkce", check=False)
    assert "PKCE" in one_line_error(result)


def test_update_changes_only_what_it_is_given_and_is_audited(instance):
    client = _created(instance, "--minimum-acr", "phr")
    cid = client["client_id"]
    printed = json.loads(
        instance.cli("clients", "update", cid, "--allow-no-pkce", "--name", "Web 2").stdout
    )
    assert printed["allow_no_pkce"] is True and printed["name"] == "Web 2"
    assert printed["minimum_acr"] == "phr" and printed["redirect_uris"] == client["redirect_uris"]
    change = _detail(instance, "client_changed", cid)
    assert change["before"]["allow_no_pkce"] is False and change["after"]["allow_no_pkce"] is True
    assert (change["before"]["name"], change["after"]["name"]) == ("Web", "Web 2")

    again = instance.cli("clients", "update", cid, "--require-pkce", "--third-party").stdout
    assert json.loads(again)["allow_no_pkce"] is False and not json.loads(again)["first_party"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--redirect-uri", "https://rp.example/cb#frag"), "fragment"),
        (("--minimum-acr", "urn:nope"), "urn:nope"),
        (("--name", ""), "name"),
    ],
)
def test_bad_update_is_one_line_and_changes_nothing(instance, args, words):
    client = _created(instance)
    result = instance.cli("clients", "update", client["client_id"], *args, check=False)
    assert words in one_line_error(result)
    assert _listed(instance, client["client_id"]) == {
        k: v for k, v in client.items() if k != "client_secret"
    }


def test_update_of_an_unknown_client_is_one_line(instance):
    result = instance.cli("clients", "update", "nobody", "--name", "X", check=False)
    assert "no client nobody" in one_line_error(result)


def test_resources_are_registered_listed_replaced_and_cleared(instance):
    client = _created(instance, "--resource", "https://api.example/", "--resource", "urn:x:y")
    cid = client["client_id"]
    assert client["resources"] == ["https://api.example/", "urn:x:y"]
    assert _listed(instance, cid)["resources"] == client["resources"]
    replaced = instance.cli("clients", "update", cid, "--resource", "https://b.example/").stdout
    assert json.loads(replaced)["resources"] == ["https://b.example/"]
    change = _detail(instance, "client_changed", cid)
    assert change["before"]["resources"] == client["resources"]
    cleared = instance.cli("clients", "update", cid, "--clear-resources").stdout
    assert json.loads(cleared)["resources"] == []


@pytest.mark.parametrize("resource", ["/relative", "https://api.example/#frag", "api.example"])
def test_a_resource_must_be_an_absolute_uri_without_fragment(instance, resource):
    result = instance.cli(*WEB, "--resource", resource, check=False)
    assert "absolute URI" in one_line_error(result)


def test_an_api_serves_resources_and_must_be_confidential(instance):
    api = json.loads(
        instance.cli(
            "clients", "create", "--name", "API", "--grant-type", "client_credentials",
            "--serves", "https://api.example/",
        ).stdout
    )  # fmt: skip
    assert api["served_resources"] == ["https://api.example/"]
    cleared = instance.cli("clients", "update", api["client_id"], "--clear-serves").stdout
    assert json.loads(cleared)["served_resources"] == []
    public = instance.cli(*WEB, "--public", "--serves", "https://api.example/", check=False)
    assert "confidential" in one_line_error(public)
