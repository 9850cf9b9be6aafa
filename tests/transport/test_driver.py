"""EndpointDriver against a fake endpoint and a fake clock (no sockets, no sleeping)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from voxgate.sip.flow import Flow, Transport
from voxgate.transport.driver import EndpointDriver

FLOW = Flow(Transport.UDP, ("127.0.0.1", 5060), ("127.0.0.1", 40000))


class Handle:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """The two loop methods the driver uses; ``advance`` jumps the clock and fires due timers."""

    def __init__(self) -> None:
        self.now = 100.0
        self.handles: list[Handle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        handle = Handle(when, callback)
        self.handles.append(handle)
        return handle

    def armed(self) -> list[float]:
        return [h.when for h in self.handles if not h.cancelled]

    def advance(self, to: float) -> None:
        self.now = to
        for handle in list(self.handles):
            if not handle.cancelled and handle.when <= to:
                handle.cancelled = True
                handle.callback()


@dataclass
class FakeEndpoint:
    """Echoes each message as an event; 'respond' queues an answer; a timer resends it."""

    received: list[tuple[bytes, Flow, float]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    outgoing: list[tuple[bytes, Flow]] = field(default_factory=list)
    timer: float | None = None
    timers_fired: list[float] = field(default_factory=list)
    fail_receive: bool = False
    fail_timer: bool = False

    def receive(self, data: bytes, flow: Flow, now: float) -> None:
        if self.fail_receive:
            raise RuntimeError("boom")
        self.received.append((data, flow, now))
        self.events.append(data.decode())

    def respond(self, text: str, now: float) -> None:
        self.outgoing.append((text.encode(), FLOW))
        self.events.append(f"sent {text}")
        self.timer = now + 0.5

    def handle_timer(self, now: float) -> None:
        self.timers_fired.append(now)
        self.outgoing.append((b"retransmit", FLOW))
        if self.fail_timer:
            raise RuntimeError("timer boom")
        self.timer = None if len(self.timers_fired) >= 2 else now + 1.0

    def next_timer(self) -> float | None:
        return self.timer

    def datagrams_to_send(self) -> list[tuple[bytes, Flow]]:
        out, self.outgoing = self.outgoing, []
        return out

    def next_event(self) -> str | None:
        return self.events.pop(0) if self.events else None


def make() -> tuple[FakeEndpoint, FakeLoop, list[tuple[bytes, Flow]], list[str], EndpointDriver]:
    endpoint, loop = FakeEndpoint(), FakeLoop()
    sent: list[tuple[bytes, Flow]] = []
    seen: list[str] = []

    def on_event(event: str) -> None:
        seen.append(event)
        if event.startswith("INVITE"):
            endpoint.respond("100 Trying", loop.time())

    def send(data: bytes, flow: Flow) -> bool:
        sent.append((data, flow))
        return True

    driver = EndpointDriver(endpoint, send, on_event, loop)  # type: ignore[arg-type]
    return endpoint, loop, sent, seen, driver


def test_message_events_answers_and_one_timer() -> None:
    endpoint, loop, sent, seen, driver = make()
    driver.on_message(b"INVITE", FLOW)
    assert endpoint.received == [(b"INVITE", FLOW, 100.0)]
    # the handler answered from inside on_event: its event and its bytes were drained too
    assert seen == ["INVITE", "sent 100 Trying"]
    assert sent == [(b"100 Trying", FLOW)]
    assert loop.armed() == [100.5]
    driver.on_message(b"OPTIONS", FLOW)  # same deadline: no second call_at
    assert len(loop.handles) == 1
    loop.advance(100.5)
    assert endpoint.timers_fired == [100.5]
    assert sent[-1] == (b"retransmit", FLOW)
    assert loop.armed() == [101.5]  # re-armed at the new deadline
    loop.advance(101.5)
    assert loop.armed() == []  # no deadline: nothing armed
    driver.close()


def test_boundaries_keep_the_driver_going(caplog: pytest.LogCaptureFixture) -> None:
    endpoint, loop, sent, seen, driver = make()
    endpoint.fail_receive = True
    with caplog.at_level(logging.ERROR, logger="voxgate.transport.driver"):
        driver.on_message(b"INVITE", FLOW)  # does not raise
    assert any(getattr(r, "flow", None) == str(FLOW) for r in caplog.records)
    endpoint.fail_receive = False
    endpoint.fail_timer = True
    driver.on_message(b"INVITE", FLOW)
    loop.advance(100.5)  # handle_timer raises: logged, and the queue still drains
    assert sent[-1] == (b"retransmit", FLOW)
    assert loop.armed() == [100.5]  # still armed: a failing timer does not stop the clock
    assert seen == ["INVITE", "sent 100 Trying"]


def test_failing_handler_and_failing_send() -> None:
    endpoint, loop = FakeEndpoint(), FakeLoop()
    calls: list[str] = []

    def on_event(event: str) -> None:
        calls.append(event)
        raise ValueError("handler bug")

    def send(data: bytes, flow: Flow) -> bool:
        raise OSError("socket gone")

    driver = EndpointDriver(endpoint, send, on_event, loop)  # type: ignore[arg-type]
    endpoint.events += ["a", "b"]
    endpoint.outgoing += [(b"x", FLOW), (b"y", FLOW)]
    driver.pump()  # neither a raising handler nor a raising send escapes
    assert calls == ["a", "b"]
    assert endpoint.outgoing == []


def test_close_disarms() -> None:
    _endpoint, loop, _sent, _seen, driver = make()
    driver.on_message(b"INVITE", FLOW)
    driver.close()
    assert loop.armed() == []
    driver.pump()
    assert loop.armed() == []
