"""SIP over UDP (RFC 3261 §18): one datagram is one message."""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import struct
import time
from collections.abc import Callable
from typing import Any, cast

from voxgate.sip.flow import Address, Flow, Transport

log = logging.getLogger(__name__)

#: The bytes of a CRLF keep-alive.
_CRLF = (13, 10)
#: Datagrams read between two looks at the receive queue.
QUEUE_SAMPLE = 32
#: Share of the receive buffer in use above which new work is deferred, and below which
#: everything is read again (voxgate.sip.overload).
DEFER_ABOVE = 0.5
RESUME_BELOW = 0.25
#: Seconds between two log lines about deferring (a flood can switch it on and off often).
REPORT_INTERVAL = 60.0
#: Linux ``SO_MEMINFO``: ``u32`` counters, the first the bytes queued for reading and the
#: second the receive buffer (both as the kernel accounts them).
_SO_MEMINFO = 55
_MEMINFO = struct.Struct("=2I")

#: ``on_message(data, flow)``: a datagram or framed stream message arrived on ``flow``.
OnMessage = Callable[[bytes, Flow], None]


class UdpListener(asyncio.DatagramProtocol):
    """Hands every datagram to ``on_message``; drops keep-alives, oversize datagrams and those
    from sources ``admits`` refuses (counted by the caller).

    With ``defer``, it looks at its receive queue every :data:`QUEUE_SAMPLE` datagrams; while
    the queue holds more than :data:`DEFER_ABOVE` of the buffer (until it falls below
    :data:`RESUME_BELOW`), the datagrams ``defer`` picks are skipped unread: new work that
    the sender retransmits (:mod:`voxgate.sip.overload`), counted as ``deferred``.
    """

    def __init__(
        self,
        on_message: OnMessage,
        max_size: int,
        stats: collections.Counter[str],
        admits: Callable[[str], bool] | None = None,
        defer: Callable[[bytes], bool] | None = None,
    ) -> None:
        self._on_message = on_message
        self._admits = admits
        self._max_size = max_size
        self._stats = stats
        self._defer = defer
        self._socket: Any = None  # what the queue is read from; None: not known here
        self._since_look = 0
        #: Whether new work is being deferred now.
        self.deferring = False
        self._reported_at = float("-inf")
        self.transport: asyncio.DatagramTransport | None = None
        self.local: Address = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self.transport = cast(asyncio.DatagramTransport, transport)
        sockname = transport.get_extra_info("sockname")
        self.local = (str(sockname[0]), int(sockname[1]))
        if self._defer is not None:
            self._socket = transport.get_extra_info("socket")
            if self._queue() is None:
                log.info("UDP %s: the receive queue cannot be read here; no deferring of new "
                         "work under load", self.local)  # fmt: skip
                self._defer = None

    def _queue(self) -> tuple[int, int] | None:
        """Bytes queued for reading and the receive buffer, or ``None`` if unknown."""
        if self._socket is None:
            return None
        try:
            raw = self._socket.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, 36)
        except (OSError, AttributeError, TypeError):
            return None
        queued, size = _MEMINFO.unpack_from(raw)
        return (queued, size) if size > 0 else None

    def _look_at_queue(self) -> None:
        queue = self._queue()
        if queue is None:
            return
        share = queue[0] / queue[1]
        if not self.deferring and share > DEFER_ABOVE:
            self.deferring = True
            self._stats["overloads"] += 1
            now = time.monotonic()
            if now - self._reported_at >= REPORT_INTERVAL:  # at most one line a minute
                self._reported_at = now
                log.warning("UDP %s: receive queue %.0f %% full: deferring new requests "
                            "without credentials until it drains (overloads so far: %d, "
                            "requests deferred: %d)", self.local, share * 100,
                            self._stats["overloads"], self._stats["deferred"])  # fmt: skip
        elif self.deferring and share < RESUME_BELOW:
            self.deferring = False
            log.debug("UDP %s: receive queue drained; reading every request again",
                      self.local)  # fmt: skip

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._stats["datagrams_in"] += 1
        host = str(addr[0])
        if self._admits is not None and not self._admits(host):
            return
        if len(data) > self._max_size:
            self._stats["dropped"] += 1
            return
        if not data or (data[0] in _CRLF and not data.strip(b"\r\n")):  # no copy of a message
            self._stats["keepalives"] += 1
            return  # a CRLF keep-alive (RFC 5626 §3.5.1 / common NAT practice)
        if self._defer is not None:
            self._since_look += 1
            if self._since_look >= QUEUE_SAMPLE:
                self._since_look = 0
                self._look_at_queue()
            if self.deferring and self._defer(data):
                self._stats["deferred"] += 1
                return
        flow = Flow(Transport.UDP, self.local, (host, int(addr[1])))
        try:
            self._on_message(data, flow)
        except Exception:  # the per-message boundary: log, keep listening
            self._stats["errors"] += 1
            log.exception("error handling a datagram", extra={"flow": str(flow)})

    def error_received(self, exc: Exception) -> None:
        # ICMP unreachable and the like, reported for an earlier sendto.
        self._stats["udp_errors"] += 1
        log.debug("UDP error on %s: %s", self.local, exc)

    def send(self, data: bytes, remote: Address) -> bool:
        """Send one datagram; ``False`` if the socket is gone or the address unusable."""
        if self.transport is None or self.transport.is_closing():
            return False
        try:
            self.transport.sendto(data, remote)
        except (OSError, ValueError, TypeError) as err:  # e.g. an IPv6 address on an IPv4 socket
            self._stats["send_failures"] += 1
            log.debug("UDP send to %s failed: %s", remote, err)
            return False
        self._stats["datagrams_out"] += 1
        return True
