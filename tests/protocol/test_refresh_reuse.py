"""The refresh reuse interval: a lost response's retry is not a replay (RFC 9700 4.14.2).

A just-rotated refresh token presented again by its authenticated client within
``IDP_REFRESH_REUSE_INTERVAL`` gets a new successor; the successor it never received is retired.
After the interval, from another client, once the successor was used, or from a public client
(unless ``IDP_REFRESH_REUSE_PUBLIC``), it is a replay that revokes the family. The default
``server`` has the default interval (10 s); ``short_server`` has 1 s and public clients on.
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from alembic import command
from sqlalchemy import inspect

from idp import config
from idp import db as schema
from idp.extensions import db
from tests.cli.helpers import audit_rows, connect
from tests.support.live import backend_server
from tests.support.migrations import schema_differences, upgraded_app
from tests.support.oidc import HostedPages, RelyingParty

REFRESH = "refresh_token"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def short_server(request, tmp_path_factory):
    """A provider with a 1 s reuse interval that public clients get too."""
    settings = {"REFRESH_REUSE_INTERVAL": 1, "REFRESH_REUSE_PUBLIC": "true"}
    with backend_server(request, tmp_path_factory, "refresh_reuse", **settings) as live:
        yield live


def _first_tokens(server, client: dict, user: dict) -> tuple[RelyingParty, dict]:
    relying = RelyingParty(server, client)
    result = relying.sign_in(HostedPages(server.url), user)
    response = relying.redeem(result)
    assert response.status_code == 200, response.text
    return relying, response.json()


def _refresh(relying: RelyingParty, token: str):
    return relying.post(relying.meta["token_endpoint"], {"grant_type": REFRESH, REFRESH: token})


def _active(relying: RelyingParty, token: str) -> bool:
    return relying.post(relying.meta["introspection_endpoint"], {"token": token}).json()["active"]


def _row(server, refresh_token: str) -> dict:
    """The token row of a refresh token: family, rotation, revocation."""
    mark = "%s" if server.backend == "postgresql" else "?"
    digest = hashlib.sha256(refresh_token.encode()).hexdigest()
    with connect(server) as conn:
        cursor = conn.execute(
            f"SELECT family, rotated_at, revoked_at, jti FROM tokens WHERE refresh_digest = {mark}",
            (digest,),
        )
        return dict(
            zip(("family", "rotated_at", "revoked_at", "jti"), cursor.fetchone(), strict=True)
        )


def _events(server, event: str, client_id: str) -> list[dict]:
    rows = [r for r in audit_rows(server) if r["event"] == event and r["client_id"] == client_id]
    for row in rows:
        row["detail"] = (
            row["detail"] if isinstance(row["detail"], dict) else json.loads(row["detail"])
        )
    return rows


def _jti(access_token: str) -> str:
    return jwt.decode(access_token, options={"verify_signature": False})["jti"]


def test_a_just_rotated_token_presented_again_by_its_client_gets_a_new_successor(server, rp, user):
    relying, first = _first_tokens(server, rp, user)
    lost = _refresh(relying, first[REFRESH])  # the response the client never read
    assert lost.status_code == 200
    retry = _refresh(relying, first[REFRESH])
    assert retry.status_code == 200, retry.text
    again = retry.json()
    assert again[REFRESH] not in (first[REFRESH], lost.json()[REFRESH])
    assert _active(relying, again["access_token"]) and _active(relying, again[REFRESH])
    assert _row(server, again[REFRESH])["family"] == _row(server, first[REFRESH])["family"]
    # the successor nobody received is retired, access token included: one live token
    assert not _active(relying, lost.json()[REFRESH])
    assert not _active(relying, lost.json()["access_token"])
    reuses = _events(server, "refresh_reuse_within_interval", rp["client_id"])
    assert [r["detail"]["superseded_jti"] for r in reuses] == [_jti(lost.json()["access_token"])]
    assert reuses[0]["subject"] == user["sub"] and reuses[0]["outcome"] == "success"
    onward = _refresh(relying, again[REFRESH])
    assert onward.status_code == 200, onward.text
    assert _active(relying, onward.json()[REFRESH])


def test_the_successor_retired_by_a_reuse_is_a_replay_when_it_turns_up(server, rp, user):
    """Had the first response reached someone after all, two parties hold the family: the one
    presenting the retired successor shows it, and the family is revoked."""
    relying, first = _first_tokens(server, rp, user)
    lost = _refresh(relying, first[REFRESH]).json()
    again = _refresh(relying, first[REFRESH]).json()
    replay = _refresh(relying, lost[REFRESH])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _refresh(relying, again[REFRESH]).json()["error"] == "invalid_grant"
    assert not _active(relying, again["access_token"])
    replays = _events(server, "refresh_replay_detected", rp["client_id"])
    assert replays[-1]["detail"]["reason"] == "revoked"
    assert replays[-1]["detail"]["tokens_revoked"] >= 1


def test_a_just_rotated_token_whose_successor_was_used_is_a_replay(server, rp, user):
    relying, first = _first_tokens(server, rp, user)
    second = _refresh(relying, first[REFRESH]).json()
    third = _refresh(relying, second[REFRESH]).json()
    replay = _refresh(relying, first[REFRESH])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _refresh(relying, third[REFRESH]).json()["error"] == "invalid_grant"
    assert not _active(relying, third["access_token"])
    replays = _events(server, "refresh_replay_detected", rp["client_id"])
    assert replays[-1]["detail"]["reason"] == "successor_used"


def test_a_just_rotated_token_presented_by_another_client_is_a_replay(server, rp, user):
    relying, first = _first_tokens(server, rp, user)
    second = _refresh(relying, first[REFRESH]).json()
    before = len(_events(server, "refresh_replay_detected", rp["client_id"]))
    other = server.create_client(
        "--name", "Reuse Other", "--redirect-uri", "http://localhost:9/reuse", "--first-party"
    )
    stranger = RelyingParty(server, other)
    replay = _refresh(stranger, first[REFRESH])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _refresh(relying, second[REFRESH]).json()["error"] == "invalid_grant"
    replays = _events(server, "refresh_replay_detected", rp["client_id"])[before:]
    assert [r["detail"]["reason"] for r in replays] == ["another_client"]
    assert replays[0]["detail"]["tokens_revoked"] >= 1


def test_a_public_client_gets_no_reuse_interval_unless_configured(server, public_rp, user):
    relying, first = _first_tokens(server, public_rp, user)
    second = _refresh(relying, first[REFRESH]).json()
    replay = _refresh(relying, first[REFRESH])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _refresh(relying, second[REFRESH]).json()["error"] == "invalid_grant"
    replays = _events(server, "refresh_replay_detected", public_rp["client_id"])
    assert replays[-1]["detail"]["reason"] == "public_client"


def test_concurrent_uses_by_its_client_leave_at_most_one_live_refresh_token(server, rp, user):
    """Within the interval, concurrent uses of one token by its own client each rotate it or
    re-issue it (or, on PostgreSQL, one that finds the successor retired meanwhile is a
    replay): whatever wins, the family never has two live refresh tokens."""
    relying, first = _first_tokens(server, rp, user)
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: _refresh(relying, first[REFRESH]), range(4)))
    assert all(r.status_code in (200, 400) for r in responses), [r.text for r in responses]
    issued = [r.json()[REFRESH] for r in responses if r.status_code == 200]
    assert issued, [r.text for r in responses]
    assert sum(_active(relying, token) for token in issued) <= 1
    family = _row(server, first[REFRESH])["family"]
    mark = "%s" if server.backend == "postgresql" else "?"
    with connect(server) as conn:
        live = conn.execute(
            "SELECT COUNT(*) FROM tokens WHERE family = "
            f"{mark} AND rotated_at IS NULL AND revoked_at IS NULL",
            (family,),
        ).fetchone()[0]
    assert live <= 1


def test_reuse_after_the_interval_revokes_the_family(short_server):
    user = short_server.create_user()
    client = short_server.create_client(
        "--name", "Short RP", "--redirect-uri", "http://localhost:9/short", "--first-party"
    )
    relying, first = _first_tokens(short_server, client, user)
    second = _refresh(relying, first[REFRESH]).json()
    time.sleep(2.2)  # whole seconds: "at most 1 s ago" ends within 2 s of the rotation
    replay = _refresh(relying, first[REFRESH])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _refresh(relying, second[REFRESH]).json()["error"] == "invalid_grant"
    assert not _active(relying, second["access_token"])
    replays = _events(short_server, "refresh_replay_detected", client["client_id"])
    assert [r["detail"]["reason"] for r in replays] == ["after_interval"]


def test_a_public_client_gets_the_interval_where_configured(short_server):
    user = short_server.create_user()
    client = short_server.create_client(
        "--name", "Short SPA", "--redirect-uri", "http://localhost:9/spa", "--public",
        "--first-party",
    )  # fmt: skip
    relying, first = _first_tokens(short_server, client, user)
    lost = _refresh(relying, first[REFRESH]).json()
    retry = _refresh(relying, first[REFRESH])
    assert retry.status_code == 200, retry.text
    assert not _active(relying, lost[REFRESH])
    assert _refresh(relying, retry.json()[REFRESH]).status_code == 200
    assert len(_events(short_server, "refresh_reuse_within_interval", client["client_id"])) == 1


@pytest.mark.parametrize("value", ["-1", "61", "ten"])
def test_a_reuse_interval_out_of_range_is_refused_naming_the_variable(tmp_path, value):
    with pytest.raises(config.ConfigError) as refused:
        config.load({"INSTANCE_PATH": str(tmp_path), "REFRESH_REUSE_INTERVAL": value})
    assert "IDP_REFRESH_REUSE_INTERVAL" in str(refused.value)


def test_the_reuse_settings_default_to_ten_seconds_for_confidential_clients(tmp_path):
    settings = config.load({"INSTANCE_PATH": str(tmp_path)})
    assert (settings["REFRESH_REUSE_INTERVAL"], settings["REFRESH_REUSE_PUBLIC"]) == (10, False)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0013_goes_down_and_up_and_matches_the_models(tmp_path, request, backend):
    with upgraded_app(tmp_path, request, backend, "migration_0013"):
        assert schema_differences() == []
        command.downgrade(schema.alembic_config(), "0012")
        with db.engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("tokens")}
        assert "rotated_from" not in columns
        schema.upgrade()
        assert schema_differences() == []
