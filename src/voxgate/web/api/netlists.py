"""``/api/v1/netlists``: the allow and block lists of NET-1 (form ``netlists``), through
:class:`~voxgate.services.netlists.NetlistService` — the service ``voxgate netlist`` uses.

The lists are the node's, not a group's: reading needs the form's read grant, changing
them its write grant.  A netblock has a ``/`` in it, so it travels in the query
(``network=``), not in the path.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from voxgate.policy.netblocks import NetlistError
from voxgate.services.netlists import KINDS, MANUAL, NetlistChangeError, check_network, check_title
from voxgate.storage.repos.netblocks import NetblockRecord
from voxgate.web.api import describe as d
from voxgate.web.api.v1 import (
    ApiError,
    Services,
    answering,
    invalid,
    json_object,
    not_found,
    string,
    text_body,
    unknown_fields,
)
from voxgate.web.context import actor_of
from voxgate.web.grants import grants_of

FORM: Final = "netlists"
BASE: Final = "/api/v1/netlists"
ADD_FIELDS: Final = ("network", "comment", "title")


def routes(services: Services) -> list[web.RouteDef]:
    """The resource's routes."""
    return [
        web.get(BASE, answering(services, list_netlists)),
        web.get(BASE + "/{kind}", answering(services, list_entries)),
        web.post(BASE + "/{kind}", answering(services, add_entry)),
        web.delete(BASE + "/{kind}/entries", answering(services, delete_entry)),
        web.post(BASE + "/{kind}/import", answering(services, import_netlist)),
    ]


def _kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise not_found(f"no list {kind[:40]!r}: use allow or block")
    return kind


def _title(text: str | None, field: str = "title") -> str | None:
    if text is None:
        return None
    try:
        return check_title(text)
    except NetlistChangeError as err:
        raise invalid(field, str(err)) from None


def _network(text: str | None) -> str:
    if text is None:
        raise invalid("network", "network is required")
    try:
        return check_network(text)
    except NetlistChangeError as err:
        raise invalid("network", str(err)) from None


def to_json(record: NetblockRecord) -> dict[str, Any]:
    """A netblock as the API shows it."""
    return {"title": record.title, "network": record.network, "comment": record.comment}


async def list_netlists(request: web.Request, services: Services) -> web.StreamResponse:
    """Every netlist: kind, title, size."""
    (await grants_of(request)).require_form(FORM, "read")
    return web.json_response([{"kind": s.kind, "title": s.title, "size": s.size}
                              for s in await services.netlists.summaries()])  # fmt: skip


async def list_entries(request: web.Request, services: Services) -> web.StreamResponse:
    """The netblocks of the allow or block list (or of one of its netlists, ``title``)."""
    kind = _kind(request)
    (await grants_of(request)).require_form(FORM, "read")
    title = _title(request.query.get("title"))
    records = await services.netlists.entries(kind, title)
    return web.json_response([to_json(r) for r in records])


async def add_entry(request: web.Request, services: Services) -> web.StreamResponse:
    """Add one netblock (to netlist ``manual`` unless ``title``); ``201``, or ``200`` when
    that netlist already has it."""
    kind = _kind(request)
    (await grants_of(request)).require_form(FORM, "write")
    body = await json_object(request)
    unknown_fields(body, ADD_FIELDS)
    network = _network(string(body, "network", required=True))
    title = _title(string(body, "title")) or MANUAL
    comment = string(body, "comment", default="") or ""
    fresh = await services.netlists.add(kind, network, actor_of(request), comment=comment,
                                        title=title)  # fmt: skip
    return web.json_response({"kind": kind, "title": title, "network": network, "added": fresh},
                             status=201 if fresh else 200)  # fmt: skip


async def delete_entry(request: web.Request, services: Services) -> web.StreamResponse:
    """Delete netblock ``network`` from the list (every netlist holding it, or ``title``)."""
    kind = _kind(request)
    (await grants_of(request)).require_form(FORM, "write")
    network = _network(request.query.get("network"))
    title = _title(request.query.get("title"))
    try:
        count = await services.netlists.delete(kind, network, actor_of(request), title=title)
    except NetlistChangeError as err:
        raise not_found(str(err)) from None
    return web.json_response({"deleted": count})


async def import_netlist(request: web.Request, services: Services) -> web.StreamResponse:
    """Replace a netlist with the netblocks of a text or CSV body (one per line, ``#``
    comments; the first comment line is its title unless ``title``): all or nothing, every
    bad line reported with its number."""
    kind = _kind(request)
    (await grants_of(request)).require_form(FORM, "write")
    title = _title(request.query.get("title"))
    text = await text_body(request)
    try:
        done = await services.netlists.import_text(kind, text, "upload", actor_of(request),
                                                   title=title)  # fmt: skip
    except NetlistError as err:
        raise ApiError(422, f"{len(err.problems)} bad line(s), nothing imported",
                       problems=err.problems) from None  # fmt: skip
    except NetlistChangeError as err:
        raise invalid("title", str(err)) from None
    return web.json_response({"kind": done.kind, "title": done.title,
                              "netblocks": done.netblocks, "replaced": done.replaced})  # fmt: skip


_KIND: Final = {"name": "kind", "in": "path", "required": True,
                "schema": {"type": "string", "enum": list(KINDS)}}  # fmt: skip
_TITLE: Final = d.query("title", {"type": "string", "minLength": 1, "maxLength": 128},
                        "one netlist of the list")  # fmt: skip
_ENTRY: Final = {"type": "object", "required": ["title", "network", "comment"],
                 "properties": {"title": {"type": "string"}, "network": {"type": "string"},
                                "comment": {"type": "string"}}}  # fmt: skip
SCHEMAS: Final[dict[str, Any]] = {"Netblock": _ENTRY}
PATHS: Final = {
    BASE: {"get": {
        "summary": "Every netlist: kind, title, size",
        "responses": {"200": d.json_body({"type": "array", "items": {
            "type": "object", "required": ["kind", "title", "size"],
            "properties": {"kind": {"type": "string"}, "title": {"type": "string"},
                           "size": {"type": "integer"}}}}, "the netlists"), **d.refusals()},
    }},
    BASE + "/{kind}": {
        "parameters": [_KIND],
        "get": {"summary": "The netblocks of the allow or block list",
                "parameters": [_TITLE],
                "responses": {"200": d.json_body({"type": "array", "items": d.ref("Netblock")},
                                                 "oldest first"),
                              **d.refusals(found=True, body=True)}},
        "post": {
            "summary": "Add a netblock (to netlist manual unless title)",
            "security": d.STATE_CHANGE,
            "requestBody": d.request_json({
                "type": "object", "required": ["network"], "additionalProperties": False,
                "properties": {"network": {"type": "string", "examples": ["192.0.2.0/24"]},
                               "comment": {"type": "string"},
                               "title": {"type": "string", "minLength": 1,
                                         "maxLength": 128}}}),
            "responses": {"201": d.json_body({"type": "object"}, "added"),
                          "200": d.json_body({"type": "object"}, "the netlist had it already"),
                          **d.refusals(write=True, found=True)},
        },
    },
    BASE + "/{kind}/entries": {"delete": {
        "summary": "Delete a netblock from the list (every netlist holding it, or title)",
        "security": d.STATE_CHANGE,
        "parameters": [_KIND, {**d.query("network", {"type": "string"}, "the netblock"),
                               "required": True}, _TITLE],
        "responses": {"200": d.json_body({"type": "object", "properties": {
            "deleted": {"type": "integer"}}}, "how many rows went"),
            **d.refusals(write=True, found=True)},
    }},
    BASE + "/{kind}/import": {"post": {
        "summary": "Replace a netlist with a text or CSV file's netblocks: all or nothing",
        "security": d.STATE_CHANGE,
        "parameters": [_KIND, _TITLE],
        "requestBody": {"required": True, "content": {
            "text/plain": {"schema": {"type": "string"}},
            d.CSV: {"schema": {"type": "string"}}}},
        "responses": {
            "200": d.json_body({"type": "object", "properties": {
                "kind": {"type": "string"}, "title": {"type": "string"},
                "netblocks": {"type": "integer"}, "replaced": {"type": "integer"}}},
                "imported"),
            **d.refusals(write=True, found=True),
            "422": d.import_refused("bad lines, each with its number; nothing imported"),
        },
    }},
}  # fmt: skip
