"""What the registration relay reports to the rest of the node: the devices it saw (for the
device table, AUTH-2), its registration log entries (AUTH-6) and why it refused one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from voxgate.policy.devices import DeviceIdentity
from voxgate.sip.flow import Flow


class Refusal(StrEnum):
    """Why a registration was refused (logged and reported, never told to the device)."""

    BAD_CREDENTIALS = "bad credentials"
    NO_IDENTITY = "device not identified"
    UNKNOWN_DEVICE = "unknown device"
    DISABLED_DEVICE = "device disabled"
    WRONG_DEVICE = "user tied to another device"
    UPSTREAM_REFUSED = "call control refused the level-2 credential"


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    """A device that tried to register: for the device table (``learn``)."""

    identity: DeviceIdentity
    source: str
    user_agent: str | None
    username: str
    admitted: bool


@dataclass(frozen=True, slots=True)
class RegistrationNote:
    """A device's registration at the edge, for the registration log (AUTH-6): which device
    (MAC), from where, as which SIP user and extension — registered, unregistered or refused
    and why.  ``at`` is the relay's clock."""

    at: float
    username: str
    extension: str
    flow: Flow
    mac: str | None
    instance: str | None
    user_agent: str | None
    algorithm: str
    outcome: str  # "registered" | "unregistered" | "refused"
    reason: str | None = None
