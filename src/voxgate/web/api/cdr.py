"""``/api/v1/cdr``: call records with filters, a page as JSON or every match as CSV (the
export ``voxgate cdr export`` writes, through the same
:class:`~voxgate.services.cdr.CdrService`; the filters read by the same
:func:`~voxgate.services.cdr.read_filter` as the call records page).  Form ``cdr``; a group
administrator sees only the calls from or to the extensions in its scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from aiohttp import web

from voxgate.services.cdr import DISPOSITIONS, MAX_DURATION, MAX_PARTY, read_filter
from voxgate.storage.repos.cdr import CdrFilter, CdrRecord
from voxgate.web.api import describe as d
from voxgate.web.api.v1 import Services, answering, invalid, paging
from voxgate.web.downloads import csv_download, stamped
from voxgate.web.grants import grants_of

FORM: Final = "cdr"
BASE: Final = "/api/v1/cdr"


def routes(services: Services) -> list[web.RouteDef]:
    """The resource's routes."""
    return [web.get(BASE, answering(services, list_records)),
            web.get(f"{BASE}/export", answering(services, export_records))]  # fmt: skip


async def _filter(request: web.Request) -> CdrFilter:
    """The query's filters (read as the call records page reads them); ``422`` for the first
    bad one."""
    grants = await grants_of(request)
    grants.require_form(FORM, "read")
    which, problems = read_filter(request.query, grants.in_scope("extension"))
    if problems:
        raise invalid(problems[0].name, f"{problems[0].name}: {problems[0].reason}")
    return which


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
    return await csv_download(request, stamped("voxgate-cdr"), lambda out, drain:
                              services.cdr.write_csv(out, which, drain=drain))  # fmt: skip


_FILTERS: Final = [
    d.query("since", d.TIME, "calls started at or after (ISO 8601; UTC if no zone; a date "
            "alone: its midnight)"),
    d.query("until", d.TIME, "calls started before"),
    d.query("caller", {"type": "string", "maxLength": MAX_PARTY},
            "callers starting with this (case-sensitive; the whole number for one caller)"),
    d.query("callee", {"type": "string", "maxLength": MAX_PARTY},
            "callees starting with this (case-sensitive)"),
    d.query("disposition", {"type": "string", "enum": list(DISPOSITIONS)},
            "how calls ended (the call control's disposition)"),
    d.query("min_duration", {"type": "number", "minimum": 0, "maximum": MAX_DURATION},
            "calls that talked at least this many seconds (also m:ss)"),
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
