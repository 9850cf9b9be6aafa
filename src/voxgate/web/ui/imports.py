"""``GET /imports/progress``: how far an import of this session is (see
:mod:`voxgate.web.progress`)."""

from __future__ import annotations

from aiohttp import web

from voxgate.web.context import context_of, session_of


async def progress(request: web.Request) -> web.StreamResponse:
    """``GET /imports/progress?id=…``: ``{"phase", "done", "total"}`` or ``404``."""
    state = context_of(request).imports.get(session_of(request).id,
                                            request.query.get("id", ""))  # fmt: skip
    if state is None:
        return web.json_response({"error": "no such import"}, status=404)
    return web.json_response(state.as_json())


def routes() -> list[web.RouteDef]:
    """The progress route (every role may ask about its own imports)."""
    return [web.get("/imports/progress", progress)]
