"""``/api/v1/devices``: the device table of AUTH-2 (form ``devices``), through
:class:`~voxgate.services.devices.DeviceService` — the service ``voxgate devices`` uses.

Reading needs the form's read grant and lists only the devices in the caller's scope;
changing one needs write on the form and on the device.  A CSV import can name any device,
so it is for system administrators only.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from voxgate.policy.devices import format_mac
from voxgate.services.devices import (
    EXPORT_COLUMNS,
    DeviceError,
    DeviceImportError,
    check_description,
    check_mac,
)
from voxgate.storage.repos.devices import DeviceRecord
from voxgate.web.api import describe as d
from voxgate.web.api.v1 import (
    ApiError,
    Services,
    answering,
    boolean,
    invalid,
    json_object,
    not_found,
    paging,
    string,
    text_body,
    unknown_fields,
)
from voxgate.web.context import actor_of
from voxgate.web.grants import grants_of

FORM: Final = "devices"
BASE: Final = "/api/v1/devices"
PATCH_FIELDS: Final = ("enabled", "description")
ADD_FIELDS: Final = ("mac", "enabled", "description")


def routes(services: Services) -> list[web.RouteDef]:
    """The resource's routes."""
    return [
        web.get(BASE, answering(services, list_devices)),
        web.post(BASE, answering(services, add_device)),
        web.post(f"{BASE}/import", answering(services, import_devices)),
        web.get(f"{BASE}/export", answering(services, export_devices)),
        web.get(BASE + "/{mac}", answering(services, get_device)),
        web.patch(BASE + "/{mac}", answering(services, change_device)),
        web.delete(BASE + "/{mac}", answering(services, delete_device)),
    ]


def to_json(record: DeviceRecord) -> dict[str, Any]:
    """A device as the API shows it."""

    def when(value: Any) -> str | None:
        return None if value is None else str(value.isoformat())

    return {
        "mac": format_mac(record.mac), "enabled": record.enabled,
        "description": record.description, "identity": record.identity,
        "last_source": record.last_source, "user_agent": record.user_agent,
        "first_seen_at": when(record.first_seen_at), "last_seen_at": when(record.last_seen_at),
        "created_at": when(record.created_at), "updated_at": when(record.updated_at),
    }  # fmt: skip


def _mac(text: str, field: str = "mac") -> str:
    try:
        return check_mac(text)
    except DeviceError as err:
        raise invalid(field, str(err)) from None


async def _scope(request: web.Request) -> frozenset[str] | None:
    """The MACs the caller may read (``None``: every device); ``403`` without the form."""
    grants = await grants_of(request)
    grants.require_form(FORM, "read")
    return grants.in_scope("device")


async def list_devices(request: web.Request, services: Services) -> web.StreamResponse:
    """A page of the devices (in the caller's scope) matching ``q``, and their total."""
    search = request.query.get("q") or None
    offset, limit = paging(request)
    scope = await _scope(request)
    total = await services.devices.count(search=search, scope=scope)
    page = await services.devices.list(search=search, offset=offset, limit=limit, scope=scope)
    return web.json_response({"total": total, "offset": offset, "limit": limit,
                              "items": [to_json(r) for r in page]})  # fmt: skip


async def get_device(request: web.Request, services: Services) -> web.StreamResponse:
    """One device."""
    mac = _mac(request.match_info["mac"])
    (await grants_of(request)).require(FORM, "read", "device", mac, format_mac(mac))
    try:
        return web.json_response(to_json(await services.devices.get(mac)))
    except DeviceError as err:
        raise not_found(str(err)) from None


async def change_device(request: web.Request, services: Services) -> web.StreamResponse:
    """Enable or disable a device, or change its description."""
    mac = _mac(request.match_info["mac"])
    (await grants_of(request)).require(FORM, "write", "device", mac, format_mac(mac))
    body = await json_object(request)
    unknown_fields(body, PATCH_FIELDS)
    enabled = boolean(body, "enabled")
    description = string(body, "description")
    if description is not None:
        try:
            check_description(description)
        except DeviceError as err:
            raise invalid("description", str(err)) from None
    actor = actor_of(request)
    try:
        record = await services.devices.get(mac)
        if description is not None and description != record.description:
            record = await services.devices.set_description(mac, description, actor)
        if enabled is not None and enabled != record.enabled:
            change = services.devices.enable if enabled else services.devices.disable
            record = await change(mac, actor)
    except DeviceError as err:
        raise not_found(str(err)) from None
    return web.json_response(to_json(record))


async def delete_device(request: web.Request, services: Services) -> web.StreamResponse:
    """Delete a device."""
    mac = _mac(request.match_info["mac"])
    (await grants_of(request)).require(FORM, "write", "device", mac, format_mac(mac))
    try:
        await services.devices.delete(mac, actor_of(request))
    except DeviceError as err:
        raise not_found(str(err)) from None
    return web.Response(status=204)


async def add_device(request: web.Request, services: Services) -> web.StreamResponse:
    """Add a device by hand (disabled unless ``enabled``)."""
    body = await json_object(request)
    unknown_fields(body, ADD_FIELDS)
    mac = _mac(string(body, "mac", required=True) or "")
    (await grants_of(request)).require(FORM, "write", "device", mac, format_mac(mac))
    enabled = boolean(body, "enabled") or False
    description = string(body, "description", default="") or ""
    try:
        check_description(description)
    except DeviceError as err:
        raise invalid("description", str(err)) from None
    try:
        record = await services.devices.add(mac, actor_of(request), description=description,
                                            enabled=enabled)  # fmt: skip
    except DeviceError as err:
        raise ApiError(409, str(err)) from None
    return web.json_response(to_json(record), status=201)


async def import_devices(request: web.Request, services: Services) -> web.StreamResponse:
    """Import CSV rows ``mac,description,enabled``: all or nothing, every bad row reported
    with its line number (``update=true``: existing devices are changed, not refused)."""
    (await grants_of(request)).require_system("importing devices")
    update = request.query.get("update", "false").lower()
    if update not in ("true", "false"):
        raise invalid("update", "update must be true or false")
    text = await text_body(request)
    try:
        done = await services.devices.import_csv(text, actor_of(request),
                                                 update=update == "true")  # fmt: skip
    except DeviceImportError as err:
        problems = [p.replace("(use --update to change it)", "(use update=true to change it)")
                    for p in err.problems]  # fmt: skip
        raise ApiError(422, f"{len(problems)} bad row(s), nothing imported",
                       problems=problems) from None  # fmt: skip
    except DeviceError as err:  # a device in the file was added meanwhile: run it again
        raise ApiError(409, str(err)) from None
    return web.json_response({"added": done.added, "updated": done.updated})


async def export_devices(request: web.Request, services: Services) -> web.StreamResponse:
    """The devices (in the caller's scope) as CSV, in the format the import reads."""
    text = await services.devices.export_csv(await _scope(request))
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": 'attachment; filename="devices.csv"'})


_DEVICE: Final = {
    "type": "object",
    "required": ["mac", "enabled", "description", "identity", "created_at", "updated_at"],
    "properties": {
        "mac": {"type": "string", "examples": ["00:04:f2:aa:bb:cc"]},
        "enabled": {"type": "boolean"}, "description": {"type": "string"},
        "identity": {"type": "string", "description": "how the MAC was learned, or admin"},
        **{name: {"type": ["string", "null"]} for name in (
            "last_source", "user_agent", "first_seen_at", "last_seen_at")},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"},
    },
}  # fmt: skip
_MAC: Final = d.path("mac", "the device's MAC (aa:bb:cc:dd:ee:ff, aabbccddeeff, …; a unicast "
                           "address)", {"type": "string",
                                        "pattern": "^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$"})
_DESCRIPTION: Final = {"type": "string", "maxLength": 128}
SCHEMAS: Final = {
    "Device": _DEVICE,
    "DevicePage": {
        "type": "object", "required": ["total", "offset", "limit", "items"],
        "properties": {"total": {"type": "integer"}, "offset": {"type": "integer"},
                       "limit": {"type": "integer"},
                       "items": {"type": "array", "items": d.ref("Device")}},
    },
}  # fmt: skip
PATHS: Final = {
    BASE: {
        "get": {
            "summary": "Devices in the caller's scope matching q, a page of them",
            "parameters": [d.query("q", {"type": "string"},
                                   "part of the MAC or of the description"), *d.PAGING],
            "responses": {"200": d.json_body(d.ref("DevicePage"), "the page and the total"),
                          **d.refusals(body=True)},
        },
        "post": {
            "summary": "Add a device by hand (disabled unless enabled)",
            "security": d.STATE_CHANGE,
            "requestBody": d.request_json({
                "type": "object", "required": ["mac"], "additionalProperties": False,
                "properties": {"mac": {"type": "string"}, "enabled": {"type": "boolean"},
                               "description": _DESCRIPTION}}),
            "responses": {"201": d.json_body(d.ref("Device"), "added"),
                          "409": d.error("the device exists already"),
                          **d.refusals(write=True)},
        },
    },
    f"{BASE}/import": {"post": {
        "summary": "Import devices from CSV (mac,description,enabled): all or nothing; "
                   "system administrators only",
        "security": d.STATE_CHANGE,
        "parameters": [d.query("update", {"type": "string", "enum": ["true", "false"]},
                               "change existing devices instead of refusing them")],
        "requestBody": d.request_text(d.CSV, "the CSV text, header row first"),
        "responses": {
            "200": d.json_body({"type": "object", "required": ["added", "updated"],
                                "properties": {"added": {"type": "integer"},
                                               "updated": {"type": "integer"}}},
                               "imported"),
            "409": d.error("a device in the file was added meanwhile: nothing imported"),
            **d.refusals(write=True),
            "422": d.import_refused("bad rows, each with its line number; nothing imported"),
        },
    }},
    f"{BASE}/export": {"get": {
        "summary": "The devices in the caller's scope as CSV (imports as is)",
        "responses": {"200": {"description": "the CSV file", "content": {d.CSV: {
            "schema": {"type": "string"}}}}, **d.refusals()},
        "x-columns": list(EXPORT_COLUMNS),
    }},
    BASE + "/{mac}": {
        "parameters": [_MAC],
        "get": {"summary": "One device",
                "responses": {"200": d.json_body(d.ref("Device"), "the device"),
                              **d.refusals(found=True, body=True)}},
        "patch": {
            "summary": "Enable or disable a device, or change its description",
            "security": d.STATE_CHANGE,
            "requestBody": d.request_json({
                "type": "object", "additionalProperties": False,
                "properties": {"enabled": {"type": "boolean"}, "description": _DESCRIPTION}}),
            "responses": {"200": d.json_body(d.ref("Device"), "the device as changed"),
                          **d.refusals(write=True, found=True)},
        },
        "delete": {"summary": "Delete a device", "security": d.STATE_CHANGE,
                   "responses": {"204": {"description": "deleted"},
                                 **d.refusals(write=True, found=True)}},
    },
}  # fmt: skip
