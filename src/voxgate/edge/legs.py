"""The records of a call through the edge: its two legs, the requests relayed inside it, and
how the edge writes its own Via, Contact and tags on each leg."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Final

from voxgate.edge.users import SipUser
from voxgate.media.control import CallId
from voxgate.sip.actions import TransactionKey
from voxgate.sip.b2bua import (
    Unacked,
    copy_options,
    new_branch,
)
from voxgate.sip.dialog import Dialog
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.message import Headers, Request

#: Headers of a relayed request copied to the other side.
REQUEST_COPY: Final = (
    "Content-Type", "Content-Disposition", "Session-Expires", "Min-SE", "Allow", "Accept",
    "Event", "Info-Package",
)  # fmt: skip
#: Headers of a relayed response copied back.
RESPONSE_COPY: Final = (
    "Content-Type", "Content-Disposition", "Session-Expires", "Min-SE", "Allow", "Accept",
    "Retry-After", "Unsupported",
)  # fmt: skip
#: Option tags let through in Supported/Require (100rel needs PRACK handling we lack).
PASSED_OPTIONS: Final = frozenset({"timer", "replaces"})


class Phase(Enum):
    """Where a call is."""

    TRYING = auto()
    ANSWERED = auto()  # 2xx sent to the A side, waiting for its ACK
    CONFIRMED = auto()
    ENDED = auto()


@dataclass(slots=True)
class Relay:
    """A request relayed inside a call, waiting for the other side's response."""

    call: EdgeCall
    server_key: TransactionKey
    request: Request
    to_a: bool
    #: The request carried an SDP offer: SDP in its responses is the answer.
    offered: bool = False


@dataclass(slots=True)
class EdgeCall:
    """Both legs of one call through the edge.  The A leg sent the INVITE."""

    outgoing: bool  # True: device → call control
    user: SipUser
    a_key: TransactionKey
    a_invite: Request
    a_flow: Flow
    a_tag: str
    b_invite: Request
    b_key: TransactionKey | None
    b_flow: Flow
    b_call_id: str
    b_tag: str
    #: The token in the Contact the edge gives the call control (its registration's).
    token: str
    phase: Phase = Phase.TRYING
    provisional: bool = False
    cancel_wanted: bool = False
    challenged: bool = False
    a_dialog: Dialog | None = None
    b_dialog: Dialog | None = None
    unacked: list[Unacked] = field(default_factory=list)
    b_acks: dict[int, Request] = field(default_factory=dict)
    a_reinvite: tuple[int, int] | None = None  # (our CSeq toward A, B's CSeq)
    b_reinvite: tuple[int, int] | None = None  # (our CSeq toward B, A's CSeq)
    #: The A side's INVITE carried the offer (else B's 2xx carries it: a late offer).
    a_offered: bool = False
    #: B's 2xx waits for the media relay's answer or offer before it goes to A.
    answering: bool = False
    #: The media relay has been asked about this call (it must be told when it ends).
    media_used: bool = False
    #: ACKs whose SDP is an answer to an offer in a 2xx, by (from the A side, CSeq).
    ack_answers: set[tuple[bool, int]] = field(default_factory=set)
    #: Wall-clock times (``time.time()``) of the INVITE and of the answer, for the dashboard.
    started_wall: float = field(default_factory=time.time)
    answered_wall: float | None = None

    @property
    def media_id(self) -> CallId:
        """The call's name at the media relay: the edge's own Call-ID of the B leg."""
        return CallId(self.b_call_id)


@dataclass(slots=True)
class CallStats:
    """Counters for the dashboard."""

    outgoing: int = 0
    incoming: int = 0
    refused: int = 0


def leg_tag() -> str:
    """A fresh tag for one of the edge's legs."""
    return secrets.token_hex(6)


def via(flow: Flow, host: str) -> str:
    """A Via value for a request the edge sends on ``flow``."""
    return f"SIP/2.0/{flow.transport.value} {host};branch={new_branch()};rport"


def contact(flow: Flow, token: str, host: str) -> str:
    """The Contact the edge gives on ``flow``: its registration token at ``host``."""
    transport = "" if flow.transport is Transport.UDP else f";transport={flow.transport.lower()}"
    return f"<sip:{token}@{host}{transport}>"


def copy_passed_options(source: Headers, target: Headers) -> None:
    """Supported/Require with only the option tags the edge lets through."""
    copy_options(source, target, PASSED_OPTIONS)
