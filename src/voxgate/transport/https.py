"""An aiohttp application behind a TLS listener whose connections are checked before their
handshake: the provisioning server (the node's source gate) and the web administration
(``admin.allowed_networks``) both serve this way.

A refused source is closed at once and costs no cryptography; the TLS context is the node's
:class:`~voxgate.transport.tlsctx.ReloadableContext`, read at each accept, so ``SIGHUP``
swaps the certificate for these listeners and the SIP ones alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Final

from aiohttp import web

from voxgate.transport.tlsctx import ReloadableContext

log = logging.getLogger(__name__)

#: Seconds a client has to finish its TLS handshake.
HANDSHAKE_TIMEOUT: Final = 10.0
#: Seconds open connections get to finish at shutdown.
CLOSE_GRACE: Final = 2.0
BACKLOG: Final = 128


class GatedHttpsListener:
    """Serves an aiohttp application over TLS on one socket; ``admit(source)`` decides, before
    the handshake, whether a connection is served. Counts ``denied_connections``,
    ``refused_connections`` (over ``max_connections``) and ``handshake_failures`` in
    ``stats`` (the owner's dictionary)."""

    def __init__(
        self, name: str, *, admit: Callable[[str], bool], tls: ReloadableContext,
        max_connections: int, keepalive_timeout: float, stats: dict[str, int],
    ) -> None:  # fmt: skip
        self.name = name
        self.admit = admit
        self.tls = tls
        self.max_connections = max_connections
        self.keepalive_timeout = keepalive_timeout
        self.stats = stats
        for key in ("denied_connections", "refused_connections", "handshake_failures"):
            stats.setdefault(key, 0)
        self._runner: web.AppRunner | None = None
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        #: The listening address once started.
        self.bound: tuple[str, int] | None = None

    async def start(self, application: web.Application, host: str, port: int
                    ) -> tuple[str, int]:  # fmt: skip
        """Listen on ``host:port``; returns the bound address (``OSError`` if it cannot)."""
        runner = web.AppRunner(application, access_log=None,
                               keepalive_timeout=self.keepalive_timeout,
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
        self._accepting = asyncio.get_running_loop().create_task(self._accept(listener))
        log.info("%s: listening on https %s:%d", self.name, *self.bound)
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

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, peer = await loop.sock_accept(listener)
            except OSError as err:  # EMFILE, ECONNABORTED…: the listener itself stays
                log.warning("%s: accept failed: %s", self.name, err)
                await asyncio.sleep(0.1)
                continue
            source = str(peer[0])
            if not self.admit(source):
                self.stats["denied_connections"] += 1
                sock.close()  # before the handshake: a refused source costs no TLS work
                continue
            if self.open_connections >= self.max_connections:
                self.stats["refused_connections"] += 1
                sock.close()
                continue
            sock.setblocking(False)
            task = loop.create_task(self._handshake(sock, self.tls.current, source))
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
            log.debug("%s: TLS handshake failed: %r", self.name, err, extra={"peer": peer})
