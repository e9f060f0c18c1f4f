"""Requests a browser never sends, in-process: each answered 500 before (found by the fuzz test,
``test_fuzz.py``); now a 4xx in the protocol's format or a plain page."""

from __future__ import annotations

import pytest

import idp.db as schema
from idp.app import create_app
from idp.extensions import db


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile")
    app = create_app({"INSTANCE_PATH": str(path), "DATABASE_URL": f"sqlite:///{path}/t.db"})
    with app.app_context():
        schema.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


def test_a_host_werkzeug_cannot_read_gets_a_plain_400(app):
    response = app.test_client().get("/", headers={"Host": "a" * 64})
    assert response.status_code == 400 and "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("endpoint", ["/token", "/introspect", "/revoke"])
@pytest.mark.parametrize("host", ["", "example.com"])
def test_a_host_that_is_not_https_nor_loopback_is_insecure_transport(app, endpoint, host):
    data = {"grant_type": "client_credentials", "token": "x"}
    response = app.test_client().post(endpoint, data=data, headers={"Host": host})
    assert response.status_code == 400, response.get_data(as_text=True)[:200]
    assert response.get_json()["error"] == "insecure_transport"


@pytest.mark.parametrize("path", ["/token", "/login", "/authorize"])
def test_a_form_field_without_a_name_is_refused(app, path):
    body = b'--b\r\nContent-Disposition: form-data; name="\r"\r\n\r\nx\r\n--b--\r\n'
    response = app.test_client().post(
        path, data=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:200]


def test_a_ceremony_body_nested_beyond_the_parser_reads_as_empty(app):
    body = '{"credential":' + '{"a":' * 5000 + "1" + "}" * 5001
    response = app.test_client().post(
        "/login/passkey/verify", data=body, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:200]
