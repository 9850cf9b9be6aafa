"""What crosses from one B2BUA leg to the other."""

from __future__ import annotations

from voxgate.sip.b2bua import (
    Unacked,
    copy_body,
    copy_headers,
    copy_options,
    host_port,
    name_addr,
    new_branch,
)
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.message import Headers, Request, Response


def test_branches_are_fresh_and_carry_the_magic_cookie() -> None:
    branches = {new_branch() for _ in range(100)}
    assert len(branches) == 100 and all(b.startswith("z9hG4bK") for b in branches)


def test_host_port_brackets_ipv6() -> None:
    assert host_port(("192.0.2.1", 5061)) == "192.0.2.1:5061"
    assert host_port(("2001:db8::1", 5061)) == "[2001:db8::1]:5061"


def test_name_addr_cannot_be_broken_out_of_by_the_display_name() -> None:
    assert name_addr('Al"ice\\', "sip:201@pbx", "t1") == '"Alice" <sip:201@pbx>;tag=t1'
    assert name_addr("", "sip:201@pbx", "t1") == "<sip:201@pbx>;tag=t1"


def test_only_listed_headers_and_option_tags_cross() -> None:
    source = Headers.of([
        ("Content-Type", "application/sdp"), ("X-Secret", "lan"), ("Session-Expires", "1800"),
        ("Supported", "timer, 100rel, replaces"), ("Require", "100rel"),
    ])  # fmt: skip
    target = Headers()
    copy_headers(source, target, ("Content-Type", "Session-Expires"))
    copy_options(source, target, frozenset({"timer", "replaces"}))
    assert target.get("Content-Type") == "application/sdp" and target.get("X-Secret") is None
    assert target.get("Supported") == "timer, replaces"
    assert target.get("Require") is None  # nothing passable was required


def test_copy_body_brings_its_content_type() -> None:
    ack = Request("ACK", "sip:a@b", Headers.of([("Content-Type", "application/sdp")]), b"v=0\r\n")
    out = Request("ACK", "sip:c@d", Headers())
    copy_body(ack, out)
    assert out.body == b"v=0\r\n" and out.headers.get("Content-Type") == "application/sdp"
    empty = Request("ACK", "sip:c@d", Headers())
    copy_body(Request("ACK", "sip:a@b", Headers()), empty)
    assert empty.body == b"" and empty.headers.get("Content-Type") is None


def test_an_unacknowledged_2xx_is_resent_doubling_up_to_t2_and_only_over_udp() -> None:
    ok = Response(200, "OK", Headers())
    udp = Flow(Transport.UDP, ("192.0.2.1", 5060), ("192.0.2.2", 5060))
    pending = Unacked.start(ok, udp, 1, True, now=0.0, t1=0.5)
    resent = [t for t in (0.4, 0.5, 1.0, 1.5, 3.5, 7.5, 11.5) if pending.resend_due(t, 4.0)]
    assert resent == [0.5, 1.5, 3.5, 7.5, 11.5]  # +1, +2, +4, +4: doubling, capped at T2
    assert pending.give_up_at == 32.0 and pending.deadline == 15.5
    tls = Flow(Transport.TLS, ("192.0.2.1", 5061), ("192.0.2.2", 5061), 3)
    waiting = Unacked.start(ok, tls, 1, True, now=0.0, t1=0.5)
    assert not waiting.resend_due(100.0, 4.0) and waiting.deadline == 32.0
