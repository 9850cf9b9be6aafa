"""Calls through the edge with its media relay, in memory: the B2BUA hands every SDP to the
relay (RelayEngine over an in-memory forwarder) and sends on what comes back; keys never
cross plain signaling (MEDIA-1). The real-packet proof is tests/interop/test_media.py."""

from __future__ import annotations

import asyncio
import base64
import itertools

from edgebench import (
    LEVEL1,
    MAC,
    WAN,
    Net,
    alice,
    authorized,
    bob_answers,
    bob_invites_alice,
    bob_register,
    build,
    sip,
)
from media_memory import MemoryForwarder

from voxgate.edge.media import MediaPolicy, MediaSteps, perform
from voxgate.media.relay.engine import RelayEngine
from voxgate.media.relay.planner import new_key_source
from voxgate.policy.devices import DeviceTable
from voxgate.sdp.codec import parse_sdp
from voxgate.sip.digest import answer, challenges_from, select_challenge
from voxgate.sip.flow import Transport
from voxgate.sip.message import Request, Response

ADDRESSES = {"wan": "198.51.100.7", "lan": "10.0.0.7"}
KEY = base64.b64encode(bytes(range(30))).decode()
SDP_SRTP = (b"v=0\r\no=alice 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\n"
            b"m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + KEY.encode() + b"\r\n")
_n = itertools.count(1)


class Relayed:
    """The bench with a relay: runs the B2BUA's queued media steps on a RelayEngine."""

    def __init__(self, net: Net, policy: MediaPolicy | None = None) -> None:
        self.net = net
        self.forwarder = MemoryForwarder()
        counter = itertools.count(1)
        self.engine = RelayEngine(self.forwarder, ADDRESSES,
                                  new_key_source(lambda n: bytes([next(counter) % 256]) * n),
                                  frozenset({"AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM"}))  # fmt: skip
        self.steps = MediaSteps()
        net.edge.calls.media = self.steps
        net.edge.calls.media_policy = policy or MediaPolicy()

    def settle(self) -> None:
        """Run every queued step (and what its continuation queues) to the end."""
        while self.steps.queued:
            step_id, step = self.steps.queued.pop(0)
            result, _ = asyncio.run(perform(self.engine, step))
            self.steps.done(step_id, result, self.net.now)
            self.net.pump()


def invite(net: Net, transport: Transport, body: bytes, auth: str = "", cseq: int = 1) -> None:
    via = "TLS" if transport is Transport.TLS else "UDP"
    net.device_raw(sip(f"INVITE sip:202@{WAN[0]} SIP/2.0", [
        f"Via: SIP/2.0/{via} 192.168.1.20:5061;branch=z9hG4bKm{next(_n)};rport", "Max-Forwards: 70",
        f"From: <sip:alice@{WAN[0]}>;tag=alicetag", f"To: <sip:202@{WAN[0]}>",
        "Call-ID: alice-media-1", f"CSeq: {cseq} INVITE", "Contact: <sip:alice@192.168.1.20:5061>",
        *([f"Proxy-Authorization: {auth}"] if auth else []),
    ], body), transport)  # fmt: skip


def call(net: Net, relayed: Relayed, transport: Transport, body: bytes) -> None:
    invite(net, transport, body)
    (first,) = [m for m in net.to_device if isinstance(m, Response)]
    challenge = select_challenge(challenges_from(first, proxy=True))
    assert challenge is not None
    creds = answer(challenge, "INVITE", f"sip:202@{WAN[0]}", "alice", password=LEVEL1, cnonce="m")
    invite(net, transport, body, str(creds), cseq=2)
    relayed.settle()


def bench(transport: Transport = Transport.TLS) -> tuple[Net, Relayed]:
    net = build([alice()], DeviceTable([(MAC, True)]), require_device=transport is Transport.TLS)
    assert authorized(net, transport=transport).status == 200
    bob_register(net)
    return net, Relayed(net)


def test_an_srtp_call_from_the_device_reaches_bob_plain_and_the_answer_comes_back_keyed() -> None:
    net, relayed = bench()
    call(net, relayed, Transport.TLS, SDP_SRTP)
    (inv,) = [m for m in net.to_bob if isinstance(m, Request) and m.method == "INVITE"]
    offer = parse_sdp(inv.body)
    assert offer.media[0].proto == "RTP/AVP" and offer.media[0].crypto == []
    assert offer.connection is not None and offer.connection.address == ADDRESSES["lan"]
    bob_answers(net, inv)
    relayed.settle()
    final = [m for m in net.to_device if isinstance(m, Response)][-1]
    assert final.status == 200
    back = parse_sdp(final.body)
    assert back.media[0].proto == "RTP/SAVP" and back.connection is not None
    assert back.connection.address == ADDRESSES["wan"]
    [crypto] = back.media[0].crypto
    assert crypto.key_salt != base64.b64decode(KEY)  # the relay's own key toward alice
    assert len(relayed.forwarder.configs) == 1  # media flows from the answer on
    # alice hangs up: the call's ports close
    to_tag = final.to.tag
    assert to_tag is not None and relayed.forwarder.open
    bye_from_device = sip(f"BYE {final.contacts[0].uri} SIP/2.0", [
        "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKbye1;rport", "Max-Forwards: 70",
        f"From: <sip:alice@{WAN[0]}>;tag=alicetag", f"To: <sip:202@{WAN[0]}>;tag={to_tag}",
        "Call-ID: alice-media-1", "CSeq: 3 BYE",
    ])  # fmt: skip
    net.device_raw(bye_from_device)
    relayed.settle()
    assert relayed.forwarder.open == {} and relayed.forwarder.closed
    assert relayed.engine.calls == 0


def test_keys_over_udp_are_refused_with_488_and_nothing_reaches_bob() -> None:
    net, relayed = bench(Transport.UDP)
    call(net, relayed, Transport.UDP, SDP_SRTP)
    final = [m for m in net.to_device if isinstance(m, Response)][-1]
    assert final.status == 488 and "unencrypted signaling" in final.reason
    assert not [m for m in net.to_bob if isinstance(m, Request) and m.method == "INVITE"]
    assert relayed.forwarder.open == {}


def test_plain_rtp_from_a_device_is_refused_when_srtp_is_mandatory() -> None:
    net, relayed = bench()
    plain = SDP_SRTP.replace(b"RTP/SAVP", b"RTP/AVP").split(b"a=crypto")[0]
    call(net, relayed, Transport.TLS, plain)
    final = [m for m in net.to_device if isinstance(m, Response)][-1]
    assert final.status == 488 and "must be SRTP" in final.reason
    assert relayed.forwarder.open == {} and relayed.engine.calls == 0


def test_a_call_to_a_device_registered_over_udp_is_refused_no_keys_in_clear() -> None:
    net, relayed = bench(Transport.UDP)
    bob_invites_alice(net)
    relayed.settle()
    statuses = [m.status for m in net.to_bob if isinstance(m, Response)]
    assert statuses[-1] == 488, statuses  # the call control passes the edge's refusal on
    assert not [m for m in net.to_device if isinstance(m, Request) and m.method == "INVITE"]
    assert relayed.forwarder.open == {}
