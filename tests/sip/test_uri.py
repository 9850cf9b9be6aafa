"""Tests of voxgate.sip.uri (RFC 3261 §19.1, RFC 3966)."""

from __future__ import annotations

import pytest

from voxgate.sip.errors import ParseError
from voxgate.sip.uri import AbsoluteUri, SipUri, TelUri, parse_uri


def test_full_sip_uri() -> None:
    uri = parse_uri("sips:alice:secret@Atlanta.Example.com:5061;transport=TLS;lr;maddr=239.255.255.1?subject=hi&priority=urgent")
    assert isinstance(uri, SipUri)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips", "alice", "secret", "atlanta.example.com", 5061,
    )
    assert uri.secure
    assert uri.transport == "tls"
    assert uri.params == {"transport": "TLS", "lr": None, "maddr": "239.255.255.1"}
    assert uri.headers == "subject=hi&priority=urgent"


def test_user_part_may_hold_semicolons_and_escapes() -> None:
    uri = parse_uri("sip:+1-212-555-1212;phone-context=example.com%3b@gw.example.com;user=phone")
    assert isinstance(uri, SipUri)
    assert uri.user == "+1-212-555-1212;phone-context=example.com%3b"
    assert uri.params == {"user": "phone"}


def test_ipv6_reference_and_port() -> None:
    uri = parse_uri("sip:[2001:DB8::10]:5070")
    assert isinstance(uri, SipUri)
    assert (uri.host, uri.port, uri.host_port) == ("[2001:db8::10]", 5070, "[2001:db8::10]:5070")


def test_tel_and_other_schemes() -> None:
    tel = parse_uri("tel:+1-201-555-0123;phone-context=+1")
    assert isinstance(tel, TelUri)
    assert tel.digits == "+12015550123"
    other = parse_uri("mailto:alice@example.com")
    assert other == AbsoluteUri("mailto", "alice@example.com")


@pytest.mark.parametrize(
    "text",
    [
        "sip:",
        "sip:@host",
        "sip:user@",
        "sip:user@host:0",
        "sip:user@host:65536",
        "sip:user@host:",
        "sip:2001:db8::1",
        "sip:[2001:db8::zz]",
        "sip:user@ho st",
        "sip:user@host;=v",
        "sip:us%zzer@host",
        "sip:user@-host-.com",
        "tel:",
        "no scheme",
    ],
)
def test_malformed_uris(text: str) -> None:
    with pytest.raises(ParseError):
        parse_uri(text)


@pytest.mark.parametrize(
    "text",
    [
        "sip:alice@atlanta.com",
        "sips:alice:pw@atlanta.com:5061;transport=tls;lr?subject=x",
        "sip:[2001:db8::1]:5060;maddr=[2001:db8::2]",
        "sip:192.0.2.4",
        "tel:+358-555-1234567;postd=pp22",
    ],
)
def test_str_round_trip(text: str) -> None:
    assert str(parse_uri(text)) == text


def test_with_and_without_params_make_copies() -> None:
    uri = parse_uri("sip:a@h;lr")
    assert isinstance(uri, SipUri)
    changed = uri.with_params(transport="tls").without_params("lr")
    assert str(changed) == "sip:a@h;transport=tls"
    assert str(uri) == "sip:a@h;lr"
