"""The state the call control keeps for a call (:class:`Call`, its forks and relayed
requests), the call record it leaves (:class:`CallRecord`) and the ports it talks through,
sans-I/O; :mod:`voxgate.pbx.calls` drives them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, StrEnum, auto
from typing import Protocol

from voxgate.pbx.location import Binding
from voxgate.sip.actions import TransactionKey
from voxgate.sip.b2bua import Unacked
from voxgate.sip.dialog import Dialog
from voxgate.sip.flow import Flow
from voxgate.sip.message import Request, Response


class Disposition(StrEnum):
    """How a call attempt ended (the CDR's ``disposition``)."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"
    UNKNOWN_NUMBER = "unknown-number"


@dataclass(frozen=True, slots=True, init=False)
class CallRecord:
    """One call attempt (SMDR/CDR); times are wall-clock seconds."""

    call_id: str
    caller: str
    caller_name: str
    callee: str
    started_at: float
    answered_at: float | None
    ended_at: float
    disposition: Disposition
    status: int
    reason: str
    caller_source: str
    #: The Call-ID of the leg(s) toward the callee.
    b_call_id: str = ""

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        call_id: str,
        caller: str,
        caller_name: str,
        callee: str,
        started_at: float,
        answered_at: float | None,
        ended_at: float,
        disposition: Disposition,
        status: int,
        reason: str,
        caller_source: str,
        b_call_id: str = "",
    ) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "caller", caller)
        object.__setattr__(self, "caller_name", caller_name)
        object.__setattr__(self, "callee", callee)
        object.__setattr__(self, "started_at", started_at)
        object.__setattr__(self, "answered_at", answered_at)
        object.__setattr__(self, "ended_at", ended_at)
        object.__setattr__(self, "disposition", disposition)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "caller_source", caller_source)
        object.__setattr__(self, "b_call_id", b_call_id)

    @property
    def duration(self) -> float:
        """Talk time: answer to end, 0 when unanswered."""
        return 0.0 if self.answered_at is None else max(0.0, self.ended_at - self.answered_at)


class RecordSink(Protocol):
    """Makes a record durable, then calls ``then(now)`` (possibly later, from the loop)."""

    def __call__(self, record: CallRecord, then: Callable[[float], None]) -> None: ...


#: ``auth_failed(source, detail)``: a request from ``source`` failed authentication.
AuthFailureSink = Callable[[str, str], None]


def ignore_failure(source: str, detail: str) -> None:
    del source, detail


class UaPort(Protocol):
    """What the B2BUA needs from the SIP endpoint."""

    def send_request(self, request: Request, flow: Flow, now: float) -> TransactionKey: ...

    def respond(self, key: TransactionKey, response: Response, now: float) -> None: ...

    def send_stateless(self, message: Request | Response, flow: Flow) -> None: ...


class Phase(Enum):
    """Where a call is."""

    __hash__ = object.__hash__  # members are singletons; Enum's hashes the name in Python

    RINGING = auto()
    ANSWERED = auto()  # 200 sent to the caller, waiting for its ACK
    CONFIRMED = auto()
    ENDED = auto()


@dataclass(slots=True, init=False)
class Fork:
    """One B leg: our INVITE to one registered contact of the callee."""

    binding: Binding
    invite: Request
    key: TransactionKey
    flow: Flow
    provisional: bool = False
    cancel_wanted: bool = False
    done: bool = False
    dialog: Dialog | None = None
    ack: Request | None = None

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        binding: Binding,
        invite: Request,
        key: TransactionKey,
        flow: Flow,
        provisional: bool = False,
        cancel_wanted: bool = False,
        done: bool = False,
        dialog: Dialog | None = None,
        ack: Request | None = None,
    ) -> None:
        self.binding = binding
        self.invite = invite
        self.key = key
        self.flow = flow
        self.provisional = provisional
        self.cancel_wanted = cancel_wanted
        self.done = done
        self.dialog = dialog
        self.ack = ack


@dataclass(slots=True, init=False)
class Relay:
    """A request relayed from one side to the other, waiting for its response."""

    call: Call
    server_key: TransactionKey
    request: Request  # as received
    to_a: bool  # relayed toward the caller

    def __init__(
        self,
        call: Call,
        server_key: TransactionKey,
        request: Request,
        to_a: bool,
    ) -> None:
        self.call = call
        self.server_key = server_key
        self.request = request
        self.to_a = to_a


@dataclass(slots=True, init=False)
class Call:
    """Both legs of one call."""

    a_key: TransactionKey
    a_invite: Request
    a_flow: Flow
    a_tag: str
    caller: str
    caller_name: str
    callee: str
    b_call_id: str
    b_tag: str
    started: float  # monotonic
    started_wall: float
    phase: Phase = Phase.RINGING
    forks: dict[TransactionKey, Fork] = field(default_factory=dict)
    winner: Fork | None = None
    a_dialog: Dialog | None = None
    answered_wall: float | None = None
    failures: list[Response] = field(default_factory=list)
    rang: bool = False
    no_answer_at: float = 0.0
    #: Monotonic time at which an answered call is hung up (``pbx.max_call_duration``).
    hang_up_at: float = 0.0
    unacked: list[Unacked] = field(default_factory=list)
    #: The ACK we last sent on the winning fork per CSeq (repeated for 2xx retransmissions).
    b_acks: dict[int, Request] = field(default_factory=dict)
    #: CSeq of the last INVITE we relayed to each side, for the ACK that follows it.
    a_reinvite: tuple[int, int] | None = None  # (our CSeq toward A, B's CSeq)
    b_reinvite: tuple[int, int] | None = None  # (our CSeq toward B, A's CSeq)

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        a_key: TransactionKey,
        a_invite: Request,
        a_flow: Flow,
        a_tag: str,
        caller: str,
        caller_name: str,
        callee: str,
        b_call_id: str,
        b_tag: str,
        started: float,
        started_wall: float,
        phase: Phase = Phase.RINGING,
        forks: dict[TransactionKey, Fork] | None = None,
        winner: Fork | None = None,
        a_dialog: Dialog | None = None,
        answered_wall: float | None = None,
        failures: list[Response] | None = None,
        rang: bool = False,
        no_answer_at: float = 0.0,
        hang_up_at: float = 0.0,
        unacked: list[Unacked] | None = None,
        b_acks: dict[int, Request] | None = None,
        a_reinvite: tuple[int, int] | None = None,
        b_reinvite: tuple[int, int] | None = None,
    ) -> None:
        self.a_key = a_key
        self.a_invite = a_invite
        self.a_flow = a_flow
        self.a_tag = a_tag
        self.caller = caller
        self.caller_name = caller_name
        self.callee = callee
        self.b_call_id = b_call_id
        self.b_tag = b_tag
        self.started = started
        self.started_wall = started_wall
        self.phase = phase
        self.forks = {} if forks is None else forks
        self.winner = winner
        self.a_dialog = a_dialog
        self.answered_wall = answered_wall
        self.failures = [] if failures is None else failures
        self.rang = rang
        self.no_answer_at = no_answer_at
        self.hang_up_at = hang_up_at
        self.unacked = [] if unacked is None else unacked
        self.b_acks = {} if b_acks is None else b_acks
        self.a_reinvite = a_reinvite
        self.b_reinvite = b_reinvite


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """``[pbx]`` settings the calls use."""

    no_answer_timeout: float = 60.0
    #: Answered calls are hung up after this long: a call whose both ends vanished without a
    #: BYE would otherwise be kept for ever.
    max_call_duration: float = 14400.0
    server_name: str = "voxgate"


def verdict(call: Call) -> tuple[Disposition, int, str]:
    """The caller's answer when every fork failed (after RFC 3261 §16.7 step 6)."""
    statuses = [r.status for r in call.failures]
    if any(s in (486, 600) for s in statuses):
        return Disposition.BUSY, 486, "Busy Here"
    if any(s in (603, 403) for s in statuses):
        return Disposition.REJECTED, 603, "Decline"
    if all(s in (408, 480) for s in statuses):
        if call.rang:
            return Disposition.NO_ANSWER, 480, "No Answer"
        return Disposition.FAILED, 480, "Temporarily Unavailable"
    best = min((r for r in call.failures if r.status not in (401, 407)),
               key=lambda r: (r.status // 100 != 6, r.status), default=None)  # fmt: skip
    if best is None:
        return Disposition.FAILED, 480, "Temporarily Unavailable"
    return Disposition.FAILED, best.status, best.reason


def next_deadline(call: Call) -> float | None:
    """When the call next has something to do (a 2xx to resend or give up on, the no-answer
    timeout, the maximum duration), or ``None``."""
    out = [u.deadline for u in call.unacked]
    if call.phase is Phase.RINGING and call.no_answer_at:
        out.append(call.no_answer_at)
    if call.phase is Phase.CONFIRMED:
        out.append(call.hang_up_at)
    return min(out, default=None)
