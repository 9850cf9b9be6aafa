"""Test-side media parties: UDP sockets on the running loop, SDP for them, RTP packets and
SRTP sessions (pylibsrtp), shared by the contract tests and the rtpengine tests."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from dataclasses import dataclass
from typing import cast

import pylibsrtp

from voxgate.sdp.codec import parse_sdp
from voxgate.sdp.model import MediaDescription, SessionDescription

#: SDES suites pylibsrtp can speak, with their key||salt lengths and libsrtp profiles.
PROFILES: dict[str, tuple[int, int]] = {
    "AES_CM_128_HMAC_SHA1_80": (30, pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80),
    "AES_CM_128_HMAC_SHA1_32": (30, pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32),
    "AEAD_AES_128_GCM": (28, pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM),
    "AEAD_AES_256_GCM": (44, pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM),
}

#: How long a party waits for a packet that should come (a bound on a wait, not a figure
#: under test: a packet that must not come is checked by sending a marker after it).
WAIT = 5.0


def rtp(seq: int, ssrc: int, payload: bytes, payload_type: int = 0) -> bytes:
    """An RTP packet (RFC 3550 §5.1), version 2, no CSRC or extension."""
    return struct.pack("!BBHII", 0x80, payload_type, seq & 0xFFFF, seq * 160, ssrc) + payload


def payload_of(packet: bytes) -> bytes:
    return packet[12:]


@dataclass(frozen=True)
class Crypto:
    tag: int
    suite: str
    key_salt: bytes

    @staticmethod
    def fresh(tag: int, suite: str) -> Crypto:
        return Crypto(tag, suite, os.urandom(PROFILES[suite][0]))

    def line(self) -> str:
        return f"a=crypto:{self.tag} {self.suite} inline:{base64.b64encode(self.key_salt).decode()}"

    def sender(self) -> pylibsrtp.Session:
        policy = pylibsrtp.Policy(
            key=self.key_salt,
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=PROFILES[self.suite][1],
        )
        return pylibsrtp.Session(policy)

    def receiver(self) -> pylibsrtp.Session:
        policy = pylibsrtp.Policy(
            key=self.key_salt,
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
            srtp_profile=PROFILES[self.suite][1],
        )
        return pylibsrtp.Session(policy)


def sdp(
    address: str,
    port: int,
    cryptos: list[Crypto] | None = None,
    *,
    rtcp_mux: bool = False,
    session_id: int = 1,
) -> bytes:
    """A one-stream audio SDP (PCMU and telephone-event), SDES-SRTP when ``cryptos``."""
    proto = "RTP/SAVP" if cryptos else "RTP/AVP"
    lines = [
        "v=0",
        f"o=- {session_id} 1 IN IP4 {address}",
        "s=-",
        f"c=IN IP4 {address}",
        "t=0 0",
        f"m=audio {port} {proto} 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        *(c.line() for c in cryptos or []),
        *(["a=rtcp-mux"] if rtcp_mux else []),
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def audio(sdp_bytes: bytes) -> tuple[SessionDescription, MediaDescription, str, int]:
    """The parsed SDP, its first m= section, and where its RTP goes."""
    description = parse_sdp(sdp_bytes)
    media = description.media[0]
    connection = description.connection_of(0)
    assert connection is not None
    return description, media, connection.address, media.port


class Party(asyncio.DatagramProtocol):
    """A UDP socket of a test party: ``send`` and an awaitable ``receive``."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.refused = 0

    @staticmethod
    async def bind(address: str, port: int = 0) -> Party:
        loop = asyncio.get_running_loop()
        _, party = await loop.create_datagram_endpoint(Party, local_addr=(address, port))
        return party

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport is not an asyncio.DatagramTransport subclass.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, ConnectionRefusedError):
            self.refused += 1

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    async def receive(self, timeout: float = WAIT) -> tuple[bytes, tuple[str, int]]:
        return await asyncio.wait_for(self.received.get(), timeout)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
