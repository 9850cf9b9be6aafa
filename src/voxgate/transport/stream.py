"""SIP over TCP and TLS (RFC 3261 §18.3, RFC 5626 §4.4.1): framing, keep-alive, idle close.

One protocol serves both: the event loop's TLS layer sits below it (the manager
starts each accepted TLS connection with the server context current at accept
time, see :mod:`voxgate.transport.manager`), so it sees plaintext either way and
knows no SIP beyond framing.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from typing import Protocol, cast

from voxgate.sip.errors import ParseError
from voxgate.sip.flow import Address, Flow, Transport
from voxgate.sip.parser import KeepAlivePing, Limits, StreamFramer

log = logging.getLogger(__name__)

#: Close a peer whose unsent data passes this at once (it does not read what we send).
MAX_WRITE_BUFFER = 1 << 20
#: Above this much unsent data asyncio pauses us; see ``write_stall_timeout``.
WRITE_HIGH_WATER = 256 * 1024
#: The RFC 5626 §4.4.1 pong.
PONG = b"\r\n"


class ConnectionOwner(Protocol):
    """What a connection needs from the transport manager."""

    limits: Limits
    idle_timeout: float
    keepalive_pong: bool
    write_stall_timeout: float
    stats: collections.Counter[str]

    def on_message(self, data: bytes, flow: Flow) -> None: ...
    def connection_opened(self, connection: StreamConnection) -> bool: ...
    def connection_closed(self, connection: StreamConnection) -> None: ...


class StreamConnection(asyncio.Protocol):
    """One TCP or TLS connection carrying SIP; TLS connections arrive with the
    handshake done (the loop's TLS layer is below this protocol)."""

    def __init__(
        self,
        owner: ConnectionOwner,
        transport_kind: Transport,
        ident: int,
        *,
        admitted: bool = False,
    ) -> None:
        self._owner = owner
        self.kind = transport_kind
        self.ident = ident
        #: Whether the manager already counted this connection against its limit (TLS accept).
        self.admitted = admitted
        self.transport: asyncio.Transport | None = None
        self.flow = Flow(transport_kind, ("", 0), ("", 0), ident)
        self._framer = StreamFramer(owner.limits)
        self._loop = asyncio.get_running_loop()
        self._last_activity = self._loop.time()
        self._idle_handle: asyncio.TimerHandle | None = None
        self._stall_handle: asyncio.TimerHandle | None = None
        self._established = False
        self._closed = False

    # -- asyncio.Protocol ---------------------------------------------------------
    def connection_made(self, base: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        transport = cast(asyncio.Transport, base)
        self.transport = transport
        local = transport.get_extra_info("sockname")
        remote = transport.get_extra_info("peername")
        self.flow = Flow(self.kind, _address(local), _address(remote), self.ident)
        if not self._owner.connection_opened(self):
            self._closed = True
            transport.abort()  # over the connection limit
            return
        self._established = True
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        if self._closed or self.transport is None or self.transport.is_closing():
            return  # closing after a framing error: nothing more is read
        self._last_activity = self._loop.time()
        self._framer.feed(data)
        self._process()

    def _process(self) -> None:
        try:
            while not self._closed and (frame := self._framer.next_frame()) is not None:
                if isinstance(frame, KeepAlivePing):
                    if self._owner.keepalive_pong:
                        self.send(PONG)
                    continue
                try:
                    self._owner.on_message(frame, self.flow)
                except Exception:  # the per-message boundary: log, keep the connection
                    self._owner.stats["errors"] += 1
                    log.exception("error handling a message", extra={"flow": str(self.flow)})
        except ParseError as err:
            # The stream cannot be resynchronised: answer what is owed, then close.
            self._owner.stats["framing_errors"] += 1
            log.info(
                "framing error, closing: %s", err.reason,
                extra={"flow": str(self.flow), "status": err.status},
            )  # fmt: skip
            if err.status is not None:
                status_line = f"SIP/2.0 {err.status} {err.reason}\r\n"
                self.send(status_line.encode() + b"Content-Length: 0\r\n\r\n")
            self.close()

    def eof_received(self) -> bool | None:
        return False  # close our side too: SIP has no use for half-closed connections

    def pause_writing(self) -> None:
        # The peer reads slower than we write: give it write_stall_timeout to catch up.
        if self._stall_handle is None:
            self._stall_handle = self._loop.call_later(
                self._owner.write_stall_timeout, self._write_stalled
            )

    def resume_writing(self) -> None:
        if self._stall_handle is not None:
            self._stall_handle.cancel()
            self._stall_handle = None

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002 - asyncio's signature
        for handle in (self._idle_handle, self._stall_handle):
            if handle is not None:
                handle.cancel()
        if not self._closed:
            self._closed = True
            self._owner.connection_closed(self)

    # -- ours -------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        """Whether the connection can carry messages."""
        return self._established and not self._closed and self.transport is not None

    @property
    def established(self) -> bool:
        """Whether the connection got as far as carrying SIP."""
        return self._established

    def send(self, data: bytes) -> bool:
        """Queue ``data``; closes a peer that stopped reading."""
        transport = self.transport
        if not self.alive or transport is None or transport.is_closing():
            return False
        if transport.get_write_buffer_size() + len(data) > MAX_WRITE_BUFFER:
            self._owner.stats["write_overflows"] += 1
            log.info("peer does not read, closing", extra={"flow": str(self.flow)})
            self.close(abort=True)
            return False
        transport.write(data)
        return True

    def close(self, *, abort: bool = False) -> None:
        """Close gracefully (flushing what is queued), or at once."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if abort:
                transport.abort()
            else:
                transport.close()

    def peer_certificate(self) -> dict[str, object] | None:
        """The verified peer certificate of a TLS connection (``getpeercert()``), if any."""
        if self.transport is None or not self._established:
            return None
        ssl_object = self.transport.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            return None
        cert = ssl_object.getpeercert()
        return dict(cert) if cert else None

    def _write_stalled(self) -> None:
        self._stall_handle = None
        self._owner.stats["write_overflows"] += 1
        log.info("peer stopped reading, closing", extra={"flow": str(self.flow)})
        self.close(abort=True)

    def _arm_idle(self) -> None:
        delay = self._last_activity + self._owner.idle_timeout - self._loop.time()
        self._idle_handle = self._loop.call_later(max(delay, 0.0), self._idle_check)

    def _idle_check(self) -> None:
        if self._closed:
            return
        if self._loop.time() - self._last_activity >= self._owner.idle_timeout:
            self._owner.stats["idle_closed"] += 1
            log.debug("idle connection closed", extra={"flow": str(self.flow)})
            self.close()
        else:
            self._arm_idle()


def _address(sockaddr: object) -> Address:
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return (str(sockaddr[0]), int(sockaddr[1]))
    return ("", 0)
