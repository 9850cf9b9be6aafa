"""One side of a relayed pair: its two sockets, its party's addresses, keys and counters, and
the per-packet path (check source, authenticate, latch, count, re-key, send on).

Packets from a party arrive at its endpoint's ports and leave from the *peer* endpoint's ports
toward the peer's party. On the RTP port, RTCP is told from RTP by the second octet (RFC 5761
§4: payload types 192..223 are RTCP packet types 64..95 with the marker bit); on the RTCP port
everything is RTCP.

Source rules (model.py, DESIGN.md "latch only on authenticated packets"):

* ``latch`` with SRTP: any source may try; a packet that authenticates moves the latch to its
  source (NAT rebinding), one that does not is ``dropped_auth``.
* ``latch`` with plain RTP: the first packet on a port latches it for good; later packets from
  elsewhere are ``dropped_source``.
* no ``latch``: only packets from the signaled address count; others are ``dropped_source``.

Malformed packets (too short, not version 2) from an acceptable source are counted as
``dropped_auth``: like a forged packet, they fail the check that every packet must pass.
Nothing a party sends can raise out of :meth:`datagram_received`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from voxgate.media.relay import crypto
from voxgate.media.relay.model import Address, EndpointConfig
from voxgate.media.relay.stats import PartyCounters

log = logging.getLogger(__name__)

_RTCP_FIRST = 192
_RTCP_LAST = 223


class PairActivity:
    """What the pair's endpoints share: the clock reading of its last accepted packet."""

    __slots__ = ("last_packet",)

    def __init__(self) -> None:
        self.last_packet = 0.0


class Endpoint:
    """One endpoint of a pair (see the module docstring)."""

    __slots__ = (
        "_clock",
        "activity",
        "config",
        "counters",
        "inbound",
        "latched_rtcp",
        "latched_rtp",
        "outbound",
        "peer",
        "port",
        "rtcp_port",
        "rtp_port",
        "source",
    )

    def __init__(self, port: int, activity: PairActivity, clock: Callable[[], float]) -> None:
        self.port = port
        self.activity = activity
        self._clock = clock
        self.config: EndpointConfig | None = None
        self.counters = PartyCounters()
        self.inbound: crypto.InboundContext | None = None
        self.outbound: crypto.OutboundContext | None = None
        self.latched_rtp: Address | None = None
        self.latched_rtcp: Address | None = None
        #: Where the party's last accepted RTP-port packet came from.
        self.source: Address | None = None
        self.peer: Endpoint | None = None
        self.rtp_port: Port | None = None
        self.rtcp_port: Port | None = None

    # -- configuration --------------------------------------------------------------------

    def contexts_for(
        self, config: EndpointConfig
    ) -> tuple[crypto.InboundContext | None, crypto.OutboundContext | None]:
        """The SRTP contexts ``config`` needs: the current ones where a key is unchanged (so
        that replay state survives a re-INVITE). Raises ``MediaError(488)`` for a bad key."""
        return (
            crypto.inbound(self.inbound, config.recv_key),
            crypto.outbound(self.outbound, config.send_key),
        )

    def configure(
        self,
        config: EndpointConfig,
        inbound: crypto.InboundContext | None,
        outbound: crypto.OutboundContext | None,
    ) -> None:
        """Apply a (new) config with the contexts from :meth:`contexts_for`; a latch is kept
        while the signaled addresses, the key and the latch setting stay the same."""
        old = self.config
        if (
            old is None
            or old.latch != config.latch
            or old.remote_rtp != config.remote_rtp
            or old.remote_rtcp != config.remote_rtcp
            or old.recv_key != config.recv_key
        ):
            self.latched_rtp = None
            self.latched_rtcp = None
        self.inbound = inbound
        self.outbound = outbound
        self.counters.clock_rate = config.clock_rate
        self.config = config

    def rtp_destination(self) -> Address | None:
        config = self.config
        if config is None:
            return None
        return self.latched_rtp or config.remote_rtp

    def rtcp_destination(self) -> Address | None:
        config = self.config
        if config is None:
            return None
        if config.rtcp_mux:
            return self.latched_rtp or config.remote_rtp
        return self.latched_rtcp or config.remote_rtcp

    # -- the packet path ------------------------------------------------------------------

    def rtp_port_received(self, data: bytes, addr: Address) -> None:
        """A datagram on the RTP port: RTP, or RTCP multiplexed on it (RFC 5761 §4)."""
        if len(data) >= 2 and _RTCP_FIRST <= data[1] <= _RTCP_LAST:
            self._rtcp_received(data, addr, on_rtp_port=True)
            return
        config = self.config
        counters = self.counters
        if config is None:
            counters.dropped_source += 1
            return
        # Source rules before any work (see the module docstring).
        latched = self.latched_rtp
        inbound = self.inbound
        if not config.latch:
            if addr != config.remote_rtp:
                counters.dropped_source += 1
                return
        elif inbound is None and latched is not None and addr != latched:
            counters.dropped_source += 1
            return
        if len(data) < 12 or data[0] & 0xC0 != 0x80:
            counters.dropped_auth += 1
            return
        if inbound is not None:
            plain = inbound.unprotect_rtp(data)
            if plain is None:
                counters.dropped_auth += 1
                return
        else:
            plain = data
        if config.latch and addr != latched:
            self.latched_rtp = addr
        self.source = addr
        now = self._clock()
        self.activity.last_packet = now
        counters.packets += 1
        counters.octets += len(data)
        counters.rtp_received(plain, now)
        peer = self.peer
        if peer is None:
            return
        peer_config = peer.config
        if peer_config is None:
            return
        destination = peer.latched_rtp or peer_config.remote_rtp
        port = peer.rtp_port
        if destination is None or port is None:
            return
        outbound = peer.outbound
        if outbound is not None:
            out = outbound.protect_rtp(plain)
            if out is None:
                return
        else:
            out = plain
        port.send(out, destination)
        counters.forwarded += 1

    def rtcp_port_received(self, data: bytes, addr: Address) -> None:
        """A datagram on the RTCP port."""
        self._rtcp_received(data, addr, on_rtp_port=False)

    def _rtcp_received(self, data: bytes, addr: Address, *, on_rtp_port: bool) -> None:
        config = self.config
        counters = self.counters
        if config is None:
            counters.dropped_source += 1
            return
        latched = self.latched_rtp if on_rtp_port else self.latched_rtcp
        inbound = self.inbound
        if not config.latch:
            expected = config.remote_rtp if on_rtp_port else config.remote_rtcp
            if addr != expected:
                counters.dropped_source += 1
                return
        elif inbound is None and latched is not None and addr != latched:
            counters.dropped_source += 1
            return
        if len(data) < 8 or data[0] & 0xC0 != 0x80:
            counters.dropped_auth += 1
            return
        if inbound is not None:
            plain = inbound.unprotect_rtcp(data)
            if plain is None:
                counters.dropped_auth += 1
                return
        else:
            plain = data
        if config.latch and addr != latched:
            if on_rtp_port:
                self.latched_rtp = addr
            else:
                self.latched_rtcp = addr
        if on_rtp_port:
            self.source = addr
        self.activity.last_packet = self._clock()
        counters.packets += 1
        counters.octets += len(data)
        peer = self.peer
        if peer is None:
            return
        peer_config = peer.config
        if peer_config is None:
            return
        if peer_config.rtcp_mux:
            destination = peer.latched_rtp or peer_config.remote_rtp
            port = peer.rtp_port
        else:
            destination = peer.latched_rtcp or peer_config.remote_rtcp
            port = peer.rtcp_port
        if destination is None or port is None:
            return
        outbound = peer.outbound
        if outbound is not None:
            out = outbound.protect_rtcp(plain)
            if out is None:
                return
        else:
            out = plain
        port.send(out, destination)
        counters.forwarded += 1


class Port(asyncio.DatagramProtocol):
    """The datagram protocol of one local port; hands every datagram to its endpoint."""

    def __init__(self, endpoint: Endpoint, *, rtcp: bool, ipv6: bool) -> None:
        self._handler = endpoint.rtcp_port_received if rtcp else endpoint.rtp_port_received
        self._ipv6 = ipv6
        self._transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDPTransport has DatagramTransport's methods without being a subclass.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        # The per-packet boundary (STYLE.md 5): whatever arrives, the port stays open.
        try:
            if self._ipv6:  # (host, port, flowinfo, scope_id): compare host and port only
                addr = (addr[0], addr[1])
            self._handler(data, addr)
        except Exception:
            log.exception("media packet from %s dropped by an error", addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for what we sent (a party not listening yet): nothing to do.
        log.debug("media port error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            log.debug("media port closed by an error: %s", exc)
        self._transport = None
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, data: bytes, destination: Address) -> None:
        transport = self._transport
        if transport is not None:
            transport.sendto(data, destination)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        elif not self.closed.done():
            self.closed.set_result(None)
