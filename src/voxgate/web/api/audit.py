"""``GET /api/v1/audit``: the audit log (ADMIN-6), newest first, with filters.  Form
``audit``: its read grant reads the whole log (it is the node's, not a group's)."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from voxgate.web.api import describe as d
from voxgate.web.api.v1 import Services, answering, paging, query_time
from voxgate.web.grants import grants_of

FORM: Final = "audit"
BASE: Final = "/api/v1/audit"


def routes(services: Services) -> list[web.RouteDef]:
    """The resource's routes."""
    return [web.get(BASE, answering(services, list_events))]


async def list_events(request: web.Request, services: Services) -> web.StreamResponse:
    """Events newest first: ``since`` ≤ at < ``until``, by ``actor``, ``action`` prefix."""
    (await grants_of(request)).require_form(FORM, "read")
    since, until = query_time(request, "since"), query_time(request, "until")
    offset, limit = paging(request)
    events = await services.audit.recent(
        limit=limit, offset=offset, since=since, until=until,
        actor=request.query.get("actor") or None,
        action_prefix=request.query.get("action") or None,
    )  # fmt: skip
    return web.json_response({"offset": offset, "limit": limit, "items": [{
        "at": e.at.isoformat(), "actor": e.actor, "source": e.source, "action": e.action,
        "target": e.target, "detail": e.detail} for e in events]})  # fmt: skip


SCHEMAS: Final[dict[str, Any]] = {"AuditEvent": {
    "type": "object", "required": ["at", "actor", "source", "action", "target", "detail"],
    "properties": {name: {"type": "string"} for name in (
        "at", "actor", "source", "action", "target", "detail")},
}}  # fmt: skip
PATHS: Final = {BASE: {"get": {
    "summary": "The audit log, newest first: who, when, from where, what",
    "parameters": [
        d.query("since", d.TIME, "events at or after (ISO 8601; UTC if no zone)"),
        d.query("until", d.TIME, "events before"),
        d.query("actor", {"type": "string"}, "exactly this actor, e.g. admin:alice"),
        d.query("action", {"type": "string"}, "actions starting with, e.g. device."),
        *d.PAGING,
    ],
    "responses": {"200": d.json_body({
        "type": "object", "required": ["offset", "limit", "items"],
        "properties": {"offset": {"type": "integer"}, "limit": {"type": "integer"},
                       "items": {"type": "array", "items": d.ref("AuditEvent")}}},
        "a page of events"), **d.refusals(body=True)},
}}}  # fmt: skip
