"""The security layer every request of the web administration passes (ADMIN-1, ADMIN-4).

- **Headers** on every answer, errors included: a Content-Security-Policy that allows only
  this origin and no framing (``frame-ancestors 'none'``), HSTS, ``nosniff``, no referrer,
  and ``Cache-Control: no-store`` on everything but the style sheets.
- **Authentication**: every route but the login page, the style sheets and the OpenAPI
  document needs a live session (cookie ``__Host-voxgate-session``).  Without one a page
  answers ``303`` to ``/login``, the API ``401`` in JSON.  The account is read again at
  each request: deleted, disabled, given another role or another password elsewhere (the
  CLI), its sessions end.
- **CSRF**: every POST, PUT, PATCH and DELETE carries the session's token, as form field
  ``csrf_token`` or header ``X-CSRF-Token``; else ``403``.  (The cookie is also
  ``SameSite=Strict``: two locks.)
- **Body size**: 64 KiB (the server's limit) but on an import (a path ending in
  ``/import``), where a logged-in session may send up to :data:`MAX_IMPORT` bytes; the limit
  is raised only once the session is known, so nobody else can make the server read more.
- **Password change first**: a session whose password must change (set by someone else, or
  expired) reaches only ``/password``, ``/logout`` and ``/api/v1/session``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import hdrs, web
from yarl import URL

from voxgate.web.context import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, context_of
from voxgate.web.sessions import Session

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Largest body of an import (a CSV file of a few hundred thousand rows).
MAX_IMPORT: Final = 8 * 1024 * 1024

CSP: Final = ("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
              "object-src 'none'")  # fmt: skip
HSTS: Final = "max-age=31536000"
SAFE_METHODS: Final = frozenset({hdrs.METH_GET, hdrs.METH_HEAD, hdrs.METH_OPTIONS})
#: Routes anyone who reaches the server may use.
PUBLIC: Final = frozenset({"/login", "/api/v1/openapi.json"})
STATIC_PREFIX: Final = "/static/"
#: What a session whose password must change may reach.
BEFORE_PASSWORD_CHANGE: Final = frozenset({"/password", "/logout", "/api/v1/session"})
FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the headers of every answer."""
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["Strict-Transport-Security"] = HSTS
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    if not request.path.startswith(STATIC_PREFIX):
        headers[hdrs.CACHE_CONTROL] = "no-store"


def is_api(request: web.Request) -> bool:
    """Whether ``request`` is for the REST API (answers in JSON, never redirects)."""
    return request.path.startswith("/api/")


def error(request: web.Request, status: int, message: str) -> web.Response:
    """A refusal: JSON for the API, plain text for a page."""
    if is_api(request):
        return web.json_response({"error": message}, status=status)
    return web.Response(status=status, text=message + "\n")


def login_redirect(request: web.Request) -> web.HTTPSeeOther:
    """Back to the login page, to come back here after (GET pages only)."""
    target = "/login"
    if request.method == hdrs.METH_GET and request.path != "/":
        target += "?" + URL.build(query={"next": request.path_qs}).query_string
    return web.HTTPSeeOther(target)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Session, account, CSRF and password-change checks (see the module's docstring)."""
    if request.path in PUBLIC or request.path.startswith(STATIC_PREFIX):
        return await handler(request)
    context = context_of(request)
    session = context.sessions.get(request.cookies.get(SESSION_COOKIE), context.clock())
    if session is not None and not await _account_unchanged(request, session):
        context.sessions.close(session.id)
        session = None
    if session is None:
        if is_api(request):
            return error(request, 401, "not logged in, or the session has expired")
        raise login_redirect(request)
    if request.path.endswith("/import"):
        request = request.clone(client_max_size=MAX_IMPORT)
    if request.method not in SAFE_METHODS and not session.csrf_matches(await _csrf_token(request)):
        return error(request, 403, "CSRF token missing or wrong: reload the page and try again")
    if session.must_change and request.path not in BEFORE_PASSWORD_CHANGE:
        if is_api(request):
            return error(request, 403, "the password must be changed first (/password)")
        raise web.HTTPSeeOther("/password")
    return await handler(request)  # session_of(request) finds the session


async def _account_unchanged(request: web.Request, session: Session) -> bool:
    account = await context_of(request).admins.find(session.username)
    return (account is not None and account.enabled and account.role == session.role
            and account.password_changed_at == session.password_changed_at)  # fmt: skip


async def _csrf_token(request: web.Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.content_type in FORM_TYPES:
        value = (await request.post()).get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    return token
