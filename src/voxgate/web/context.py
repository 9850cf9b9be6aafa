"""What every handler of the web administration reaches: settings, services, sessions, the
login guard, the certificate service, the clock, the templates and the imports under way (one
:class:`AdminContext` per server, kept in the aiohttp application under :data:`CONTEXT`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import jinja2
from aiohttp import web

from voxgate.config.schema import AdminSettings
from voxgate.services.admins import AdminService
from voxgate.services.audit import Actor, AuditLog
from voxgate.services.certificates import CertificateService
from voxgate.services.livecalls import LiveCalls, no_calls
from voxgate.services.sipusers import SipUserService
from voxgate.web.lockout import LoginGuard
from voxgate.web.progress import ImportTracker
from voxgate.web.sessions import Session, SessionStore

TEMPLATES: Final = Path(__file__).parent / "ui" / "templates"
STATIC: Final = Path(__file__).parent / "ui" / "static"
#: The cookies: ``__Host-`` makes the browser insist on Secure, Path=/ and no Domain.
SESSION_COOKIE: Final = "__Host-voxgate-session"
LOGIN_COOKIE: Final = "__Host-voxgate-login"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"


@dataclass(slots=True)
class AdminContext:
    """The server's state and services."""

    settings: AdminSettings
    admins: AdminService
    audit: AuditLog
    sessions: SessionStore
    guard: LoginGuard
    clock: Callable[[], float]
    templates: jinja2.Environment
    #: The certificate of the node's TLS listeners (the TLS page).
    certificates: CertificateService | None = None
    product: str = "voxgate"
    #: The node's calls under way (the dashboard's); none without a node.
    live_calls: LiveCalls = no_calls
    #: CSV imports under way, for the progress bars of the pages that sent them.
    imports: ImportTracker = field(default_factory=ImportTracker)
    #: SIP users and, through them, the embedded call control's extensions: they need the
    #: node's realms and key file (``None`` without them; their pages say so).
    sipusers: SipUserService | None = None

    def render(self, name: str, status: int = 200, **values: Any) -> web.Response:
        """A page from template ``name`` (autoescaped)."""
        text = self.templates.get_template(name).render(product=self.product, **values)
        return web.Response(status=status, text=text, content_type="text/html", charset="utf-8")


CONTEXT: Final = web.AppKey("voxgate_admin", AdminContext)


def template_environment() -> jinja2.Environment:
    """The templates, HTML-escaped by default."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              autoescape=jinja2.select_autoescape(default=True),
                              undefined=jinja2.StrictUndefined)  # fmt: skip


def context_of(request: web.Request) -> AdminContext:
    """The context of the server ``request`` came to."""
    return request.app[CONTEXT]


def session_of(request: web.Request) -> Session:
    """The session of an authenticated request (the authentication middleware checked it)."""
    session = context_of(request).sessions.peek(request.cookies.get(SESSION_COOKIE))
    assert session is not None, "route not behind the authentication middleware"
    return session


def source_of(request: web.Request) -> str:
    """The client's address (the connection's: no proxy headers are believed)."""
    return request.remote or "-"


def actor_of(request: web.Request) -> Actor:
    """The logged-in account as the audit log names it, with its address."""
    return Actor(f"admin:{session_of(request).username}", source_of(request))
