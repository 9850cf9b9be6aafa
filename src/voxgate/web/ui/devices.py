"""The devices page (AUTH-2): the device table searched and paged, a device enabled,
disabled, described or added by hand, the table imported from CSV (every bad row reported
with its line number, nothing imported unless every row is good) and exported.  Every
change goes through :class:`~voxgate.services.devices.DeviceService`, the CLI's service,
which checks it and writes the audit event.

Form ``devices``: a group administrator or an end user sees the devices in its scope only
(filtered in the query), changes one only with write on the form and on that device (else the
refusal page, audited), and sees the forms and buttons only where it may use them; the import
can name any device, so it is for system administrators only (as in the API)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from voxgate.policy.devices import format_mac
from voxgate.services.devices import DeviceError, DeviceImportError, DeviceService, check_mac
from voxgate.web.context import actor_of, context_of, session_of
from voxgate.web.grants import grants_of
from voxgate.web.ui.common import (
    PAGE_SIZE,
    FormError,
    capitalized,
    csv_upload,
    done,
    field,
    needs,
    page_number,
    render,
    store_of,
    system_only,
)

FORM: Final = "devices"


def _service(request: web.Request) -> DeviceService:
    return DeviceService(store_of(request))


async def devices_page(request: web.Request, *, status: int = 200, error: str = "",
                       problems: list[str] | None = None) -> web.Response:  # fmt: skip
    """``GET /devices``: the table; ``q`` searches MAC and description, ``disabled`` shows
    only disabled devices."""
    service = _service(request)
    grants = await grants_of(request)
    scope = grants.in_scope("device")
    search = request.query.get("q", "").strip()[:128] or None
    disabled_only = request.query.get("disabled") == "1"
    page = page_number(request)
    total = await service.count(search=search, disabled_only=disabled_only, scope=scope)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    rows = await service.list(search=search, disabled_only=disabled_only, scope=scope,
                              offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)  # fmt: skip
    waiting = await service.count(disabled_only=True, scope=scope)
    writable = {r.mac for r in rows if grants.allows_form(FORM, "write")
                and grants.allows("device", r.mac, "write")}  # fmt: skip
    return render(
        request, "devices.html", status, section="/devices", devices=rows, total=total,
        page=page, pages=pages, search=search or "", disabled_only=disabled_only,
        waiting=waiting, format_mac=format_mac, error=error, problems=problems or [],
        now=datetime.now(UTC), writable=writable, may_add=grants.allows_form(FORM, "write"),
        may_import=grants.is_system, scoped=scope is not None,
        import_id=secrets.token_urlsafe(12),
    )  # fmt: skip


async def _allowed(request: web.Request, text: str) -> str:
    """The device ``text`` names, normalized, once the caller may change it (else
    :class:`~voxgate.web.grants.ForbiddenError`: the refusal page); :class:`DeviceError` for
    no MAC at all."""
    mac = check_mac(text)
    (await grants_of(request)).require(FORM, "write", "device", mac, format_mac(mac))
    return mac


async def _change(request: web.Request, action: str) -> web.StreamResponse:
    form = await request.post()
    service = _service(request)
    actor = actor_of(request)
    try:
        mac = await _allowed(request, field(form, "mac", 64))
        if action == "device.enable":
            record = await service.enable(mac, actor)
        elif action == "device.disable":
            record = await service.disable(mac, actor)
        else:
            record = await service.set_description(mac, field(form, "description", 512), actor)
    except DeviceError as err:
        return await devices_page(request, status=400, error=capitalized(str(err)))
    raise done("/devices", action, format_mac(record.mac), **_keep(form))


def _keep(form: object) -> dict[str, str]:
    """The list's search and filter through a change (hidden fields ``q``, ``disabled``)."""
    kept: dict[str, str] = {}
    getter = getattr(form, "get", None)
    if getter is None:
        return kept
    for name in ("q", "disabled"):
        value = getter(name, "")
        if isinstance(value, str) and value:
            kept[name] = value[:128]
    return kept


async def enable(request: web.Request) -> web.StreamResponse:
    """``POST /devices/enable``."""
    return await _change(request, "device.enable")


async def disable(request: web.Request) -> web.StreamResponse:
    """``POST /devices/disable``."""
    return await _change(request, "device.disable")


async def describe(request: web.Request) -> web.StreamResponse:
    """``POST /devices/describe``."""
    return await _change(request, "device.set")


async def add(request: web.Request) -> web.StreamResponse:
    """``POST /devices/add``: a device by MAC, with a description, enabled or not."""
    form = await request.post()
    try:
        record = await _service(request).add(
            await _allowed(request, field(form, "mac", 64)), actor_of(request),
            description=field(form, "description", 512),
            enabled=form.get("enabled") == "1",
        )  # fmt: skip
    except DeviceError as err:
        return await devices_page(request, status=400, error=capitalized(str(err)))
    raise done("/devices", "device.add", format_mac(record.mac))


async def import_csv(request: web.Request) -> web.StreamResponse:
    """``POST /devices/import``: a CSV file (``file``) or pasted text (``text``); ``update``
    lets rows change existing devices; ``import_id`` names the import for its progress bar
    (:mod:`voxgate.web.progress`)."""
    form = await request.post()
    try:
        text = csv_upload(form)
    except FormError as err:
        return await devices_page(request, status=400, error=str(err))
    tracker = context_of(request).imports
    session_id = session_of(request).id
    import_id = field(form, "import_id", 64)
    try:
        result = await _service(request).import_csv(
            text, actor_of(request), update=form.get("update") == "1",
            progress=tracker.start(session_id, import_id),
        )  # fmt: skip
    except DeviceImportError as err:
        return await devices_page(
            request, status=400, problems=err.problems,
            error=f"{len(err.problems)} bad row{'s' if len(err.problems) > 1 else ''} in the "
                  "file: nothing was imported.",
        )  # fmt: skip
    except DeviceError as err:
        return await devices_page(request, status=400, error=capitalized(str(err)))
    finally:
        tracker.end(session_id, import_id)
    raise done("/devices", "device.import",
               f"{result.added} added, {result.updated} changed")  # fmt: skip


async def export_csv(request: web.Request) -> web.StreamResponse:
    """``GET /devices.csv``: every device (in the caller's scope), in the format the import
    reads."""
    text = await _service(request).export_csv((await grants_of(request)).in_scope("device"))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="voxgate-devices-{stamp}.csv"'})


def routes() -> list[web.RouteDef]:
    """The devices page's routes."""
    return [
        web.get("/devices", needs(FORM)(devices_page)),
        web.get("/devices.csv", needs(FORM)(export_csv)),
        web.post("/devices/add", needs(FORM)(add)),
        web.post("/devices/enable", needs(FORM)(enable)),
        web.post("/devices/disable", needs(FORM)(disable)),
        web.post("/devices/describe", needs(FORM)(describe)),
        web.post("/devices/import", system_only(import_csv)),
    ]
