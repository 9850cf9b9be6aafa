"""The relay's local ports: an even RTP port and the odd RTCP port above it, bound on an
interface's address from a configured range, marked with the media DSCP (EDGE-4).

Ports that fail to bind (another program holds them) are skipped. The search starts after the
last port handed out, so a port just closed is not reused at once (late packets of the old
call then find nothing listening rather than the next call).
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from voxgate.media.control import MediaError

#: Expedited Forwarding (RFC 3246), the usual code point for voice.
DEFAULT_DSCP = 46


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def bind_udp(address: str, port: int, dscp: int) -> socket.socket:
    """A non-blocking UDP socket bound to ``address``:``port`` whose packets carry ``dscp``
    (IP_TOS = DSCP << 2 for IPv4, IPV6_TCLASS for IPv6; the ECN bits stay 0). Raises
    ``OSError`` when the port cannot be bound."""
    family = _family(address)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, dscp << 2)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, dscp << 2)
        sock.bind((address, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class PortRange:
    """Hands out RTP/RTCP port pairs on one address from ``[low, high]`` (inclusive; RTP even,
    RTCP odd) and takes them back."""

    def __init__(self, address: str, low: int, high: int, dscp: int = DEFAULT_DSCP) -> None:
        first = low + (low % 2)
        if first + 1 > high:
            raise ValueError(f"port range {low}-{high} holds no even/odd pair")
        self.address = address
        self.dscp = dscp
        self._first = first
        self._count = (high - first + 1) // 2
        self._next = 0
        self._in_use: set[int] = set()

    @property
    def capacity(self) -> int:
        """RTP/RTCP pairs in the range."""
        return self._count

    def bind_pair(self) -> tuple[int, socket.socket, socket.socket]:
        """The next free even port and bound sockets for it and the odd port above it;
        ``MediaError(503)`` when no pair in the range can be bound."""
        for _ in range(self._count):
            index = self._next
            self._next = (self._next + 1) % self._count
            port = self._first + 2 * index
            if port in self._in_use:
                continue
            try:
                rtp = bind_udp(self.address, port, self.dscp)
            except OSError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                continue
            try:
                rtcp = bind_udp(self.address, port + 1, self.dscp)
            except OSError as exc:
                rtp.close()
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                continue
            self._in_use.add(port)
            return port, rtp, rtcp
        raise MediaError(503, f"no free media ports on {self.address}")

    def release(self, port: int) -> None:
        self._in_use.discard(port)
