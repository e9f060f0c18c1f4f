"""What the admin API's operation groups share: the caller, the scopes each kind of operation
needs, the page size, and the small JSON Schema pieces the declarations are built from.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.web.json_api import Problem

ADMIN, AUDITOR = "admin", "auditor"
READ, WRITE = (AUDITOR, ADMIN), (ADMIN,)
MAX_PAGE = 200


@dataclass(frozen=True)
class Caller:
    """The client calling, named in the audit trail as ``client:<client_id>``."""

    client_id: str

    @property
    def actor(self) -> str:
        return f"client:{self.client_id}"


def refused(error: ValueError) -> Problem:
    """A change the domain refused (its ``ValueError``): 400, with the domain's own words."""
    return Problem(400, "invalid_request", str(error))


def not_found(error: LookupError | str) -> Problem:
    return Problem(404, "not_found", str(error))


INT = {"type": "integer"}
BOOL = {"type": "boolean"}
STR = {"type": "string"}
TIME = {"type": "integer", "description": "seconds since 1970-01-01 UTC"}
OPT_TIME = {"type": ["integer", "null"], "description": "seconds since 1970-01-01 UTC"}
OPT_STR = {"type": ["string", "null"]}
NAMES = {"type": "array", "items": STR}
IDS = {"type": "array", "items": INT}
NEXT_AFTER = {"type": ["integer", "null"], "description": "pass as `after` for the next page"}


def obj(**properties) -> dict:
    """A closed object whose properties are all required."""
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}  # fmt: skip


def partial(**properties) -> dict:
    """A closed object whose properties are all optional (a PATCH body)."""
    return {"type": "object", "properties": properties, "additionalProperties": False}


def page_query(**more) -> dict:
    """The query of a list paged by key: ``after`` (the last id seen) and ``limit``."""
    return {"after": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, **more}  # fmt: skip
