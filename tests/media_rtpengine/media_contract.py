"""The MediaControl contract: behaviours every media engine must show (DESIGN.md: "both pass
the same contract tests"), with real packets through the engine.

Use it by subclassing :class:`MediaControlContract` in a ``Test…`` class and giving it an
``engine_under_test`` fixture returning :class:`EngineUnderTest`: how to make the engine
(called inside the test's event loop) and the addresses of its ``wan`` and ``lan`` interfaces.
An engine that is known not to show a behaviour names it in ``known_gaps`` with the reason:
the test then checks that the gap is still there and reports it as xfail (so a fixed gap
shows up as a failure asking to remove the entry).

The call of most tests: a plain-RTP party on the LAN offers to an SDES-SRTP party on the WAN
(the call control calling a remote phone), which answers with a key of its own.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import pytest
from media_parties import PROFILES, WAIT, Crypto, Party, audio, payload_of, rtp, sdp

from voxgate.media.control import (
    CallId,
    CallStats,
    MediaControl,
    MediaError,
    OfferOptions,
    PartyStats,
    Side,
    Tag,
)

LAN_PLAIN = Side("lan", srtp=False)
WAN_SRTP = Side("wan", srtp=True)
LAN_SRTP = Side("lan", srtp=True)
#: Where the test parties live (any loopback address works).
PARTY_ADDRESS = "127.0.0.1"
MARKER = b"MARKER"


@dataclass(frozen=True)
class EngineUnderTest:
    make: Callable[[], MediaControl]
    wan_address: str
    lan_address: str
    known_gaps: Mapping[str, str] = field(default_factory=dict)


def new_call_id() -> CallId:
    return CallId(uuid.uuid4().hex)


@dataclass
class Call:
    """An established LAN-plain ⇄ WAN-SRTP call and its parties."""

    call_id: CallId
    lan: Party
    wan: Party
    lan_relay: tuple[str, int]  # where the LAN party sends (from the answer it got)
    wan_relay: tuple[str, int]  # where the WAN party sends (from the offer it got)
    wan_tx: Crypto  # the WAN party's own key (it sends with it)
    wan_rx: Crypto  # the key the relay offered the WAN party (the relay sends with it)

    def close(self) -> None:
        self.lan.close()
        self.wan.close()


def crypto_offered(offer: bytes, suite: str) -> Crypto:
    _, media, _, _ = audio(offer)
    for line in media.crypto:
        if line.suite == suite:
            return Crypto(line.tag, line.suite, line.key_salt)
    raise AssertionError(f"{suite} not offered: {[c.suite for c in media.crypto]}")


async def establish(
    engine: MediaControl,
    eut: EngineUnderTest,
    suite: str = "AES_CM_128_HMAC_SHA1_80",
    *,
    latch_to: bool = False,
) -> Call:
    call_id = new_call_id()
    lan = await Party.bind(PARTY_ADDRESS)
    wan = await Party.bind(PARTY_ADDRESS)
    offer = await engine.offer(
        call_id,
        Tag("lan-tag"),
        sdp(PARTY_ADDRESS, lan.address[1]),
        OfferOptions(LAN_PLAIN, WAN_SRTP, latch_to=latch_to),
    )
    _, _, wan_relay_host, wan_relay_port = audio(offer)
    wan_rx = crypto_offered(offer, suite)
    wan_tx = Crypto.fresh(wan_rx.tag, suite)
    answer = await engine.answer(
        call_id, Tag("lan-tag"), Tag("wan-tag"), sdp(PARTY_ADDRESS, wan.address[1], [wan_tx])
    )
    _, _, lan_relay_host, lan_relay_port = audio(answer)
    assert wan_relay_host == eut.wan_address
    assert lan_relay_host == eut.lan_address
    return Call(
        call_id,
        lan,
        wan,
        (lan_relay_host, lan_relay_port),
        (wan_relay_host, wan_relay_port),
        wan_tx,
        wan_rx,
    )


def party(stats: CallStats, tag: str) -> PartyStats:
    found = [p for p in stats.parties if p.tag == tag]
    assert found, f"no party {tag!r} in {stats}"
    return found[0]


def run(eut: EngineUnderTest, scenario: Callable[[MediaControl], Awaitable[None]]) -> None:
    async def main() -> None:
        engine = eut.make()
        try:
            await scenario(engine)
        finally:
            await engine.close()

    asyncio.run(main())


def known_gap(eut: EngineUnderTest, name: str, shown: bool) -> bool:
    """True (and xfail) when the engine is known to lack behaviour ``name``."""
    if name not in eut.known_gaps:
        return False
    assert not shown, f"known gap {name!r} is fixed: remove it from known_gaps"
    pytest.xfail(eut.known_gaps[name])
    return True  # not reached


async def exchange(call: Call, count: int, first_seq: int = 1) -> None:
    """``count`` packets each way; each must arrive with its payload intact, decrypted on
    the LAN side and encrypted (under the key offered to the WAN party) on the WAN side."""
    wan_sender = call.wan_tx.sender()
    wan_receiver = call.wan_rx.receiver()
    for seq in range(first_seq, first_seq + count):
        lan_payload = b"LAN%05d" % seq + bytes(152)
        call.lan.send(rtp(seq, 0x1111, lan_payload), call.lan_relay)
        data, source = await call.wan.receive()
        assert source == call.wan_relay
        assert lan_payload not in data  # encrypted on the WAN
        assert payload_of(wan_receiver.unprotect(data)) == lan_payload

        wan_payload = b"WAN%05d" % seq + bytes(152)
        call.wan.send(wan_sender.protect(rtp(seq, 0x2222, wan_payload)), call.wan_relay)
        data, source = await call.lan.receive()
        assert source == call.lan_relay
        assert payload_of(data) == wan_payload  # decrypted on the LAN


async def next_payload(receiver: Party) -> bytes:
    data, _ = await receiver.receive()
    return payload_of(data)


class MediaControlContract:
    """The behaviours; a subclass provides the ``engine_under_test`` fixture."""

    def test_offer_to_an_srtp_side_offers_the_asked_suites_on_the_wan_address(
        self, engine_under_test: EngineUnderTest
    ) -> None:
        asked = ("AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM")

        async def scenario(engine: MediaControl) -> None:
            offer = await engine.offer(
                new_call_id(),
                Tag("a"),
                sdp(PARTY_ADDRESS, 40000),
                OfferOptions(LAN_PLAIN, WAN_SRTP, suites=asked),
            )
            description, media, host, port = audio(offer)
            assert media.proto == "RTP/SAVP"
            assert host == engine_under_test.wan_address
            assert description.origin.address == engine_under_test.wan_address
            assert port != 0
            suites = [c.suite for c in media.crypto]
            assert sorted(suites) == sorted(asked)
            keys = [c.key_salt for c in media.crypto]
            assert len(set(keys)) == len(keys)
            for line in media.crypto:
                assert len(line.key_salt) == PROFILES[line.suite][0]
            names = {a.name for a in media.attributes}
            assert not names & {"fingerprint", "setup", "candidate", "ice-ufrag", "ice-pwd"}

        run(engine_under_test, scenario)

    def test_answer_from_the_srtp_side_comes_back_plain_on_the_lan_address(
        self, engine_under_test: EngineUnderTest
    ) -> None:
        async def scenario(engine: MediaControl) -> None:
            call_id = new_call_id()
            offer = await engine.offer(
                call_id, Tag("a"), sdp(PARTY_ADDRESS, 40000), OfferOptions(LAN_PLAIN, WAN_SRTP)
            )
            key = Crypto.fresh(crypto_offered(offer, "AES_CM_128_HMAC_SHA1_80").tag, "AES_CM_128_HMAC_SHA1_80")
            answer = await engine.answer(call_id, Tag("a"), Tag("b"), sdp(PARTY_ADDRESS, 40002, [key]))
            description, media, host, port = audio(answer)
            assert media.proto == "RTP/AVP"
            assert media.crypto == []
            assert host == engine_under_test.lan_address
            assert description.origin.address == engine_under_test.lan_address
            assert port != 0
            assert set(media.rtpmaps) == {0, 101}  # codecs and telephone-event pass through

        run(engine_under_test, scenario)

    @pytest.mark.parametrize("suite", ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM"])
    def test_media_flows_both_ways_decrypted_and_encrypted(
        self, engine_under_test: EngineUnderTest, suite: str
    ) -> None:
        async def scenario(engine: MediaControl) -> None:
            call = await establish(engine, engine_under_test, suite)
            try:
                await exchange(call, 10)
            finally:
                call.close()

        run(engine_under_test, scenario)

    def test_query_counts_each_party_and_where_it_sends_from(
        self, engine_under_test: EngineUnderTest
    ) -> None:
        async def scenario(engine: MediaControl) -> None:
            call = await establish(engine, engine_under_test)
            try:
                await exchange(call, 7)
                stats = await engine.query(call.call_id)
                assert stats is not None
                assert stats.call_id == call.call_id
                lan, wan = party(stats, "lan-tag"), party(stats, "wan-tag")
                assert (lan.interface, wan.interface) == ("lan", "wan")
                assert lan.source == call.lan.address
                assert wan.source == call.wan.address
                assert len(lan.streams) == len(wan.streams) == 1
                assert lan.streams[0].packets == wan.streams[0].packets == 7
                assert lan.streams[0].octets == 7 * 172
                # rtpengine gives the last packet's time in whole seconds.
                assert stats.last_packet >= math.floor(stats.created) > 0
            finally:
                call.close()

        run(engine_under_test, scenario)

    def test_delete_returns_the_final_counters_and_closes_the_ports(
        self, engine_under_test: EngineUnderTest
    ) -> None:
        async def scenario(engine: MediaControl) -> None:
            call = await establish(engine, engine_under_test)
            try:
                await exchange(call, 3)
                final = await engine.delete(call.call_id)
                assert final is not None
                assert party(final, "wan-tag").streams[0].packets == 3
                assert await engine.query(call.call_id) is None
                assert await engine.delete(call.call_id) is None
                for relay in (call.wan_relay, call.lan_relay):
                    await assert_closed(relay)
            finally:
                call.close()

        run(engine_under_test, scenario)

    def test_a_repeated_offer_gets_the_same_answer(self, engine_under_test: EngineUnderTest) -> None:
        async def scenario(engine: MediaControl) -> None:
            call_id, body = new_call_id(), sdp(PARTY_ADDRESS, 40000)
            first = await engine.offer(call_id, Tag("a"), body, OfferOptions(LAN_PLAIN, WAN_SRTP))
            again = await engine.offer(call_id, Tag("a"), body, OfferOptions(LAN_PLAIN, WAN_SRTP))
            assert again == first

        run(engine_under_test, scenario)

    def test_an_answer_to_no_offer_is_481(self, engine_under_test: EngineUnderTest) -> None:
        async def scenario(engine: MediaControl) -> None:
            with pytest.raises(MediaError) as caught:
                await engine.answer(new_call_id(), Tag("a"), Tag("b"), sdp(PARTY_ADDRESS, 40000))
            assert caught.value.status == 481

        run(engine_under_test, scenario)

    @pytest.mark.parametrize(
        ("body", "from_side"),
        [
            (b"this is not SDP\r\n", LAN_PLAIN),
            (sdp(PARTY_ADDRESS, 40000, [Crypto.fresh(1, "AES_CM_128_HMAC_SHA1_80")]), LAN_PLAIN),
            (sdp(PARTY_ADDRESS, 40000), WAN_SRTP),
        ],
        ids=["garbage", "srtp-from-plain-side", "plain-from-srtp-side"],
    )
    def test_an_offer_it_cannot_relay_is_488(
        self, engine_under_test: EngineUnderTest, body: bytes, from_side: Side
    ) -> None:
        to_side = WAN_SRTP if from_side.interface == "lan" else LAN_PLAIN

        async def scenario(engine: MediaControl) -> None:
            call_id = new_call_id()
            with pytest.raises(MediaError) as caught:
                await engine.offer(call_id, Tag("a"), body, OfferOptions(from_side, to_side))
            assert caught.value.status == 488
            assert await engine.query(call_id) is None

        run(engine_under_test, scenario)

    def test_unknown_calls_have_no_counters(self, engine_under_test: EngineUnderTest) -> None:
        async def scenario(engine: MediaControl) -> None:
            assert await engine.query(new_call_id()) is None
            assert await engine.delete(new_call_id()) is None
            assert await engine.delete(new_call_id(), Tag("a")) is None

        run(engine_under_test, scenario)

    def test_packets_failing_authentication_are_dropped_and_counted(
        self, engine_under_test: EngineUnderTest
    ) -> None:
        async def scenario(engine: MediaControl) -> None:
            call = await establish(engine, engine_under_test)
            try:
                await exchange(call, 2)
                sender = call.wan_tx.sender()
                forged = bytearray(sender.protect(rtp(50, 0x2222, b"FORGED" + bytes(154))))
                forged[-1] ^= 0x01  # wrong auth tag
                call.wan.send(bytes(forged), call.wan_relay)
                call.wan.send(sender.protect(rtp(51, 0x2222, MARKER)), call.wan_relay)
                assert await next_payload(call.lan) == MARKER
                stats = await engine.query(call.call_id)
                assert stats is not None
                assert party(stats, "wan-tag").streams[0].dropped_auth >= 1
                await exchange(call, 2, first_seq=60)  # the call goes on
            finally:
                call.close()

        run(engine_under_test, scenario)

    def test_a_replayed_packet_is_dropped(self, engine_under_test: EngineUnderTest) -> None:
        async def scenario(engine: MediaControl) -> None:
            call = await establish(engine, engine_under_test)
            try:
                await exchange(call, 2)
                sender = call.wan_tx.sender()
                original = sender.protect(rtp(70, 0x2222, b"ONCE" + bytes(156)))
                call.wan.send(original, call.wan_relay)
                assert (await next_payload(call.lan)).startswith(b"ONCE")
                call.wan.send(original, call.wan_relay)  # replayed
                call.wan.send(sender.protect(rtp(71, 0x2222, MARKER)), call.wan_relay)
                replay_dropped = await next_payload(call.lan) == MARKER
                if known_gap(engine_under_test, "replay-protection", replay_dropped):
                    return
                assert replay_dropped
            finally:
                call.close()

        run(engine_under_test, scenario)

    def test_packets_from_a_stranger_are_not_forwarded(
        self, engine_under_test: EngineUnderTest
    ) -> None:
        async def scenario(engine: MediaControl) -> None:
            call = await establish(engine, engine_under_test)
            stranger = await Party.bind(PARTY_ADDRESS)
            try:
                await exchange(call, 2)
                stranger.send(rtp(80, 0x2222, b"STRANGER" + bytes(152)), call.wan_relay)
                stranger.send(rtp(81, 0x3333, b"STRANGER" + bytes(152)), call.lan_relay)
                call.wan.send(call.wan_tx.sender().protect(rtp(82, 0x2222, MARKER)), call.wan_relay)
                call.lan.send(rtp(82, 0x1111, MARKER), call.lan_relay)
                assert await next_payload(call.lan) == MARKER
                assert payload_of(call.wan_rx.receiver().unprotect((await call.wan.receive())[0])) == MARKER
                assert stranger.received.empty()
                stats = await engine.query(call.call_id)
                assert stats is not None
                for tag in ("wan-tag", "lan-tag"):
                    stream = party(stats, tag).streams[0]
                    assert stream.dropped_source + stream.dropped_auth >= 1
            finally:
                call.close()
                stranger.close()

        run(engine_under_test, scenario)

    def test_each_srtp_leg_gets_fresh_keys(self, engine_under_test: EngineUnderTest) -> None:
        async def scenario(engine: MediaControl) -> None:
            wan_keys = [Crypto.fresh(1, "AES_CM_128_HMAC_SHA1_80"), Crypto.fresh(2, "AEAD_AES_128_GCM")]
            offer = await engine.offer(
                new_call_id(),
                Tag("a"),
                sdp(PARTY_ADDRESS, 40000, wan_keys),
                OfferOptions(WAN_SRTP, LAN_SRTP),
            )
            _, media, host, _ = audio(offer)
            assert host == engine_under_test.lan_address
            assert media.proto == "RTP/SAVP" and media.crypto
            reused = {c.key_salt for c in media.crypto} & {k.key_salt for k in wan_keys}
            if known_gap(engine_under_test, "fresh-keys-between-srtp-legs", not reused):
                return
            assert not reused

        run(engine_under_test, scenario)

    def test_latching_follows_authenticated_packets_only(
        self, engine_under_test: EngineUnderTest
    ) -> None:
        """A remote phone behind NAT: its SDP names an address it does not send from. The
        relay learns where it really is from its first authenticated packet; an attacker's
        packet that comes first teaches it nothing."""

        async def scenario(engine: MediaControl) -> None:
            call_id = new_call_id()
            phone = await Party.bind(PARTY_ADDRESS)  # where the phone's packets come from
            advertised = await Party.bind(PARTY_ADDRESS)  # what its SDP says (private side)
            attacker = await Party.bind(PARTY_ADDRESS)
            lan = await Party.bind(PARTY_ADDRESS)
            try:
                key = Crypto.fresh(1, "AES_CM_128_HMAC_SHA1_80")
                offer = await engine.offer(
                    call_id,
                    Tag("phone"),
                    sdp(PARTY_ADDRESS, advertised.address[1], [key]),
                    OfferOptions(WAN_SRTP, LAN_PLAIN, latch_from=True),
                )
                _, _, host, port = audio(offer)
                lan_relay = (host, port)  # where the PBX sends (from the offer it got)
                answer = await engine.answer(
                    call_id, Tag("phone"), Tag("pbx"), sdp(PARTY_ADDRESS, lan.address[1])
                )
                _, _, wan_host, wan_port = audio(answer)
                wan_relay = (wan_host, wan_port)  # where the phone sends (from its answer)
                assert wan_host == engine_under_test.wan_address
                crypto = _answered_crypto(answer_to_phone=answer)
                assert crypto is not None
                receiver = crypto.receiver()
                attacker.send(rtp(1, 0x2222, b"ATTACK" + bytes(154)), wan_relay)
                sender = key.sender()
                # The phone sends until its media reaches the LAN (the relay has seen an
                # authenticated packet from it); only then does the LAN party send.
                seq = 1
                loop = asyncio.get_running_loop()
                deadline = loop.time() + WAIT
                while lan.received.empty():
                    assert loop.time() < deadline, "the phone's media never reached the LAN"
                    seq += 1
                    phone.send(sender.protect(rtp(seq, 0x2222, b"PHONE" + bytes(155))), wan_relay)
                    await asyncio.sleep(0.02)
                assert (await next_payload(lan)).startswith(b"PHONE")  # not the attacker's
                lan.send(rtp(1, 0x1111, b"PBX" + bytes(157)), lan_relay)
                data, source = await phone.receive()
                assert source == wan_relay
                assert payload_of(receiver.unprotect(data)).startswith(b"PBX")
                assert attacker.received.empty()
                assert advertised.received.empty()
            finally:
                for p in (phone, advertised, attacker, lan):
                    p.close()
            assert host == engine_under_test.lan_address

        run(engine_under_test, scenario)


def _answered_crypto(answer_to_phone: bytes) -> Crypto | None:
    _, media, _, _ = audio(answer_to_phone)
    for line in media.crypto:
        return Crypto(line.tag, line.suite, line.key_salt)
    return None


async def assert_closed(relay: tuple[str, int]) -> None:
    """Nothing listens at ``relay`` any more: a datagram there draws ICMP port unreachable."""
    loop = asyncio.get_running_loop()
    transport, probe = await loop.create_datagram_endpoint(Party, remote_addr=relay)
    try:
        deadline = loop.time() + WAIT
        while probe.refused == 0:
            assert loop.time() < deadline, f"{relay} still open"
            transport.sendto(b"probe")
            await asyncio.sleep(0.02)
        assert probe.received.empty()
    finally:
        transport.close()


