"""The admin HTTPS server (ADMIN-1): reachable only from ``admin.allowed_networks``.

It accepts sockets itself, as the provisioning server and the SIP TLS listeners do: a
connection from outside the allowed networks is closed right after ``accept``, before any
TLS handshake (it costs no cryptography and learns nothing, not even the certificate).  The
TLS context is the node's :class:`~voxgate.transport.tlsctx.ReloadableContext`, read at each
accept, so a certificate reload (``SIGHUP``) applies to SIP and the administration alike; a
certificate installed through the administration (``tls_settings`` name its files) reloads
that same context.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from typing import Final

from aiohttp import web

from voxgate.config.schema import AdminSettings, TlsSettings
from voxgate.policy.netblocks import NetblockSet
from voxgate.services.admins import AdminService
from voxgate.services.audit import AuditLog
from voxgate.services.certificates import CertificateService
from voxgate.services.livecalls import LiveCalls, no_calls
from voxgate.services.sipusers import SipUserService
from voxgate.storage.engine import Store
from voxgate.transport.https import GatedHttpsListener
from voxgate.transport.tlsctx import ReloadableContext, build_server_context
from voxgate.web.api import openapi, resources
from voxgate.web.api import session as session_api
from voxgate.web.context import CONTEXT, STATIC, AdminContext, template_environment
from voxgate.web.lockout import LoginGuard, lockout_policy
from voxgate.web.security import authenticate, security_headers
from voxgate.web.sessions import SessionLimits, SessionStore
from voxgate.web.ui import pages

log = logging.getLogger(__name__)

#: Seconds an idle keep-alive connection stays open.
KEEPALIVE_TIMEOUT: Final = 75.0
#: Largest request body (forms; imports may send more: voxgate.web.security.MAX_IMPORT).
MAX_BODY: Final = 64 * 1024


def allowed_networks(settings: AdminSettings) -> NetblockSet:
    """``admin.allowed_networks`` as a set to match sources against."""
    return NetblockSet([(ipaddress.ip_network(text, strict=False), "admin.allowed_networks")
                        for text in settings.allowed_networks])  # fmt: skip


class AdminServer:
    """The aiohttp application of the web administration and its gated TLS listener."""

    def __init__(
        self, settings: AdminSettings, store: Store, *, tls: ReloadableContext | None,
        tls_settings: TlsSettings, clock: Callable[[], float] | None = None,
        sipusers: SipUserService | None = None, live_calls: LiveCalls = no_calls,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.tls = tls
        self.store = store
        self.sipusers = sipusers
        #: The certificate of ``tls`` (its files: ``tls_settings``), shown and replaced.
        self.certificates = CertificateService(store, tls_settings, build=build_server_context,
                                               live=tls)  # fmt: skip
        self.allowed = allowed_networks(settings)
        audit = AuditLog(store)
        sessions = SessionStore(float(settings.session_idle_timeout), SessionLimits(
            settings.max_sessions, settings.max_system_sessions, settings.max_group_sessions))
        self.context = AdminContext(
            # an account deleted, disabled, given another role or a password by an
            # administrator here: its sessions end now (the seats they held free up)
            settings=settings, admins=AdminService(store, on_access_change=sessions.close_user),
            audit=audit, sessions=sessions, guard=LoginGuard(lockout_policy(settings), audit),
            clock=clock or (lambda: asyncio.get_running_loop().time()),
            templates=template_environment(), certificates=self.certificates,
            live_calls=live_calls, sipusers=sipusers,
        )  # fmt: skip
        self._listener: GatedHttpsListener | None = None
        #: The listening address once started.
        self.bound: tuple[str, int] | None = None
        self.stats: dict[str, int] = dict.fromkeys(
            ("denied_connections", "refused_connections", "handshake_failures"), 0)

    def application(self) -> web.Application:
        """The aiohttp application: middlewares, security headers, routes, style sheets."""
        app = web.Application(middlewares=[authenticate], client_max_size=MAX_BODY)
        app[CONTEXT] = self.context
        app.on_response_prepare.append(security_headers)
        app.add_routes(pages.routes() + session_api.routes() + openapi.routes()
                       + resources.routes(self.store, self.sipusers, self.certificates))
        app.router.add_static("/static/", STATIC, append_version=False)
        return app

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (TLS); returns the bound address."""
        if self.tls is None:
            raise ValueError("the admin server needs a TLS context")
        await self.context.guard.restore(self.context.clock)
        self._listener = GatedHttpsListener(
            "admin", admit=self._admit, tls=self.tls,
            max_connections=self.settings.max_connections,
            keepalive_timeout=KEEPALIVE_TIMEOUT, stats=self.stats,
        )  # fmt: skip
        self.bound = await self._listener.start(self.application(), host, port)
        return self.bound

    async def close(self) -> None:
        """Stop listening, end the handshakes and the connections."""
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    @property
    def open_connections(self) -> int:
        """Connections open, TLS handshakes under way included."""
        return 0 if self._listener is None else self._listener.open_connections

    def admits(self, source: str) -> bool:
        """Whether ``source`` is in ``admin.allowed_networks``."""
        try:
            return self.allowed.match(source) is not None
        except ValueError:
            return False

    def _admit(self, source: str) -> bool:
        if self.admits(source):
            return True
        log.info("admin: connection from %s closed: not in admin.allowed_networks", source,
                 extra={"peer": source})  # fmt: skip
        return False
