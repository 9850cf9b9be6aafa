"""The seam between the relay's planner and its forwarder: what one relayed stream is.

The planner (pure: :mod:`voxgate.media.relay.planner`) turns offers and answers into
:class:`EndpointConfig` pairs; a forwarder (:class:`Forwarder`) owns the sockets and moves the
packets. Each stream of a call is a *pair* of endpoints, ``a`` and ``b``: what arrives at
``a``'s local ports from ``a``'s party is sent to ``b``'s party from ``b``'s local ports, and
back. Every endpoint owns two adjacent local ports, RTP on the even one and RTCP on the next,
whether or not its party multiplexes RTCP (RFC 5761) on the RTP port.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NewType, Protocol

from voxgate.media.control import InterfaceName, StreamStats

PairId = NewType("PairId", str)
Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class SrtpKey:
    """An SDES master key: the crypto-suite's RFC 4568 name and key||salt."""

    suite: str
    key_salt: bytes

    def __repr__(self) -> str:  # never print a key (STYLE.md 9)
        return f"SrtpKey({self.suite}, <{len(self.key_salt)} bytes>)"


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """One side of a pair: its party's addresses and the keys of what it sends and gets."""

    #: Where the party's RTP goes (from its SDP, until latching learns better); None: not
    #: known yet (an offer waiting for its answer), nothing is sent to the party.
    remote_rtp: Address | None = None
    #: Where its RTCP goes; with ``rtcp_mux`` the same as ``remote_rtp``.
    remote_rtcp: Address | None = None
    #: The party sends and receives RTCP on its RTP port (RFC 5761): the relay sends RTCP to
    #: it from the local RTP port.
    rtcp_mux: bool = False
    #: Learn the party's address from its first packet that passes ``recv_key``'s
    #: authentication (or, for plain RTP, its first packet) and send to that from then on;
    #: with SRTP a later authenticated packet from a new address moves the latch (NAT
    #: rebinding). Without latching only packets from ``remote_rtp``/``remote_rtcp`` count.
    latch: bool = False
    #: Packets from the party are SRTP/SRTCP under this key; None: plain RTP.
    recv_key: SrtpKey | None = None
    #: Packets to the party are protected with this key; None: sent plain.
    send_key: SrtpKey | None = None
    #: RTP clock rate of the party's first codec, for the jitter figure (0: unknown).
    clock_rate: int = 0


@dataclass(frozen=True, slots=True)
class PairConfig:
    """Both endpoints of one stream. A pair forwards packets only once both sides have a
    config; until then what arrives is counted and dropped."""

    a: EndpointConfig
    b: EndpointConfig


@dataclass(frozen=True, slots=True)
class PairPorts:
    """The local RTP ports of a pair (RTCP is the next port up)."""

    a: int
    b: int


@dataclass(frozen=True, slots=True)
class PairStats:
    """What each party of a pair sent (see :class:`~voxgate.media.control.StreamStats`),
    and where it was last seen sending from."""

    a: StreamStats
    b: StreamStats
    a_source: Address | None
    b_source: Address | None
    #: Monotonic-clock second of the pair's last received packet (0: none yet).
    last_packet: float


class Forwarder(Protocol):
    """Owns the sockets. Implementations: in-process, or a pool of worker processes each
    owning a slice of the port range. Called by the relay engine only."""

    async def open_pair(
        self, pair: PairId, a_interface: InterfaceName, b_interface: InterfaceName
    ) -> PairPorts:
        """Bind four ports (RTP and RTCP for each side) on the interfaces' addresses from the
        configured range. Nothing is forwarded until :meth:`configure`. Raises
        ``MediaError(503)`` when the range is exhausted."""
        ...

    async def configure(self, pair: PairId, config: PairConfig) -> None:
        """Set or change (a re-INVITE) both endpoints of an open pair; SRTP contexts are kept
        when a key is unchanged (so that replay state survives)."""
        ...

    async def close_pair(self, pair: PairId) -> PairStats | None:
        """Close the pair's sockets at once; its last counters, or None if unknown."""
        ...

    async def stats(self, pair: PairId) -> PairStats | None:
        """The pair's counters so far, or None if unknown."""
        ...

    def on_idle(self, callback: Callable[[PairId], None]) -> None:
        """Call ``callback`` for a pair that has received nothing for the idle timeout (the
        engine then ends the call's media: EDGE-5)."""
        ...

    async def close(self) -> None:
        """Close every pair and stop any worker process."""
        ...
