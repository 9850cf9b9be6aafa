"""The SIP endpoint: the facade the I/O adapter drives (STYLE.md "one loop shape").

Bytes and flows go in with :meth:`Endpoint.receive`; the transaction user
takes events with :meth:`Endpoint.next_event` and answers with
:meth:`Endpoint.respond`; what must go on the wire comes out of
:meth:`Endpoint.datagrams_to_send`; :meth:`Endpoint.next_timer` says when to
call :meth:`Endpoint.handle_timer`.  Nothing here does I/O or reads a clock.

The endpoint parses and checks every message, answers malformed requests as
the parser says (RFC 3261 §8.2, §16.3), stamps ``received``/``rport`` on the
top Via of requests (RFC 3261 §18.2.1, RFC 3581 §4), routes responses back
(§18.2.2), and runs the transaction layer (§17).
"""

from __future__ import annotations

import hashlib
import secrets
from collections import deque
from dataclasses import dataclass, field
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
from voxgate.sip.errors import ParseError
from voxgate.sip.flow import Flow
from voxgate.sip.message import Request, Response, make_response
from voxgate.sip.parser import DEFAULT_LIMITS, Limits, parse_message
from voxgate.sip.timers import TimerConfig
from voxgate.sip.transaction import TransactionLayer, response_flow
from voxgate.sip.uas import error_response_bytes


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """Limits, timers and the name this endpoint puts in Server headers."""

    limits: Limits = DEFAULT_LIMITS
    timers: TimerConfig = field(default_factory=TimerConfig)
    server_name: str = "voxgate"


@dataclass(frozen=True, slots=True, init=False)
class MessageRejected:
    """A message failed to parse or check; ``status`` was sent back (``None``: dropped)."""

    flow: Flow
    status: int | None
    reason: str
    detail: str

    def __init__(self, flow: Flow, status: int | None, reason: str, detail: str) -> None:
        object.__setattr__(self, "flow", flow)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "detail", detail)


@dataclass(frozen=True, slots=True, init=False)
class RequestAnswered:
    """A server transaction got its final response (one log line per transaction)."""

    request: Request
    response: Response
    flow: Flow
    duration: float

    def __init__(self, request: Request, response: Response, flow: Flow, duration: float) -> None:
        object.__setattr__(self, "request", request)
        object.__setattr__(self, "response", response)
        object.__setattr__(self, "flow", flow)
        object.__setattr__(self, "duration", duration)


Event = (
    RequestReceived | AckReceived | ResponseReceived | StrayResponse | TimedOut
    | TransportFailed | MessageRejected | RequestAnswered
)  # fmt: skip


def new_tag() -> str:
    """A random To/From tag (RFC 3261 §19.3: at least 32 bits of randomness)."""
    return secrets.token_hex(8)


def stateless_tag(request: Request) -> str:
    """The To tag of a stateless answer: the same for every retransmission of ``request``
    and different for any other request (RFC 3261 §8.2.7), derived from the Call-ID, From
    tag, CSeq and top Via branch."""
    via = request.top_via
    text = (f"{request.call_id}\n{request.from_.tag}\n{request.cseq}\n{via.branch}\n"
            f"{via.sent_by}")  # fmt: skip
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class Endpoint:
    """Sans-I/O SIP endpoint: parser, checks, Via stamping and transactions."""

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self._transactions = TransactionLayer(self.config.timers)
        self._events: deque[Event] = deque()
        self._outgoing: list[tuple[bytes, Flow]] = []
        self._pending: dict[TransactionKey, tuple[Request, Flow, float]] = {}

    # -- input -------------------------------------------------------------------
    def receive(self, data: bytes, flow: Flow, now: float) -> None:
        """Take one datagram or one framed stream message."""
        limits = self.config.limits
        try:
            message = parse_message(data, limits, stream=flow.transport.reliable)
        except ParseError as err:
            self._reject(data, flow, err, None)
            return
        if isinstance(message, Request) and self._transactions.absorbs(message):
            self._apply(self._transactions.receive_request(message, flow, now), now)
            return
        try:
            message.check()
        except ParseError as err:
            self._reject(data, flow, err, message)
            return
        if isinstance(message, Request):
            _stamp_via(message, flow)
            actions = self._transactions.receive_request(message, flow, now)
        else:
            actions = self._transactions.receive_response(message, flow, now)
        self._apply(actions, now)

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``."""
        self._apply(self._transactions.on_timer(now), now)

    def transport_failed(self, key: TransactionKey, now: float) -> None:
        """The transport could not send for transaction ``key`` (RFC 3261 §17.1.4)."""
        self._apply(self._transactions.transport_failed(key, now), now)

    # -- transaction user ----------------------------------------------------------
    def respond(self, key: TransactionKey, response: Response, now: float) -> None:
        """Send ``response`` on server transaction ``key``."""
        if response.status >= 200:
            self._answered(key, response, now)
        self._apply(self._transactions.send_response(key, response, now), now)

    def respond_and_forget(self, key: TransactionKey, response: Response, now: float) -> None:
        """Send final ``response`` on non-INVITE server transaction ``key`` statelessly: the
        transaction is gone at once (:meth:`TransactionLayer.answer_and_forget`)."""
        self._answered(key, response, now)
        self._apply(self._transactions.answer_and_forget(key, response), now)

    def _answered(self, key: TransactionKey, response: Response, now: float) -> None:
        """The request of ``key`` got its final ``response``: one :class:`RequestAnswered`."""
        pending = self._pending.pop(key, None)
        if pending is not None:
            request, flow, start = pending
            self._events.append(RequestAnswered(request, response, flow, now - start))

    def send_request(self, request: Request, flow: Flow, now: float) -> TransactionKey:
        """Start a client transaction for ``request`` on ``flow``."""
        key, actions = self._transactions.send_request(request, flow, now)
        self._apply(actions, now)
        return key

    def send_stateless(self, message: Request | Response, flow: Flow) -> None:
        """Send outside any transaction: the ACK for a 2xx and 2xx retransmissions, which
        belong to the transaction user (RFC 3261 §13.2.2.4, §13.3.1.4)."""
        dest = response_flow(message, flow) if isinstance(message, Response) else flow
        self._outgoing.append((message.to_bytes(), dest))

    def invite_for_cancel(self, cancel: Request) -> TransactionKey | None:
        """The live INVITE server transaction a CANCEL targets (RFC 3261 §9.2)."""
        return self._transactions.find_invite_for_cancel(cancel)

    def request_of(self, key: TransactionKey) -> Request | None:
        """The request of a server transaction still waiting for its final response."""
        pending = self._pending.get(key)
        return None if pending is None else pending[0]

    def next_event(self) -> Event | None:
        """The next event for the transaction user, or ``None``."""
        return self._events.popleft() if self._events else None

    # -- output --------------------------------------------------------------------
    def datagrams_to_send(self) -> list[tuple[bytes, Flow]]:
        """Serialized messages and the flow each must leave on, oldest first."""
        out, self._outgoing = self._outgoing, []
        return out

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or ``None``."""
        return self._transactions.next_timer()

    @property
    def transactions(self) -> int:
        """Live transactions (for metrics and leak tests)."""
        return len(self._transactions)

    # -- internals -------------------------------------------------------------------
    def _apply(self, actions: list[Action], now: float) -> None:
        for action in actions:
            match action:
                case SendMessage(message=message, flow=flow, data=data):
                    self._outgoing.append((data or message.to_bytes(), flow))
                case Resend(data=data, flow=flow):
                    self._outgoing.append((data, flow))
                case RequestReceived(key=key, request=request, flow=flow):
                    self._pending[key] = (request, flow, now)
                    self._events.append(action)
                case Terminated(key=key):
                    self._pending.pop(key, None)
                case (
                    AckReceived() | ResponseReceived() | StrayResponse() | TimedOut()
                    | TransportFailed()
                ):  # fmt: skip
                    self._events.append(action)
                case _:
                    assert_never(action)

    def _reject(
        self, data: bytes, flow: Flow, err: ParseError, message: Request | Response | None
    ) -> None:
        status = err.status
        if status is not None:
            out: bytes | None = None
            if isinstance(message, Request):
                try:
                    response = make_response(message, status, err.reason, to_tag=new_tag())
                except ParseError:  # the header at fault is one a response copies (To, From)
                    response = None
                if response is not None:
                    response.headers.add("Server", self.config.server_name)
                    out = response.to_bytes()
            if out is None:  # copy the header lines as they are (RFC 3261 §8.2.6.2)
                out = error_response_bytes(data, err, self.config.server_name, new_tag())
            if out is None:
                status = None
            else:
                self._outgoing.append((out, flow))
        self._events.append(MessageRejected(flow, status, err.reason, err.detail))


def _stamp_via(request: Request, flow: Flow) -> None:
    """Add ``received`` and fill ``rport`` on the top Via (RFC 3261 §18.2.1, RFC 3581 §4)."""
    via = request.top_via
    host, port = flow.remote
    received = via.host.strip("[]") != host
    if not received and not via.rport_requested:
        return
    params: dict[str, str | None] = {}
    if received:
        params["received"] = host
    if via.rport_requested:
        params["rport"] = str(port)
    stamped = via.with_params(**params)
    rest = request.via[1:]
    request.headers.replace_first_value("Via", stamped)
    request.headers.remember("via", [stamped, *rest])
