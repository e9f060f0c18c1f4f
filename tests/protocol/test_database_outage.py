"""A database that cannot be reached gives 503 with Retry-After, never a 500: JSON at the
protocol endpoints, a friendly page for people; and the same outage's traceback is logged once,
not once per request."""

from __future__ import annotations

import logging

import pytest

from idp.app import create_app
from tests.support.postgres import free_port

TOKEN_REQUEST = {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}


@pytest.fixture(params=["sqlite", "postgresql"])
def app_without_database(request, tmp_path):
    """A provider whose database is gone: a SQLite file in a folder that does not exist, or a
    PostgreSQL port nobody listens on."""
    url = {
        "sqlite": f"sqlite:///{tmp_path}/missing/idp.sqlite3",
        "postgresql": f"postgresql+psycopg://idp@127.0.0.1:{free_port()}/idp",
    }[request.param]
    return create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": url})


@pytest.mark.parametrize("endpoint", ["/token", "/introspect", "/revoke"])
def test_protocol_endpoints_answer_503_json_with_retry_after(app_without_database, endpoint):
    data = {**TOKEN_REQUEST, "token": "x"}
    response = app_without_database.test_client().post(endpoint, data=data)
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("path", "cookie"),
    [
        ("/login", None),  # the page keeps its CSRF token in the browser's session, a row
        ("/authorize?response_type=code&client_id=c", None),
        ("/account/", "A" * 43),  # a session id to look up
    ],
)
def test_pages_answer_a_friendly_503(app_without_database, path, cookie):
    browser = app_without_database.test_client()
    if cookie:
        browser.set_cookie("idp_session", cookie, domain="localhost")
    response = browser.get(path)
    assert response.status_code == 503 and "Temporarily unavailable" in response.get_data(True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0
    assert "Location" not in response.headers and "Set-Cookie" not in response.headers


def test_one_outage_is_logged_whole_once(app_without_database, caplog):
    caplog.set_level(logging.WARNING, logger="idp.web.outage")
    client = app_without_database.test_client()
    for _ in range(20):
        assert client.post("/token", data=TOKEN_REQUEST).status_code == 503
    whole = [r for r in caplog.records if r.exc_info]
    assert len(whole) <= 1 and len(caplog.records) == 20
