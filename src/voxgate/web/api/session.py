"""``GET /api/v1/session``: who is logged in, with which role, and the CSRF token that every
state-changing API call must carry in ``X-CSRF-Token``."""

from __future__ import annotations

from aiohttp import web

from voxgate.web.context import context_of, session_of


def routes() -> list[web.RouteDef]:
    """The resource's routes."""
    return [web.get("/api/v1/session", get_session)]


async def get_session(request: web.Request) -> web.StreamResponse:
    """The session of the caller."""
    session = session_of(request)
    idle = context_of(request).settings.session_idle_timeout
    return web.json_response({
        "username": session.username, "role": session.role, "csrf_token": session.csrf_token,
        "must_change_password": session.must_change, "source": session.source,
        "idle_timeout": idle,
    })  # fmt: skip
