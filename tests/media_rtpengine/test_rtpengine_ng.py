"""Tests of voxgate.media.rtpengine.ng: requests from typed options, replies to results,
errors and statistics (the reply shapes are those rtpengine 10.5 sent in the real-daemon
tests)."""

from __future__ import annotations

import pytest
from media_parties import Crypto, sdp

from voxgate.media.bencode import decode, encode
from voxgate.media.control import CallId, MediaError, OfferOptions, Side, Tag
from voxgate.media.rtpengine import ng

LAN_PLAIN = Side("lan", srtp=False)
WAN_SRTP = Side("wan", srtp=True)


def test_offer_request_names_both_interfaces_the_transport_and_the_suites() -> None:
    options = OfferOptions(LAN_PLAIN, WAN_SRTP, suites=("AES_CM_128_HMAC_SHA1_80",), latch_from=True)
    request = ng.offer_request(CallId("c"), Tag("f"), b"v=0\r\n", options)
    assert request["command"] == "offer"
    assert request["direction"] == ["lan", "wan"]
    assert request["transport-protocol"] == "RTP/SAVP"
    assert request["ICE"] == "remove"
    assert request["DTLS"] == "off"
    assert request["replace"] == ["origin", "session-connection"]
    assert request["flags"] == ["symmetric", "strict-source", "endpoint-learning-immediate"]
    sdes = request["SDES"]
    assert isinstance(sdes, list)
    assert "pad" in sdes
    assert "only-AES_CM_128_HMAC_SHA1_80" in sdes
    assert "no-AES_CM_128_HMAC_SHA1_80" not in sdes
    assert {f"no-{s}" for s in ng.RTPENGINE_SUITES} - {"no-AES_CM_128_HMAC_SHA1_80"} <= set(sdes)


def test_offer_to_a_plain_side_asks_for_rtp_avp_and_no_suites() -> None:
    options = OfferOptions(WAN_SRTP, LAN_PLAIN, latch_from=False)
    request = ng.offer_request(CallId("c"), Tag("f"), b"v=0\r\n", options)
    assert request["direction"] == ["wan", "lan"]
    assert request["transport-protocol"] == "RTP/AVP"
    assert request["SDES"] == ["pad"]
    assert request["flags"] == ["asymmetric", "strict-source"]


def test_answer_request_repeats_the_answerers_latching_when_known() -> None:
    known = ng.answer_request(CallId("c"), Tag("f"), Tag("t"), b"v=0\r\n", latch_to=False)
    assert (known["command"], known["to-tag"], known["flags"]) == ("answer", "t", ["asymmetric", "strict-source"])
    unknown = ng.answer_request(CallId("c"), Tag("f"), Tag("t"), b"v=0\r\n", latch_to=None)
    assert "flags" not in unknown
    assert "direction" not in unknown


def test_delete_closes_at_once() -> None:
    assert ng.delete_request(CallId("c"), Tag("f"))["delete-delay"] == 0


def test_messages_carry_a_cookie_and_a_bencoded_dictionary() -> None:
    datagram = ng.encode_message(b"5323_1", ng.PING_REQUEST)
    assert datagram == b"5323_1 d7:command4:pinge"
    assert ng.decode_message(b"5323_1 d6:result4:ponge") == (b"5323_1", {b"result": b"pong"})
    for garbled in (b"nospace", b" d6:result4:ponge", b"c li1ee", b"c d6:result"):
        with pytest.raises(ng.NgMessageError):
            ng.decode_message(garbled)


@pytest.mark.parametrize(
    ("body", "side", "fault"),
    [
        (b"garbage", LAN_PLAIN, "SDP"),
        (sdp("127.0.0.1", 4000, [Crypto.fresh(1, "AES_CM_128_HMAC_SHA1_80")]), LAN_PLAIN, "plain RTP expected"),
        (sdp("127.0.0.1", 4000), WAN_SRTP, "SRTP"),
        (sdp("127.0.0.1", 4000).replace(b"RTP/AVP", b"RTP/SAVP"), WAN_SRTP, "SRTP"),
    ],
)
def test_sdp_that_does_not_match_its_side_is_488(body: bytes, side: Side, fault: str) -> None:
    with pytest.raises(MediaError, match=fault) as caught:
        ng.check_side(body, side, "offer")
    assert caught.value.status == 488


def test_matching_sdp_and_disabled_streams_pass() -> None:
    ng.check_side(sdp("127.0.0.1", 4000), LAN_PLAIN, "offer")
    ng.check_side(sdp("127.0.0.1", 4000, [Crypto.fresh(1, "AEAD_AES_128_GCM")]), WAN_SRTP, "offer")
    ng.check_side(sdp("127.0.0.1", 0), WAN_SRTP, "answer")


@pytest.mark.parametrize(
    ("reply", "command", "status"),
    [
        ({b"result": b"error", b"error-reason": b"Unknown call-id"}, "answer", 481),
        ({b"result": b"error", b"error-reason": b"Unknown call-id"}, "offer", 488),
        ({b"result": b"error", b"error-reason": b"Failed to parse SDP"}, "offer", 488),
        ({b"result": b"error", b"error-reason": b"Ran out of ports"}, "offer", 503),
        ({b"result": b"error", b"error-reason": b"Parallel session limit reached"}, "offer", 503),
        ({b"result": b"load limit"}, "offer", 503),
        ({b"result": b"ok"}, "offer", 500),
    ],
)
def test_error_replies_map_to_the_sip_status_to_answer(
    reply: ng.Reply, command: str, status: int
) -> None:
    with pytest.raises(MediaError) as caught:
        ng.sdp_reply(reply, command)
    assert caught.value.status == status


def test_ok_reply_gives_the_sdp() -> None:
    assert ng.sdp_reply({b"sdp": b"v=0\r\n", b"result": b"ok", b"warning": b"x"}, "offer") == b"v=0\r\n"


def _stream(local: str, address: str, port: int, flags: list[bytes], packets: int, octets: int, errors: int, last: int) -> ng.Value:
    return {
        b"local port": 40000,
        b"local address": local.encode(),
        b"endpoint": {b"family": b"IPv4", b"address": address.encode(), b"port": port},
        b"advertised endpoint": {b"family": b"IPv4", b"address": address.encode(), b"port": port},
        b"last packet": last,
        b"flags": flags,
        b"stats": {b"packets": packets, b"bytes": octets, b"errors": errors},
    }


QUERY_REPLY: ng.Reply = {
    b"created": 1796208095,
    b"created_us": 751409,
    b"last signal": 1796208095,
    b"tags": {
        b"a": {
            b"tag": b"a",
            b"medias": [
                {
                    b"protocol": b"RTP/AVP",
                    b"streams": [
                        _stream("127.0.0.2", "127.0.0.2", 43350, [b"RTP", b"RTCP"], 5, 860, 1, 1796208099),
                        _stream("127.0.0.2", "127.0.0.2", 43351, [b"RTCP"], 1, 80, 0, 1796208097),
                    ],
                }
            ],
        },
        b"b": {
            b"tag": b"b",
            b"medias": [
                {
                    b"protocol": b"RTP/SAVP",
                    b"streams": [
                        _stream("127.0.0.1", "127.0.0.1", 44622, [b"RTP"], 0, 0, 2, 1796208095),
                    ],
                }
            ],
        },
        b"<untagged 1>": {b"tag": b"<untagged 1>", b"medias": []},
    },
    b"totals": {},
    b"result": b"ok",
}


def test_query_reply_maps_to_call_stats() -> None:
    stats = ng.call_stats(CallId("c"), QUERY_REPLY, {Tag("a"): "lan"}, {"127.0.0.1": "wan"})
    assert stats.created == pytest.approx(1796208095.751409)
    assert stats.last_packet == 1796208099  # streams without packets keep their creation time
    a, b = stats.parties
    assert (a.tag, a.interface, a.source) == ("a", "lan", ("127.0.0.2", 43350))
    assert (b.tag, b.interface, b.source) == ("b", "wan", ("127.0.0.1", 44622))
    # RTP and RTCP add up; errors count as source drops on plain media, auth drops on SRTP.
    assert (a.streams[0].packets, a.streams[0].octets, a.streams[0].dropped_source) == (6, 940, 1)
    assert (b.streams[0].packets, b.streams[0].dropped_auth, b.streams[0].dropped_source) == (0, 2, 0)
    assert a.streams[0].lost == a.streams[0].forwarded == 0


def test_query_reply_survives_the_bencode_round_trip_and_odd_shapes() -> None:
    reply = decode(encode(QUERY_REPLY))
    assert isinstance(reply, dict)
    assert ng.call_stats(CallId("c"), reply, {}, {}).parties[0].interface == "wan"  # unknown: wan
    odd: ng.Reply = {b"result": b"ok", b"tags": {b"x": {b"medias": [1, {b"streams": 3}]}, b"y": 4}}
    stats = ng.call_stats(CallId("c"), odd, {}, {})
    assert [p.tag for p in stats.parties] == ["x"]
    assert stats.parties[0].source is None
