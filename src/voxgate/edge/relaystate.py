"""The state the edge's registration relay keeps (:mod:`voxgate.edge.registrations`): the
call control it relays to, its policy toward devices, each device's binding and the upstream
REGISTER in flight for it, and the counters of the dashboard."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from voxgate.edge.users import SipUser
from voxgate.sip.actions import TransactionKey
from voxgate.sip.flow import Flow
from voxgate.sip.message import Request, Response
from voxgate.sip.uri import SipUri


class UaPort(Protocol):
    """What the relay needs from the SIP endpoint."""

    def send_request(self, request: Request, flow: Flow, now: float) -> TransactionKey: ...

    def respond(self, key: TransactionKey, response: Response, now: float) -> None: ...

    def send_stateless(self, message: Request | Response, flow: Flow) -> None: ...


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where the call control is and how the edge reaches it from its LAN side.

    ``flow`` leaves from the edge's LAN listener (its ``local`` is what the call
    control sees in Via and Contact); ``domain`` is the host part of the
    extensions' addresses of record at the call control.
    """

    flow: Flow
    domain: str


@dataclass(frozen=True, slots=True)
class RelayPolicy:
    """Expiry bounds toward devices and whether devices must be known (``[edge]``)."""

    min_expires: int = 60
    #: Longest registration granted to a device on UDP: short, to keep NAT bindings open.
    udp_max_expires: int = 120
    #: Longest registration granted on TCP/TLS (the connection carries keep-alives).
    stream_max_expires: int = 3600
    default_expires: int = 600
    require_device: bool = True
    user_agent_pattern: re.Pattern[str] | None = None
    server_name: str = "voxgate"
    #: DMZ mode (EDGE-2): the public, post-NAT address devices reach the edge at, put in
    #: Via and Contact toward devices instead of the listener's own; 0 keeps the port.
    public_host: str = ""
    public_port: int = 0
    #: DMZ mode: the call control, too, sees the public address (and the LAN port) — it
    #: reaches the edge through the firewall, as devices do (EDGE-2).
    public_upstream: bool = False


@dataclass(slots=True)
class DeviceBinding:
    """A device registered through the edge, and its registration at the call control."""

    token: str
    user: SipUser
    #: The device's Contact URI as it sent it, and the flow it registered on.
    contact: str
    uri: SipUri
    flow: Flow
    mac: str | None
    instance: str | None
    expires_at: float
    upstream_call_id: str
    upstream_cseq: int
    user_agent: str | None = None
    algorithm: str = ""
    #: The source address last written to the registration log (a move is noted again).
    noted_source: str = ""
    #: The upstream REGISTER in flight for this binding, if any.
    in_flight: Pending | None = None


@dataclass(slots=True)
class Pending:
    """A device REGISTER waiting for the call control's answer."""

    device_key: TransactionKey
    device_request: Request
    binding: DeviceBinding
    expires: int
    new: bool
    challenged: bool = False
    #: Device REGISTERs that arrived while this one was in flight: they get its answer (a UA
    #: must not send a REGISTER for a binding before the previous one ended, RFC 3261 §10.2).
    waiters: list[tuple[TransactionKey, Request]] = field(default_factory=list)


@dataclass(slots=True)
class RelayStats:
    """Counters for the dashboard."""

    registered: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    upstream_failures: int = 0
