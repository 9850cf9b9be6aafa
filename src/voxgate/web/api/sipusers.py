"""``/api/v1/sipusers``: the edge's SIP users (form ``sipusers``), through
:class:`~voxgate.services.sipusers.SipUserService` — the service ``voxgate user`` uses.

Secrets are written, never read back: the device (level-1) password and the upstream
(level-2) secret must be given when a user is added (the API does not generate one to show
once, as the CLI can).  Scope: a user is in the caller's scope when its extension is.

CSV import and export are the CLI's (``voxgate sipuser import|export``) and need *write* on
the form, as for extensions: the export carries the level-1 HA1 values (never the upstream
secrets: the API has no ``--include-secrets``); a group administrator exports, and imports,
only users whose extension is in its write scope."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from aiohttp import web

from voxgate.policy.devices import format_mac
from voxgate.services.sipusers import (
    EQUAL,
    EXPORT_COLUMNS,
    KEEP,
    SipUserError,
    SipUserImportError,
    check_device,
    check_extension,
    check_password,
    check_upstream_secret,
    check_upstream_username,
    check_username,
    missing,
)
from voxgate.storage.repos.sip_users import SipUserRecord
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
from voxgate.web.grants import Access, Grants, grants_of

FORM: Final = "sipusers"
BASE: Final = "/api/v1/sipusers"
ADD_FIELDS: Final = ("username", "extension", "password", "upstream_username",
                     "upstream_secret", "device_mac", "enabled")  # fmt: skip
PATCH_FIELDS: Final = ADD_FIELDS[1:]


def routes(services: Services) -> list[web.RouteDef]:
    """The resource's routes."""
    return [
        web.get(BASE, answering(services, list_users)),
        web.post(BASE, answering(services, add_user)),
        web.post(f"{BASE}/import", answering(services, import_users)),
        web.get(f"{BASE}/export", answering(services, export_users)),
        web.get(BASE + "/{username}", answering(services, get_user)),
        web.patch(BASE + "/{username}", answering(services, change_user)),
        web.delete(BASE + "/{username}", answering(services, delete_user)),
    ]


def to_json(record: SipUserRecord) -> dict[str, Any]:
    """A SIP user as the API shows it (no HA1, no upstream secret)."""
    return {"username": record.username, "realm": record.realm, "extension": record.extension,
            "upstream_username": record.upstream_username,
            "device_mac": None if record.device_mac is None else format_mac(record.device_mac),
            "enabled": record.enabled, "created_at": record.created_at.isoformat(),
            "updated_at": record.updated_at.isoformat()}  # fmt: skip


def _checked(field: str, check: Callable[..., Any], *values: Any) -> Any:
    try:
        return check(*values)
    except SipUserError as err:
        raise invalid(field, str(err)) from None


def _username(text: str) -> str:
    return str(_checked("username", check_username, text))


def _allow(grants: Grants, access: Access, extension: str) -> None:
    grants.require(FORM, access, "extension", extension, f"{extension} (its extension)")


async def _user(services: Services, grants: Grants, access: Access, username: str
                ) -> SipUserRecord:  # fmt: skip
    """The user ``username`` once the caller may use it with ``access``; one it may not even
    read is answered as one that does not exist (grants.HiddenError)."""
    try:
        record = await services.users.get(username)
    except SipUserError as err:
        raise not_found(str(err)) from None
    grants.require_visible(FORM, access, "extension", record.extension,
                           f"{record.extension} (its extension)",
                           missing=missing(username))  # fmt: skip
    return record


def _refused(err: SipUserError) -> ApiError:
    text = str(err)
    if "exists already" in text:
        return ApiError(409, text)
    if text.startswith("no SIP user"):
        return not_found(text)
    if text == EQUAL:
        return invalid("upstream_secret", text)
    return invalid("body", text)


async def list_users(request: web.Request, services: Services) -> web.StreamResponse:
    """A page of the users (whose extension is in the caller's scope) matching ``q``."""
    grants = await grants_of(request)
    grants.require_form(FORM, "read")
    offset, limit = paging(request)
    scope = grants.in_scope("extension")
    found = [r for r in await services.users.list(search=request.query.get("q") or None)
             if scope is None or r.extension in scope]  # fmt: skip
    return web.json_response({"total": len(found), "offset": offset, "limit": limit,
                              "items": [to_json(r) for r in found[offset : offset + limit]]})


async def get_user(request: web.Request, services: Services) -> web.StreamResponse:
    """One SIP user."""
    username = _username(request.match_info["username"])
    grants = await grants_of(request)
    grants.require_form(FORM, "read")
    record = await _user(services, grants, "read", username)
    return web.json_response(to_json(record))


def _fields(body: Mapping[str, Any], username: str, extension: str | None
            ) -> dict[str, Any]:  # fmt: skip
    """The checked optional fields of an add or a change."""
    values: dict[str, Any] = {}
    upstream = string(body, "upstream_username")
    if upstream is not None:
        values["upstream_username"] = _checked("upstream_username", check_upstream_username,
                                               upstream)  # fmt: skip
    secret = string(body, "upstream_secret")
    if secret is not None:
        values["upstream_secret"] = _checked("upstream_secret", check_upstream_secret, secret)
    password = string(body, "password")
    if password is not None:
        values["password"] = _checked("password", check_password, password, username,
                                      extension or "")  # fmt: skip
    if "device_mac" in body:
        mac = body["device_mac"]
        if mac is not None and not isinstance(mac, str):
            raise invalid("device_mac", "device_mac must be a MAC address or null")
        values["device_mac"] = _checked("device_mac", check_device, mac)
    enabled = boolean(body, "enabled")
    if enabled is not None:
        values["enabled"] = enabled
    return values


async def add_user(request: web.Request, services: Services) -> web.StreamResponse:
    """Add a SIP user with the given password and upstream secret."""
    body = await json_object(request)
    unknown_fields(body, ADD_FIELDS)
    username = _username(string(body, "username", required=True) or "")
    extension = str(_checked("extension", check_extension,
                             string(body, "extension", required=True)))  # fmt: skip
    _allow(await grants_of(request), "write", extension)
    string(body, "password", required=True)
    string(body, "upstream_secret", required=True)
    values = _fields(body, username, extension)
    try:
        added = await services.users.add(username, actor_of(request), extension=extension,
                                         **values)  # fmt: skip
    except SipUserError as err:
        raise _refused(err) from None
    return web.json_response(to_json(added.record), status=201)


async def change_user(request: web.Request, services: Services) -> web.StreamResponse:
    """Change a SIP user's fields (``device_mac: null`` unbinds it from its device)."""
    username = _username(request.match_info["username"])
    grants = await grants_of(request)
    grants.require_form(FORM, "write")
    body = await json_object(request)
    unknown_fields(body, PATCH_FIELDS)
    record = await _user(services, grants, "write", username)
    extension = string(body, "extension")
    if extension is not None:
        _checked("extension", check_extension, extension)
        _allow(grants, "write", extension)
    values = _fields(body, username, extension or record.extension)
    try:
        changed = await services.users.change(
            username, actor_of(request), extension=extension,
            device_mac=values.pop("device_mac", KEEP), **values)  # fmt: skip
    except SipUserError as err:
        raise _refused(err) from None
    return web.json_response(to_json(changed))


async def delete_user(request: web.Request, services: Services) -> web.StreamResponse:
    """Delete a SIP user."""
    username = _username(request.match_info["username"])
    grants = await grants_of(request)
    grants.require_form(FORM, "write")
    await _user(services, grants, "write", username)
    try:
        await services.users.delete(username, actor_of(request))
    except SipUserError as err:
        raise not_found(str(err)) from None
    return web.Response(status=204)


async def import_users(request: web.Request, services: Services) -> web.StreamResponse:
    """Import CSV rows ``username,password,extension,upstream_username,upstream_secret,
    device_mac,enabled`` (or an export's HA1 columns): all or nothing, every bad row reported
    with its line number (``update=true``: existing users are changed, not refused)."""
    grants = await grants_of(request)
    grants.require_form(FORM, "write")
    update = query_flag(request, "update")
    text = await text_body(request)
    try:
        done = await services.users.import_csv(text, actor_of(request), update=update,
                                               refuse=outside_scope(grants))  # fmt: skip
    except SipUserImportError as err:
        raise import_refused(err.problems) from None
    except SipUserError as err:  # a user in the file was added meanwhile
        raise ApiError(409, str(err)) from None
    return web.json_response({"added": done.added, "updated": done.updated})


async def export_users(request: web.Request, services: Services) -> web.StreamResponse:
    """The users whose extension is in the caller's write scope, as CSV (HA1 values; the
    upstream secrets left out), as the import reads them."""
    grants = await grants_of(request)
    grants.require_form(FORM, "write")
    records = None if grants.is_system else [
        r for r in await services.users.list() if grants.allows("extension", r.extension, "write")
    ]  # fmt: skip
    return csv_file(await services.users.export_csv(actor_of(request), records=records),
                    "sipusers.csv")  # fmt: skip


_FIELDS: Final = {
    "extension": {"type": "string", "pattern": "^[0-9]{2,15}$"},
    "password": {"type": "string", "description": "device (level-1) password; strong; "
                 "written, never read back"},
    "upstream_username": {"type": "string", "maxLength": 64},
    "upstream_secret": {"type": "string", "maxLength": 128,
                        "description": "level-2 secret; written, never read back"},
    "device_mac": {"type": ["string", "null"]}, "enabled": {"type": "boolean"},
}  # fmt: skip
SCHEMAS: Final[dict[str, Any]] = {"SipUser": {
    "type": "object", "required": ["username", "extension", "enabled"],
    "properties": {"username": {"type": "string"}, "realm": {"type": "string"},
                   "extension": {"type": "string"}, "upstream_username": {"type": "string"},
                   "device_mac": {"type": ["string", "null"]}, "enabled": {"type": "boolean"},
                   "created_at": {"type": "string"}, "updated_at": {"type": "string"}},
}}  # fmt: skip
PATHS: Final = {
    BASE: {
        "get": {"summary": "SIP users in the caller's scope, a page of them",
                "parameters": [d.query("q", {"type": "string"},
                                       "part of the username or extension"), *d.PAGING],
                "responses": {"200": d.json_body({"type": "object", "properties": {
                    "total": {"type": "integer"}, "offset": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "items": {"type": "array", "items": d.ref("SipUser")}}}, "the page"),
                    **d.refusals(body=True)}},
        "post": {"summary": "Add a SIP user", "security": d.STATE_CHANGE,
                 "requestBody": d.request_json({
                     "type": "object", "additionalProperties": False,
                     "required": ["username", "extension", "password", "upstream_secret"],
                     "properties": {"username": {"type": "string", "maxLength": 64},
                                    **_FIELDS}}),
                 "responses": {"201": d.json_body(d.ref("SipUser"), "added"),
                               "409": d.error("the user exists already"),
                               **d.refusals(write=True)}},
    },
    f"{BASE}/import": {"post": {
        "summary": "Import SIP users from CSV (username,password,extension,upstream_username,"
                   "upstream_secret,device_mac,enabled, or an export's realm,ha1_md5,ha1_sha256 "
                   "instead of password): all or nothing",
        "security": d.STATE_CHANGE,
        "parameters": [d.query("update", {"type": "string", "enum": ["true", "false"]},
                               "change existing users instead of refusing them")],
        "requestBody": d.request_text(d.CSV, "the CSV text, header row first"),
        "responses": {
            "200": d.json_body(d.IMPORTED, "imported"),
            "409": d.error("a user in the file was added meanwhile: nothing imported"),
            **d.refusals(write=True),
            "422": d.import_refused("bad rows (an extension outside the caller's scope too), "
                                    "each with its line number; nothing imported"),
        },
    }},
    f"{BASE}/export": {"get": {
        "summary": "The SIP users of the caller's write scope as CSV: level-1 HA1 values, the "
                   "upstream secrets left out (an update file, not a backup); needs write on "
                   "the form",
        "responses": {"200": d.csv_body("the CSV file"), **d.refusals()},
        "x-columns": list(EXPORT_COLUMNS),
    }},
    BASE + "/{username}": {
        "parameters": [d.path("username", "the SIP username", {
            "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"})],
        "get": {"summary": "One SIP user",
                "responses": {"200": d.json_body(d.ref("SipUser"), "the user"),
                              **d.refusals(found=True, body=True)}},
        "patch": {"summary": "Change a SIP user", "security": d.STATE_CHANGE,
                  "requestBody": d.request_json({"type": "object", "additionalProperties": False,
                                                 "properties": _FIELDS}),
                  "responses": {"200": d.json_body(d.ref("SipUser"), "as changed"),
                                **d.refusals(write=True, found=True)}},
        "delete": {"summary": "Delete a SIP user", "security": d.STATE_CHANGE,
                   "responses": {"204": {"description": "deleted"},
                                 **d.refusals(write=True, found=True)}},
    },
}  # fmt: skip
