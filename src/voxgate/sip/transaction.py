"""The SIP transaction layer (RFC 3261 §17, amended by RFC 6026).

Four state machines — INVITE client, non-INVITE client, INVITE server,
non-INVITE server — each given as one transition table below, readable
against RFC 3261 figures 5 to 8 as redrawn by RFC 6026 §7.  The tables say where
an input leads; :class:`TransactionLayer` performs what the RFC attaches to
each edge (send, retransmit, arm a timer, pass up to the TU).

Inputs from the network that a table does not list are absorbed (a late
retransmission is no error); inputs from the transaction user that a table
does not list raise :class:`~voxgate.sip.errors.TransactionError`.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import assert_never

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
    TransactionKey,
    TransportFailed,
)
from voxgate.sip.errors import ParseError, TransactionError
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.headers import BRANCH_COOKIE, Via
from voxgate.sip.message import Headers, Request, Response, make_response
from voxgate.sip.timers import TimerConfig


class Kind(Enum):
    """Which of the four machines."""

    __hash__ = object.__hash__  # members are singletons; Enum's hashes the name in Python

    INVITE_CLIENT = auto()
    NON_INVITE_CLIENT = auto()
    INVITE_SERVER = auto()
    NON_INVITE_SERVER = auto()

    @property
    def server(self) -> bool:
        """Whether this is a server transaction."""
        return self in (Kind.INVITE_SERVER, Kind.NON_INVITE_SERVER)


class State(Enum):
    """Transaction states (RFC 3261 §17, RFC 6026 §7)."""

    __hash__ = object.__hash__  # members are singletons; Enum's hashes the name in Python

    CALLING = auto()
    TRYING = auto()
    PROCEEDING = auto()
    ACCEPTED = auto()
    COMPLETED = auto()
    CONFIRMED = auto()
    TERMINATED = auto()


class Input(Enum):
    """What can happen to a transaction."""

    __hash__ = object.__hash__  # members are singletons; Enum's hashes the name in Python

    REQUEST = auto()  # the request again (a retransmission), from the network
    ACK = auto()  # an ACK matching an INVITE server transaction
    PROVISIONAL = auto()  # a 1xx (from the network on a client, from the TU on a server)
    SUCCESS = auto()  # a 2xx
    FAILURE = auto()  # a 3xx-6xx
    TIMER_A = auto()
    TIMER_B = auto()
    TIMER_D = auto()
    TIMER_E = auto()
    TIMER_F = auto()
    TIMER_G = auto()
    TIMER_H = auto()
    TIMER_I = auto()
    TIMER_J = auto()
    TIMER_K = auto()
    TIMER_L = auto()
    TIMER_M = auto()
    TIMER_TRYING = auto()  # 200 ms without a TU answer: send 100 Trying (§17.2.1)
    TRANSPORT_ERROR = auto()


S, I = State, Input  # noqa: E741 - short names keep the tables as readable as the figures
#: RFC 3261 Figure 5 with RFC 6026 Figure 5: INVITE client transaction.
INVITE_CLIENT: dict[tuple[State, Input], State] = {
    (S.CALLING, I.TIMER_A): S.CALLING,
    (S.CALLING, I.TIMER_B): S.TERMINATED,
    (S.CALLING, I.PROVISIONAL): S.PROCEEDING,
    (S.CALLING, I.SUCCESS): S.ACCEPTED,
    (S.CALLING, I.FAILURE): S.COMPLETED,
    (S.CALLING, I.TRANSPORT_ERROR): S.TERMINATED,
    (S.PROCEEDING, I.PROVISIONAL): S.PROCEEDING,
    (S.PROCEEDING, I.SUCCESS): S.ACCEPTED,
    (S.PROCEEDING, I.FAILURE): S.COMPLETED,
    (S.PROCEEDING, I.TRANSPORT_ERROR): S.TERMINATED,
    (S.ACCEPTED, I.SUCCESS): S.ACCEPTED,
    (S.ACCEPTED, I.TIMER_M): S.TERMINATED,
    (S.COMPLETED, I.FAILURE): S.COMPLETED,
    (S.COMPLETED, I.TRANSPORT_ERROR): S.TERMINATED,
    (S.COMPLETED, I.TIMER_D): S.TERMINATED,
}
#: RFC 3261 Figure 6: non-INVITE client transaction.
NON_INVITE_CLIENT: dict[tuple[State, Input], State] = {
    (S.TRYING, I.TIMER_E): S.TRYING,
    (S.TRYING, I.TIMER_F): S.TERMINATED,
    (S.TRYING, I.PROVISIONAL): S.PROCEEDING,
    (S.TRYING, I.SUCCESS): S.COMPLETED,
    (S.TRYING, I.FAILURE): S.COMPLETED,
    (S.TRYING, I.TRANSPORT_ERROR): S.TERMINATED,
    (S.PROCEEDING, I.TIMER_E): S.PROCEEDING,
    (S.PROCEEDING, I.TIMER_F): S.TERMINATED,
    (S.PROCEEDING, I.PROVISIONAL): S.PROCEEDING,
    (S.PROCEEDING, I.SUCCESS): S.COMPLETED,
    (S.PROCEEDING, I.FAILURE): S.COMPLETED,
    (S.PROCEEDING, I.TRANSPORT_ERROR): S.TERMINATED,
    (S.COMPLETED, I.TIMER_K): S.TERMINATED,
}
#: RFC 3261 Figure 7 with RFC 6026 Figure 7: INVITE server transaction.
INVITE_SERVER: dict[tuple[State, Input], State] = {
    (S.PROCEEDING, I.REQUEST): S.PROCEEDING,
    (S.PROCEEDING, I.TIMER_TRYING): S.PROCEEDING,
    (S.PROCEEDING, I.PROVISIONAL): S.PROCEEDING,
    (S.PROCEEDING, I.SUCCESS): S.ACCEPTED,
    (S.PROCEEDING, I.FAILURE): S.COMPLETED,
    (S.PROCEEDING, I.TRANSPORT_ERROR): S.TERMINATED,
    (S.ACCEPTED, I.REQUEST): S.ACCEPTED,
    (S.ACCEPTED, I.ACK): S.ACCEPTED,
    (S.ACCEPTED, I.SUCCESS): S.ACCEPTED,
    (S.ACCEPTED, I.TIMER_L): S.TERMINATED,
    (S.COMPLETED, I.REQUEST): S.COMPLETED,
    (S.COMPLETED, I.TIMER_G): S.COMPLETED,
    (S.COMPLETED, I.TIMER_H): S.TERMINATED,
    (S.COMPLETED, I.ACK): S.CONFIRMED,
    (S.COMPLETED, I.TRANSPORT_ERROR): S.TERMINATED,
    (S.CONFIRMED, I.REQUEST): S.CONFIRMED,
    (S.CONFIRMED, I.ACK): S.CONFIRMED,
    (S.CONFIRMED, I.TIMER_I): S.TERMINATED,
}
#: RFC 3261 Figure 8: non-INVITE server transaction.
NON_INVITE_SERVER: dict[tuple[State, Input], State] = {
    (S.TRYING, I.REQUEST): S.TRYING,
    (S.TRYING, I.PROVISIONAL): S.PROCEEDING,
    (S.TRYING, I.SUCCESS): S.COMPLETED,
    (S.TRYING, I.FAILURE): S.COMPLETED,
    (S.TRYING, I.TRANSPORT_ERROR): S.TERMINATED,
    (S.PROCEEDING, I.REQUEST): S.PROCEEDING,
    (S.PROCEEDING, I.PROVISIONAL): S.PROCEEDING,
    (S.PROCEEDING, I.SUCCESS): S.COMPLETED,
    (S.PROCEEDING, I.FAILURE): S.COMPLETED,
    (S.PROCEEDING, I.TRANSPORT_ERROR): S.TERMINATED,
    (S.COMPLETED, I.REQUEST): S.COMPLETED,
    (S.COMPLETED, I.TIMER_J): S.TERMINATED,
    (S.COMPLETED, I.TRANSPORT_ERROR): S.TERMINATED,
}
TABLES: dict[Kind, dict[tuple[State, Input], State]] = {
    Kind.INVITE_CLIENT: INVITE_CLIENT,
    Kind.NON_INVITE_CLIENT: NON_INVITE_CLIENT,
    Kind.INVITE_SERVER: INVITE_SERVER,
    Kind.NON_INVITE_SERVER: NON_INVITE_SERVER,
}
del S, I
_NETWORK_INPUTS = {
    True: frozenset({Input.REQUEST, Input.ACK}),  # server transactions
    False: frozenset({Input.PROVISIONAL, Input.SUCCESS, Input.FAILURE}),  # client transactions
}
#: States in which a transaction needs its request no more: all that is left is to absorb
#: retransmissions, resend the response it keeps as bytes (a server) or the ACK it built (an
#: INVITE client), and wait out its timer.  The request and its parsed headers are let go
#: on entering them: a busy registrar holds tens of thousands of transactions waiting out
#: Timer J (32 s over UDP), and the cyclic garbage collector walks everything they hold.
_REQUEST_DONE: dict[Kind, frozenset[State]] = {
    Kind.INVITE_CLIENT: frozenset({State.ACCEPTED, State.COMPLETED}),
    Kind.NON_INVITE_CLIENT: frozenset({State.COMPLETED}),
    Kind.INVITE_SERVER: frozenset({State.ACCEPTED, State.CONFIRMED}),
    Kind.NON_INVITE_SERVER: frozenset({State.COMPLETED}),
}


@dataclass(slots=True, init=False)
class _Transaction:
    kind: Kind
    key: TransactionKey
    request: Request | None  # None once the state needs it no more (_REQUEST_DONE)
    flow: Flow
    state: State
    sent: tuple[bytes, Flow] | None = None  # a server's last response as sent, to resend
    ack: Request | None = None
    interval: float = 0.0  # current retransmission interval of Timer A, E or G
    deadlines: dict[Input, float] = field(default_factory=dict)

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        kind: Kind,
        key: TransactionKey,
        request: Request | None,
        flow: Flow,
        state: State,
        sent: tuple[bytes, Flow] | None = None,
        ack: Request | None = None,
        interval: float = 0.0,
        deadlines: dict[Input, float] | None = None,
    ) -> None:
        self.kind = kind
        self.key = key
        self.request = request
        self.flow = flow
        self.state = state
        self.sent = sent
        self.ack = ack
        self.interval = interval
        self.deadlines = {} if deadlines is None else deadlines


def server_key(request: Request) -> TransactionKey:
    """The key a request matches server transactions by (RFC 3261 §17.2.3)."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    sent_by = via.host if via.port is None else f"{via.host}:{via.port}"
    branch = via.branch
    if branch is None or not branch.startswith(BRANCH_COOKIE):
        # RFC 2543 peer: match on the request's identity (§17.2.3, second part).
        branch = "|".join(
            ("2543", request.call_id, request.from_.tag or "", str(request.cseq.seq), str(via))
        )
    return TransactionKey(branch, sent_by, method, server=True)


def client_key(branch: str, method: str) -> TransactionKey:
    """The key responses match client transactions by (RFC 3261 §17.1.3)."""
    return TransactionKey(branch, "", method, server=False)


def response_flow(response: Response, flow: Flow) -> Flow:
    """Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4).

    Over a connection: back on the request's connection.  Over UDP: to the
    ``received`` address (else sent-by host) and the ``rport`` port (else the
    sent-by port, else 5060).
    """
    if flow.transport is not Transport.UDP:
        return flow
    via = response.top_via
    host = via.params.get("received") or via.host.strip("[]")
    rport = via.params.get("rport")
    port = int(rport) if rport and rport.isdigit() else (via.port or 5060)
    if (host, port) == flow.remote:
        return flow
    return Flow(flow.transport, flow.local, (host, port), flow.connection)


def _request_of(txn: _Transaction) -> Request:
    """The request of a transaction in a state that still keeps it."""
    if txn.request is None:
        raise TransactionError(txn.kind.name, txn.state.name, "request already let go")
    return txn.request


def _response_input(status: int) -> Input:
    if status < 200:
        return Input.PROVISIONAL
    return Input.SUCCESS if status < 300 else Input.FAILURE


class TransactionLayer:
    """Every live transaction of one endpoint, and their timers."""

    def __init__(self, timers: TimerConfig | None = None) -> None:
        self.timers = timers or TimerConfig()
        self._transactions: dict[TransactionKey, _Transaction] = {}
        self._heap: list[tuple[float, int, TransactionKey, Input]] = []
        self._sequence = 0

    def __len__(self) -> int:
        return len(self._transactions)

    def state_of(self, key: TransactionKey) -> State | None:
        """The state of transaction ``key`` (``None`` once it is gone)."""
        txn = self._transactions.get(key)
        return None if txn is None else txn.state

    # -- server side ----------------------------------------------------------------------
    def receive_request(self, request: Request, flow: Flow, now: float) -> list[Action]:
        """A request from the network: a retransmission, an ACK, or a new transaction."""
        key = server_key(request)
        txn = self._transactions.get(key)
        if request.method == "ACK":
            if txn is None or txn.kind is not Kind.INVITE_SERVER:
                return [AckReceived(request, flow)]
            if txn.state is State.ACCEPTED:
                return [AckReceived(request, flow)]
            return self._step(txn, Input.ACK, now)
        if txn is not None:
            return self._step(txn, Input.REQUEST, now)
        kind = Kind.INVITE_SERVER if request.method == "INVITE" else Kind.NON_INVITE_SERVER
        state = State.PROCEEDING if kind is Kind.INVITE_SERVER else State.TRYING
        txn = _Transaction(kind, key, request, flow, state)
        self._transactions[key] = txn
        if kind is Kind.INVITE_SERVER:
            self._arm(txn, Input.TIMER_TRYING, now + self.timers.trying_delay)
        return [RequestReceived(key, request, flow)]

    def absorbs(self, request: Request) -> bool:
        """Whether ``request`` only repeats a live server transaction: a retransmission, or
        the ACK of a non-2xx final.  The endpoint then skips the full header check (a
        retransmission costs a lookup, not a parse; under overload there are many)."""
        try:
            key = server_key(request)
        except ParseError:
            return False
        txn = self._transactions.get(key)
        if txn is None:
            return False
        if request.method == "ACK":
            return txn.kind is Kind.INVITE_SERVER and txn.state in (State.COMPLETED,
                                                                     State.CONFIRMED)  # fmt: skip
        return True

    def find_invite_for_cancel(self, cancel: Request) -> TransactionKey | None:
        """The INVITE server transaction a CANCEL cancels (RFC 3261 §9.2)."""
        key = server_key(cancel)
        invite = TransactionKey(key.branch, key.sent_by, "INVITE", server=True)
        return invite if invite in self._transactions else None

    def send_response(self, key: TransactionKey, response: Response, now: float) -> list[Action]:
        """The TU answers server transaction ``key``."""
        txn = self._transactions.get(key)
        if txn is None or not txn.kind.server:
            raise TransactionError("TransactionLayer", "absent", f"response for {key}")
        return self._step(txn, _response_input(response.status), now, response)

    def answer_and_forget(self, key: TransactionKey, response: Response) -> list[Action]:
        """Answer non-INVITE server transaction ``key`` with a final response and forget it at
        once: a stateless UAS (RFC 3261 §8.2.7), for challenges to unauthenticated requests,
        so that a flood of them leaves no state behind.  A retransmission of the request is
        then a new request, answered anew (the same way: the To tag must not depend on
        state, see :func:`voxgate.sip.endpoint.stateless_tag`)."""
        txn = self._transactions.get(key)
        if txn is None or txn.kind is not Kind.NON_INVITE_SERVER or txn.state is not State.TRYING:
            raise TransactionError("TransactionLayer", "stateless", f"cannot answer {key}")
        if response.status < 200:
            raise TransactionError("TransactionLayer", "stateless", "a stateless answer is final")
        del self._transactions[key]
        return [SendMessage(response, response_flow(response, txn.flow)), Terminated(key)]

    # -- client side ----------------------------------------------------------------------
    def send_request(
        self, request: Request, flow: Flow, now: float
    ) -> tuple[TransactionKey, list[Action]]:
        """Start a client transaction for ``request`` (not ACK: the TU sends ACKs for 2xx)."""
        if request.method == "ACK":
            raise TransactionError("TransactionLayer", "client", "ACK needs no transaction")
        branch = request.top_via.branch
        if branch is None or not branch.startswith(BRANCH_COOKIE):
            raise TransactionError("TransactionLayer", "client", "request without z9hG4bK branch")
        key = client_key(branch, request.method)
        if key in self._transactions:
            raise TransactionError("TransactionLayer", "client", f"branch {branch} in use")
        invite = request.method == "INVITE"
        kind = Kind.INVITE_CLIENT if invite else Kind.NON_INVITE_CLIENT
        txn = _Transaction(kind, key, request, flow, State.CALLING if invite else State.TRYING)
        self._transactions[key] = txn
        if not flow.transport.reliable:
            txn.interval = self.timers.a_initial()
            self._arm(txn, Input.TIMER_A if invite else Input.TIMER_E, now + txn.interval)
        self._arm(txn, Input.TIMER_B if invite else Input.TIMER_F, now + self.timers.timeout)
        return key, [SendMessage(request, flow)]

    def receive_response(self, response: Response, flow: Flow, now: float) -> list[Action]:
        """A response from the network for one of our client transactions."""
        branch = response.top_via.branch or ""
        txn = self._transactions.get(client_key(branch, response.cseq.method))
        if txn is None:
            return [StrayResponse(response, flow)]
        return self._step(txn, _response_input(response.status), now, response)

    # -- both -----------------------------------------------------------------------------
    def transport_failed(self, key: TransactionKey, now: float) -> list[Action]:
        """The transport reported a failure for ``key``."""
        txn = self._transactions.get(key)
        if txn is None:
            return []
        return self._step(txn, Input.TRANSPORT_ERROR, now)

    def on_timer(self, now: float) -> list[Action]:
        """Fire every timer due at or before ``now``."""
        actions: list[Action] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _seq, key, timer = heapq.heappop(heap)
            txn = self._transactions.get(key)
            if txn is None or txn.deadlines.get(timer) != deadline:
                continue  # cancelled or re-armed
            del txn.deadlines[timer]
            actions.extend(self._step(txn, timer, now))
        return actions

    def next_timer(self) -> float | None:
        """The earliest live deadline, or ``None``."""
        heap = self._heap
        while heap:
            deadline, _seq, key, timer = heap[0]
            txn = self._transactions.get(key)
            if txn is not None and txn.deadlines.get(timer) == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    # -- the machines ---------------------------------------------------------------------
    def _step(
        self, txn: _Transaction, event: Input, now: float, response: Response | None = None
    ) -> list[Action]:
        after = TABLES[txn.kind].get((txn.state, event))
        if after is None:
            if event in _NETWORK_INPUTS[txn.kind.server]:
                return []  # a late or misdirected message: absorb it
            raise TransactionError(txn.kind.name, txn.state.name, event.name)
        before, txn.state = txn.state, after
        actions = self._effects(txn, before, event, now, response)
        if after is State.TERMINATED:
            del self._transactions[txn.key]
            actions.append(Terminated(txn.key))
        elif after in _REQUEST_DONE[txn.kind]:
            txn.request = None
        return actions

    def _effects(
        self, txn: _Transaction, before: State, event: Input, now: float,
        response: Response | None,
    ) -> list[Action]:  # fmt: skip
        reliable = txn.flow.transport.reliable
        timers = self.timers
        match event:
            case Input.REQUEST:
                sent = txn.sent
                if sent is not None and txn.state is not State.ACCEPTED:
                    return [Resend(*sent)]
                return []
            case Input.ACK:
                if before is State.COMPLETED:
                    self._cancel(txn, Input.TIMER_G, Input.TIMER_H)
                    self._arm(txn, Input.TIMER_I, now + timers.i(reliable))
                return []
            case Input.PROVISIONAL | Input.SUCCESS | Input.FAILURE:
                assert response is not None
                if txn.kind.server:
                    return self._server_answer(txn, event, now, response)
                return self._client_response(txn, before, event, now, response)
            case Input.TIMER_A | Input.TIMER_E | Input.TIMER_G:
                if event is Input.TIMER_A:
                    txn.interval *= 2
                elif event is Input.TIMER_E and txn.state is State.PROCEEDING:
                    txn.interval = timers.t2
                else:
                    txn.interval = min(2 * txn.interval, timers.t2)
                self._arm(txn, event, now + txn.interval)
                if event is not Input.TIMER_G:
                    return [SendMessage(_request_of(txn), txn.flow)]
                return [] if txn.sent is None else [Resend(*txn.sent)]
            case Input.TIMER_B | Input.TIMER_F | Input.TIMER_H:
                return [TimedOut(txn.key, _request_of(txn))]
            case Input.TIMER_TRYING:
                return [_sent(txn, _trying(_request_of(txn)))]
            case Input.TRANSPORT_ERROR:
                return [TransportFailed(txn.key)]
            case (
                Input.TIMER_D | Input.TIMER_I | Input.TIMER_J | Input.TIMER_K | Input.TIMER_L
                | Input.TIMER_M
            ):  # fmt: skip
                return []
            case _:
                assert_never(event)

    def _server_answer(
        self, txn: _Transaction, event: Input, now: float, response: Response
    ) -> list[Action]:
        reliable = txn.flow.transport.reliable
        timers = self.timers
        self._cancel(txn, Input.TIMER_TRYING)
        if event is Input.SUCCESS and txn.kind is Kind.INVITE_SERVER:
            if Input.TIMER_L not in txn.deadlines:
                self._arm(txn, Input.TIMER_L, now + timers.timeout)
        elif event is Input.FAILURE and txn.kind is Kind.INVITE_SERVER:
            if not reliable:
                txn.interval = timers.t1
                self._arm(txn, Input.TIMER_G, now + txn.interval)
            self._arm(txn, Input.TIMER_H, now + timers.timeout)
        elif event is not Input.PROVISIONAL:  # non-INVITE final
            self._arm(txn, Input.TIMER_J, now + timers.j(reliable))
        return [_sent(txn, response)]

    def _client_response(
        self, txn: _Transaction, before: State, event: Input, now: float, response: Response
    ) -> list[Action]:
        reliable = txn.flow.transport.reliable
        timers = self.timers
        up: list[Action] = [ResponseReceived(txn.key, response)]
        if txn.kind is Kind.NON_INVITE_CLIENT:
            if event is not Input.PROVISIONAL:
                self._cancel(txn, Input.TIMER_E, Input.TIMER_F)
                self._arm(txn, Input.TIMER_K, now + timers.k(reliable))
            return up
        self._cancel(txn, Input.TIMER_A, Input.TIMER_B)
        if event is Input.SUCCESS:
            if before is not State.ACCEPTED:
                self._arm(txn, Input.TIMER_M, now + timers.timeout)
            return up
        if event is Input.FAILURE:
            if txn.ack is None:
                txn.ack = build_ack(_request_of(txn), response)
            send: list[Action] = [SendMessage(txn.ack, txn.flow)]
            if before is State.COMPLETED:
                return send  # a retransmitted final: ACK again, the TU saw it already
            self._arm(txn, Input.TIMER_D, now + timers.d(reliable))
            return [*up, *send]
        return up

    def _arm(self, txn: _Transaction, timer: Input, deadline: float) -> None:
        txn.deadlines[timer] = deadline
        self._sequence += 1
        heapq.heappush(self._heap, (deadline, self._sequence, txn.key, timer))

    @staticmethod
    def _cancel(txn: _Transaction, *timers: Input) -> None:
        for timer in timers:
            txn.deadlines.pop(timer, None)


def _sent(txn: _Transaction, response: Response) -> SendMessage:
    """Send a server transaction's response, and keep it as bytes to resend."""
    dest = response_flow(response, txn.flow)
    data = response.to_bytes()
    txn.sent = (data, dest)
    return SendMessage(response, dest, data)


def _trying(request: Request) -> Response:
    return make_response(request, 100)


def build_ack(invite: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response (RFC 3261 §17.1.1.3)."""
    top: Via = invite.top_via
    headers = Headers.of(
        [
            ("Via", str(top)),
            ("Max-Forwards", "70"),
            ("From", invite.headers.get("From") or ""),
            ("To", response.headers.get("To") or ""),
            ("Call-ID", invite.call_id),
            ("CSeq", f"{invite.cseq.seq} ACK"),
        ]
    )
    for route in invite.headers.fields("Route"):
        headers.add("Route", route)
    return Request("ACK", invite.uri, headers)
