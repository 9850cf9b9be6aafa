"""FlowTable: connections by id and by peer."""

from __future__ import annotations

from dataclasses import dataclass

from voxgate.sip.flow import Flow, Transport
from voxgate.transport.flows import FlowTable

LOCAL = ("192.0.2.1", 5060)
PHONE = ("198.51.100.7", 40000)


@dataclass
class FakeConnection:
    ident: int
    flow: Flow
    alive: bool = True


def conn(ident: int, remote: tuple[str, int] = PHONE, kind: Transport = Transport.TCP) -> FakeConnection:
    return FakeConnection(ident, Flow(kind, LOCAL, remote, ident))


def test_get_by_id_and_lookup_most_recent() -> None:
    table: FlowTable[FakeConnection] = FlowTable()
    first, second, other = conn(1), conn(2), conn(3, ("198.51.100.8", 5060))
    for c in (first, second, other):
        table.add(c)
    assert len(table) == 3
    assert table.get(1) is first
    assert table.get(None) is None
    assert table.get(99) is None
    assert table.lookup(Transport.TCP, PHONE) is second
    assert table.lookup(Transport.TLS, PHONE) is None  # the transport is part of the key
    second.alive = False
    assert table.get(2) is None  # dead connections are never handed out
    assert table.lookup(Transport.TCP, PHONE) is first
    table.remove(second)
    table.remove(second)  # twice is harmless
    assert table.lookup(Transport.TCP, PHONE) is first
    table.remove(first)
    assert table.lookup(Transport.TCP, PHONE) is None
    assert list(table) == [other]
