"""Tests of voxgate.sip.message: Headers, typed views, responses."""

from __future__ import annotations

import pytest

from voxgate.sip.errors import ParseError
from voxgate.sip.message import Headers, Request, make_response
from voxgate.sip.parser import parse_message

OPTIONS = (
    b"OPTIONS sip:edge.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.5:5062;branch=z9hG4bKa1;rport, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb2\r\n"
    b"Max-Forwards: 70\r\nTo: <sip:edge.example.com>\r\nFrom: <sip:probe@example.com>;tag=9\r\n"
    b"Call-ID: opt-1\r\nCSeq: 7 OPTIONS\r\nTimestamp: 54\r\nContact: *\r\nContent-Length: 0\r\n\r\n"
)


def request() -> Request:
    message = parse_message(OPTIONS)
    assert isinstance(message, Request)
    return message


def test_headers_are_case_insensitive_and_compact_aware() -> None:
    headers = Headers.of([("v", "SIP/2.0/UDP a"), ("X-A", "1"), ("x-a", "2")])
    assert headers.get("VIA") == "SIP/2.0/UDP a"
    assert headers.fields("X-A") == ["1", "2"]
    assert headers.count("x-a") == 2
    assert "Via" in headers
    assert "Route" not in headers


def test_set_add_prepend_remove_and_cache_invalidation() -> None:
    message = request()
    assert len(message.via) == 2
    message.headers.prepend("Via", "SIP/2.0/TLS edge.example.com;branch=z9hG4bKtop")
    assert [v.host for v in message.via] == ["edge.example.com", "192.0.2.5", "10.0.0.9"]
    assert message.headers.remove_first_value("Via") == "SIP/2.0/TLS edge.example.com;branch=z9hG4bKtop"
    assert message.headers.remove_first_value("Via") == "SIP/2.0/UDP 192.0.2.5:5062;branch=z9hG4bKa1;rport"
    assert [v.host for v in message.via] == ["10.0.0.9"]
    message.headers.set("CSeq", "8 OPTIONS")
    assert message.cseq.seq == 8
    message.headers.remove("Timestamp")
    assert message.headers.get("Timestamp") is None


def test_contact_star() -> None:
    message = request()
    assert message.contact_star
    assert message.contacts == []
    message.headers.set("Contact", "*, <sip:a@b>")
    with pytest.raises(ParseError, match="Bad Contact"):
        _ = message.contacts


def test_make_response_copies_the_right_headers() -> None:
    response = make_response(request(), 200, to_tag="t1")
    text = response.to_bytes().decode()
    assert text.startswith("SIP/2.0 200 OK\r\n")
    assert response.headers.fields("Via") == [
        "SIP/2.0/UDP 192.0.2.5:5062;branch=z9hG4bKa1;rport, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb2"
    ]
    assert response.to.tag == "t1"
    assert response.call_id == "opt-1"
    assert response.headers.get("Timestamp") is None
    assert "Content-Length: 0\r\n\r\n" in text


def test_100_trying_copies_timestamp_and_never_gets_a_tag() -> None:
    trying = make_response(request(), 100, to_tag="t1")
    assert trying.to.tag is None
    assert trying.headers.get("Timestamp") == "54"


def test_existing_to_tag_is_kept() -> None:
    message = request()
    message.headers.set("To", "<sip:edge.example.com>;tag=orig")
    assert make_response(message, 481, to_tag="new").to.tag == "orig"


def test_content_length_always_matches_the_body() -> None:
    message = request()
    message.body = b"hello"
    assert b"Content-Length: 5\r\n\r\nhello" in message.to_bytes()
