"""The live connections of a node, by id and by peer (RFC 5626 §3, RFC 3261 §18.2.2).

Responses go back on the connection of their request and requests to a device
reuse the connection it came from: :meth:`FlowTable.get` finds a connection by
the id carried in :attr:`Flow.connection`, :meth:`FlowTable.lookup` the most
recent live connection to a (transport, remote address) pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

from voxgate.sip.flow import Address, Flow, Transport


class Connection(Protocol):
    """What the table needs to know of a connection."""

    @property
    def ident(self) -> int: ...
    @property
    def flow(self) -> Flow: ...
    @property
    def alive(self) -> bool: ...


C = TypeVar("C", bound=Connection)


class FlowTable(Generic[C]):
    """Connection id → connection, and (transport, remote) → connections, newest last."""

    def __init__(self) -> None:
        self._by_id: dict[int, C] = {}
        self._by_peer: dict[tuple[Transport, Address], list[int]] = {}

    def add(self, connection: C) -> None:
        """Register an established connection (its flow must be final)."""
        self._by_id[connection.ident] = connection
        flow = connection.flow
        self._by_peer.setdefault((flow.transport, flow.remote), []).append(connection.ident)

    def remove(self, connection: C) -> None:
        """Forget a connection; unknown connections are ignored."""
        if self._by_id.pop(connection.ident, None) is None:
            return
        key = (connection.flow.transport, connection.flow.remote)
        idents = self._by_peer.get(key)
        if idents is not None:
            idents.remove(connection.ident)
            if not idents:
                del self._by_peer[key]

    def get(self, ident: int | None) -> C | None:
        """The live connection with id ``ident``."""
        if ident is None:
            return None
        connection = self._by_id.get(ident)
        return connection if connection is not None and connection.alive else None

    def lookup(self, transport: Transport, remote: Address) -> C | None:
        """The most recent live connection to ``remote`` over ``transport``."""
        for ident in reversed(self._by_peer.get((transport, remote), ())):
            connection = self._by_id[ident]
            if connection.alive:
                return connection
        return None

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[C]:
        return iter(list(self._by_id.values()))
