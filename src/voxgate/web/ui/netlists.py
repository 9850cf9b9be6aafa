"""The netlists page (NET-1): the allow and block lists, one named netlist's netblocks, a
netblock added or deleted, a netlist imported from a file (replacing the netlist of that
title; every bad line named and nothing changed unless every line is good).  Changes go through
:class:`~voxgate.services.netlists.NetlistService` (checks, one transaction, the change
counter running nodes reload on, the audit event).  Form ``netlists``: the lists are the
node's, so its read grant shows all of them and its write grant changes any."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from voxgate.policy.netblocks import NetlistError
from voxgate.services.netlists import KINDS, MANUAL, NetlistChangeError, NetlistService
from voxgate.web.context import actor_of
from voxgate.web.ui.common import (
    FormError,
    capitalized,
    csv_upload,
    done,
    field,
    needs,
    render,
    store_of,
)

#: Netblocks of one netlist shown on the page (imported country lists hold thousands).
MAX_SHOWN: Final = 500


async def netlists_page(request: web.Request, *, status: int = 200, error: str = "",
                        problems: list[str] | None = None) -> web.Response:  # fmt: skip
    """``GET /netlists``: every netlist; ``kind`` and ``title`` open one."""
    service = NetlistService(store_of(request))
    summaries = await service.summaries()
    kind = request.query.get("kind", "block")
    kind = kind if kind in KINDS else "block"
    title = request.query.get("title", "")[:128]
    if not title:  # open the manual block list, or the first netlist there is
        first = next((s for s in summaries if (s.kind, s.title) == ("block", MANUAL)),
                     summaries[0] if summaries else None)  # fmt: skip
        if first is not None:
            kind, title = first.kind, first.title
    entries = await service.repo.entries(kind, title) if title else []
    return render(
        request, "netlists.html", status, section="/netlists", error=error,
        allow=[s for s in summaries if s.kind == "allow"],
        block=[s for s in summaries if s.kind == "block"],
        kind=kind, title=title, entries=entries[:MAX_SHOWN], entry_count=len(entries),
        max_shown=MAX_SHOWN, manual=MANUAL, problems=problems or [],
    )  # fmt: skip


async def add(request: web.Request) -> web.StreamResponse:
    """``POST /netlists/add``: one netblock into a netlist (``manual`` by default)."""
    form = await request.post()
    kind, network = field(form, "kind", 16), field(form, "network", 64)
    title = field(form, "title", 200) or MANUAL
    try:
        fresh = await NetlistService(store_of(request)).add(
            kind, network, actor_of(request), comment=field(form, "comment", 400), title=title)
    except NetlistChangeError as err:
        return await netlists_page(request, status=400, error=capitalized(str(err)))
    raise done("/netlists", "netlist.add" if fresh else "netlist.exists", network,
               kind=kind, title=title)  # fmt: skip


async def delete(request: web.Request) -> web.StreamResponse:
    """``POST /netlists/delete``: one netblock out of one netlist."""
    form = await request.post()
    kind, network, title = (field(form, "kind", 16), field(form, "network", 64),
                            field(form, "title", 200))  # fmt: skip
    try:
        await NetlistService(store_of(request)).delete(kind, network, actor_of(request),
                                                       title=title or None)  # fmt: skip
    except NetlistChangeError as err:
        return await netlists_page(request, status=400, error=capitalized(str(err)))
    raise done("/netlists", "netlist.delete", network, kind=kind, title=title)


async def import_list(request: web.Request) -> web.StreamResponse:
    """``POST /netlists/import``: a netlist file (``file``: one netblock a line, ``#``
    comments, a first comment line as its title) replaces netlist ``title`` (default: the
    file's title, else its name) of list ``kind``."""
    form = await request.post()
    kind = field(form, "kind", 16)
    upload = form.get("file")
    source = upload.filename if isinstance(upload, web.FileField) and upload.filename else "upload"
    try:
        text = csv_upload(form, "a netlist file")
        result = await NetlistService(store_of(request)).import_text(
            kind, text, source[:128], actor_of(request), title=field(form, "title", 200) or None)
    except FormError as err:
        return await netlists_page(request, status=400, error=str(err))
    except NetlistError as err:
        count = len(err.problems)
        return await netlists_page(
            request, status=400, problems=err.problems,
            error=f"{count} bad line{'s' if count > 1 else ''} in the file: nothing was imported.",
        )  # fmt: skip
    except NetlistChangeError as err:
        return await netlists_page(request, status=400, error=capitalized(str(err)))
    subject = (f"{result.kind} list {result.title!r}, {result.netblocks} netblocks "
               f"(replacing {result.replaced})")  # fmt: skip
    raise done("/netlists", "netlist.import", subject, kind=result.kind, title=result.title)


def routes() -> list[web.RouteDef]:
    """The netlists page's routes."""
    return [
        web.get("/netlists", needs("netlists")(netlists_page)),
        web.post("/netlists/add", needs("netlists")(add)),
        web.post("/netlists/delete", needs("netlists")(delete)),
        web.post("/netlists/import", needs("netlists")(import_list)),
    ]
