"""All SIP listeners and connections of a node, and the one ``send`` the driver uses."""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

from voxgate.sip.flow import Address, Flow, Transport
from voxgate.sip.parser import DEFAULT_LIMITS, Limits
from voxgate.transport.stream import StreamConnection
from voxgate.transport.tlsctx import ReloadableContext
from voxgate.transport.udp import OnMessage, UdpListener

log = logging.getLogger(__name__)
#: Seconds a TLS client gets to finish its handshake.
HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One listening socket to open; port 0 picks a free port."""

    transport: Transport
    host: str
    port: int


class TransportManager:
    """UDP listeners, TCP/TLS servers and the live connections, by flow."""

    def __init__(
        self,
        on_message: OnMessage,
        on_connection_lost: Callable[[Flow], None] | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        idle_timeout: float = 600.0,
        keepalive_pong: bool = True,
        max_connections: int = 10000,
        tls: ReloadableContext | None = None,
    ) -> None:
        self._on_message = on_message
        self._on_connection_lost = on_connection_lost
        self.limits = limits
        self.idle_timeout = idle_timeout
        self.keepalive_pong = keepalive_pong
        self.max_connections = max_connections
        self._tls = tls
        self.stats: collections.Counter[str] = collections.Counter()
        self.bound: list[tuple[Transport, Address]] = []
        self._udp: list[UdpListener] = []
        self._servers: list[asyncio.Server] = []
        self._connections: dict[int, StreamConnection] = {}
        self._ids = itertools.count(1)

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, specs: list[ListenerSpec]) -> None:
        """Open every listener; on any failure close what was opened and re-raise."""
        loop = asyncio.get_running_loop()
        try:
            for spec in specs:
                family = socket.AF_INET6 if ":" in spec.host else socket.AF_INET
                if spec.transport is Transport.UDP:
                    sock = socket.socket(family, socket.SOCK_DGRAM)
                    if family == socket.AF_INET6:
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    sock.bind((spec.host, spec.port))
                    _, listener = await loop.create_datagram_endpoint(self._udp_factory, sock=sock)
                    self._udp.append(listener)
                    self.bound.append((Transport.UDP, listener.local))
                elif spec.transport in (Transport.TCP, Transport.TLS):
                    if spec.transport is Transport.TLS and self._tls is None:
                        raise ValueError("a TLS listener needs a TLS context")
                    kind = spec.transport
                    tls = None
                    if kind is Transport.TLS and self._tls is not None:
                        tls = self._tls.listener_context()
                    server = await loop.create_server(
                        self._connection_factory(kind), spec.host, spec.port, family=family,
                        reuse_address=True, ssl=tls,
                        ssl_handshake_timeout=HANDSHAKE_TIMEOUT if tls else None,
                    )  # fmt: skip
                    self._servers.append(server)
                    for sock in server.sockets:
                        name = sock.getsockname()
                        self.bound.append((kind, (str(name[0]), int(name[1]))))
                else:
                    raise ValueError(f"{spec.transport} listeners are not served here")
        except BaseException:
            await self.close()
            raise
        for transport, (host, port) in self.bound:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            log.info("listening on %s %s", transport.value, where)

    def _udp_factory(self) -> UdpListener:
        return UdpListener(self._on_message, self.limits.max_message_size, self.stats)

    def _connection_factory(self, kind: Transport) -> Callable[[], StreamConnection]:
        return lambda: StreamConnection(self, kind, next(self._ids))

    async def close(self) -> None:
        """Close listeners and every connection."""
        for server in self._servers:
            server.close()
        for listener in self._udp:
            if listener.transport is not None:
                listener.transport.close()
        for connection in list(self._connections.values()):
            connection.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._udp.clear()

    # -- sending -----------------------------------------------------------------------
    def send(self, data: bytes, flow: Flow) -> bool:
        """Send on ``flow``: UDP from the socket bound to its local address; streams on its
        connection.  ``False`` when that is no longer possible."""
        if flow.transport is Transport.UDP:
            listener = self._udp_for(flow)
            return listener is not None and listener.send(data, flow.remote)
        connection = self._connections.get(flow.connection) if flow.connection else None
        if connection is None or not connection.alive:
            self.stats["send_failures"] += 1
            return False
        return connection.send(data)

    def connection(self, flow: Flow) -> StreamConnection | None:
        """The live connection of a stream flow."""
        return self._connections.get(flow.connection) if flow.connection else None

    def _udp_for(self, flow: Flow) -> UdpListener | None:
        fallback = None
        v6 = ":" in flow.remote[0]
        for listener in self._udp:
            if listener.local == flow.local:
                return listener
            if fallback is None and (":" in listener.local[0]) == v6:
                fallback = listener
        return fallback

    # -- ConnectionOwner ---------------------------------------------------------------
    def on_message(self, data: bytes, flow: Flow) -> None:
        """A framed message from a connection."""
        self._on_message(data, flow)

    def connection_opened(self, connection: StreamConnection) -> bool:
        """Admit a new connection unless the limit is reached."""
        if len(self._connections) >= self.max_connections:
            self.stats["refused_connections"] += 1
            return False
        self._connections[connection.ident] = connection
        self.stats["connections"] += 1
        return True

    def connection_closed(self, connection: StreamConnection) -> None:
        """Forget a connection and tell the owner its flow is gone."""
        self._connections.pop(connection.ident, None)
        if self._on_connection_lost is not None:
            self._on_connection_lost(connection.flow)

    @property
    def open_connections(self) -> int:
        """How many TCP/TLS connections are open."""
        return len(self._connections)


def set_dscp(sock: socket.socket, dscp: int) -> None:
    """Mark a socket's packets with a DSCP code point (EDGE-4; e.g. 46 = EF, 26 = AF31)."""
    if not 0 <= dscp < 64:
        raise ValueError(f"DSCP must be 0..63, got {dscp}")
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, dscp << 2)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, dscp << 2)
