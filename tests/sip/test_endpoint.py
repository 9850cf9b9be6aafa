"""Tests of voxgate.sip.endpoint: the facade the I/O adapter drives."""

from __future__ import annotations

from voxgate.sip.actions import RequestReceived
from voxgate.sip.endpoint import Endpoint, MessageRejected, RequestAnswered
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.message import Response
from voxgate.sip.parser import parse_message
from voxgate.sip.transaction import response_flow
from voxgate.sip.uas import Capabilities, answer_unhandled

NAT = Flow(Transport.UDP, ("127.0.0.1", 5060), ("198.51.100.7", 40123))
TLS = Flow(Transport.TLS, ("127.0.0.1", 5061), ("198.51.100.7", 50000), connection=7)


def options(via: str = "SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKo1;rport", cseq: str = "1 OPTIONS") -> bytes:
    return (
        f"OPTIONS sip:edge.example.net SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
        f"To: <sip:edge.example.net>\r\nFrom: <sip:1001@example.net>;tag=f\r\n"
        f"Call-ID: ep-1\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def serve_one(endpoint: Endpoint, data: bytes, flow: Flow) -> list[tuple[bytes, Flow]]:
    endpoint.receive(data, flow, 0.0)
    while (event := endpoint.next_event()) is not None:
        if isinstance(event, RequestReceived):
            response = answer_unhandled(event.request, Capabilities(), to_tag="t")
            assert response is not None
            endpoint.respond(event.key, response, 0.01)
    return endpoint.datagrams_to_send()


def test_options_behind_nat_is_answered_to_the_source_port() -> None:
    endpoint = Endpoint()
    [(data, flow)] = serve_one(endpoint, options(), NAT)
    response = parse_message(data)
    assert isinstance(response, Response)
    assert response.status == 200
    via = response.top_via
    assert via.params["received"] == "198.51.100.7"
    assert via.params["rport"] == "40123"
    assert flow.remote == ("198.51.100.7", 40123)  # RFC 3581: back through the NAT binding


def test_without_rport_the_response_goes_to_received_and_sent_by_port() -> None:
    endpoint = Endpoint()
    [(_, flow)] = serve_one(endpoint, options("SIP/2.0/UDP 192.168.1.20:5070;branch=z9hG4bKo2"), NAT)
    assert flow.remote == ("198.51.100.7", 5070)


def test_streams_answer_on_the_same_connection() -> None:
    endpoint = Endpoint()
    [(_, flow)] = serve_one(endpoint, options("SIP/2.0/TLS 192.168.1.20;branch=z9hG4bKo3"), TLS)
    assert flow == TLS


def test_one_answered_event_per_transaction_and_retransmissions_absorbed() -> None:
    endpoint = Endpoint()
    endpoint.receive(options(), NAT, 0.0)
    event = endpoint.next_event()
    assert isinstance(event, RequestReceived)
    response = answer_unhandled(event.request, Capabilities(), to_tag="t")
    assert response is not None
    endpoint.respond(event.key, response, 0.25)
    answered = endpoint.next_event()
    assert isinstance(answered, RequestAnswered)
    assert answered.duration == 0.25
    endpoint.receive(options(), NAT, 0.5)  # retransmission: the stored 200 is resent
    assert endpoint.next_event() is None
    assert len(endpoint.datagrams_to_send()) == 2
    endpoint.handle_timer(100.0)
    assert endpoint.transactions == 0


def test_malformed_requests_get_the_owed_status_and_an_event() -> None:
    endpoint = Endpoint()
    [(data, flow)] = serve_one(endpoint, options(cseq="1 INVITE"), NAT)
    assert data.startswith(b"SIP/2.0 400 CSeq Method Mismatch\r\n")
    assert flow == NAT
    garbage = Endpoint()
    assert serve_one(garbage, b"\x00garbage\r\n\r\n", NAT) == []
    garbage.receive(b"\x00garbage\r\n\r\n", NAT, 0.0)
    event = garbage.next_event()
    assert isinstance(event, MessageRejected)
    assert event.status is None


def test_response_flow_for_ipv6_received() -> None:
    data = (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [2001:db8::5];branch=z9hG4bKx;received=2001:db8::9;rport=7000\r\n"
        b"To: <sip:a@b>;tag=1\r\nFrom: <sip:c@d>;tag=2\r\nCall-ID: v6\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    response = parse_message(data)
    assert isinstance(response, Response)
    flow = Flow(Transport.UDP, ("::1", 5060), ("2001:db8::1", 1))
    assert response_flow(response, flow).remote == ("2001:db8::9", 7000)


def test_retransmissions_are_absorbed_without_the_full_check() -> None:
    """A retransmission is matched to its transaction before the header check: it is answered
    from the transaction even when a header the check would refuse is garbled."""
    endpoint = Endpoint()
    [(first, _)] = serve_one(endpoint, options(), NAT)
    garbled = options().replace(b"From: <sip:1001@example.net>;tag=f", b"From: <<garbled")
    endpoint.receive(garbled, NAT, 0.5)
    assert endpoint.next_event() is None  # nothing new for the TU
    [(again, _)] = endpoint.datagrams_to_send()
    assert again == first
    # a new transaction with the same garbled header is refused as before
    endpoint.receive(garbled.replace(b"z9hG4bKo1", b"z9hG4bKo9"), NAT, 0.6)
    event = endpoint.next_event()
    assert isinstance(event, MessageRejected)
    assert event.status == 400


def test_a_broken_to_header_still_gets_its_400() -> None:
    """The response copies To; when To is the header at fault, it is copied as written."""
    endpoint = Endpoint()
    broken = options().replace(b"To: <sip:edge.example.net>", b"To: <sip:edge.example.net")
    endpoint.receive(broken, NAT, 0.0)
    event = endpoint.next_event()
    assert isinstance(event, MessageRejected)
    assert (event.status, event.reason) == (400, "Bad To header")
    [(data, _)] = endpoint.datagrams_to_send()
    assert data.startswith(b"SIP/2.0 400 Bad To header\r\n")
    assert b"\r\nCall-ID: ep-1\r\n" in data
