"""Tests of the ng client and RtpengineControl beyond the contract: retransmission, stray
and garbled datagrams, an unreachable relay, ping, and what this client keeps per call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest
from media_contract import LAN_PLAIN, PARTY_ADDRESS, WAN_SRTP, crypto_offered, new_call_id
from media_parties import Crypto, Party, sdp
from rtpengine_daemon import Daemon, free_udp_port

from voxgate.media.bencode import decode, encode
from voxgate.media.control import MediaError, OfferOptions, Tag
from voxgate.media.rtpengine import RtpengineControl
from voxgate.media.rtpengine.client import NOT_RESPONDING

#: A guard against a hang, far above the client's own timeouts: not a figure under test.
GUARD = 30.0


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def guarded() -> None:
        await asyncio.wait_for(scenario(), GUARD)

    asyncio.run(guarded())


def test_ping_a_real_rtpengine(rtpengine_daemon: Daemon) -> None:
    async def scenario() -> None:
        control = RtpengineControl(rtpengine_daemon.ng_address)
        await control.ping()
        await control.close()

    run(scenario)


def test_nothing_listening_is_503_without_waiting_for_the_timeout() -> None:
    """ICMP port unreachable ends each try at once: with an hour of timeout the request
    still fails (the guard would fail the test otherwise)."""

    async def scenario() -> None:
        control = RtpengineControl(("127.0.0.1", free_udp_port()), timeout=3600, tries=3)
        with pytest.raises(MediaError) as caught:
            await control.offer(new_call_id(), Tag("a"), sdp(PARTY_ADDRESS, 4000), OfferOptions(LAN_PLAIN, WAN_SRTP))
        assert caught.value.status == 503
        assert caught.value.reason.startswith(NOT_RESPONDING)
        await control.close()

    run(scenario)


def test_a_silent_relay_gets_the_same_datagram_each_try_then_503() -> None:
    async def scenario() -> None:
        relay = await Party.bind("127.0.0.1")
        control = RtpengineControl(relay.address, timeout=0.3, tries=3)
        with pytest.raises(MediaError) as caught:
            await control.ping()
        assert caught.value.status == 503
        datagrams = [relay.received.get_nowait()[0] for _ in range(relay.received.qsize())]
        assert len(datagrams) == 3
        assert len(set(datagrams)) == 1  # retransmissions keep the cookie
        cookie, _, body = datagrams[0].partition(b" ")
        assert cookie and decode(body) == {b"command": b"ping"}
        await control.close()
        relay.close()

    run(scenario)


def test_stray_and_garbled_datagrams_are_ignored_until_the_reply_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="voxgate.media.rtpengine.client")

    async def scenario() -> None:
        relay = await Party.bind("127.0.0.1")
        control = RtpengineControl(relay.address, timeout=GUARD, tries=1)
        pinging = asyncio.ensure_future(control.ping())
        request, client = await relay.receive()
        cookie = request.partition(b" ")[0]
        junk = [b"garbage", b" ", cookie + b" not bencode", cookie + b" li1ee"]
        for datagram in [*junk, b"other " + encode({"result": "pong"})]:
            relay.send(datagram, client)
        relay.send(cookie + b" " + encode({"result": "pong"}), client)
        await pinging
        await control.close()
        relay.close()

    run(scenario)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("garbled" in m for m in messages) == 4
    assert sum("no waiting request" in m for m in messages) == 1


def test_concurrent_requests_are_matched_by_cookie() -> None:
    async def scenario() -> None:
        relay = await Party.bind("127.0.0.1")
        control = RtpengineControl(relay.address, timeout=GUARD, tries=1)
        queries = [asyncio.ensure_future(control.query(new_call_id())) for _ in range(3)]
        requests = [await relay.receive() for _ in range(3)]
        for request, client in reversed(requests):  # answered in the other order
            cookie, _, body = request.partition(b" ")
            decoded = decode(body)
            assert isinstance(decoded, dict)
            call_id = decoded[b"call-id"]
            reply = {"result": "ok", "created": 1, "tags": {call_id: {"medias": []}}}
            relay.send(cookie + b" " + encode(reply), client)
        for future in queries:
            stats = await future
            assert stats is not None
            assert [p.tag for p in stats.parties] == [stats.call_id]
        await control.close()
        relay.close()

    run(scenario)


def test_query_of_a_call_set_up_by_another_client_names_interfaces_by_address(
    rtpengine_daemon: Daemon,
) -> None:
    async def scenario() -> None:
        offerer = RtpengineControl(rtpengine_daemon.ng_address)
        observer = RtpengineControl(
            rtpengine_daemon.ng_address,
            interface_addresses={rtpengine_daemon.wan_address: "wan", rtpengine_daemon.lan_address: "lan"},
        )
        call_id = new_call_id()
        offer = await offerer.offer(call_id, Tag("a"), sdp(PARTY_ADDRESS, 4000), OfferOptions(LAN_PLAIN, WAN_SRTP))
        key = Crypto.fresh(crypto_offered(offer, "AES_CM_128_HMAC_SHA1_80").tag, "AES_CM_128_HMAC_SHA1_80")
        await offerer.answer(call_id, Tag("a"), Tag("b"), sdp(PARTY_ADDRESS, 4002, [key]))
        stats = await observer.query(call_id)
        assert stats is not None
        assert {p.tag: p.interface for p in stats.parties} == {"a": "lan", "b": "wan"}
        # The observer never saw an offer, yet it deletes the call with its counters.
        final = await observer.delete(call_id)
        assert final is not None and len(final.parties) == 2
        assert await offerer.query(call_id) is None
        await observer.close()
        await offerer.close()

    run(scenario)


def test_an_answer_that_does_not_match_the_answering_side_is_488(rtpengine_daemon: Daemon) -> None:
    async def scenario() -> None:
        control = RtpengineControl(rtpengine_daemon.ng_address)
        call_id = new_call_id()
        await control.offer(call_id, Tag("a"), sdp(PARTY_ADDRESS, 4000), OfferOptions(LAN_PLAIN, WAN_SRTP))
        with pytest.raises(MediaError) as caught:
            await control.answer(call_id, Tag("a"), Tag("b"), sdp(PARTY_ADDRESS, 4002))  # plain
        assert caught.value.status == 488
        await control.close()  # deletes the half-done call
        assert await RtpengineControl(rtpengine_daemon.ng_address).query(call_id) is None

    run(scenario)


def test_close_deletes_every_call_of_the_client(rtpengine_daemon: Daemon) -> None:
    async def scenario() -> None:
        control = RtpengineControl(rtpengine_daemon.ng_address)
        calls = [new_call_id() for _ in range(3)]
        for call_id in calls:
            await control.offer(call_id, Tag("a"), sdp(PARTY_ADDRESS, 4000), OfferOptions(LAN_PLAIN, WAN_SRTP))
        await control.close()
        other = RtpengineControl(rtpengine_daemon.ng_address)
        for call_id in calls:
            assert await other.query(call_id) is None
        await other.close()

    run(scenario)
