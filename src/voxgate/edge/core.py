"""The edge's SIP core: one sans-I/O object the transport driver runs (like the call
control's :class:`~voxgate.pbx.core.PbxCore`).

Requests from devices (the WAN side): REGISTER goes to the
:class:`~voxgate.edge.registrations.RegistrationRelay`; OPTIONS is answered
(devices use it as a keep-alive); INVITE and other dialog-creating requests
are refused with an explicit 503 until calls through the edge land.
Responses on the edge's client transactions go back to the relay.
Requests arriving on the LAN side from the call control are refused for now
(480), for the same reason.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import assert_never

from voxgate.edge.registrations import RegistrationRelay
from voxgate.sip.endpoint import Endpoint, Event, MessageRejected, RequestAnswered, new_tag
from voxgate.sip.errors import ParseError
from voxgate.sip.flow import Address, Flow
from voxgate.sip.message import Request, make_response
from voxgate.sip.transaction import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TimedOut,
    TransactionKey,
    TransportFailed,
)
from voxgate.sip.uas import Capabilities, answer_unhandled

#: Methods the edge takes from devices in this release.
ALLOW = ("REGISTER", "OPTIONS", "ACK", "CANCEL", "BYE")
#: Requests that would start a call or a subscription: not relayed yet.
_NOT_YET = frozenset({"INVITE", "SUBSCRIBE", "REFER", "MESSAGE", "NOTIFY", "PUBLISH", "INFO",
                      "UPDATE", "PRACK"})  # fmt: skip


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
        #: Local addresses of the LAN-side listeners (requests there come from the call control).
        self.lan = lan
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
        """Fire transaction timers due at ``now``."""
        self._now = now
        self.endpoint.handle_timer(now)
        self._dispatch(now)

    def next_timer(self) -> float | None:
        """The earliest transaction deadline."""
        return self.endpoint.next_timer()

    def datagrams_to_send(self) -> list[tuple[bytes, Flow]]:
        """What must go on the wire."""
        self._dispatch(self._now)
        return self.endpoint.datagrams_to_send()

    def next_event(self) -> Event | None:
        """The next event worth logging."""
        self._dispatch(self._now)
        return self._out.popleft() if self._out else None

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
                    self.relay.response(key, response, now)
                case TimedOut(key=key) | TransportFailed(key=key):
                    if not key.server:
                        self.relay.timed_out(key, now)
                case AckReceived() | StrayResponse():
                    pass
                case MessageRejected() | RequestAnswered():
                    self._out.append(event)
                case _:
                    assert_never(event)

    def _request(self, key: TransactionKey, request: Request, flow: Flow, now: float) -> None:
        method = request.method
        if flow.local in self.lan:
            # from the call control: calls toward devices are the next step of the edge
            self._refuse(key, request, 480, "Calls through the edge are not available yet", now)
            return
        try:
            if method == "REGISTER" and request.to.tag is None:
                self.relay.register(key, request, flow, now)
                return
        except ParseError as err:
            self._refuse(key, request, err.status or 400, err.reason, now)
            return
        if method in _NOT_YET:
            self._refuse(key, request, 503, "Calls through the edge are not available yet", now)
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
