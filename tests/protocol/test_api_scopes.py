"""API scopes (``admin``, ``auditor``) are granted only in a client-credentials grant, whatever a
client is registered for: a user's sign-in never yields an admin API token."""

from __future__ import annotations

import pytest

from idp.oauth2 import scopes


@pytest.mark.parametrize("grant_type", ["authorization_code", "refresh_token"])
def test_a_users_grant_never_carries_an_api_scope(grant_type):
    assert scopes.for_grant("openid admin email auditor", grant_type) == "openid email"


def test_the_clients_own_grant_keeps_them():
    assert scopes.for_grant("admin auditor", "client_credentials") == "admin auditor"
