"""JSON APIs declared once: each operation's method, path, parameters, body and response are
JSON Schemas (2020-12, the dialect of OpenAPI 3.1) that both validate the request and make the
OpenAPI document, so the document cannot drift from what the server accepts.

Errors are RFC 9457 problem details (``application/problem+json``): ``type``, ``title``,
``status``, ``detail``, and for a body that fails its schema, ``errors`` naming each field.
Who may call is the API's own business: ``register`` takes an ``authenticate`` hook.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Blueprint, Response, jsonify, request
from jsonschema import Draft202012Validator

PROBLEM = "application/problem+json"
_PATH_PARAM = re.compile(r"{(\w+)}")


class Problem(Exception):
    """An RFC 9457 problem: ``code`` becomes the ``type`` URI's last segment."""

    def __init__(self, status: int, code: str, detail: str, **extra) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra

    def response(self, base: str) -> Response:
        body = {
            "type": f"{base}#{self.code}",
            "title": self.code.replace("_", " ").capitalize(),
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }
        answer = jsonify(body)
        answer.status_code = self.status
        answer.mimetype = PROBLEM
        return answer


@dataclass(frozen=True)
class Operation:
    """One API operation. ``handler(caller, query, body, **path)`` returns the response body
    (and may raise ``Problem``); ``scopes``: any one of them lets the caller in; ``refusals``:
    problem statuses beyond 400 and 404 it may answer (409 ...), documented with their cause."""

    method: str
    path: str
    operation_id: str
    summary: str
    scopes: tuple[str, ...]
    handler: Callable
    response: dict
    status: int = 200
    path_params: dict[str, dict] = field(default_factory=dict)
    query: dict[str, dict] = field(default_factory=dict)
    body: dict | None = None
    refusals: dict[int, str] = field(default_factory=dict)  # further problem statuses: when


def register(
    bp: Blueprint, operations: list[Operation], authenticate: Callable, problems: str
) -> None:
    """Route each operation on ``bp``. ``authenticate(operation)`` returns the caller or a
    refusal ``Response``; ``problems`` is the base URI of the problem types."""
    for op in operations:
        bp.add_url_rule(
            _flask_path(op),
            endpoint=op.operation_id,
            view_func=_view(_Checks.of(op), authenticate, problems),
            methods=[op.method],
        )


@dataclass(frozen=True)
class _Checks:
    """An operation with its validators, made once at registration rather than per request;
    each schema is checked then too, so a wrong declaration fails at start-up."""

    op: Operation
    query: dict[str, Draft202012Validator]
    body: Draft202012Validator | None

    @classmethod
    def of(cls, op: Operation) -> _Checks:
        for schema in (op.response, op.body or {}, *op.query.values()):
            Draft202012Validator.check_schema(schema)
        query = {name: Draft202012Validator(schema) for name, schema in op.query.items()}
        return cls(op, query, None if op.body is None else Draft202012Validator(op.body))


def _flask_path(op: Operation) -> str:
    def converter(match: re.Match) -> str:
        name = match.group(1)
        kind = "int" if op.path_params[name].get("type") == "integer" else "string"
        return f"<{kind}:{name}>"

    return _PATH_PARAM.sub(converter, op.path)


def _view(checks: _Checks, authenticate: Callable, problems: str) -> Callable:
    op = checks.op

    def view(**path):
        caller = authenticate(op)
        if isinstance(caller, Response):
            return caller
        try:
            result = op.handler(caller, _query(checks), _body(checks), **path)
        except Problem as problem:
            return problem.response(problems)
        return jsonify(result), op.status, {"Cache-Control": "no-store"}  # may hold a secret

    view.__name__ = op.operation_id
    return view


def _query(checks: _Checks) -> dict:
    """The declared query parameters, converted to their schema's type and checked."""
    values = {}
    for name, validator in checks.query.items():
        raw = request.args.get(name)
        if raw is None:
            continue
        value: object = raw
        if validator.schema.get("type") == "integer":
            if not re.fullmatch(r"-?\d{1,18}", raw):
                raise_invalid(f"query parameter {name} must be an integer")
            value = int(raw)
        _check(validator, value, f"query parameter {name}")
        values[name] = value
    return values


def _body(checks: _Checks) -> dict | None:
    if checks.body is None:
        return None
    if not request.is_json:
        raise_invalid("the request body must be JSON (Content-Type: application/json)")
    body = request.get_json(silent=True)
    if body is None:
        raise_invalid("the request body is not valid JSON")
    _check(checks.body, body, "the request body")
    return body


def _check(validator: Draft202012Validator, value: object, what: str) -> None:
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    if errors:
        fields = [
            {"pointer": "/" + "/".join(str(p) for p in e.path), "detail": e.message} for e in errors
        ]
        raise Problem(400, "invalid_request", f"{what} is not valid", errors=fields)


def raise_invalid(detail: str) -> None:
    raise Problem(400, "invalid_request", detail)


def openapi(operations: list[Operation], *, title: str, version: str, server: str,
            security: dict, description: str) -> dict:  # fmt: skip
    """The OpenAPI 3.1 document of ``operations``; ``security``: the one security scheme."""
    paths: dict = {}
    scheme_name = next(iter(security))
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, scheme_name)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": server}],
        "paths": paths,
        "components": {"securitySchemes": security, "schemas": {"Problem": _PROBLEM_SCHEMA}},
    }


def _operation(op: Operation, scheme_name: str) -> dict:
    parameters = [
        {"name": n, "in": "path", "required": True, "schema": s} for n, s in op.path_params.items()
    ] + [{"name": n, "in": "query", "required": False, "schema": s} for n, s in op.query.items()]
    problem = {"content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    spec = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "security": [{scheme_name: list(op.scopes)}],
        "parameters": parameters,
        "responses": {
            str(op.status): {
                "description": "Success",
                "content": {"application/json": {"schema": op.response}},
            },
            "400": {"description": "The request is not valid", **problem},
            "401": {"description": "No access token, or not an active one"},
            "403": {"description": "The access token lacks the scope"},
            "404": {"description": "No such resource", **problem},
            **{str(s): {"description": why, **problem} for s, why in op.refusals.items()},
        },
    }
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.body}},
        }
    return spec


_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}
