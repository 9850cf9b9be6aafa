"""The asyncio driver of the sans-I/O endpoint (STYLE.md "one loop shape").

It feeds received bytes to the endpoint with the loop's clock, hands events to
the transaction user, writes what the endpoint wants sent, and keeps exactly
one ``loop.call_at`` armed for the endpoint's next timer (the aioquic shape).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from voxgate.sip.flow import Flow

if TYPE_CHECKING:
    from voxgate.sip.endpoint import Event


class SansIoEndpoint(Protocol):
    """What the driver runs: the SIP endpoint, or a core wrapping one (the PBX core)."""

    def receive(self, data: bytes, flow: Flow, now: float) -> None: ...

    def handle_timer(self, now: float) -> None: ...

    def next_timer(self) -> float | None: ...

    def datagrams_to_send(self) -> list[tuple[bytes, Flow]]: ...

    def next_event(self) -> Event | None: ...

log = logging.getLogger(__name__)


class EndpointDriver:
    """Connects one endpoint to a transport ``send`` and an event handler.

    The endpoint offers ``receive(data, flow, now)``, ``handle_timer(now)``,
    ``next_timer()``, ``datagrams_to_send()`` and ``next_event()``.
    """

    def __init__(
        self,
        endpoint: SansIoEndpoint,
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
        self._closed = False

    def on_message(self, data: bytes, flow: Flow) -> None:
        """A datagram or framed message arrived on ``flow`` (the manager's ``on_message``)."""
        try:
            self.endpoint.receive(data, flow, self._loop.time())
        except Exception:  # the per-message boundary: log with the flow, keep going
            log.exception("error receiving a message", extra={"flow": str(flow)})
        self.pump()

    def pump(self) -> None:
        """Deliver events, send what is queued, re-arm the timer; until nothing is left.

        An event handler may answer (``endpoint.respond``), queueing more to send
        and more events, hence the loop.
        """
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
                try:
                    sent = self._send(data, flow)
                except Exception:  # the per-message boundary on the way out
                    log.exception("error sending", extra={"flow": str(flow)})
                    sent = False
                if not sent:
                    log.info("could not send %d bytes", len(data), extra={"flow": str(flow)})
        self._arm()

    def _arm(self) -> None:
        if self._closed:
            return
        deadline = self.endpoint.next_timer()
        if deadline == self._timer_at and (deadline is None or self._timer is not None):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None if deadline is None else self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        try:
            self.endpoint.handle_timer(self._loop.time())
        except Exception:  # a failing timer must not stop the next ones being armed
            log.exception("error handling timers")
        self.pump()

    def close(self) -> None:
        """Cancel the armed timer; nothing is armed afterwards."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = None
