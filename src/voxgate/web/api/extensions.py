"""``/api/v1/extensions``: the embedded call control's extensions (form ``extensions``),
through :class:`~voxgate.services.extensions.ExtensionService` — the service ``voxgate ext``
uses.  A secret is written, never read back (only HA1 values are stored, and they are not
shown either).  Scope: the caller's ``extension`` grants.

CSV import and export are the CLI's (``voxgate ext import|export``).  Both need *write* on
the form: the export carries the HA1 values, which register as well as the secrets do, so it
is for those who may set the secrets anyway; a group administrator exports, and imports, only
extensions in its write scope (an import row outside it is a bad row, and nothing is
imported)."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from voxgate.services.extensions import (
    EXPORT_COLUMNS,
    CsvImportError,
    ExtensionError,
    check_max_contacts,
    check_name,
    check_number,
)
from voxgate.storage.repos.extensions import ExtensionRecord
from voxgate.web.api import describe as d
from voxgate.web.api.v1 import (
    ApiError,
    Services,
    answering,
    boolean,
    csv_file,
    import_refused,
    invalid,
    json_object,
    not_found,
    outside_scope,
    paging,
    query_flag,
    string,
    text_body,
    unknown_fields,
)
from voxgate.web.context import actor_of
from voxgate.web.grants import grants_of

FORM: Final = "extensions"
BASE: Final = "/api/v1/extensions"
ADD_FIELDS: Final = ("number", "secret", "display_name", "enabled", "max_contacts")
PATCH_FIELDS: Final = ADD_FIELDS[1:]


def routes(services: Services) -> list[web.RouteDef]:
    """The resource's routes."""
    return [
        web.get(BASE, answering(services, list_extensions)),
        web.post(BASE, answering(services, add_extension)),
        web.post(f"{BASE}/import", answering(services, import_extensions)),
        web.get(f"{BASE}/export", answering(services, export_extensions)),
        web.get(BASE + "/{number}", answering(services, get_extension)),
        web.patch(BASE + "/{number}", answering(services, change_extension)),
        web.delete(BASE + "/{number}", answering(services, delete_extension)),
    ]


def to_json(record: ExtensionRecord) -> dict[str, Any]:
    """An extension as the API shows it (no secret, no HA1)."""
    return {"number": record.number, "display_name": record.display_name,
            "enabled": record.enabled, "max_contacts": record.max_contacts,
            "realm": record.realm, "created_at": record.created_at.isoformat(),
            "updated_at": record.updated_at.isoformat()}  # fmt: skip


def _check(field: str, check: Any, value: Any) -> Any:
    try:
        return check(value)
    except ExtensionError as err:
        raise invalid(field, str(err)) from None


def _number(text: str) -> str:
    return str(_check("number", check_number, text))


def _max_contacts(body: Any) -> int | None:
    value = body.get("max_contacts")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise invalid("max_contacts", "max_contacts must be an integer or null")
    result: int | None = _check("max_contacts", check_max_contacts, value)
    return result


def _refused(err: ExtensionError) -> ApiError:
    """A refusal the service made after the fields were checked: taken, gone, or the secret."""
    text = str(err)
    if "exists already" in text:
        return ApiError(409, text)
    if text.startswith("no extension"):
        return not_found(text)
    return invalid("secret", text)


async def list_extensions(request: web.Request, services: Services) -> web.StreamResponse:
    """A page of the extensions (in the caller's scope) whose number or name has ``q``."""
    grants = await grants_of(request)
    grants.require_form(FORM, "read")
    offset, limit = paging(request)
    search = (request.query.get("q") or "").lower()
    scope = grants.in_scope("extension")
    found = [r for r in await services.users.extensions.all()
             if (scope is None or r.number in scope)
             and (search in r.number or search in r.display_name.lower())]  # fmt: skip
    found.sort(key=lambda r: r.number)
    return web.json_response({"total": len(found), "offset": offset, "limit": limit,
                              "items": [to_json(r) for r in found[offset : offset + limit]]})


async def get_extension(request: web.Request, services: Services) -> web.StreamResponse:
    """One extension."""
    number = _number(request.match_info["number"])
    (await grants_of(request)).require(FORM, "read", "extension", number, number)
    try:
        return web.json_response(to_json(await services.users.extensions.get(number)))
    except ExtensionError as err:
        raise not_found(str(err)) from None


async def add_extension(request: web.Request, services: Services) -> web.StreamResponse:
    """Add an extension with a strong secret."""
    body = await json_object(request)
    unknown_fields(body, ADD_FIELDS)
    number = _number(string(body, "number", required=True) or "")
    (await grants_of(request)).require(FORM, "write", "extension", number, number)
    secret = string(body, "secret", required=True) or ""
    name = str(_check("display_name", check_name, string(body, "display_name", default="")))
    enabled = boolean(body, "enabled")
    limit = _max_contacts(body)
    try:
        record = await services.users.extensions.add(
            number, secret, display_name=name, enabled=True if enabled is None else enabled,
            max_contacts=limit, actor=actor_of(request))  # fmt: skip
    except ExtensionError as err:
        raise _refused(err) from None
    return web.json_response(to_json(record), status=201)


async def change_extension(request: web.Request, services: Services) -> web.StreamResponse:
    """Change the secret, display name, enabled or max_contacts (null: the default)."""
    number = _number(request.match_info["number"])
    (await grants_of(request)).require(FORM, "write", "extension", number, number)
    body = await json_object(request)
    unknown_fields(body, PATCH_FIELDS)
    name = string(body, "display_name")
    if name is not None:
        _check("display_name", check_name, name)
    enabled = boolean(body, "enabled")
    limit: int | str | None = _max_contacts(body) if "max_contacts" in body else "keep"
    try:
        record = await services.users.extensions.change(
            number, secret=string(body, "secret"), display_name=name, enabled=enabled,
            max_contacts=limit, actor=actor_of(request))  # fmt: skip
    except ExtensionError as err:
        raise _refused(err) from None
    return web.json_response(to_json(record))


async def delete_extension(request: web.Request, services: Services) -> web.StreamResponse:
    """Delete an extension."""
    number = _number(request.match_info["number"])
    (await grants_of(request)).require(FORM, "write", "extension", number, number)
    try:
        await services.users.extensions.delete(number, actor=actor_of(request))
    except ExtensionError as err:
        raise not_found(str(err)) from None
    return web.Response(status=204)


async def import_extensions(request: web.Request, services: Services) -> web.StreamResponse:
    """Import CSV rows ``number,display_name,secret,enabled,max_contacts`` (or an export's HA1
    columns): all or nothing, every bad row reported with its line number (``update=true``:
    existing extensions are changed, not refused)."""
    grants = await grants_of(request)
    grants.require_form(FORM, "write")
    update = query_flag(request, "update")
    text = await text_body(request)
    try:
        done = await services.users.extensions.import_csv(
            text, update=update, actor=actor_of(request), refuse=outside_scope(grants),
        )  # fmt: skip
    except CsvImportError as err:
        raise import_refused(err.problems) from None
    except ExtensionError as err:  # an extension in the file was added meanwhile
        raise ApiError(409, str(err)) from None
    return web.json_response({"added": done.added, "updated": done.updated})


async def export_extensions(request: web.Request, services: Services) -> web.StreamResponse:
    """The extensions in the caller's write scope as CSV (HA1 values), as the import reads
    them."""
    grants = await grants_of(request)
    grants.require_form(FORM, "write")
    records = [r for r in await services.users.extensions.all()
               if grants.allows("extension", r.number, "write")]  # fmt: skip
    return csv_file(await services.users.extensions.export(records, actor_of(request)),
                    "extensions.csv")  # fmt: skip


_NUMBER: Final = {"type": "string", "pattern": "^[0-9]{2,15}$"}
_FIELDS: Final = {
    "secret": {"type": "string", "description": "strong; written, never read back"},
    "display_name": {"type": "string", "maxLength": 64}, "enabled": {"type": "boolean"},
    "max_contacts": {"type": ["integer", "null"], "minimum": 1, "maximum": 100},
}  # fmt: skip
SCHEMAS: Final[dict[str, Any]] = {"Extension": {
    "type": "object", "required": ["number", "display_name", "enabled", "realm"],
    "properties": {"number": {"type": "string"}, "display_name": {"type": "string"},
                   "enabled": {"type": "boolean"}, "max_contacts": {"type": ["integer", "null"]},
                   "realm": {"type": "string"}, "created_at": {"type": "string"},
                   "updated_at": {"type": "string"}},
}}  # fmt: skip
PATHS: Final = {
    BASE: {
        "get": {"summary": "Extensions in the caller's scope, a page of them",
                "parameters": [d.query("q", {"type": "string"}, "part of the number or name"),
                               *d.PAGING],
                "responses": {"200": d.json_body({"type": "object", "properties": {
                    "total": {"type": "integer"}, "offset": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "items": {"type": "array", "items": d.ref("Extension")}}}, "the page"),
                    **d.refusals(body=True)}},
        "post": {"summary": "Add an extension", "security": d.STATE_CHANGE,
                 "requestBody": d.request_json({
                     "type": "object", "required": ["number", "secret"],
                     "additionalProperties": False,
                     "properties": {"number": _NUMBER, **_FIELDS}}),
                 "responses": {"201": d.json_body(d.ref("Extension"), "added"),
                               "409": d.error("the extension exists already"),
                               **d.refusals(write=True)}},
    },
    f"{BASE}/import": {"post": {
        "summary": "Import extensions from CSV (number,display_name,secret,enabled,max_contacts, "
                   "or an export's realm,ha1_md5,ha1_sha256): all or nothing",
        "security": d.STATE_CHANGE,
        "parameters": [d.query("update", {"type": "string", "enum": ["true", "false"]},
                               "change existing extensions instead of refusing them")],
        "requestBody": d.request_text(d.CSV, "the CSV text, header row first"),
        "responses": {
            "200": d.json_body(d.IMPORTED, "imported"),
            "409": d.error("an extension in the file was added meanwhile: nothing imported"),
            **d.refusals(write=True),
            "422": d.import_refused("bad rows (outside the caller's scope too), each with its "
                                    "line number; nothing imported"),
        },
    }},
    f"{BASE}/export": {"get": {
        "summary": "The extensions in the caller's write scope as CSV with their HA1 values "
                   "(imports as is on a node with the same realm); needs write on the form",
        "responses": {"200": d.csv_body("the CSV file"), **d.refusals()},
        "x-columns": list(EXPORT_COLUMNS),
    }},
    BASE + "/{number}": {
        "parameters": [d.path("number", "the extension number", _NUMBER)],
        "get": {"summary": "One extension",
                "responses": {"200": d.json_body(d.ref("Extension"), "the extension"),
                              **d.refusals(found=True, body=True)}},
        "patch": {"summary": "Change an extension", "security": d.STATE_CHANGE,
                  "requestBody": d.request_json({"type": "object", "additionalProperties": False,
                                                 "properties": _FIELDS}),
                  "responses": {"200": d.json_body(d.ref("Extension"), "as changed"),
                                **d.refusals(write=True, found=True)}},
        "delete": {"summary": "Delete an extension", "security": d.STATE_CHANGE,
                   "responses": {"204": {"description": "deleted"},
                                 **d.refusals(write=True, found=True)}},
    },
}  # fmt: skip
