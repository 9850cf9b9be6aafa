"""Tests of voxgate.sip.transaction: two real layers wired in memory, the clock jumped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxgate.sip.actions import (
    AckReceived,
    Action,
    RequestReceived,
    Resend,
    ResponseReceived,
    SendMessage,
    StrayResponse,
    Terminated,
    TimedOut,
    TransportFailed,
)
from voxgate.sip.errors import TransactionError
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.message import Request, Response, make_response
from voxgate.sip.parser import parse_message
from voxgate.sip.timers import TimerConfig
from voxgate.sip.transaction import State, TransactionLayer

UDP = Flow(Transport.UDP, ("127.0.0.1", 5060), ("127.0.0.2", 5062))
TCP = Flow(Transport.TCP, ("127.0.0.1", 5060), ("127.0.0.2", 40000), connection=1)
T1 = TimerConfig().t1


def request(method: str = "INVITE", branch: str = "z9hG4bKabc", cseq: int = 1) -> Request:
    text = (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.2:5062;branch={branch}\r\nMax-Forwards: 70\r\n"
        f"To: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=a1\r\n"
        f"Call-ID: call-1\r\nCSeq: {cseq} {method}\r\nRoute: <sip:proxy.example.com;lr>\r\n"
        f"Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def wire(message: Request | Response) -> Request | Response:
    """What the other side parses: the message through bytes."""
    return parse_message(message.to_bytes())


def on_wire(action: SendMessage | Resend) -> Request | Response:
    """The message an action puts on the wire (a retransmission comes as the bytes sent)."""
    return action.message if isinstance(action, SendMessage) else parse_message(action.data)


def sends(actions: list[Action]) -> list[Request | Response]:
    return [on_wire(a) for a in actions if isinstance(a, SendMessage | Resend)]


def run_timers(layer: TransactionLayer, until: float) -> list[tuple[float, Action]]:
    fired: list[tuple[float, Action]] = []
    while (deadline := layer.next_timer()) is not None and deadline <= until:
        fired.extend((deadline, a) for a in layer.on_timer(deadline))
    return fired


def test_invite_client_retransmits_with_doubling_then_times_out() -> None:
    layer = TransactionLayer()
    key, actions = layer.send_request(request(), UDP, 0.0)
    assert sends(actions) and layer.state_of(key) is State.CALLING
    fired = run_timers(layer, 100.0)
    resend_times = [t for t, a in fired if isinstance(a, SendMessage)]
    assert resend_times[:4] == [T1, 3 * T1, 7 * T1, 15 * T1]  # A doubles without a cap
    assert any(isinstance(a, TimedOut) for _, a in fired)
    assert [t for t, a in fired if isinstance(a, TimedOut)] == [64 * T1]
    assert len(layer) == 0


def test_non_2xx_final_gets_an_ack_built_by_the_client_transaction() -> None:
    client, server = TransactionLayer(), TransactionLayer()
    _, actions = client.send_request(request(), UDP, 0.0)
    invite = wire(sends(actions)[0])
    assert isinstance(invite, Request)
    received = server.receive_request(invite, UDP, 0.0)
    assert isinstance(received[0], RequestReceived)
    skey = received[0].key
    busy = make_response(invite, 486, to_tag="b1")
    out = server.send_response(skey, busy, 0.1)
    answer = wire(sends(out)[0])
    assert isinstance(answer, Response)
    up = client.receive_response(answer, UDP, 0.1)
    assert any(isinstance(a, ResponseReceived) for a in up)
    ack = sends(up)[0]
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.top_via.branch == "z9hG4bKabc"
    assert ack.to.tag == "b1"
    assert (ack.cseq.seq, ack.cseq.method) == (1, "ACK")
    assert ack.headers.get("Route") == "<sip:proxy.example.com;lr>"
    # A retransmitted 486 is ACKed again but not passed up twice.
    again = client.receive_response(answer, UDP, 0.2)
    assert [type(a) for a in again] == [SendMessage]  # the ACK again
    # The server absorbs the ACK and stops Timer G.
    assert server.receive_request(wire(ack), UDP, 0.2) == []  # type: ignore[arg-type]
    assert server.state_of(skey) is State.CONFIRMED
    run_timers(server, 100.0)
    run_timers(client, 100.0)
    assert len(server) == len(client) == 0


def test_server_retransmits_non_2xx_on_timer_g_until_timer_h() -> None:
    server = TransactionLayer()
    invite = request()
    key = server.receive_request(invite, UDP, 0.0)[0].key  # type: ignore[union-attr]
    server.send_response(key, make_response(invite, 404, to_tag="x"), 0.0)
    fired = run_timers(server, 100.0)
    times = [t for t, a in fired if isinstance(a, Resend)]
    assert times[:5] == [T1, 3 * T1, 7 * T1, 15 * T1, 23 * T1]  # G doubles up to T2 = 8*T1
    assert [t for t, a in fired if isinstance(a, TimedOut)] == [64 * T1]
    assert len(server) == 0


def test_invite_server_sends_100_trying_after_200_ms() -> None:
    server = TransactionLayer()
    invite = request()
    key = server.receive_request(invite, UDP, 0.0)[0].key  # type: ignore[union-attr]
    fired = run_timers(server, 0.3)
    assert [(t, m.status) for t, a in fired if isinstance(a, SendMessage | Resend)
            for m in [on_wire(a)] if isinstance(m, Response)] == [(0.2, 100)]  # fmt: skip
    # A retransmitted INVITE gets the 100 again.
    assert [m.status for m in sends(server.receive_request(invite, UDP, 0.5))  # type: ignore[union-attr]
            ] == [100]  # fmt: skip
    server.send_response(key, make_response(invite, 200, to_tag="t"), 1.0)
    assert server.state_of(key) is State.ACCEPTED
    # RFC 6026: the 2xx is the TU's to retransmit; INVITE retransmissions are absorbed.
    assert server.receive_request(invite, UDP, 1.1) == []
    ack = request("ACK")
    assert isinstance(server.receive_request(ack, UDP, 1.2)[0], AckReceived)
    fired = run_timers(server, 100.0)
    assert [t for t, a in fired if isinstance(a, Terminated)] == [1.0 + 64 * T1]  # Timer L


def test_non_invite_client_e_f_and_k() -> None:
    client = TransactionLayer()
    key, _ = client.send_request(request("OPTIONS"), UDP, 0.0)
    fired = run_timers(client, 3.5)
    times = [t for t, a in fired if isinstance(a, SendMessage)]
    assert times == [0.5, 1.5, 3.5]  # E fires after T1, 2*T1, 4*T1 (then T2)
    response = wire(make_response(request("OPTIONS"), 200, to_tag="o"))
    assert isinstance(response, Response)
    assert isinstance(client.receive_response(response, UDP, 3.6)[0], ResponseReceived)
    assert client.state_of(key) is State.COMPLETED
    assert client.receive_response(response, UDP, 3.7) == []  # absorbed in Completed
    fired = run_timers(client, 100.0)
    assert [t for t, a in fired if isinstance(a, Terminated)] == [3.6 + 5.0]  # Timer K = T4


def test_non_invite_server_absorbs_and_resends_final_until_j() -> None:
    server = TransactionLayer()
    options = request("OPTIONS")
    key = server.receive_request(options, UDP, 0.0)[0].key  # type: ignore[union-attr]
    assert server.receive_request(options, UDP, 0.1) == []  # Trying: absorbed
    ok = make_response(options, 200, to_tag="o")
    server.send_response(key, ok, 0.2)
    again = server.receive_request(options, UDP, 0.3)
    assert again == [Resend(ok.to_bytes(), UDP)]  # the final response again, byte for byte
    fired = run_timers(server, 100.0)
    assert [t for t, a in fired if isinstance(a, Terminated)] == [0.2 + 64 * T1]


def test_reliable_transport_arms_no_retransmissions_and_ends_at_once() -> None:
    client = TransactionLayer()
    key, _ = client.send_request(request("OPTIONS"), TCP, 0.0)
    assert client.next_timer() == 64 * T1  # only Timer F
    response = wire(make_response(request("OPTIONS"), 200, to_tag="o"))
    assert isinstance(response, Response)
    client.receive_response(response, TCP, 1.0)
    fired = run_timers(client, 1.0)
    assert any(isinstance(a, Terminated) for _, a in fired)  # Timer K = 0
    assert len(client) == 0
    server = TransactionLayer()
    options = request("OPTIONS")
    skey = server.receive_request(options, TCP, 0.0)[0].key  # type: ignore[union-attr]
    server.send_response(skey, make_response(options, 200, to_tag="o"), 0.0)
    run_timers(server, 0.0)
    assert len(server) == 0 and key != skey


def test_cancel_matches_its_invite_and_gets_its_own_transaction() -> None:
    server = TransactionLayer()
    invite = request()
    ikey = server.receive_request(invite, UDP, 0.0)[0].key  # type: ignore[union-attr]
    cancel = request("CANCEL")
    ckey = server.receive_request(cancel, UDP, 0.1)[0].key  # type: ignore[union-attr]
    assert ckey != ikey
    assert server.find_invite_for_cancel(cancel) == ikey


def test_rfc2543_requests_match_without_a_branch_cookie() -> None:
    server = TransactionLayer()
    old = request("OPTIONS", branch="oldbranch1")
    assert isinstance(server.receive_request(old, UDP, 0.0)[0], RequestReceived)
    assert server.receive_request(request("OPTIONS", branch="oldbranch1"), UDP, 0.1) == []
    other = request("OPTIONS", branch="oldbranch1", cseq=2)
    assert isinstance(server.receive_request(other, UDP, 0.2)[0], RequestReceived)


def test_stray_responses_and_transport_failures() -> None:
    client = TransactionLayer()
    response = wire(make_response(request("OPTIONS", branch="z9hG4bKnone"), 200, to_tag="s"))
    assert isinstance(response, Response)
    assert isinstance(client.receive_response(response, UDP, 0.0)[0], StrayResponse)
    key, _ = client.send_request(request("OPTIONS"), UDP, 0.0)
    actions = client.transport_failed(key, 0.1)
    assert [type(a) for a in actions] == [TransportFailed, Terminated]
    assert len(client) == 0


def test_illegal_tu_input_names_machine_and_state() -> None:
    server = TransactionLayer()
    invite = request()
    key = server.receive_request(invite, UDP, 0.0)[0].key  # type: ignore[union-attr]
    server.send_response(key, make_response(invite, 486, to_tag="b"), 0.0)
    with pytest.raises(TransactionError, match=r"INVITE_SERVER.*COMPLETED"):
        server.send_response(key, make_response(invite, 200, to_tag="b"), 0.1)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["retransmit", "ack", "provisional", "final", "ok", "tick"]),
            st.floats(0, 5),
        ),
        max_size=30,
    ),
    st.sampled_from(["INVITE", "OPTIONS"]),
    st.sampled_from([UDP, TCP]),
)
@settings(max_examples=300)
def test_random_server_histories_never_fail_and_never_leak(
    steps: list[tuple[str, float]], method: str, flow: Flow
) -> None:
    server = TransactionLayer()
    req = request(method)
    key = server.receive_request(req, flow, 0.0)[0].key  # type: ignore[union-attr]
    now = 0.0
    for what, dt in steps:
        now += dt
        server.on_timer(now)
        state = server.state_of(key)
        if what == "retransmit":
            server.receive_request(req, flow, now)
        elif what == "ack" and method == "INVITE":
            server.receive_request(request("ACK"), flow, now)
        elif what in ("provisional", "final", "ok") and state in (
            State.TRYING, State.PROCEEDING,
        ):  # fmt: skip
            status = {"provisional": 180, "final": 486, "ok": 200}[what]
            server.send_response(key, make_response(req, status, to_tag="t"), now)
    if server.state_of(key) in (State.TRYING, State.PROCEEDING):
        server.send_response(key, make_response(req, 500, to_tag="t"), now)
    run_timers(server, now + 64 * T1 + 1)
    assert len(server) == 0
    assert server.next_timer() is None


def test_a_stateless_answer_forgets_the_transaction_at_once() -> None:
    """RFC 3261 §8.2.7 (a challenge to an unauthenticated request): the final response goes
    out, nothing is kept, a retransmission of the request is a new request."""
    layer = TransactionLayer()
    register = request("REGISTER")
    [received] = layer.receive_request(register, UDP, 0.0)
    assert isinstance(received, RequestReceived)
    actions = layer.answer_and_forget(received.key, make_response(register, 401, to_tag="t1"))
    assert [m.status for m in sends(actions) if isinstance(m, Response)] == [401]
    assert Terminated(received.key) in actions
    assert len(layer._transactions) == 0 and layer.next_timer() is None
    [again] = layer.receive_request(register, UDP, 0.1)
    assert isinstance(again, RequestReceived)
    with pytest.raises(TransactionError):  # only final answers
        layer.answer_and_forget(again.key, make_response(register, 180, to_tag="t1"))
    invite = request("INVITE", branch="z9hG4bKinv")
    [opened] = layer.receive_request(invite, UDP, 0.2)
    assert isinstance(opened, RequestReceived)
    with pytest.raises(TransactionError):  # an INVITE's answer needs its ACK: never stateless
        layer.answer_and_forget(opened.key, make_response(invite, 407, to_tag="t2"))
