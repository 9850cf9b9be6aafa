"""Unit tests of voxgate.pbx.workers: what crosses the channel between the main process and a
registrar worker (the processes themselves: tests/interop/test_sipp_pbx_workers.py)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from voxgate.pbx.location import Binding, Location
from voxgate.pbx.registrar import RegistrationEvent
from voxgate.pbx.workers import (
    MAX_MESSAGE,
    Channel,
    ChannelClosedError,
    apply_changes,
    binding_from_wire,
    binding_to_wire,
    event_from_wire,
    event_to_wire,
)
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.uri import parse_uri

FLOW = Flow(Transport.UDP, ("127.0.0.1", 5060), ("192.0.2.7", 40000))


def _binding(aor: str = "1001", contact: str = "sip:1001@192.0.2.7:40000", **kw: object) -> Binding:
    values: dict[str, object] = {"q": None, "instance": None, "reg_id": None, "user_agent": "ua"}
    values.update(kw)
    return Binding(aor, contact, parse_uri(contact), 2e9, "cid", 3, FLOW, 1.9e9,
                   values["q"], values["instance"], values["reg_id"],  # type: ignore[arg-type]
                   values["user_agent"])  # type: ignore[arg-type]


def test_bindings_and_events_cross_as_plain_values_unchanged() -> None:
    tls = Flow(Transport.TLS, ("::1", 5061), ("::1", 50000), 17)
    original = _binding(q=0.5, instance="<urn:uuid:1>", reg_id=1)
    original.flow = tls
    copy = binding_from_wire(binding_to_wire(original))
    for name in ("aor", "contact", "uri", "expires_at", "call_id", "cseq", "flow", "registered_at",
                 "q", "instance", "reg_id", "user_agent"):
        assert getattr(copy, name) == getattr(original, name), name
    assert copy.key == original.key
    event = RegistrationEvent(1.5, "1001", FLOW, "1001", "MD5", "refused", "bad", None, "ua")
    again = event_from_wire(event_to_wire(event))
    assert (again.at, again.extension, again.flow, again.credential, again.algorithm,
            again.outcome, again.reason, again.instance, again.user_agent) == (
        1.5, "1001", FLOW, "1001", "MD5", "refused", "bad", None, "ua")  # fmt: skip


def test_changes_apply_in_the_order_they_were_made() -> None:
    location = Location()
    a, b = _binding(), _binding(contact="sip:1001@192.0.2.8:5060")
    wire_a, wire_b = binding_to_wire(a), binding_to_wire(b)
    # registered, then removed in the same turn: gone; b removed, then registered again: there
    apply_changes(location, [([wire_a], []), ([], [wire_a]), ([], [wire_b]), ([wire_b], [])])
    assert [x.contact for x in location.lookup("1001", 0.0)] == [b.contact]


def test_channel_carries_messages_both_ways_until_closed() -> None:
    asyncio.run(_carries())


async def _carries() -> None:
    left_sock, right_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    got: list[tuple[object, ...]] = []
    left = await Channel.open(left_sock, got.append)
    right = await Channel.open(right_sock, got.append)
    reading = asyncio.create_task(left.run())
    big = b"x" * 300_000
    right.send(("datagram", ("127.0.0.1", 1), ("127.0.0.1", 2), big))
    right.send(("stop",))
    await right.drain()
    for _ in range(100):
        if len(got) == 2:
            break
        await asyncio.sleep(0.01)
    assert got == [("datagram", ("127.0.0.1", 1), ("127.0.0.1", 2), big), ("stop",)]
    right.close()
    await asyncio.wait_for(reading, 5)
    assert left.closed
    with pytest.raises(ChannelClosedError):
        left.send(("late",))


def test_channel_refuses_a_frame_larger_than_the_limit() -> None:
    asyncio.run(_refuses_big())


async def _refuses_big() -> None:
    left_sock, right_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    left = await Channel.open(left_sock, lambda message: None)
    right_sock.sendall((MAX_MESSAGE + 1).to_bytes(4, "big"))
    assert await asyncio.wait_for(left.receive(), 5) is None  # given up, nothing read into memory
    right_sock.close()
    left.close()
