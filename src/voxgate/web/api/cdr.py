"""``/api/v1/cdr``: call records with filters, a page as JSON or every match as CSV (the
export ``voxgate cdr export`` writes, through the same
:class:`~voxgate.services.cdr.CdrService`).  Form ``cdr``; a group administrator sees only
the calls from or to the extensions in its scope."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from voxgate.storage.repos.cdr import CdrFilter, CdrRecord
from voxgate.web.api import describe as d
from voxgate.web.api.v1 import Services, answering, paging, query_time
from voxgate.web.grants import grants_of

FORM: Final = "cdr"
BASE: Final = "/api/v1/cdr"


def routes(services: Services) -> list[web.RouteDef]:
    """The resource's routes."""
    return [web.get(BASE, answering(services, list_records)),
            web.get(f"{BASE}/export", answering(services, export_records))]  # fmt: skip


async def _filter(request: web.Request) -> CdrFilter:
    grants = await grants_of(request)
    grants.require_form(FORM, "read")
    return CdrFilter(
        since=query_time(request, "since"), until=query_time(request, "until"),
        caller=request.query.get("caller") or None, callee=request.query.get("callee") or None,
        disposition=request.query.get("disposition") or None, parties=grants.in_scope("extension"),
    )  # fmt: skip


def to_json(record: CdrRecord) -> dict[str, Any]:
    """A call record as the API shows it."""
    return {name: value.isoformat() if isinstance(value, datetime) else value
            for name in record.__dataclass_fields__
            for value in (getattr(record, name),)}  # fmt: skip


async def list_records(request: web.Request, services: Services) -> web.StreamResponse:
    """A page of the matching records, newest first, and their total."""
    which = await _filter(request)
    offset, limit = paging(request)
    total, records = await services.cdr.page(which, offset=offset, limit=limit)
    return web.json_response({"total": total, "offset": offset, "limit": limit,
                              "items": [to_json(r) for r in records]})  # fmt: skip


async def export_records(request: web.Request, services: Services) -> web.StreamResponse:
    """Every matching record, oldest first, as CSV (sent page by page)."""
    which = await _filter(request)
    answer = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": 'attachment; filename="cdr.csv"'})
    await answer.prepare(request)
    buffer = io.StringIO()

    async def drain() -> None:
        await answer.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()

    await services.cdr.write_csv(buffer, which, drain=drain)
    await drain()  # the header of an empty export
    await answer.write_eof()
    return answer


_FILTERS: Final = [
    d.query("since", d.TIME, "calls started at or after (ISO 8601; UTC if no zone)"),
    d.query("until", d.TIME, "calls started before"),
    d.query("caller", {"type": "string"}, "exactly this caller"),
    d.query("callee", {"type": "string"}, "exactly this callee"),
    d.query("disposition", {"type": "string", "examples": ["answered", "busy", "no-answer"]},
            "how calls ended (the pbx's Disposition: answered, busy, no-answer, …)"),
]  # fmt: skip
_NULLABLE: Final = {"type": ["string", "null"]}
SCHEMAS: Final[dict[str, Any]] = {"CallRecord": {
    "type": "object",
    "properties": {
        "call_id": {"type": "string"}, "caller": {"type": "string"},
        "caller_name": {"type": "string"}, "callee": {"type": "string"},
        "started_at": {"type": "string"}, "answered_at": _NULLABLE,
        "ended_at": {"type": "string"}, "duration": {"type": "number"},
        "disposition": {"type": "string"}, "status": {"type": "integer"},
        "reason": {"type": "string"}, "caller_source": {"type": "string"},
        "callee_call_id": {"type": "string"},
    },
}}  # fmt: skip
PATHS: Final = {
    BASE: {"get": {
        "summary": "Call records matching the filters, newest first, a page of them",
        "parameters": [*_FILTERS, *d.PAGING],
        "responses": {"200": d.json_body({
            "type": "object", "required": ["total", "offset", "limit", "items"],
            "properties": {"total": {"type": "integer"}, "offset": {"type": "integer"},
                           "limit": {"type": "integer"},
                           "items": {"type": "array", "items": d.ref("CallRecord")}}},
            "the page and the total"), **d.refusals(body=True)},
    }},
    f"{BASE}/export": {"get": {
        "summary": "Every matching call record, oldest first, as CSV (with media counters)",
        "parameters": _FILTERS,
        "responses": {"200": {"description": "the CSV file", "content": {d.CSV: {
            "schema": {"type": "string"}}}}, **d.refusals(body=True)},
    }},
}  # fmt: skip
