"""The relay engine and its planner, over an in-memory forwarder (the packet path has tests
of its own; the real call proof is tests/interop/test_media.py)."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Callable

import pytest
from media_memory import MemoryForwarder

from voxgate.media.control import CallId, MediaError, OfferOptions, Side, Tag
from voxgate.media.relay.engine import RelayEngine
from voxgate.media.relay.model import PairId, SrtpKey
from voxgate.media.relay.planner import new_key_source
from voxgate.sdp.codec import parse_sdp

SUITES = frozenset({"AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM"})
ADDRESSES = {"wan": "198.51.100.7", "lan": "10.0.0.7"}
WAN = Side("wan", srtp=True)
LAN_PLAIN = Side("lan", srtp=False)
LAN_SRTP = Side("lan", srtp=True)
DEVICE_KEY = base64.b64encode(bytes(range(30))).decode()


def device_offer(*, proto: str = "RTP/SAVP", crypto: bool = True, mux: bool = False, version: int = 1) -> bytes:
    lines = [
        "v=0", f"o=- 1234 {version} IN IP4 192.168.1.20", "s=-", "c=IN IP4 192.168.1.20", "t=0 0",
        f"m=audio 40000 {proto} 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=sendrecv",
        "a=candidate:1 1 UDP 2130706431 192.168.1.20 40000 typ host",
    ]
    if crypto:
        lines += ["a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(46)).decode(),
                  "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" + DEVICE_KEY]
    if mux:
        lines.append("a=rtcp-mux")
    return ("\r\n".join(lines) + "\r\n").encode()


PBX_ANSWER = (b"v=0\r\no=pbx 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
              b"m=audio 20000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
              b"a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")


def keys() -> Callable[[str], SrtpKey]:
    counter = itertools.count(1)
    return new_key_source(lambda n: bytes([next(counter) % 256]) * n)


def engine() -> tuple[RelayEngine, MemoryForwarder]:
    fwd = MemoryForwarder()
    return RelayEngine(fwd, ADDRESSES, keys(), SUITES, wall_clock=lambda: 1000.0), fwd


OPTIONS = OfferOptions(from_side=WAN, to_side=LAN_PLAIN, latch_from=True)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_device_offer_goes_plain_to_the_lan_and_the_answer_back_encrypted() -> None:
    async def scenario() -> None:
        eng, fwd = engine()
        out = parse_sdp(await eng.offer(CallId("c1"), Tag("dev"), device_offer(), OPTIONS))
        m = out.media[0]
        assert m.proto == "RTP/AVP" and m.crypto == [] and m.port == 30002
        assert out.connection is not None and out.connection.address == "10.0.0.7"
        assert out.origin.address == "10.0.0.7"
        assert m.attribute("candidate") is None
        assert next(a.value for a in m.attributes_named("rtpmap")) == "0 PCMU/8000"
        assert fwd.configs == {}  # nothing flows before the answer

        back = parse_sdp(await eng.answer(CallId("c1"), Tag("dev"), Tag("pbx"), PBX_ANSWER))
        bm = back.media[0]
        assert bm.proto == "RTP/SAVP" and bm.port == 30000
        assert back.connection is not None and back.connection.address == "198.51.100.7"
        # the device's accepted line is tag 2 (AES_256 is not supported here); the relay
        # answers with its own, fresh key of that suite
        [crypto] = bm.crypto
        assert (crypto.tag, crypto.suite) == (2, "AES_CM_128_HMAC_SHA1_80")
        assert crypto.key_salt != base64.b64decode(DEVICE_KEY)
        config = fwd.configs[PairId("c1/0")]
        assert config.a.recv_key == SrtpKey("AES_CM_128_HMAC_SHA1_80", base64.b64decode(DEVICE_KEY))
        assert config.a.send_key == SrtpKey(crypto.suite, crypto.key_salt)
        assert config.a.remote_rtp == ("192.168.1.20", 40000) and config.a.remote_rtcp == ("192.168.1.20", 40001)
        assert config.a.latch and not config.b.latch
        assert config.b.recv_key is None and config.b.send_key is None
        assert config.b.remote_rtp == ("10.0.0.1", 20000) and config.a.clock_rate == 8000

        stats = await eng.delete(CallId("c1"))
        assert stats is not None and fwd.closed == [PairId("c1/0")] and fwd.open == {}
        assert [p.tag for p in stats.parties] == ["dev", "pbx"]
        assert stats.parties[0].streams[0].packets == 5
        assert await eng.query(CallId("c1")) is None

    run(scenario())


def test_lan_offer_to_an_srtp_device_offers_one_fresh_key_per_suite() -> None:
    async def scenario() -> None:
        eng, fwd = engine()
        pbx_offer = PBX_ANSWER.replace(b"o=pbx 1 1", b"o=pbx 1 2")
        options = OfferOptions(from_side=LAN_PLAIN, to_side=WAN, suites=("AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM"), latch_to=True)
        out = parse_sdp(await eng.offer(CallId("c2"), Tag("pbx"), pbx_offer, options))
        cryptos = out.media[0].crypto
        assert [(c.tag, c.suite) for c in cryptos] == [(1, "AES_CM_128_HMAC_SHA1_80"), (2, "AEAD_AES_128_GCM")]
        assert len({c.key_salt for c in cryptos}) == 2
        # a retried offer gets the very same SDP (same ports, same keys)
        assert parse_sdp(await eng.offer(CallId("c2"), Tag("pbx"), pbx_offer, options)) == out
        device_answer = device_offer().replace(b"a=crypto:1 AES_256_CM_HMAC_SHA1_80", b"a=x:1").replace(
            b"a=crypto:2 AES_CM_128_HMAC_SHA1_80", b"a=crypto:1 AES_CM_128_HMAC_SHA1_80")
        back = parse_sdp(await eng.answer(CallId("c2"), Tag("pbx"), Tag("dev"), device_answer))
        assert back.media[0].proto == "RTP/AVP" and back.media[0].crypto == []
        config = fwd.configs[PairId("c2/0")]
        assert config.b.send_key == SrtpKey(cryptos[0].suite, cryptos[0].key_salt)
        assert config.b.recv_key == SrtpKey("AES_CM_128_HMAC_SHA1_80", base64.b64decode(DEVICE_KEY))
        assert config.b.latch

    run(scenario())


def test_srtp_both_sides_rekeys_each_leg() -> None:
    async def scenario() -> None:
        eng, fwd = engine()
        options = OfferOptions(from_side=WAN, to_side=LAN_SRTP)
        out = parse_sdp(await eng.offer(CallId("c3"), Tag("dev"), device_offer(mux=True), options))
        lan_keys = {c.key_salt for c in out.media[0].crypto}
        assert base64.b64decode(DEVICE_KEY) not in lan_keys
        assert out.media[0].rtcp_mux
        first = out.media[0].crypto[0]
        answer = (PBX_ANSWER.replace(b"RTP/AVP", b"RTP/SAVP") + b"a=rtcp-mux\r\na=crypto:1 "
                  + first.suite.encode() + b" inline:" + base64.b64encode(b"\x09" * 30) + b"\r\n")
        back = parse_sdp(await eng.answer(CallId("c3"), Tag("dev"), Tag("pbx"), answer))
        assert back.media[0].rtcp_mux
        config = fwd.configs[PairId("c3/0")]
        assert config.b.recv_key == SrtpKey(first.suite, b"\x09" * 30)
        assert config.b.send_key == SrtpKey(first.suite, first.key_salt)
        assert config.a.rtcp_mux and config.b.rtcp_mux
        assert config.a.remote_rtcp == config.a.remote_rtp
        keys_in_use = [config.a.recv_key, config.a.send_key, config.b.recv_key, config.b.send_key]
        assert len({k.key_salt for k in keys_in_use if k}) == 4

    run(scenario())


@pytest.mark.parametrize(("sdp", "reason"), [
    (device_offer(proto="RTP/AVP", crypto=False), "must be SRTP"),
    (device_offer(crypto=False), "no a=crypto"),
    (b"v=0\r\nthis is not sdp", "malformed SDP"),
    (device_offer().replace(b"m=audio 40000", b"m=audio 0"), "no media stream"),
])
def test_bad_device_offers_get_488_and_open_nothing(sdp: bytes, reason: str) -> None:
    async def scenario() -> None:
        eng, fwd = engine()
        with pytest.raises(MediaError, match=reason) as info:
            await eng.offer(CallId("c4"), Tag("dev"), sdp, OPTIONS)
        assert info.value.status == 488
        assert fwd.open == {} and eng.calls == 0

    run(scenario())


def test_answer_without_offer_is_481_and_bad_answer_tag_488() -> None:
    async def scenario() -> None:
        eng, _ = engine()
        with pytest.raises(MediaError) as info:
            await eng.answer(CallId("nope"), Tag("a"), Tag("b"), PBX_ANSWER)
        assert info.value.status == 481
        await eng.offer(CallId("c5"), Tag("pbx"), PBX_ANSWER, OfferOptions(from_side=LAN_PLAIN, to_side=WAN))
        wrong = device_offer().replace(b"a=crypto:1 AES_256_CM_HMAC_SHA1_80", b"a=x:1").replace(
            b"a=crypto:2 AES_CM_128_HMAC_SHA1_80", b"a=crypto:7 AES_CM_128_HMAC_SHA1_80")
        with pytest.raises(MediaError, match="not offered"):
            await eng.answer(CallId("c5"), Tag("pbx"), Tag("dev"), wrong)

    run(scenario())


def test_reoffer_from_the_callee_keeps_ports_and_keys_and_rejected_lines_close() -> None:
    async def scenario() -> None:
        eng, fwd = engine()
        offer = parse_sdp(await eng.offer(CallId("c6"), Tag("dev"), device_offer(), OPTIONS))
        answer = parse_sdp(await eng.answer(CallId("c6"), Tag("dev"), Tag("pbx"), PBX_ANSWER))
        # the callee (pbx) re-offers (hold): same ports, device gets the same key offered first
        hold = PBX_ANSWER.replace(b"o=pbx 1 1", b"o=pbx 1 2").replace(b"a=sendrecv", b"a=sendonly")
        reoffer = parse_sdp(await eng.offer(CallId("c6"), Tag("pbx"), hold,
                                            OfferOptions(from_side=LAN_PLAIN, to_side=WAN)))
        assert reoffer.media[0].port == answer.media[0].port
        assert reoffer.media[0].attribute("sendonly") == ""
        key_to_device = fwd.configs[PairId("c6/0")].a.send_key
        assert key_to_device is not None
        assert key_to_device.key_salt in {c.key_salt for c in reoffer.media[0].crypto}
        reanswer = device_offer(version=2).replace(b"a=crypto:1 AES_256_CM_HMAC_SHA1_80", b"a=x:1").replace(
            b"a=sendrecv", b"a=recvonly").replace(b"a=crypto:2 ", b"a=crypto:1 ")
        back = parse_sdp(await eng.answer(CallId("c6"), Tag("pbx"), Tag("dev"), reanswer))
        assert back.media[0].port == offer.media[0].port and back.media[0].attribute("recvonly") == ""
        assert PairId("c6/0") in fwd.open
        # a re-offer that rejects the line closes its ports at once
        off = PBX_ANSWER.replace(b"o=pbx 1 1", b"o=pbx 1 3").replace(b"m=audio 20000", b"m=audio 0")
        with pytest.raises(MediaError):
            await eng.offer(CallId("c6"), Tag("pbx"), off, OfferOptions(from_side=LAN_PLAIN, to_side=WAN))

    run(scenario())


def test_idle_pairs_end_their_call() -> None:
    async def scenario() -> None:
        eng, fwd = engine()
        await eng.offer(CallId("c7"), Tag("dev"), device_offer(), OPTIONS)
        assert fwd._idle is not None
        fwd._idle(PairId("c7/0"))
        assert await eng.expire_idle() == [CallId("c7")]
        assert fwd.open == {} and eng.calls == 0

    run(scenario())
