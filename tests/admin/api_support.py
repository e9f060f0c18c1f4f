"""Calling the admin API in tests: machine clients with client-credentials tokens, and each
answer checked against the OpenAPI document the server publishes."""

from __future__ import annotations

import requests
from jsonschema import Draft202012Validator

from tests.support.oidc import client_credentials_token, machine_client

API = "/admin/api/v1"
PROBLEM = "application/problem+json"


class Api:
    """Calls the admin API with one bearer token (none: no Authorization header)."""

    def __init__(self, server, access_token: str | None, client_id: str | None = None) -> None:
        self.server, self.client_id, self.headers = server, client_id, {}
        if access_token:
            self.headers["Authorization"] = f"Bearer {access_token}"

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"client:{self.client_id}"

    def call(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(
            method, self.server.url + API + path, headers=self.headers, timeout=30, **kw
        )


def api_client(server, scope: str) -> Api:
    """A new machine client registered for ``scope`` (admin or auditor), with a token for it."""
    client = machine_client(server, name="Provisioning", scopes=(scope,))
    return Api(server, client_credentials_token(server, client, scope=scope), client["client_id"])


def openapi_document(server) -> dict:
    response = requests.get(server.url + API + "/openapi.json", timeout=30)
    assert response.status_code == 200
    return response.json()


def conforms(document: dict, path: str, method: str, response: requests.Response) -> dict:
    """The response body, after checking it against the document's schema for its status (a
    problem against the Problem schema); an undocumented status fails."""
    responses = document["paths"][path][method.lower()]["responses"]
    assert str(response.status_code) in responses, (method, path, response.status_code)
    content = responses[str(response.status_code)]["content"]
    kind = response.headers["Content-Type"].split(";")[0]
    assert kind in content, (method, path, kind)
    schema = {**content[kind]["schema"], "components": document["components"]}
    body = response.json()
    Draft202012Validator(schema).validate(body)
    return body


def problem(response: requests.Response, status: int, code: str = "invalid_request") -> dict:
    """The RFC 9457 problem ``response`` must be."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"].endswith("#" + code) and body["status"] == status, body
    assert body["title"] and body["detail"]
    return body
