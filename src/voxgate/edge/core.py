"""The edge's SIP core: one sans-I/O object the transport driver runs (like the call
control's :class:`~voxgate.pbx.core.PbxCore`).

Requests from devices (the WAN side): REGISTER goes to the
:class:`~voxgate.edge.registrations.RegistrationRelay`, INVITE to the
:class:`~voxgate.edge.calls.EdgeCalls` B2BUA, OPTIONS is answered (devices use
it as a keep-alive).  From the call control (the LAN side): INVITE to a device
Contact the edge registered.  Requests inside a call are relayed; other
dialog-creating requests (SUBSCRIBE, REFER, MESSAGE…) are refused with an
explicit 501 — they are not relayed through the edge yet.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import assert_never

from voxgate.edge.calls import EdgeCalls
from voxgate.edge.registrations import RegistrationRelay
from voxgate.sip.actions import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TimedOut,
    TransactionKey,
    TransportFailed,
)
from voxgate.sip.endpoint import Endpoint, Event, MessageRejected, RequestAnswered, new_tag
from voxgate.sip.errors import ParseError
from voxgate.sip.flow import Address, Flow
from voxgate.sip.message import Request, make_response
from voxgate.sip.uas import Capabilities, answer_unhandled

#: Methods the edge takes in this release.
ALLOW = ("REGISTER", "OPTIONS", "INVITE", "ACK", "CANCEL", "BYE", "UPDATE", "INFO")
#: Requests outside a dialog that are not relayed through the edge yet.
_NOT_YET = frozenset({"SUBSCRIBE", "REFER", "MESSAGE", "NOTIFY", "PUBLISH", "PRACK"})


class EdgeCore:
    """Endpoint + registration relay, driven like an endpoint."""

    def __init__(
        self,
        endpoint: Endpoint,
        relay_factory: Callable[[Endpoint], RegistrationRelay],
        *,
        lan: frozenset[Address] = frozenset(),
    ) -> None:
        self.endpoint = endpoint
        self.relay = relay_factory(endpoint)
        self.calls = EdgeCalls(self.relay, endpoint.config.timers)
        #: Local addresses of the LAN-side listeners (requests there come from the call control).
        self.lan = lan
        #: The call control's address: requests on a TCP/TLS connection the edge opened to it
        #: come from the LAN side too.
        self.upstream_remote: Address | None = None
        self.capabilities = Capabilities(allow=ALLOW, server=endpoint.config.server_name)
        self._out: deque[Event] = deque()
        self._now = 0.0

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

    def connection_lost(self, flow: Flow, now: float) -> None:
        """A TCP/TLS connection closed (the transport's report)."""
        self._now = now
        self.calls.connection_lost(flow, now)
        self.relay.connection_lost(flow, now)
        self._dispatch(now)

    def purge(self, now: float) -> int:
        """Forget expired device bindings; how many."""
        return len(self.relay.purge(now))

    # -- dispatch ---------------------------------------------------------------------------
    def _dispatch(self, now: float) -> None:
        endpoint = self.endpoint
        while (event := endpoint.next_event()) is not None:
            match event:
                case RequestReceived(key=key, request=request, flow=flow):
                    self._request(key, request, flow, now)
                case ResponseReceived(key=key, response=response):
                    if not self.relay.response(key, response, now):
                        self.calls.response(key, response, now)
                case TimedOut(key=key) | TransportFailed(key=key):
                    if not key.server and not self.relay.timed_out(key, now):
                        self.calls.timed_out(key, now)
                case AckReceived(request=request):
                    self.calls.ack(request, now)
                case StrayResponse():
                    pass
                case MessageRejected() | RequestAnswered():
                    self._out.append(event)
                case _:
                    assert_never(event)

    def _request(self, key: TransactionKey, request: Request, flow: Flow, now: float) -> None:
        method = request.method
        from_lan = flow.local in self.lan or (
            flow.transport.reliable and flow.remote == self.upstream_remote
        )
        calls = self.calls
        try:
            if request.to.tag is not None:
                found = calls.find_dialog(request)
                if found is not None:
                    calls.in_dialog(key, request, found[0], found[1], now)
                    return
            elif method == "INVITE":
                if from_lan:
                    calls.invite_from_upstream(key, request, flow, now)
                else:
                    calls.invite_from_device(key, request, flow, now)
                return
            elif method == "REGISTER" and not from_lan:
                self.relay.register(key, request, flow, now)
                return
            if method == "CANCEL":
                invite = self.endpoint.invite_for_cancel(request)
                if invite is not None:
                    self._refuse(key, request, 200, "OK", now)
                    calls.cancel(invite, now)
                    return
        except ParseError as err:
            self._refuse(key, request, err.status or 400, err.reason, now)
            return
        if method in _NOT_YET and request.to.tag is None:
            self._refuse(key, request, 501, "Not relayed through the edge yet", now)
            return
        response = answer_unhandled(request, self.capabilities, to_tag=new_tag())
        if response is not None:
            self.endpoint.respond(key, response, now)

    def _refuse(
        self, key: TransactionKey, request: Request, status: int, reason: str, now: float
    ) -> None:
        response = make_response(request, status, reason, to_tag=new_tag())
        response.headers.add("Server", self.capabilities.server)
        self.endpoint.respond(key, response, now)
