"""The B2BUA through the PBX core: forking, answer, cancel, busy, no answer, BYE, re-INVITE,
and the call record of each attempt."""

from __future__ import annotations

import pytest
from harness import REALM, Bench, Phone, extension, make_bench, sdp

from voxgate.sip.message import Request, Response


def _bench(**kw: float) -> tuple[Bench, Phone, Phone, Phone]:
    bench = make_bench(
        extension("201", "secret-of-201", display_name="Alice"),
        extension("202", "secret-of-202", display_name="Bob"),
        **kw,
    )
    alice = Phone(bench, "201", "secret-of-201", "10.0.0.1")
    desk = Phone(bench, "202", "secret-of-202", "10.0.0.2")
    soft = Phone(bench, "202", "secret-of-202", "10.0.0.3")
    assert desk.register().status == 200
    assert soft.register().status == 200
    return bench, alice, desk, soft


def _dial(alice: Phone, number: str = "202", call_id: str = "call-1") -> str:
    """Send the INVITE, answer the 407; returns the authorized INVITE text."""
    uri = f"sip:{number}@{REALM}"
    first = alice.request("INVITE", uri, to=f"<{uri}>", call_id=call_id, body=sdp(4000))
    alice.send(first)
    responses = alice.inbox()
    challenge = responses[-1]
    assert isinstance(challenge, Response)
    assert challenge.status == 407
    alice.send(alice.request("ACK", uri, to=str(challenge.headers.get("To")), call_id=call_id,
                             cseq=alice.cseq - 1, branch=first.split("branch=")[1].split(";")[0]))  # fmt: skip
    second = alice.request("INVITE", uri, to=f"<{uri}>", call_id=call_id, body=sdp(4000))
    authorized = alice.authorized(second, challenge, proxy=True)
    alice.send(authorized)
    return authorized


def _invite_to(phone: Phone) -> Request:
    [invite] = [m for m in phone.inbox() if isinstance(m, Request) and m.method == "INVITE"]
    return invite


def _reply(phone: Phone, request: Request, status: int, tag: str, body: str = "") -> None:
    head = {180: "Ringing", 200: "OK", 486: "Busy Here", 487: "Request Terminated"}[status]
    vias = "".join(f"Via: {v}\n" for v in request.headers.get_all("Via"))
    ctype = "Content-Type: application/sdp\n" if body else ""
    body = body.replace("\n", "\r\n")
    contact = f"Contact: <sip:{phone.number}@{phone.host}:{phone.port}>\n" if status < 300 else ""
    phone.send(
        f"SIP/2.0 {status} {head}\n{vias}From: {request.headers.get('From')}\n"
        f"To: {request.headers.get('To')};tag={tag}\nCall-ID: {request.call_id}\n"
        f"CSeq: {request.cseq}\n{contact}{ctype}Content-Length: {len(body)}\n\n{body}"
    )


def _statuses(phone: Phone) -> list[int]:
    return [m.status for m in phone.inbox() if isinstance(m, Response)]


def test_parallel_fork_first_200_wins_the_other_is_cancelled_then_bye() -> None:
    bench, alice, desk, soft = _bench()
    _dial(alice)
    to_desk, to_soft = _invite_to(desk), _invite_to(soft)
    # topology hiding: our own Call-ID and tags toward the callee
    assert to_desk.call_id != "call-1"
    assert to_desk.from_.uri.user == "201"  # type: ignore[union-attr]
    assert to_desk.from_.display_name == "Alice"
    assert to_desk.body == sdp(4000).replace("\n", "\r\n").encode()
    assert to_desk.max_forwards == 69
    _reply(desk, to_desk, 180, "d1")
    assert _statuses(alice) == [180]
    _reply(soft, to_soft, 180, "s1")
    _reply(soft, to_soft, 200, "s1", sdp(5000))
    responses = [m for m in alice.inbox() if isinstance(m, Response)]
    assert [r.status for r in responses] == [180, 200]
    ok = responses[1]
    assert b"m=audio 5000" in ok.body
    [cancel] = [m for m in desk.inbox() if isinstance(m, Request)]
    assert cancel.method == "CANCEL"
    assert cancel.top_via.branch == to_desk.top_via.branch
    _reply(desk, to_desk, 487, "d1")
    to_tag = ok.to.tag
    alice.send(alice.request("ACK", f"sip:202@{REALM}", to=f"<sip:202@{REALM}>;tag={to_tag}",
                             call_id="call-1", cseq=2))  # fmt: skip
    [ack] = soft.inbox()
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.cseq.seq == 1
    bench.now += 30
    alice.send(alice.request("BYE", f"sip:202@{REALM}", to=f"<sip:202@{REALM}>;tag={to_tag}",
                             call_id="call-1"))  # fmt: skip
    assert _statuses(alice) == [200]
    [bye] = soft.inbox()
    assert isinstance(bye, Request)
    assert bye.method == "BYE"
    [record] = bench.records
    assert (record.caller, record.callee, record.disposition, record.status) == ("201", "202", "answered", 200)
    assert record.duration == pytest.approx(30)
    assert record.caller_source == "10.0.0.1:5060"
    assert bench.core.calls.calls == {}


def test_bye_from_the_callee_and_the_200_waits_for_the_record() -> None:
    bench, alice, desk, soft = _bench()
    _dial(alice)
    to_desk = _invite_to(desk)
    soft.inbox()
    _reply(desk, to_desk, 200, "d1", sdp(5000))
    [ok] = [m for m in alice.inbox() if isinstance(m, Response) and m.status == 200]
    alice.send(alice.request("ACK", f"sip:202@{REALM}", to=str(ok.headers.get("To")), call_id="call-1", cseq=2))
    desk.inbox()
    bench.hold = True
    desk.send(desk.request("BYE", f"sip:201@{REALM}", to=f"{to_desk.headers.get('From')}",
                           call_id=to_desk.call_id, from_tag="d1"))  # fmt: skip
    assert _statuses(desk) == []  # not before the record is durable
    [bye] = alice.inbox()
    assert isinstance(bye, Request)
    assert bye.method == "BYE"
    assert bye.call_id == "call-1"
    bench.release()
    assert _statuses(desk) == [200]
    assert bench.records[0].reason == "callee hung up"


def test_busy_everywhere_gives_486_and_a_busy_record() -> None:
    bench, alice, desk, soft = _bench()
    _dial(alice)
    for phone, tag in ((desk, "d"), (soft, "s")):
        _reply(phone, _invite_to(phone), 486, tag)
    assert _statuses(alice)[-1] == 486
    assert bench.records[0].disposition == "busy"


def test_caller_cancel_gives_200_487_cancels_forks_and_records_cancelled() -> None:
    bench, alice, desk, soft = _bench()
    invite = _dial(alice)
    to_desk, to_soft = _invite_to(desk), _invite_to(soft)
    _reply(desk, to_desk, 180, "d1")
    alice.inbox()
    branch = invite.split("branch=")[1].split(";")[0]
    cancel = alice.request("CANCEL", f"sip:202@{REALM}", to=f"<sip:202@{REALM}>", call_id="call-1",
                           cseq=2, branch=branch)  # fmt: skip
    alice.send(cancel)
    assert sorted(_statuses(alice)) == [200, 487]
    assert [m.method for m in desk.inbox() if isinstance(m, Request)] == ["CANCEL"]
    # soft never sent a provisional: it is cancelled when it does
    _reply(soft, to_soft, 180, "s1")
    assert [m.method for m in soft.inbox() if isinstance(m, Request)] == ["CANCEL"]
    assert bench.records[0].disposition == "cancelled"


def test_no_answer_timeout() -> None:
    bench, alice, desk, soft = _bench(no_answer_timeout=20.0)
    _dial(alice)
    _reply(desk, _invite_to(desk), 180, "d1")
    soft.inbox()
    alice.inbox()
    bench.advance(21)
    assert 480 in _statuses(alice)
    assert bench.records[0].disposition == "no-answer"


def test_unknown_number_is_404_only_after_authentication() -> None:
    bench, alice, _desk, _soft = _bench()
    stranger = Phone(bench, "666", "nope", "10.0.0.66")
    for number in ("202", "999"):  # unauthenticated: same 407 for existing and unknown
        stranger.send(stranger.request("INVITE", f"sip:{number}@{REALM}", to=f"<sip:{number}@{REALM}>",
                                       call_id=f"s-{number}"))  # fmt: skip
        assert _statuses(stranger) == [407]
    _dial(alice, "999", call_id="call-9")
    assert _statuses(alice)[-1] == 404
    assert bench.records[0].disposition == "unknown-number"


def test_wrong_password_gets_403_and_no_call() -> None:
    bench, _alice, desk, _soft = _bench()
    mallory = Phone(bench, "201", "not-the-secret", "10.0.0.66")
    _dial(mallory)
    assert _statuses(mallory)[-1] == 403
    assert desk.inbox() == []
    assert bench.records == []


def test_callee_not_registered_is_480() -> None:
    bench = make_bench(extension("201", "secret-of-201"), extension("203", "secret-of-203"))
    alice = Phone(bench, "201", "secret-of-201", "10.0.0.1")
    _dial(alice, "203")
    assert _statuses(alice)[-1] == 480
    assert bench.records[0].disposition == "unavailable"


def test_reinvite_for_hold_is_relayed_both_ways_with_its_ack() -> None:
    _, alice, desk, soft = _bench()
    _dial(alice)
    to_desk = _invite_to(desk)
    soft.inbox()
    _reply(desk, to_desk, 200, "d1", sdp(5000))
    [ok] = [m for m in alice.inbox() if isinstance(m, Response) and m.status == 200]
    to_a = str(ok.headers.get("To"))
    alice.send(alice.request("ACK", f"sip:202@{REALM}", to=to_a, call_id="call-1", cseq=2))
    desk.inbox()
    hold = sdp(4000) + "a=sendonly\n"
    alice.send(alice.request("INVITE", f"sip:202@{REALM}", to=to_a, call_id="call-1", body=hold))
    [reinvite] = desk.inbox()
    assert isinstance(reinvite, Request)
    assert reinvite.method == "INVITE"
    assert b"a=sendonly" in reinvite.body
    assert reinvite.call_id == to_desk.call_id
    _reply(desk, reinvite, 200, "d1", sdp(5000) + "a=recvonly\n")
    [ok2] = [m for m in alice.inbox() if isinstance(m, Response)]
    assert ok2.status == 200
    assert b"a=recvonly" in ok2.body
    alice.send(alice.request("ACK", f"sip:202@{REALM}", to=to_a, call_id="call-1", cseq=alice.cseq - 1))
    [ack] = desk.inbox()
    assert isinstance(ack, Request)
    assert (ack.method, ack.cseq.seq) == ("ACK", reinvite.cseq.seq)


def test_200_is_retransmitted_over_udp_until_the_ack_and_the_call_dropped_without_it() -> None:
    bench, alice, desk, soft = _bench()
    _dial(alice)
    soft.inbox()
    _reply(desk, _invite_to(desk), 200, "d1", sdp(5000))
    alice.inbox()
    bench.advance(0.6)
    assert _statuses(alice) == [200]  # retransmitted after T1
    bench.advance(40)  # 64*T1 without ACK: both sides get a BYE
    assert [m.method for m in desk.inbox() if isinstance(m, Request)][-1:] == ["BYE"]
    assert bench.records[0].disposition == "failed"


def test_max_forwards_zero_is_483() -> None:
    bench, alice, _desk, _soft = _bench()
    text = alice.request("INVITE", f"sip:202@{REALM}", to=f"<sip:202@{REALM}>", call_id="loop")
    alice.send(text.replace("Max-Forwards: 70", "Max-Forwards: 0"))
    assert _statuses(alice) == [483]
    assert bench.records == []


def test_a_call_longer_than_the_maximum_is_hung_up_on_both_sides() -> None:
    bench, alice, desk, soft = _bench(max_call_duration=120.0)
    _dial(alice)
    soft.inbox()
    _reply(desk, _invite_to(desk), 200, "d1", sdp(5000))
    [ok] = [m for m in alice.inbox() if isinstance(m, Response) and m.status == 200]
    alice.send(alice.request("ACK", f"sip:202@{REALM}", to=str(ok.headers.get("To")), call_id="call-1", cseq=2))
    desk.inbox()
    bench.advance(119)
    assert alice.inbox() == []
    assert bench.records == []
    bench.advance(2)  # the unanswered BYEs are retransmitted (Timer E): one transaction each
    for phone in (alice, desk):
        byes = [m for m in phone.inbox() if isinstance(m, Request)]
        assert {(m.method, m.top_via.branch) for m in byes} == {("BYE", byes[0].top_via.branch)}
    [record] = bench.records
    assert (record.disposition, record.reason) == ("answered", "maximum call duration")
    assert record.duration == pytest.approx(121, abs=1)
    assert bench.core.calls.calls == {}


def test_call_timers_are_announced_and_ended_calls_leave_none_behind() -> None:
    """The call control announces each call's next deadline (the harness fires only those),
    and the wake-ups of ended calls do not pile up: an answered call's maximum-duration
    deadline lies hours ahead, thousands of calls an hour would otherwise keep theirs."""
    bench, alice, desk, soft = _bench(no_answer_timeout=20.0)
    calls = bench.core.calls
    _dial(alice, call_id="ringing")
    assert calls.next_timer() == pytest.approx(bench.now + 20.0)
    _reply(desk, _invite_to(desk), 486, "busy")
    _reply(soft, _invite_to(soft), 486, "busy")
    assert _statuses(alice)[-1] == 486
    assert calls.calls == {}
    assert calls.next_timer() is None  # the ended call's wake-up is dropped, not announced
    _dial(alice, call_id="still-ringing")  # its deadline comes first: stale ones pile below it
    desk.inbox()
    soft.inbox()
    for n in range(520):
        call_id = f"call-{n}"
        _dial(alice, call_id=call_id)
        soft.inbox()
        _reply(desk, _invite_to(desk), 200, f"d{n}", sdp(5000))
        [ok] = [m for m in alice.inbox() if isinstance(m, Response) and m.status == 200]
        to = f"<sip:202@{REALM}>;tag={ok.to.tag}"
        alice.send(alice.request("ACK", f"sip:202@{REALM}", to=to, call_id=call_id, cseq=alice.cseq - 1))
        alice.send(alice.request("BYE", f"sip:202@{REALM}", to=to, call_id=call_id))
        [bye] = [m for m in desk.inbox() if isinstance(m, Request) and m.method == "BYE"]
        _reply(desk, bye, 200, f"d{n}")
        assert _statuses(alice)[-1] == 200
    assert len(calls.calls) == 1
    assert len(bench.records) == 521
    assert calls.next_timer() == pytest.approx(bench.now + 20.0)  # the ringing call's
    # each ended call left its no-answer and its maximum-duration wake-up behind, below the
    # ringing call's: 1,040 of them, compacted once they outnumbered the live calls
    assert len(calls._wakeups) < 600
    bench.advance(21)
    assert bench.records[-1].disposition == "no-answer"
    assert calls.next_timer() is None
