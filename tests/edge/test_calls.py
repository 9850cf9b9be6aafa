"""Calls through the edge in memory (tests/edge/edgebench.py): a remote device (alice,
extension 201, behind the edge) and a desk phone on the call control (bob, extension 202)
call each other.  Level 1 is the edge's 407, level 2 the call control's; nothing of the
device's dialog reaches the call control and nothing of the LAN reaches the device."""

from __future__ import annotations

import itertools

import pytest
from edgebench import (
    DEVICE,
    LAN,
    LEVEL1,
    MAC,
    SDP_B,
    WAN,
    Net,
    alice,
    authorized,
    bob_answers,
    bob_invites_alice,
    bob_register,
    build,
    sip,
)

from voxgate.policy.devices import DeviceTable
from voxgate.sip.digest import answer, challenges_from, select_challenge
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.message import Request, Response, make_response

SDP_A = b"v=0\r\no=alice 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
_n = itertools.count(1)


def registered_bench(public_host: str = "") -> Net:
    net = build([alice()], DeviceTable([(MAC, True)]), public_host=public_host)
    assert authorized(net).status == 200
    bob_register(net)
    return net


LAST_BRANCH = ["z9hG4bK"]


def device_invite(net: Net, callee: str = "202", auth: str = "", cseq: int = 1) -> Response | None:
    """Send the device's INVITE; the last response it got back at once, if any."""
    LAST_BRANCH[0] = f"z9hG4bKdi{next(_n)}"
    data = sip(f"INVITE sip:{callee}@{WAN[0]} SIP/2.0", [
        f"Via: SIP/2.0/TLS 192.168.1.20:5061;branch={LAST_BRANCH[0]};rport", "Max-Forwards: 70",
        f"From: \"Alice\" <sip:alice@{WAN[0]}>;tag=alicetag", f"To: <sip:{callee}@{WAN[0]}>",
        "Call-ID: alice-call-1", f"CSeq: {cseq} INVITE", "Contact: <sip:alice@192.168.1.20:5061;transport=tls>",
        *([f"Proxy-Authorization: {auth}"] if auth else []),
    ], SDP_A)  # fmt: skip
    net.device_raw(data)
    finals = [m for m in net.to_device if isinstance(m, Response)]
    return finals[-1] if finals else None


def device_calls(net: Net, callee: str = "202") -> Response | None:
    first = device_invite(net, callee)
    assert first is not None and first.status == 407
    challenge = select_challenge(challenges_from(first, proxy=True))
    assert challenge is not None
    creds = answer(challenge, "INVITE", f"sip:{callee}@{WAN[0]}", "alice", password=LEVEL1, cnonce="a")
    return device_invite(net, callee, str(creds), cseq=2)


def device_in_dialog(net: Net, method: str, to_tag: str, cseq: int, target: str) -> None:
    net.device_raw(sip(f"{method} {target} SIP/2.0", [
        f"Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKdd{next(_n)};rport", "Max-Forwards: 70",
        f"From: \"Alice\" <sip:alice@{WAN[0]}>;tag=alicetag", f"To: <sip:202@{WAN[0]}>;tag={to_tag}",
        "Call-ID: alice-call-1", f"CSeq: {cseq} {method}",
    ]))  # fmt: skip


def test_a_remote_device_calls_a_desk_phone_and_hangs_up() -> None:
    net = registered_bench()
    assert device_calls(net) is None  # the call control is ringing bob: nothing yet
    (invite,) = [m for m in net.to_bob if isinstance(m, Request) and m.method == "INVITE"]
    assert invite.from_.uri.user == "201"  # bob sees alice's extension, not her SIP user name
    assert invite.body == SDP_A  # SDP passes through (the media relay will rewrite it)
    bob_answers(net, invite)
    ok = [m for m in net.to_device if isinstance(m, Response)]
    assert [r.status for r in ok] == [180, 200]  # bob rang, then answered
    final = ok[-1]
    assert final.status == 200 and final.body == SDP_B
    contact = final.contacts[0].uri
    assert str(contact).startswith("sip:") and f"@{WAN[0]}:{WAN[1]}" in str(contact)
    to_tag = final.to.tag
    assert to_tag is not None
    # the device acknowledges; the ACK travels on to bob
    assert net.edge.calls.next_timer() is not None  # the 200 waits for its ACK
    device_in_dialog(net, "ACK", to_tag, 2, str(contact))
    assert any(isinstance(m, Request) and m.method == "ACK" for m in net.to_bob)
    assert net.edge.calls.next_timer() is None  # nothing left to time
    # topology hiding both ways
    for message in net.to_device:  # headers only: SDP passes through until the media relay
        head = message.to_bytes().split(b"\r\n\r\n")[0]
        assert b"10.0.0.22" not in head and b"127.0.0.1" not in head and b"bobcall" not in head
    assert b"alice-call-1" not in b"".join(net.pbx_saw)
    # the device hangs up: bob gets a BYE, the device its 200
    device_in_dialog(net, "BYE", to_tag, 3, str(contact))
    assert [r.status for r in net.to_device if isinstance(r, Response)] == [200]
    (bye,) = [m for m in net.to_bob if isinstance(m, Request) and m.method == "BYE"]
    net.bob_sends(make_response(bye, 200).to_bytes())
    assert net.edge.calls.calls == {}


def test_a_desk_phone_calls_the_remote_device_on_its_registered_flow() -> None:
    net = registered_bench()
    bob_invites_alice(net)
    (to_device,) = [m for m in net.to_device if isinstance(m, Request) and m.method == "INVITE"]
    assert str(to_device.uri) == "sip:alice@192.168.1.20:5061;transport=tls"  # the device's Contact
    assert to_device.from_.uri.user == "202" and to_device.from_.display_name == "Bob"
    head = to_device.to_bytes().split(b"\r\n\r\n")[0]
    assert b"127.0.0.1" not in head and b"bob-call-2" not in head and b"10.0.0.22" not in head
    # the device answers on the same flow; bob gets the 200 with alice's SDP
    ok = make_response(to_device, 200, to_tag="devtag", body=SDP_A)
    ok.headers.add("Contact", "<sip:alice@192.168.1.20:5061;transport=tls>")
    ok.headers.add("Content-Type", "application/sdp")
    net.to_bob.clear()
    net.device_raw(ok.to_bytes())
    finals = [m for m in net.to_bob if isinstance(m, Response) and m.status == 200]
    assert finals and finals[-1].body == SDP_A


def test_an_unregistered_device_cannot_call() -> None:
    net = build([alice()], DeviceTable([(MAC, True)]))  # alice never registered
    refused = device_calls(net)
    assert refused is not None and refused.status == 403
    assert net.pbx_saw == []


def test_a_wrong_level1_password_on_invite_is_refused_and_counted() -> None:
    net = registered_bench()
    failures: list[str] = []
    net.edge.relay.auth_failed = lambda source, detail: failures.append(detail)
    first = device_invite(net)
    assert first is not None
    challenge = select_challenge(challenges_from(first, proxy=True))
    assert challenge is not None
    creds = answer(challenge, "INVITE", f"sip:202@{WAN[0]}", "alice", password="wrong-one-x", cnonce="x")
    refused = device_invite(net, auth=str(creds), cseq=2)
    assert refused is not None and refused.status == 403
    assert failures == ["INVITE as 'alice'"]


def test_cancel_before_the_answer_ends_both_legs() -> None:
    net = registered_bench()
    assert device_calls(net) is None
    (invite,) = [m for m in net.to_bob if isinstance(m, Request) and m.method == "INVITE"]
    ringing = make_response(invite, 180, to_tag="bobtag")
    net.bob_sends(ringing.to_bytes())
    net.device_raw(sip(f"CANCEL sip:202@{WAN[0]} SIP/2.0", [
        # a CANCEL carries the INVITE's branch: the last INVITE the device sent
        f"Via: SIP/2.0/TLS 192.168.1.20:5061;branch={LAST_BRANCH[0]};rport", "Max-Forwards: 70",
        f"From: \"Alice\" <sip:alice@{WAN[0]}>;tag=alicetag", f"To: <sip:202@{WAN[0]}>",
        "Call-ID: alice-call-1", "CSeq: 2 CANCEL",
    ]))  # fmt: skip
    statuses = [m.status for m in net.to_device if isinstance(m, Response)]
    assert 200 in statuses and 487 in statuses
    assert any(isinstance(m, Request) and m.method == "CANCEL" for m in net.to_bob)


def test_calls_to_unknown_numbers_get_the_call_controls_answer() -> None:
    net = registered_bench()
    refused = device_calls(net, "999")
    assert refused is not None and refused.status == 404
    assert net.edge.calls.calls == {}


def test_an_incoming_call_to_an_expired_device_binding_gets_480_and_reaches_no_device() -> None:
    net = registered_bench()
    assert len(net.edge.relay.purge(net.now + 10_000)) == 1  # expired at the edge only
    bob_invites_alice(net)
    assert net.to_device == []
    statuses = [m.status for m in net.to_bob if isinstance(m, Response)]
    assert statuses[-1] == 480, statuses
    assert LAN and DEVICE


def test_dmz_mode_puts_the_public_address_in_what_devices_see() -> None:
    net = registered_bench(public_host="203.0.113.50")
    bob_invites_alice(net)
    (invite,) = [m for m in net.to_device if isinstance(m, Request) and m.method == "INVITE"]
    assert str(invite.contacts[0].uri) == f"sip:{invite.contacts[0].uri.user}@203.0.113.50:{WAN[1]};transport=tls"
    assert invite.top_via.host == "203.0.113.50"
    head = invite.to_bytes().split(b"\r\n\r\n")[0]
    assert WAN[0].encode() not in head  # the edge's private address stays hidden


def test_a_dropped_device_connection_hangs_up_the_other_side() -> None:
    net = registered_bench()
    device_calls(net)
    (invite,) = [m for m in net.to_bob if isinstance(m, Request) and m.method == "INVITE"]
    bob_answers(net, invite)
    final = [m for m in net.to_device if isinstance(m, Response)][-1]
    assert final.to.tag is not None
    device_in_dialog(net, "ACK", final.to.tag, 2, str(final.contacts[0].uri))
    net.to_bob.clear()
    net.edge.connection_lost(Flow(Transport.TLS, WAN, DEVICE, 7), net.now)
    net.pump()
    assert any(isinstance(m, Request) and m.method == "BYE" for m in net.to_bob)
    assert net.edge.calls.calls == {}


def test_a_2xx_the_device_never_acknowledges_hangs_up_both_sides() -> None:
    """The edge's call timers: the 200 relayed to the device over TLS is not resent (reliable
    transport) but given up on after 64*T1, when the call control's side gets a BYE."""
    net = registered_bench()
    device_calls(net)
    (invite,) = [m for m in net.to_bob if isinstance(m, Request) and m.method == "INVITE"]
    bob_answers(net, invite)
    assert [r.status for r in net.to_device if isinstance(r, Response)][-1] == 200
    deadline = net.edge.calls.next_timer()
    assert deadline == pytest.approx(net.now + 64 * 0.5)
    net.to_bob.clear()
    net.now = deadline
    net.edge.handle_timer(net.now)
    net.pump()
    assert [m.method for m in net.to_bob if isinstance(m, Request)] == ["BYE"]
    assert net.edge.calls.calls == {}
    assert net.edge.calls.next_timer() is None
