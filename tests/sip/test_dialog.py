"""Tests of voxgate.sip.dialog (RFC 3261 §12)."""

from __future__ import annotations

import pytest

from voxgate.sip.dialog import Dialog, DialogEvent, DialogState
from voxgate.sip.errors import TransactionError
from voxgate.sip.message import Request, make_response
from voxgate.sip.parser import parse_message

INVITE = (
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TLS pc.atlanta.example.com;branch=z9hG4bKinv\r\n"
    "Max-Forwards: 70\r\nTo: Bob <sip:bob@biloxi.example.com>\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=ali\r\nCall-ID: dlg-1\r\nCSeq: 10 INVITE\r\n"
    "Contact: <sip:alice@pc.atlanta.example.com;transport=tls>\r\n"
    "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\nContent-Length: 0\r\n\r\n"
)


def invite() -> Request:
    message = parse_message(INVITE.encode())
    assert isinstance(message, Request)
    return message


def answered(status: int = 200) -> tuple[Request, Dialog, Dialog]:
    request = invite()
    response = make_response(request, status, to_tag="bob")
    response.headers.add("Contact", "<sip:bob@192.0.2.4:5061;transport=tls>")
    for rr in request.headers.fields("Record-Route"):
        response.headers.add("Record-Route", rr)
    wire = parse_message(response.to_bytes())
    return request, Dialog.from_uac(request, wire), Dialog.from_uas(request, response)  # type: ignore[arg-type]


def test_both_sides_agree_on_identity_and_state() -> None:
    _, uac, uas = answered()
    assert (uac.id.call_id, uac.id.local_tag, uac.id.remote_tag) == ("dlg-1", "ali", "bob")
    assert (uas.id.local_tag, uas.id.remote_tag) == ("bob", "ali")
    assert uac.state is uas.state is DialogState.CONFIRMED
    assert str(uac.remote_target) == "sip:bob@192.0.2.4:5061;transport=tls"
    assert str(uas.remote_target) == "sip:alice@pc.atlanta.example.com;transport=tls"
    assert uac.route_set == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert uas.route_set == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]


def test_in_dialog_requests_and_cseq_rules() -> None:
    _, uac, uas = answered()
    bye = uac.create_request("BYE", branch="z9hG4bKbye", via_host="pc.atlanta.example.com",
                             via_transport="TLS")
    assert str(bye.uri) == "sip:bob@192.0.2.4:5061;transport=tls"
    assert bye.headers.fields("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert (bye.cseq.seq, bye.from_.tag, bye.to.tag) == (11, "ali", "bob")
    ack = uac.create_request("ACK", branch="z9hG4bKack", via_host="h", via_transport="TLS", cseq=10)
    assert ack.cseq.seq == 10
    parsed = parse_message(bye.to_bytes())
    assert isinstance(parsed, Request)
    assert uas.receive_request(parsed) is None
    assert uas.receive_request(parsed) == 500  # same CSeq again: out of order


def test_target_refresh_and_strict_routing() -> None:
    _, uac, uas = answered()
    reinvite = uac.create_request("INVITE", branch="z9hG4bKre", via_host="h", via_transport="TLS")
    reinvite.headers.add("Contact", "<sip:alice@198.51.100.2:5061;transport=tls>")
    assert uas.receive_request(parse_message(reinvite.to_bytes())) is None  # type: ignore[arg-type]
    assert str(uas.remote_target) == "sip:alice@198.51.100.2:5061;transport=tls"
    uac.route_set = ["<sip:strict.example.com>", "<sip:p2.example.com;lr>"]
    info = uac.create_request("INFO", branch="z9hG4bKinfo", via_host="h", via_transport="TLS")
    assert str(info.uri) == "sip:strict.example.com"
    assert info.headers.fields("Route")[-1] == "<sip:bob@192.0.2.4:5061;transport=tls>"


def test_state_table() -> None:
    _, early, _ = answered(180)
    assert early.state is DialogState.EARLY
    assert early.on(DialogEvent.SUCCESS) is DialogState.CONFIRMED
    assert early.on(DialogEvent.BYE) is DialogState.TERMINATED
    with pytest.raises(TransactionError, match=r"Dialog.*TERMINATED"):
        early.on(DialogEvent.SUCCESS)
