"""SIP over UDP (RFC 3261 §18): one datagram is one message."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import cast

from voxgate.sip.flow import Address, Flow, Transport

log = logging.getLogger(__name__)

#: The bytes of a CRLF keep-alive.
_CRLF = (13, 10)

#: ``on_message(data, flow)``: a datagram or framed stream message arrived on ``flow``.
OnMessage = Callable[[bytes, Flow], None]


class UdpListener(asyncio.DatagramProtocol):
    """Hands every datagram to ``on_message``; drops keep-alives, oversize datagrams and those
    from sources ``admits`` refuses (counted by the caller)."""

    def __init__(
        self,
        on_message: OnMessage,
        max_size: int,
        stats: collections.Counter[str],
        admits: Callable[[str], bool] | None = None,
    ) -> None:
        self._on_message = on_message
        self._admits = admits
        self._max_size = max_size
        self._stats = stats
        self.transport: asyncio.DatagramTransport | None = None
        self.local: Address = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self.transport = cast(asyncio.DatagramTransport, transport)
        sockname = transport.get_extra_info("sockname")
        self.local = (str(sockname[0]), int(sockname[1]))

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
