"""What signaling asks of a media relay: offer, answer, delete and query on a call.

These are the verbs of rtpengine's "ng" control protocol (docs/ng_control_protocol.md in the
rtpengine sources): SDP in, rewritten SDP out, keyed by call-id and tags, so that the edge
never touches a media packet and the engine behind this interface can be swapped (the built-in
relay in :mod:`voxgate.media.relay`, or an rtpengine daemon in :mod:`voxgate.media.rtpengine`).

A call's *monologues* are its parties, named by their tags: the offer names the offerer
(``from_tag``), the answer names both (``from_tag`` of the offer, ``to_tag`` of the answerer).
A re-offer from the other party (a re-INVITE by the callee) simply has the callee's tag as
``from_tag``. Retrying a verb with the same input is harmless (an engine answers a repeated
offer with the SDP it gave the first time, keeping its ports and keys).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, NewType, Protocol

CallId = NewType("CallId", str)
Tag = NewType("Tag", str)

#: A relay interface: ``wan`` faces the remote devices, ``lan`` the call control.
InterfaceName = Literal["wan", "lan"]

#: SDES crypto-suites (RFC 4568, RFC 6188, RFC 7714) in the order the edge offers them.
DEFAULT_SUITES: Final[tuple[str, ...]] = (
    "AES_CM_128_HMAC_SHA1_80",
    "AES_CM_128_HMAC_SHA1_32",
    "AEAD_AES_128_GCM",
    "AEAD_AES_256_GCM",
)


class MediaError(Exception):
    """The engine cannot do what was asked; ``status`` is the SIP response the signaling
    should give the party whose SDP caused it (488 Not Acceptable Here for an SDP it cannot
    relay, 503 Service Unavailable when the engine has no ports or is unreachable)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Side:
    """One party of a call as the relay sees it: on which interface, and whether its media is
    SDES-SRTP (``RTP/SAVP``) or plain RTP (``RTP/AVP``)."""

    interface: InterfaceName
    srtp: bool


@dataclass(frozen=True, slots=True)
class OfferOptions:
    """How to relay an offer: from which side it came (its SDP must match: an ``RTP/SAVP``
    offer from a plain side, or plain media from an SRTP side, is refused with 488) and to
    which side the rewritten offer goes. ``suites`` are the crypto-suites offered to an SRTP
    ``to_side``, most preferred first (one fresh key each)."""

    from_side: Side
    to_side: Side
    suites: tuple[str, ...] = DEFAULT_SUITES
    #: Learn the ``from_side`` party's address from its first authenticated packet (symmetric
    #: RTP, RFC 4961) rather than trusting the address in its SDP.
    latch_from: bool = True
    #: The same for the ``to_side`` party.
    latch_to: bool = False


@dataclass(frozen=True, slots=True)
class StreamStats:
    """What one party sent to the relay in one media stream (RTP and RTCP together)."""

    packets: int = 0
    octets: int = 0
    #: Packets that failed SRTP authentication or the replay check (MEDIA-2): dropped.
    dropped_auth: int = 0
    #: Packets from a source other than the party's (latched or signaled) address: dropped.
    dropped_source: int = 0
    #: RTP packets missing from the sequence so far (RFC 3550 A.3, as received).
    lost: int = 0
    #: Interarrival jitter (RFC 3550 §6.4.1) in milliseconds, 0 until known.
    jitter_ms: float = 0.0
    #: Packets the relay sent on to the other party.
    forwarded: int = 0


@dataclass(frozen=True, slots=True)
class PartyStats:
    """One monologue: its tag, where it is, and one :class:`StreamStats` per m= line."""

    tag: Tag
    interface: InterfaceName
    #: The address its media comes from (latched or from its SDP); None until known.
    source: tuple[str, int] | None
    streams: tuple[StreamStats, ...] = ()


@dataclass(frozen=True, slots=True)
class CallStats:
    """``query``'s answer: a call's parties and their counters."""

    call_id: CallId
    created: float
    #: Seconds since the epoch of the last packet relayed in the call (0 if none yet).
    last_packet: float
    parties: tuple[PartyStats, ...] = field(default=())


class MediaControl(Protocol):
    """The narrow interface between signaling and a media relay (DESIGN.md)."""

    async def offer(
        self, call_id: CallId, from_tag: Tag, sdp: bytes, options: OfferOptions
    ) -> bytes:
        """Relay the offer ``sdp`` from party ``from_tag``: reserve ports and keys for both
        sides and return the offer to send on. Raises :class:`MediaError`."""
        ...

    async def answer(self, call_id: CallId, from_tag: Tag, to_tag: Tag, sdp: bytes) -> bytes:
        """Relay the answer ``sdp`` of party ``to_tag`` to the offer of ``from_tag`` and return
        the answer to send back; media flows from here on. Raises :class:`MediaError` (481
        when there is no such offer)."""
        ...

    async def delete(self, call_id: CallId, from_tag: Tag | None = None) -> CallStats | None:
        """End a call's media (or one party's), closing its ports at once; returns the final
        counters, or None when the engine knew no such call."""
        ...

    async def query(self, call_id: CallId) -> CallStats | None:
        """The counters of a call in progress, or None."""
        ...

    async def close(self) -> None:
        """Stop the engine (or the connection to it); every call's ports are closed."""
        ...
