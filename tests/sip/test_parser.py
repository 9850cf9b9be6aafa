"""Tests of voxgate.sip.parser: datagram parsing, limits, stream framing."""

from __future__ import annotations

import pytest

from voxgate.sip.errors import ParseError
from voxgate.sip.message import Request, Response
from voxgate.sip.parser import KeepAlivePing, Limits, StreamFramer, parse_message

SDP = (
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\ns=-\r\n"
    b"c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def invite(*, extra: bytes = b"", body: bytes = SDP, length: int | None = None) -> bytes:
    cl = len(body) if length is None else length
    return (
        b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n"
        b"Max-Forwards: 70\r\n"
        b"To: Bob <sip:bob@biloxi.example.com>\r\n"
        b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
        b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
        b"CSeq: 314159 INVITE\r\n"
        b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n" + extra
        + b"Content-Type: application/sdp\r\n"
        + b"Content-Length: " + str(cl).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


def error_of(data: bytes, **kwargs: object) -> ParseError:
    with pytest.raises(ParseError) as info:
        message = parse_message(data, **kwargs)  # type: ignore[arg-type]
        message.check()
    return info.value


def test_typical_invite_parses_with_every_core_header() -> None:
    message = parse_message(invite())
    assert isinstance(message, Request)
    message.check()
    assert message.method == "INVITE"
    assert str(message.uri) == "sip:bob@biloxi.example.com"
    assert message.top_via.branch == "z9hG4bK776asdhds"
    assert message.top_via.rport_requested
    assert message.from_.tag == "1928301774"
    assert message.from_.display_name == "Alice"
    assert message.to.display_name == "Bob"
    assert message.to.tag is None
    assert message.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert (message.cseq.seq, message.cseq.method) == (314159, "INVITE")
    assert message.max_forwards == 70
    assert message.body == SDP
    assert message.content_type == "application/sdp"


def test_response_parses() -> None:
    data = (
        b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nTo: <sip:b@h>;tag=2\r\n"
        b"From: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    message = parse_message(data)
    assert isinstance(message, Response)
    message.check()
    assert (message.status, message.reason) == (180, "Ringing")


def test_compact_forms_and_odd_case_names_are_canonical() -> None:
    data = (
        b"OPTIONS sip:h SIP/2.0\r\nv: SIP/2.0/TCP h;branch=z9hG4bK1\r\nt: <sip:b@h>\r\n"
        b"f: <sip:a@h>;tag=1\r\ni: c1\r\nCSEQ: 2 OPTIONS\r\nl: 0\r\nX-Odd-Name: v\r\n\r\n"
    )
    message = parse_message(data)
    message.check()
    names = [name for name, _ in message.headers]
    assert names == ["Via", "To", "From", "Call-ID", "CSeq", "Content-Length", "X-Odd-Name"]
    assert message.headers.get("call-id") == message.headers.get("i") == "c1"
    assert message.headers.get("x-odd-name") == "v"


def test_line_folding_becomes_one_space() -> None:
    data = invite(extra=b"Subject: I know you're there,\r\n   pick up\r\n\tthe phone\r\n")
    assert parse_message(data).headers.get("Subject") == (
        "I know you're there, pick up the phone"
    )


def test_several_via_values_in_one_header_and_across_headers() -> None:
    data = invite().replace(
        b"Via: SIP/2.0/UDP pc33",
        b"Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp1 , SIP/2.0/UDP [2001:db8::9]:5070"
        b";branch=z9hG4bKp2\r\nVia: SIP/2.0/UDP pc33",
    )
    vias = parse_message(data).via
    assert [(v.transport, v.host, v.port) for v in vias] == [
        ("TCP", "proxy.example.com", None),
        ("UDP", "[2001:db8::9]", 5070),
        ("UDP", "pc33.atlanta.example.com", 5060),
    ]


def test_leading_crlfs_are_ignored() -> None:
    assert isinstance(parse_message(b"\r\n\r\n" + invite()), Request)


def test_extra_datagram_bytes_after_content_length_are_discarded() -> None:
    assert parse_message(invite(body=SDP + b"garbage", length=len(SDP))).body == SDP


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (invite(length=len(SDP) + 10), 400, "Bad Content-Length header"),
        (invite(length=-1).replace(b"-1", b"-1"), 400, "Bad Content-Length header"),
        (invite().replace(b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"), 400, "CSeq Method Mismatch"),
        (invite().replace(b"CSeq: 314159", b"CSeq: 2147483648"), 400, "Bad CSeq header"),
        (invite().replace(b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", b""), 400,
         "Missing Call-ID header"),
        (invite(extra=b"To: <sip:x@y>\r\n"), 400, "Duplicate To header"),
        (invite().replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1), 505, "Version Not Supported"),
        (invite().replace(b"sip:bob@biloxi.example.com SIP", b"im:bob@biloxi.example.com SIP"),
         416, "Unsupported URI Scheme"),
        (invite().replace(b"INVITE sip:", b"INVITE  sip:"), 400, "Bad Request Line"),
        (invite().replace(b"Max-Forwards: 70", b"Max-Forwards: 256"), 400, "Bad Max-Forwards header"),
        (invite().replace(b'"Alice"', b'"Alice'), 400, "Bad From header"),
        (invite().replace(b"Bob <sip:bob@biloxi.example.com>", b"Bob <sip:bob@biloxi.example.com"),
         400, "Bad To header"),
        (invite(extra=b"Bad Name: x\r\n"), 400, "Bad Header Name"),
        (invite(extra=b"NoColonHere\r\n"), 400, "Bad Header Line"),
        (invite(extra=b"X-Nul: a\x00b\r\n"), 400, "Bad Characters In Header"),
        (invite(extra=b"X-Bad: \xff\xfe\r\n"), 400, "Bad Header Encoding"),
        (invite().replace(b"SIP/2.0/UDP pc33.atlanta.example.com:5060", b"SIP/2.0/UDP"), 400,
         "Bad Via header"),
        (invite().replace(b"sip:bob@biloxi.example.com SIP", b"sip:bob@ SIP"), 400,
         "Bad Request-URI"),
    ],
)  # fmt: skip
def test_invalid_requests_carry_the_status_owed(data: bytes, status: int, reason: str) -> None:
    err = error_of(data)
    assert (err.status, err.reason) == (status, reason)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"\x00" * 64,
        b"hello world\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n",  # headers never end
        b"SIP/2.0 2000 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: bogus\r\nTo: <sip:a@b>\r\nFrom: <sip:a@b>;tag=1\r\n"
        b"Call-ID: c\r\nCSeq: 1 INVITE\r\n\r\n",
    ],
)
def test_non_sip_and_bad_responses_are_dropped(data: bytes) -> None:
    assert error_of(data).status is None


def test_limits_give_513() -> None:
    big = invite(extra=b"X-Pad: " + b"a" * 70000 + b"\r\n")
    assert error_of(big).status == 513
    many = invite(extra=b"".join(b"X-H%d: v\r\n" % i for i in range(200)))
    assert error_of(many).reason == "Too Many Headers"
    long_line = invite(extra=b"X-Long: " + b"b" * 9000 + b"\r\n")
    assert error_of(long_line).reason == "Header Line Too Long"
    tight = Limits(max_message_size=200)
    assert error_of(invite(), limits=tight).status == 513


def test_stream_messages_require_content_length() -> None:
    data = invite().replace(b"Content-Length: %d\r\n" % len(SDP), b"")
    assert error_of(data, stream=True).reason == "Missing Content-Length"


def test_framer_cuts_messages_split_and_joined() -> None:
    framer = StreamFramer()
    stream = invite() + b"\r\n\r\n" + invite()
    frames: list[object] = []
    for i in range(0, len(stream), 7):  # byte dribble across every boundary
        framer.feed(stream[i : i + 7])
        while (frame := framer.next_frame()) is not None:
            frames.append(frame)
    assert frames == [invite(), KeepAlivePing(), invite()]
    assert framer.buffered == 0


def test_framer_skips_pong_crlf_before_a_message() -> None:
    framer = StreamFramer()
    framer.feed(b"\r\n" + invite())
    assert framer.next_frame() == invite()


def test_framer_errors_close_the_connection() -> None:
    framer = StreamFramer()
    framer.feed(b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")
    with pytest.raises(ParseError, match="Missing Content-Length"):
        framer.next_frame()
    framer = StreamFramer(Limits(max_message_size=1024))
    framer.feed(b"X" * 2000)
    with pytest.raises(ParseError) as info:
        framer.next_frame()
    assert info.value.status == 513


def test_serialize_round_trip_keeps_headers_and_body() -> None:
    message = parse_message(invite(extra=b"X-Folded: a\r\n b\r\n"))
    again = parse_message(message.to_bytes())
    assert list(again.headers) == list(message.headers)
    assert again.body == message.body
