"""All SIP listeners and connections of a node, and the one ``send`` the driver uses.

A thin I/O adapter: it opens sockets, hands each datagram or framed message to
``on_message(data, flow)`` and sends bytes on a flow.  Which flow to use is the
SIP layer's business (RFC 3261 §18.2.2, RFC 3581, RFC 5626).

TLS listeners accept plain sockets themselves and hand each one to
``loop.connect_accepted_socket`` with :attr:`ReloadableContext.current` *at
accept time* (EDGE-3): a reloaded certificate serves the next handshake, the
connections already open keep theirs.  (``start_tls`` on an accepted transport
races the ClientHello under uvloop; an SNI-callback swap would not carry a
changed verify mode or minimum version.)  Handshakes under way count against
``max_connections``.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import itertools
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from voxgate.policy.admission import Verdict
from voxgate.sip.flow import Address, Flow, Transport
from voxgate.sip.overload import deferrable
from voxgate.sip.parser import DEFAULT_LIMITS, Limits
from voxgate.transport.flows import FlowTable
from voxgate.transport.reuseport import steer_registers
from voxgate.transport.stream import StreamConnection
from voxgate.transport.tlsctx import ReloadableContext
from voxgate.transport.udp import OnMessage, UdpListener

log = logging.getLogger(__name__)
#: Seconds a TLS peer gets to finish its handshake.
HANDSHAKE_TIMEOUT = 10.0
#: Seconds a peer may leave us blocked on a full write buffer before it is cut off.
WRITE_STALL_TIMEOUT = 30.0
#: Seconds :meth:`TransportManager.close` waits for connections to flush and close.
CLOSE_GRACE = 2.0
#: Receive buffer asked for on UDP listeners.  Bursts (a phone fleet re-registering after an
#: outage) overflow the kernel default (~200 KiB) long before the CPU runs out; a much larger
#: queue turns overload into delay instead: at 4 MiB a saturated node held ~1.5 s of work, so
#: every request waited past SIP's 500 ms retransmission timer, the phones sent it again, and
#: the retransmissions made the overload worse (docs/benchmarks.md, issue 3, item 11).  1 MiB (the
#: kernel accounts twice that) holds a few hundred milliseconds of work.  The kernel caps the
#: request at net.core.rmem_max (docs/admin-guide.md).
UDP_RECEIVE_BUFFER = 1024 * 1024
#: Send buffer asked for on UDP listeners (capped at net.core.wmem_max).
UDP_SEND_BUFFER = 4 * 1024 * 1024
#: Listen backlog of stream listeners.
BACKLOG = 1024
_STREAMS = (Transport.TCP, Transport.TLS)
#: Verdicts that end a stream connection (a rate-limited one only loses the message).
_CLOSING = frozenset({Verdict.BLOCKED, Verdict.NOT_ALLOWED, Verdict.LOCKED_OUT})


class SourcePolicy(Protocol):
    """The admission check the listeners apply to every source (NET-1, NET-2)."""

    def check(self, source: str, now: float) -> Verdict:
        """The verdict for one packet or connection from ``source`` at loop time ``now``."""
        ...


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One listening socket to open; port 0 picks a free port."""

    transport: Transport
    host: str
    port: int
    #: UDP only: ``SO_REUSEPORT``, so that the call control's registrar workers (other
    #: processes of the same user) can bind the same address and share its REGISTERs
    #: (:mod:`voxgate.transport.reuseport`: the rest goes to the first socket bound).
    reuse_port: bool = False


class TransportManager:
    """UDP listeners, TCP/TLS servers and the live connections, by flow.

    ``stats`` counts ``datagrams_in``, ``datagrams_out``, ``dropped`` (oversize
    datagrams), ``connections``, ``refused_connections`` (over ``max_connections``),
    ``handshake_failures``, ``framing_errors``, ``idle_closed``, ``write_overflows``,
    ``send_failures``, ``errors`` (exceptions caught at the per-message boundary), and
    ``denied`` (datagrams and stream messages the source policy dropped) and
    ``denied_connections`` (connections it refused before any byte was read — before the
    TLS handshake on TLS listeners).
    """

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
        client_tls: ssl.SSLContext | None = None,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        write_stall_timeout: float = WRITE_STALL_TIMEOUT,
        source_policy: SourcePolicy | None = None,
        dscp: int = 0,
    ) -> None:
        self._on_message = on_message
        #: DSCP code point of every SIP packet sent (EDGE-4); 0 leaves them unmarked.
        self.dscp = dscp
        self.source_policy = source_policy
        self._on_connection_lost = on_connection_lost
        self.limits = limits
        self.idle_timeout = idle_timeout
        self.keepalive_pong = keepalive_pong
        self.max_connections = max_connections
        self.handshake_timeout = handshake_timeout
        self.write_stall_timeout = write_stall_timeout
        self._tls = tls
        self._client_tls = client_tls
        self.stats: collections.Counter[str] = collections.Counter()
        self.bound: list[tuple[Transport, Address]] = []
        self.flows: FlowTable[StreamConnection] = FlowTable()
        self._udp: list[UdpListener] = []
        self._servers: list[asyncio.Server] = []
        self._open: dict[int, StreamConnection] = {}
        self._accepting: list[tuple[asyncio.Task[None], socket.socket]] = []
        self._handshakes: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, specs: list[ListenerSpec]) -> None:
        """Open every listener; on any failure close what was opened and re-raise."""
        loop = asyncio.get_running_loop()
        try:
            for spec in specs:
                if spec.transport is Transport.UDP:
                    sock = await _bound_socket(spec, socket.SOCK_DGRAM, self.dscp)
                    _grow_buffers(sock)
                    _, listener = await loop.create_datagram_endpoint(self._udp_factory, sock=sock)
                    self.bound.append((Transport.UDP, listener.local))
                elif spec.transport is Transport.TCP:
                    sock = await _bound_socket(spec, socket.SOCK_STREAM, self.dscp)
                    server = await loop.create_server(
                        self._connection_factory(Transport.TCP), sock=sock, backlog=BACKLOG
                    )
                    self._servers.append(server)
                    self.bound.append((Transport.TCP, _sockname(sock)))
                elif spec.transport is Transport.TLS:
                    if self._tls is None:
                        raise ValueError("a TLS listener needs a TLS context")
                    sock = await _bound_socket(spec, socket.SOCK_STREAM, self.dscp)
                    task = loop.create_task(self._accept_tls(sock, self._tls))
                    self._accepting.append((task, sock))
                    self.bound.append((Transport.TLS, _sockname(sock)))
                else:
                    raise ValueError(f"{spec.transport} listeners are not served here")
        except BaseException:
            await self.close()
            raise
        for transport, (host, port) in self.bound:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            log.info("listening on %s %s", transport.value, where)

    def _udp_factory(self) -> UdpListener:
        # known for sending from the start: on a port shared with SO_REUSEPORT, datagrams
        # (and answers to them) can come before create_datagram_endpoint returns
        listener = UdpListener(self._on_message, self.limits.max_message_size, self.stats,
                               self._admits, deferrable)  # fmt: skip
        self._udp.append(listener)
        return listener

    def _admits(self, source: str) -> bool:
        """Whether the source policy lets a datagram from ``source`` in."""
        policy = self.source_policy
        if policy is None:
            return True
        if policy.check(source, asyncio.get_running_loop().time()).admitted:
            return True
        self.stats["denied"] += 1
        return False

    def _connection_factory(
        self, kind: Transport, *, admitted: bool = False
    ) -> Callable[[], StreamConnection]:
        return lambda: StreamConnection(self, kind, next(self._ids), admitted=admitted)

    async def _accept_tls(self, listener: socket.socket, tls: ReloadableContext) -> None:
        """Accept TLS connections for as long as the listener is open."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _ = await loop.sock_accept(listener)
            except OSError as err:  # EMFILE, ECONNABORTED…: the listener itself stays
                log.warning("TLS accept failed: %s", err)
                await asyncio.sleep(0.1)
                continue
            if self.open_connections >= self.max_connections:
                self.stats["refused_connections"] += 1
                log.info("connection limit reached, refusing", extra={"peer": _peer(sock)})
                sock.close()
                continue
            if not self._admits_connection(_peer_host(sock)):
                sock.close()  # before the handshake: a denied source costs no TLS work
                continue
            sock.setblocking(False)
            task = loop.create_task(self._tls_handshake(sock, tls.current))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _tls_handshake(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        peer = _peer(sock)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                self._connection_factory(Transport.TLS, admitted=True), sock,
                ssl=context, ssl_handshake_timeout=self.handshake_timeout,
            )  # fmt: skip
        except (OSError, EOFError, ValueError) as err:  # SSLError, timeout, reset
            # the loop closed the socket with the transport it had built around it
            self.stats["handshake_failures"] += 1
            log.debug("TLS handshake failed: %r", err, extra={"peer": peer})

    async def close(self) -> None:
        """Stop listening, close every connection (flushing what is queued), then wait.

        Connections still open after :data:`CLOSE_GRACE` seconds are aborted.
        """
        for server in self._servers:
            server.close()
        for task, sock in self._accepting:
            task.cancel()
            sock.close()
        for task in list(self._handshakes):
            task.cancel()
        for listener in self._udp:
            if listener.transport is not None:
                listener.transport.close()
        for connection in list(self._open.values()):
            connection.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_GRACE
        while self._open and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self._open.values()):
            connection.close(abort=True)
        for server in self._servers:
            await server.wait_closed()
        await asyncio.sleep(0)  # let aborted transports report connection_lost
        self._servers.clear()
        self._accepting.clear()
        self._udp.clear()

    # -- sending -----------------------------------------------------------------------
    def send(self, data: bytes, flow: Flow) -> bool:
        """Send ``data`` on ``flow``; ``False`` when that is no longer possible.

        UDP leaves from the listening socket bound to ``flow.local`` (else any UDP
        listener of the remote's family).  TCP/TLS go on ``flow.connection`` if it
        is alive; a stream flow without a connection id uses the most recent live
        connection to its remote address.
        """
        if flow.transport is Transport.UDP:
            listener = self._udp_for(flow)
            if listener is None:
                self.stats["send_failures"] += 1
                return False
            return listener.send(data, flow.remote)
        if flow.connection is None:
            connection = self.flows.lookup(flow.transport, flow.remote)
        else:
            connection = self.flows.get(flow.connection)
        if connection is None or not connection.send(data):
            self.stats["send_failures"] += 1
            return False
        return True

    async def connect(
        self, transport: Transport, remote: Address, *, server_hostname: str | None = None
    ) -> Flow:
        """A flow to ``remote`` over TCP or TLS: an existing live connection, else a new one.

        Raises ``OSError`` (including ``ssl.SSLError`` and timeouts) when it cannot
        connect and ``ValueError`` for a transport this manager cannot open.
        """
        if transport not in _STREAMS:
            raise ValueError(f"cannot open a {transport} connection")
        existing = self.flows.lookup(transport, remote)
        if existing is not None:
            return existing.flow
        context = None
        if transport is Transport.TLS:
            if self._client_tls is None:
                raise ValueError("outgoing TLS needs a client TLS context")
            context = self._client_tls
        loop = asyncio.get_running_loop()
        wire, connection = await loop.create_connection(
            self._connection_factory(transport), remote[0], remote[1],
            ssl=context, server_hostname=server_hostname if context is not None else None,
            ssl_handshake_timeout=self.handshake_timeout if context is not None else None,
        )  # fmt: skip
        sock = wire.get_extra_info("socket")
        if self.dscp and sock is not None:
            mark_dscp(sock, self.dscp)
        if not connection.alive:
            raise ConnectionRefusedError(f"connection limit reached, not connecting to {remote}")
        return connection.flow

    def peer_certificate(self, flow: Flow) -> dict[str, object] | None:
        """The verified client/server certificate of a TLS flow, for device identity."""
        connection = self.flows.get(flow.connection)
        return None if connection is None else connection.peer_certificate()

    def connection(self, flow: Flow) -> StreamConnection | None:
        """The live connection of a stream flow."""
        return self.flows.get(flow.connection)

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
        """A framed message from a connection; dropped (and the connection closed) when the
        source policy no longer admits its source (blocked or locked out meanwhile)."""
        policy = self.source_policy
        if policy is not None:
            verdict = policy.check(flow.remote[0], asyncio.get_running_loop().time())
            if not verdict.admitted:
                self.stats["denied"] += 1
                if verdict in _CLOSING:
                    connection = self.flows.get(flow.connection)
                    if connection is not None:
                        log.info("closing a connection: source %s", verdict.value,
                                 extra={"flow": str(flow)})  # fmt: skip
                        connection.close(abort=True)
                return
        self._on_message(data, flow)

    def connection_opened(self, connection: StreamConnection) -> bool:
        """Admit a new connection unless the limit is reached or the source policy refuses
        its source (TLS: both checked at accept)."""
        if not connection.admitted and self.open_connections >= self.max_connections:
            self.stats["refused_connections"] += 1
            log.info("connection limit reached, refusing", extra={"flow": str(connection.flow)})
            return False
        if not connection.admitted and not self._admits_connection(connection.flow.remote[0]):
            return False
        self._open[connection.ident] = connection
        self.flows.add(connection)
        self.stats["connections"] += 1
        return True

    def connection_closed(self, connection: StreamConnection) -> None:
        """Forget a connection; tell the owner if it had carried SIP."""
        self._open.pop(connection.ident, None)
        self.flows.remove(connection)
        if connection.established and self._on_connection_lost is not None:
            try:
                self._on_connection_lost(connection.flow)
            except Exception:  # the per-message boundary of the connection-lost event
                self.stats["errors"] += 1
                log.exception(
                    "error handling a lost connection", extra={"flow": str(connection.flow)}
                )

    def _admits_connection(self, source: str) -> bool:
        policy = self.source_policy
        if policy is None:
            return True
        verdict = policy.check(source, asyncio.get_running_loop().time())
        if verdict.admitted:
            return True
        self.stats["denied_connections"] += 1
        log.debug("refusing a connection: source %s", verdict.value, extra={"peer": source})
        return False

    @property
    def open_connections(self) -> int:
        """How many TCP/TLS connections are open, counting TLS handshakes under way."""
        return len(self._open) + len(self._handshakes)


def mark_dscp(sock: socket.socket, dscp: int) -> None:
    """Mark what ``sock`` sends with ``dscp`` (EDGE-4; connections accepted on a marked
    listening socket inherit it)."""
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, dscp << 2)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, dscp << 2)


async def _bound_socket(spec: ListenerSpec, kind: socket.SocketKind, dscp: int = 0
                        ) -> socket.socket:  # fmt: skip
    """A socket bound to the spec's address, marked with ``dscp``; IPv6 sockets are
    IPv6-only so that ``[::]`` and ``0.0.0.0`` can share a port."""
    host = spec.host.strip("[]")
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        address: tuple[str, int] = (host, spec.port)
    except ValueError:  # a name: take its first address
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, spec.port, type=kind)
        family, _, _, _, sockaddr = infos[0]
        address = (str(sockaddr[0]), int(sockaddr[1]))
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        elif spec.reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if dscp:
            mark_dscp(sock, dscp)
        sock.bind(address)
        if spec.reuse_port and kind == socket.SOCK_DGRAM:
            steer_registers(sock)  # everything but REGISTER to the group's first socket
        if kind == socket.SOCK_STREAM:
            sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _sockname(sock: socket.socket) -> Address:
    name = sock.getsockname()
    return (str(name[0]), int(name[1]))


def _peer_host(sock: socket.socket) -> str:
    try:
        return str(sock.getpeername()[0])
    except OSError:
        return ""


def _peer(sock: socket.socket) -> str:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def set_dscp(sock: socket.socket, dscp: int) -> None:
    """Mark a socket's packets with a DSCP code point (EDGE-4, RFC 2474; 46 = EF, 26 = AF31)."""
    if not 0 <= dscp < 64:
        raise ValueError(f"DSCP must be 0..63, got {dscp}")
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, dscp << 2)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, dscp << 2)


def _grow_buffers(sock: socket.socket) -> None:
    """Ask for :data:`UDP_RECEIVE_BUFFER` and :data:`UDP_SEND_BUFFER`; keep what the kernel
    gives."""
    for option, size in ((socket.SO_RCVBUF, UDP_RECEIVE_BUFFER),
                         (socket.SO_SNDBUF, UDP_SEND_BUFFER)):  # fmt: skip
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
        except OSError as err:  # not fatal: the default buffers still work
            log.debug("cannot size a UDP socket buffer: %s", err)
