"""Tests of voxgate.sip.uas: what a UAS core answers on its own."""

from __future__ import annotations

import pytest

from voxgate.sip.errors import ParseError
from voxgate.sip.message import Request
from voxgate.sip.parser import parse_message
from voxgate.sip.uas import Capabilities, answer_unhandled, error_response_bytes

CAPS = Capabilities(allow=("OPTIONS", "ACK", "CANCEL"), supported=("outbound",), server="vg")


def request(method: str, *, extra: str = "", to_tag: str = "") -> Request:
    text = (
        f"{method} sip:edge.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKq\r\n"
        f"To: <sip:edge.example.com>{to_tag}\r\nFrom: <sip:a@example.com>;tag=f\r\n"
        f"Call-ID: cid\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def test_options_gets_200_with_capabilities() -> None:
    response = answer_unhandled(request("OPTIONS"), CAPS, to_tag="t")
    assert response is not None
    assert response.status == 200
    assert response.headers.get("Allow") == "OPTIONS, ACK, CANCEL"
    assert response.headers.get("Accept") == "application/sdp"
    assert response.headers.get("Supported") == "outbound"
    assert response.headers.get("Server") == "vg"
    assert response.to.tag == "t"


@pytest.mark.parametrize(
    ("method", "extra", "to_tag", "status"),
    [
        ("INVITE", "", "", 405),
        ("REGISTER", "", "", 405),
        ("FROBNICATE", "", "", 501),
        ("BYE", "", ";tag=x", 481),
        ("CANCEL", "", "", 481),
        ("OPTIONS", "Require: 100rel, outbound\r\n", "", 420),
        ("CANCEL", "Require: 100rel\r\n", "", 481),
    ],
)
def test_unhandled_requests(method: str, extra: str, to_tag: str, status: int) -> None:
    response = answer_unhandled(request(method, extra=extra, to_tag=to_tag), CAPS, to_tag="t")
    assert response is not None
    assert response.status == status
    if status == 405:
        assert response.headers.get("Allow") == "OPTIONS, ACK, CANCEL"
    if status == 420:
        assert response.headers.get("Unsupported") == "100rel"


def test_ack_is_never_answered() -> None:
    assert answer_unhandled(request("ACK"), CAPS, to_tag="t") is None


def test_error_response_copies_raw_lines_and_adds_a_tag() -> None:
    data = (
        b"INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\ni: x\r\n"
        b"cseq: 1 INVITE\r\nf: <sip:a@b>;tag=1\r\nt: <sip:b@c>\r\nCSeq: junk\r\n\r\n"
    )
    out = error_response_bytes(data, ParseError("Duplicate CSeq header"), "vg", "t9")
    assert out is not None
    response = parse_message(out)
    assert response.start_line() == "SIP/2.0 400 Duplicate CSeq header"
    assert response.to.tag == "t9"
    assert response.headers.get("Via") == "SIP/2.0/UDP h;branch=z9hG4bK1"


def test_error_response_needs_a_via_and_a_status() -> None:
    assert error_response_bytes(b"INVITE sip:a@b SIP/2.0\r\n\r\n", ParseError("x"), "vg", "t") is None
    dropped = ParseError("x", None)
    assert error_response_bytes(b"v: SIP/2.0/UDP h\r\n\r\n", dropped, "vg", "t") is None
