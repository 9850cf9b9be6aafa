"""SIP over TCP and TLS (RFC 3261 §18.3, RFC 5626 §4.4.1): framing, keep-alive, idle close.

TLS is terminated by asyncio's SSL protocol under a handshake timeout (see
:mod:`voxgate.transport.tlsctx` for how a reloaded certificate reaches new
handshakes); this protocol sees plaintext either way.
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

#: Close a peer whose unsent data passes this (it does not read what we send).
MAX_WRITE_BUFFER = 1 << 20


class ConnectionOwner(Protocol):
    """What a connection needs from the transport manager."""

    limits: Limits
    idle_timeout: float
    keepalive_pong: bool
    stats: collections.Counter[str]

    def on_message(self, data: bytes, flow: Flow) -> None: ...
    def connection_opened(self, connection: StreamConnection) -> bool: ...
    def connection_closed(self, connection: StreamConnection) -> None: ...


class StreamConnection(asyncio.Protocol):
    """One TCP or TLS connection carrying SIP."""

    def __init__(self, owner: ConnectionOwner, transport_kind: Transport, ident: int) -> None:
        self._owner = owner
        self.kind = transport_kind
        self.ident = ident
        self.transport: asyncio.Transport | None = None
        self.flow = Flow(transport_kind, ("", 0), ("", 0), ident)
        self._framer = StreamFramer(owner.limits)
        self._loop = asyncio.get_running_loop()
        self._last_activity = self._loop.time()
        self._idle_handle: asyncio.TimerHandle | None = None
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
            transport.abort()  # over the connection limit
            self._closed = True
            return
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        self._last_activity = self._loop.time()
        self._framer.feed(data)
        try:
            while (frame := self._framer.next_frame()) is not None:
                if isinstance(frame, KeepAlivePing):
                    if self._owner.keepalive_pong:
                        self.send(b"\r\n")
                    continue
                try:
                    self._owner.on_message(frame, self.flow)
                except Exception:  # the per-message boundary: log, keep the connection
                    self._owner.stats["errors"] += 1
                    log.exception("error handling a message", extra={"flow": str(self.flow)})
        except ParseError as err:
            # The stream cannot be resynchronised: answer what is owed, then close.
            self._owner.stats["framing_errors"] += 1
            log.info("framing error, closing", extra={"flow": str(self.flow), "reason": err.reason})
            if err.status is not None:
                status_line = f"SIP/2.0 {err.status} {err.reason}\r\n"
                self.send(status_line.encode() + b"Content-Length: 0\r\n\r\n")
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002 - asyncio's signature
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        if not self._closed:
            self._closed = True
            self._owner.connection_closed(self)

    # -- ours -------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        """Whether the connection can carry messages."""
        return not self._closed and self.transport is not None

    def send(self, data: bytes) -> bool:
        """Queue ``data``; closes a peer that stopped reading."""
        if self.transport is None or self._closed or self.transport.is_closing():
            return False
        if self.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.info("peer does not read, closing", extra={"flow": str(self.flow)})
            self.close(abort=True)
            return False
        self.transport.write(data)
        return True

    def close(self, *, abort: bool = False) -> None:
        """Close gracefully (or at once)."""
        if self.transport is not None and not self.transport.is_closing():
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    def peer_certificate(self) -> dict[str, object] | None:
        """The verified peer certificate of a TLS connection, if any."""
        if self.transport is None:
            return None
        ssl_object = self.transport.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject):
            return None
        cert = ssl_object.getpeercert()
        return dict(cert) if cert else None

    def _arm_idle(self) -> None:
        delay = self._last_activity + self._owner.idle_timeout - self._loop.time()
        self._idle_handle = self._loop.call_later(max(delay, 0.0), self._idle_check)

    def _idle_check(self) -> None:
        if self._closed:
            return
        if self._loop.time() - self._last_activity >= self._owner.idle_timeout:
            log.debug("idle connection closed", extra={"flow": str(self.flow)})
            self.close()
        else:
            self._arm_idle()


def _address(sockaddr: object) -> Address:
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return (str(sockaddr[0]), int(sockaddr[1]))
    return ("", 0)

