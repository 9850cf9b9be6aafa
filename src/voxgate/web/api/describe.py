"""Pieces of the OpenAPI document the resource modules describe their paths with (each
module's ``PATHS``; :mod:`voxgate.web.api.openapi` joins them)."""

from __future__ import annotations

from typing import Any, Final

JSON: Final = "application/json"
CSV: Final = "text/csv"
ERROR: Final = {"$ref": "#/components/schemas/Error"}
#: Schemas of the API's bodies, joined into ``components.schemas``.
SCHEMAS: Final[dict[str, Any]] = {
    "Invalid": {
        "type": "object", "required": ["error", "field", "reason"],
        "properties": {"error": {"type": "string"}, "field": {"type": "string"},
                       "reason": {"type": "string"}},
    },
    "ImportRefused": {
        "type": "object", "required": ["error", "problems"],
        "properties": {
            "error": {"type": "string"},
            "problems": {"type": "array", "items": {
                "type": "object", "required": ["line", "reason"],
                "properties": {"line": {"type": "integer", "description": "1: the header"},
                               "reason": {"type": "string"}}}},
        },
    },
}  # fmt: skip
def import_refused(description: str) -> dict[str, Any]:
    """The ``422`` of an import: bad rows by line, or a bad parameter."""
    return json_body({"anyOf": [ref("ImportRefused"), ref("Invalid")]}, description)


STATE_CHANGE: Final[list[dict[str, list[str]]]] = [{"session": [], "csrf": []}]
#: What an import did.
IMPORTED: Final = {"type": "object", "required": ["added", "updated"],
                   "properties": {"added": {"type": "integer"},
                                  "updated": {"type": "integer"}}}  # fmt: skip


def csv_body(description: str) -> dict[str, Any]:
    """A CSV answer (an export)."""
    return {"description": description, "content": {CSV: {"schema": {"type": "string"}}}}


def error(description: str) -> dict[str, Any]:
    """A JSON refusal."""
    return {"description": description, "content": {JSON: {"schema": ERROR}}}


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A JSON answer."""
    return {"description": description, "content": {JSON: {"schema": schema}}}


def request_json(schema: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body."""
    return {"required": True, "content": {JSON: {"schema": schema}}}


def request_text(media: str, description: str) -> dict[str, Any]:
    """A required text request body (an import)."""
    return {"required": True, "description": description,
            "content": {media: {"schema": {"type": "string"}}}}  # fmt: skip


def ref(name: str) -> dict[str, Any]:
    """``#/components/schemas/<name>``."""
    return {"$ref": f"#/components/schemas/{name}"}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


def path(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A path parameter."""
    return {"name": name, "in": "path", "required": True,
            "schema": schema or {"type": "string"}, "description": description}  # fmt: skip


TIME: Final = {"type": "string", "format": "date-time"}
PAGING: Final = [
    query("offset", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
          "rows to skip (default 0)"),
    query("limit", {"type": "integer", "minimum": 1, "maximum": 1000},
          "rows to give (default 100)"),
]  # fmt: skip


def refusals(*, write: bool = False, found: bool = False, body: bool = False) -> dict[str, Any]:
    """The refusals every route has (401, 403), and 404 / 422 where they apply."""
    answers = {
        "401": error("not logged in, or the session has expired"),
        "403": error("a grant is missing" + (", or the CSRF token" if write else "")),
    }
    if found:
        answers["404"] = error("no such object")
    if body or write:
        answers["422"] = json_body(ref("Invalid"), "a bad value: which field, and why")
    return answers
