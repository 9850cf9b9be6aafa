"""The admin HTTPS server (ADMIN-1): reachable only from ``admin.allowed_networks``.

It accepts sockets itself, as the provisioning server and the SIP TLS listeners do: a
connection from outside the allowed networks is closed right after ``accept``, before any
TLS handshake (it costs no cryptography and learns nothing, not even the certificate).  The
TLS context is the node's :class:`~voxgate.transport.tlsctx.ReloadableContext`, read at each
accept, so a certificate reload (``SIGHUP``) applies to SIP and the administration alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Final

from aiohttp import web

from voxgate.config.schema import AdminSettings
from voxgate.policy.netblocks import NetblockSet
from voxgate.services.admins import AdminService
from voxgate.services.audit import AuditLog
from voxgate.services.sipusers import SipUserService
from voxgate.storage.engine import Store
from voxgate.transport.tlsctx import ReloadableContext
from voxgate.web.api import openapi, resources
from voxgate.web.api import session as session_api
from voxgate.web.context import CONTEXT, STATIC, AdminContext, template_environment
from voxgate.web.lockout import LoginGuard, lockout_policy
from voxgate.web.security import authenticate, security_headers
from voxgate.web.sessions import SessionLimits, SessionStore
from voxgate.web.ui import pages

log = logging.getLogger(__name__)

#: Seconds a client gets to finish its TLS handshake.
HANDSHAKE_TIMEOUT: Final = 10.0
#: Seconds an idle keep-alive connection stays open.
KEEPALIVE_TIMEOUT: Final = 75.0
#: Seconds :meth:`AdminServer.close` gives requests under way.
CLOSE_GRACE: Final = 2.0
BACKLOG: Final = 128
#: Largest request body (forms; CSV uploads will raise it on their route).
MAX_BODY: Final = 64 * 1024


def allowed_networks(settings: AdminSettings) -> NetblockSet:
    """``admin.allowed_networks`` as a set to match sources against."""
    return NetblockSet([(ipaddress.ip_network(text, strict=False), "admin.allowed_networks")
                        for text in settings.allowed_networks])  # fmt: skip


class AdminServer:
    """The aiohttp application of the web administration and its gated TLS listener."""

    def __init__(
        self, settings: AdminSettings, store: Store, *, tls: ReloadableContext | None,
        clock: Callable[[], float] | None = None, sipusers: SipUserService | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.tls = tls
        self.store = store
        self.sipusers = sipusers
        self.allowed = allowed_networks(settings)
        audit = AuditLog(store)
        self.context = AdminContext(
            settings=settings, admins=AdminService(store), audit=audit,
            sessions=SessionStore(float(settings.session_idle_timeout), SessionLimits(
                settings.max_sessions, settings.max_system_sessions, settings.max_group_sessions,
            )),
            guard=LoginGuard(lockout_policy(settings), audit),
            clock=clock or (lambda: asyncio.get_running_loop().time()),
            templates=template_environment(),
        )  # fmt: skip
        self._runner: web.AppRunner | None = None
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
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
                       + resources.routes(self.store, self.sipusers))
        app.router.add_static("/static/", STATIC, append_version=False)
        return app

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (TLS); returns the bound address."""
        if self.tls is None:
            raise ValueError("the admin server needs a TLS context")
        runner = web.AppRunner(self.application(), access_log=None,
                               keepalive_timeout=KEEPALIVE_TIMEOUT,
                               shutdown_timeout=CLOSE_GRACE)  # fmt: skip
        await runner.setup()
        self._runner = runner
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(BACKLOG)
            listener.setblocking(False)
        except OSError:
            listener.close()
            await self.close()
            raise
        self._listener = listener
        self.bound = listener.getsockname()[:2]
        self._accepting = asyncio.get_running_loop().create_task(self._accept(listener, self.tls))
        log.info("admin: listening on https %s:%d", *self.bound)
        return self.bound

    async def close(self) -> None:
        """Stop listening, end the handshakes and the connections."""
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
            self._accepting = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for task in list(self._handshakes):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def open_connections(self) -> int:
        """Connections open, TLS handshakes under way included."""
        server = None if self._runner is None else self._runner.server
        return len(self._handshakes) + (0 if server is None else len(server.connections))

    def admits(self, source: str) -> bool:
        """Whether ``source`` is in ``admin.allowed_networks``."""
        try:
            return self.allowed.match(source) is not None
        except ValueError:
            return False

    async def _accept(self, listener: socket.socket, tls: ReloadableContext) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, peer = await loop.sock_accept(listener)
            except OSError as err:  # EMFILE, ECONNABORTED…: the listener itself stays
                log.warning("admin: accept failed: %s", err)
                await asyncio.sleep(0.1)
                continue
            source = str(peer[0])
            if not self.admits(source):
                self.stats["denied_connections"] += 1
                log.info("admin: connection from %s closed: not in admin.allowed_networks",
                         source, extra={"peer": source})  # fmt: skip
                sock.close()  # before the handshake
                continue
            if self.open_connections >= self.settings.max_connections:
                self.stats["refused_connections"] += 1
                sock.close()
                continue
            sock.setblocking(False)
            task = loop.create_task(self._handshake(sock, tls.current, source))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, sock: socket.socket, context: ssl.SSLContext, peer: str) -> None:
        runner = self._runner
        if runner is None or runner.server is None:
            sock.close()
            return
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                runner.server, sock, ssl=context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
            )
        except (OSError, EOFError, ValueError) as err:  # SSLError, timeout, reset
            self.stats["handshake_failures"] += 1
            log.debug("admin: TLS handshake failed: %r", err, extra={"peer": peer})
