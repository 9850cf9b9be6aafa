"""Where requests to a binding go, and binding identity."""

from __future__ import annotations

from voxgate.pbx.location import Binding, Location, binding_key
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.uri import parse_uri

LOCAL = ("192.0.2.1", 5060)


def binding(contact: str, remote: tuple[str, int], transport: Transport = Transport.UDP,
            reg_id: int | None = None) -> Binding:  # fmt: skip
    flow = Flow(transport, LOCAL, remote, 3 if transport.reliable else None)
    return Binding("201", contact, parse_uri(contact), 100.0, "c", 1, flow, 0.0, reg_id=reg_id)


def test_udp_goes_to_the_contact_address() -> None:
    b = binding("sip:201@192.0.2.50:5070", ("192.0.2.9", 40000))
    assert b.target.remote == ("192.0.2.50", 5070)


def test_udp_private_contact_from_a_public_source_goes_back_through_the_nat() -> None:
    b = binding("sip:201@192.168.1.20:5060", ("198.51.100.7", 40123))
    assert b.target == b.flow


def test_streams_and_outbound_bindings_reuse_the_registration_flow() -> None:
    assert binding("sip:201@192.0.2.50:5070;transport=tls", ("192.0.2.9", 40000), Transport.TLS).target.connection == 3
    outbound = binding("sip:201@192.0.2.50:5070", ("192.0.2.9", 40000), reg_id=1)
    assert outbound.target == outbound.flow


def test_host_name_contacts_use_the_source() -> None:
    b = binding("sip:201@phone.example.com", ("192.0.2.9", 40000))
    assert b.target == b.flow


def test_uri_equality_for_binding_identity() -> None:
    a = binding_key(parse_uri("sip:201@EXAMPLE.com;transport=UDP;lr"), None, None)
    b = binding_key(parse_uri("SIP:201@example.com;lr;transport=udp"), None, None)
    c = binding_key(parse_uri("sip:Alice@example.com"), None, None)
    d = binding_key(parse_uri("sip:alice@example.com"), None, None)
    assert a == b
    assert c != d


def test_lookup_orders_by_q_then_recency_and_skips_expired() -> None:
    location = Location()
    for i, (q, expires) in enumerate(((0.5, 100.0), (1.0, 100.0), (None, 100.0), (1.0, 10.0))):
        b = binding(f"sip:201@192.0.2.{i + 1}", ("192.0.2.9", 4000 + i))
        b.q, b.expires_at, b.registered_at = q, expires, float(i)
        location.put(b)
    hosts = [b.uri.host for b in location.lookup("201", 50.0)]  # type: ignore[union-attr]
    assert hosts == ["192.0.2.3", "192.0.2.2", "192.0.2.1"]
