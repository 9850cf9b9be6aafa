"""Flows: where a message came from and how to send something back.

A flow (RFC 5626 §3) is the transport, the local and remote address and, for
a connection-oriented transport, the connection that carried a message.
Responses go back on the flow of their request (RFC 3261 §18.2.2, RFC 3581)
and requests to a registered device reuse the flow it registered on.  The
pure layers carry flows as values; only :mod:`voxgate.transport` turns one
into a socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

Address = tuple[str, int]


class Transport(StrEnum):
    """SIP transports, spelt as in a Via header."""

    UDP = "UDP"
    TCP = "TCP"
    TLS = "TLS"
    WS = "WS"
    WSS = "WSS"

    @property
    def reliable(self) -> bool:
        """Whether the transport retransmits by itself (RFC 3261 §17: no Timer A/E/G)."""
        return self is not Transport.UDP

    @property
    def secure(self) -> bool:
        """Whether the transport is encrypted (a SIPS hop, RFC 3261 §26.2)."""
        return self in (Transport.TLS, Transport.WSS)


@dataclass(frozen=True, slots=True, init=False)
class Flow:
    """One flow: ``connection`` is the id of the TCP/TLS/WS connection, ``None`` for UDP."""

    transport: Transport
    local: Address
    remote: Address
    connection: int | None = None

    def __init__(
        self,
        transport: Transport,
        local: Address,
        remote: Address,
        connection: int | None = None,
    ) -> None:
        object.__setattr__(self, "transport", transport)
        object.__setattr__(self, "local", local)
        object.__setattr__(self, "remote", remote)
        object.__setattr__(self, "connection", connection)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Flow):
            return NotImplemented
        return (
            self.transport == other.transport
            and self.local == other.local
            and self.remote == other.remote
            and self.connection == other.connection
        )

    def __hash__(self) -> int:
        return hash((id(self.transport), self.local, self.remote, self.connection))

    def __str__(self) -> str:
        conn = "" if self.connection is None else f"#{self.connection}"
        return (
            f"{self.transport.value.lower()}:{format_address(self.remote)}->{format_address(self.local)}{conn}"
        )


def format_address(address: Address) -> str:
    """``host:port``, an IPv6 host in brackets."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
