"""The call control's SIP core: one sans-I/O object the transport driver runs.

:class:`PbxCore` wraps the :class:`~voxgate.sip.endpoint.Endpoint` and offers
the driver the same five methods (``receive``, ``handle_timer``,
``next_timer``, ``datagrams_to_send``, ``next_event``).  It takes the
endpoint's transaction events itself and dispatches them: REGISTER to the
:class:`~voxgate.pbx.registrar.Registrar`, INVITE, CANCEL, ACK and in-dialog
requests to the :class:`~voxgate.pbx.calls.CallControl`, the rest to the UAS
core's own answers.  Only the events worth logging (one per transaction,
rejected messages) come out of :meth:`next_event`.

Durability: a REGISTER that added, moved or removed a binding is answered once
the store has the change (``persist(..., then)``), so a binding acknowledged to
a phone survives ``kill -9``.  A plain refresh (only the expiry moves) and a
refusal are answered at once and written with the next commit (``then`` is
``None``): a crash in between keeps the binding with its previous expiry.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol, assert_never

from voxgate.pbx.calls import CallControl
from voxgate.pbx.callstate import AuthFailureSink, CallPolicy, RecordSink
from voxgate.pbx.directory import Directory
from voxgate.pbx.location import Binding, Location
from voxgate.pbx.registrar import RegisterResult, Registrar, RegistrarPolicy, RegistrationEvent
from voxgate.sip.actions import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TimedOut,
    TransactionKey,
    TransportFailed,
)
from voxgate.sip.digest import DigestServer
from voxgate.sip.endpoint import (
    Endpoint,
    Event,
    MessageRejected,
    RequestAnswered,
    new_tag,
    stateless_tag,
)
from voxgate.sip.errors import ParseError
from voxgate.sip.flow import Flow
from voxgate.sip.message import Request, Response, make_response
from voxgate.sip.uas import Capabilities, answer_unhandled

#: Methods we take (OPTIONS answered by the core; the rest relayed inside calls).
ALLOW = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "UPDATE", "INFO", "MESSAGE",
         "NOTIFY", "REFER")  # fmt: skip


class BindingSink(Protocol):
    """Makes binding changes and the registration event durable, then calls ``then(now)``
    (``None``: nobody waits)."""

    def __call__(
        self,
        saved: list[Binding],
        removed: list[Binding],
        event: RegistrationEvent | None,
        then: Callable[[float], None] | None,
    ) -> None: ...


def _immediately(
    saved: list[Binding],
    removed: list[Binding],
    event: RegistrationEvent | None,
    then: Callable[[float], None] | None,
) -> None:
    del saved, removed, event
    if then is not None:
        then(0.0)


class PbxCore:
    """Endpoint + registrar + B2BUA, driven like an endpoint."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        digest: DigestServer,
        directory: Directory,
        records: RecordSink,
        registrar_policy: RegistrarPolicy | None = None,
        call_policy: CallPolicy | None = None,
        bindings: BindingSink = _immediately,
    ) -> None:
        self.endpoint = endpoint
        self.location = Location()
        server = endpoint.config.server_name
        self.registrar = Registrar(
            self.location, digest, directory, registrar_policy, server_name=server
        )
        self.calls = CallControl(
            endpoint, location=self.location, directory=directory, digest=digest,
            records=records, policy=call_policy or CallPolicy(server_name=server),
            timers=endpoint.config.timers,
        )  # fmt: skip
        self.capabilities = Capabilities(allow=ALLOW, server=server)
        self.persist = bindings
        self._out: deque[Event] = deque()
        self._now = 0.0

    @property
    def wall_offset(self) -> float:
        """Wall-clock seconds minus the loop clock (set by the service layer)."""
        return self.calls.wall_offset

    @wall_offset.setter
    def wall_offset(self, value: float) -> None:
        self.calls.wall_offset = value

    @property
    def auth_failed(self) -> AuthFailureSink:
        """Told of every failed authentication, REGISTER or INVITE (NET-2 lockouts)."""
        return self.calls.auth_failed

    @auth_failed.setter
    def auth_failed(self, sink: AuthFailureSink) -> None:
        self.calls.auth_failed = sink

    def set_directory(self, directory: Directory) -> None:
        """Swap in a new snapshot of the extensions."""
        self.registrar.directory = directory
        self.calls.directory = directory

    # -- the driver's interface ---------------------------------------------------------
    def receive(self, data: bytes, flow: Flow, now: float) -> None:
        """A datagram or framed message arrived."""
        self._now = now
        self.endpoint.receive(data, flow, now)
        self._dispatch(now)

    def handle_timer(self, now: float) -> None:
        """Fire transaction and call timers due at ``now``."""
        self._now = now
        self.endpoint.handle_timer(now)
        self.calls.on_timer(now)
        self._dispatch(now)

    def next_timer(self) -> float | None:
        """The earliest transaction or call deadline."""
        a = self.endpoint.next_timer()
        b = self.calls.next_timer()
        if a is None:
            return b
        return a if b is None else min(a, b)

    def datagrams_to_send(self) -> list[tuple[bytes, Flow]]:
        """What must go on the wire."""
        self._dispatch(self._now)
        return self.endpoint.datagrams_to_send()

    def next_event(self) -> Event | None:
        """The next event worth logging."""
        self._dispatch(self._now)
        return self._out.popleft() if self._out else None

    def deferred(self, then: Callable[[float], None], now: float) -> None:
        """Run a deferred answer (after a commit) at ``now``."""
        self._now = now
        then(now)
        self._dispatch(now)

    # -- dispatch ---------------------------------------------------------------------------
    def _dispatch(self, now: float) -> None:
        endpoint = self.endpoint
        while (event := endpoint.next_event()) is not None:
            match event:
                case RequestReceived(key=key, request=request, flow=flow):
                    self._request(key, request, flow, now)
                case AckReceived(request=request):
                    self.calls.ack(request)
                case ResponseReceived(key=key, response=response):
                    self.calls.response(key, response, now)
                case TimedOut(key=key) | TransportFailed(key=key):
                    if not key.server:
                        self.calls.timed_out(key, now)
                case StrayResponse():
                    pass
                case MessageRejected() | RequestAnswered():
                    self._out.append(event)
                case _:
                    assert_never(event)

    def _request(self, key: TransactionKey, request: Request, flow: Flow, now: float) -> None:
        method = request.method
        calls = self.calls
        try:
            if request.to.tag is not None:
                found = calls.find_dialog(request)
                if found is not None:
                    call, from_a = found
                    calls.in_dialog(key, request, call, from_a, now)
                    return
            elif method == "REGISTER":
                self._register(key, request, flow, now)
                return
            elif method == "INVITE":
                calls.invite(key, request, flow, now)
                return
            if method == "CANCEL":
                invite = self.endpoint.invite_for_cancel(request)
                if invite is not None:
                    self.endpoint.respond(key, _ok(request, self.capabilities.server), now)
                    calls.cancel(invite, now)
                    return
        except ParseError as err:  # a header the checks let through but we can't use
            refusal = _status(request, err.status or 400, self.capabilities.server, err.reason)
            self.endpoint.respond(key, refusal, now)
            return
        response = answer_unhandled(request, self.capabilities, to_tag=new_tag())
        if response is not None:
            self.endpoint.respond(key, response, now)

    def _register(self, key: TransactionKey, request: Request, flow: Flow, now: float) -> None:
        # REGISTER creates no dialog: a tag that a retransmission gets again lets the
        # challenge be answered statelessly (RFC 3261 §8.2.7), as it is below
        result: RegisterResult = self.registrar.register(
            request, flow, now + self.wall_offset, stateless_tag(request)
        )
        response = result.response
        event = result.event
        if result.challenge:
            self.endpoint.respond_and_forget(key, response, now)
            return
        if event is not None and event.outcome == "refused":
            self.calls.auth_failed(flow.remote[0], f"REGISTER as {event.credential!r}")
        if not result.saved and not result.removed and result.event is None:
            self.endpoint.respond(key, response, now)
            return
        if not result.must_wait:  # a refresh or a refusal: answer now, write behind
            self.endpoint.respond(key, response, now)
            self.persist(result.saved, result.removed, result.event, None)
            return
        self.persist(
            result.saved, result.removed, result.event,
            lambda t: self.endpoint.respond(key, response, t),
        )  # fmt: skip

    def purge(self, now: float) -> list[Binding]:
        """Drop expired bindings (wall clock ``now``); returns them for the store."""
        return self.location.purge(now)


def _ok(request: Request, server: str) -> Response:
    return _status(request, 200, server, None)


def _status(request: Request, status: int, server: str, reason: str | None) -> Response:
    response = make_response(request, status, reason, to_tag=new_tag())
    response.headers.add("Server", server)
    return response
