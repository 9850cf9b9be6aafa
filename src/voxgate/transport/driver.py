"""The asyncio driver of the sans-I/O endpoint (STYLE.md "one loop shape").

It feeds received bytes to the endpoint with the loop's clock, hands events to
the transaction user, writes what the endpoint wants sent, and keeps exactly
one ``loop.call_at`` armed for the endpoint's next timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from voxgate.sip.endpoint import Endpoint, Event
from voxgate.sip.flow import Flow

log = logging.getLogger(__name__)


class EndpointDriver:
    """Connects one :class:`Endpoint` to a transport ``send`` and an event handler."""

    def __init__(
        self,
        endpoint: Endpoint,
        send: Callable[[bytes, Flow], bool],
        on_event: Callable[[Event], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.endpoint = endpoint
        self._send = send
        self._on_event = on_event
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    def on_message(self, data: bytes, flow: Flow) -> None:
        """A datagram or framed message arrived on ``flow``."""
        self.endpoint.receive(data, flow, self._loop.time())
        self.pump()

    def pump(self) -> None:
        """Deliver events, send what is queued, re-arm the timer; until nothing is left."""
        endpoint = self.endpoint
        while True:
            event = endpoint.next_event()
            if event is not None:
                try:
                    self._on_event(event)
                except Exception:  # the per-event boundary: log and go on
                    log.exception("error handling %s", type(event).__name__)
                continue
            outgoing = endpoint.datagrams_to_send()
            if not outgoing:
                break
            for data, flow in outgoing:
                if not self._send(data, flow):
                    log.info("could not send", extra={"flow": str(flow)})
        self._arm()

    def _arm(self) -> None:
        deadline = self.endpoint.next_timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None if deadline is None else self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.endpoint.handle_timer(self._loop.time())
        self.pump()

    def close(self) -> None:
        """Cancel the armed timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
