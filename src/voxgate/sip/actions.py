"""What the transaction layer (:mod:`voxgate.sip.transaction`) hands out: the key of a
transaction, and the actions its user carries out (send, resend) or reacts to (a request, a
response, a timeout, the end of a transaction)."""

from __future__ import annotations

from dataclasses import dataclass

from voxgate.sip.flow import Flow
from voxgate.sip.message import Request, Response


@dataclass(frozen=True, slots=True, init=False)
class TransactionKey:
    """Identifies a transaction (RFC 3261 §17.1.3, §17.2.3).

    ``branch`` is the top Via branch, or for an RFC 2543 peer (no magic cookie)
    a synthetic value built from Call-ID, From tag, CSeq number and top Via.
    ``method`` is the CSeq method with ACK folded into INVITE.
    """

    branch: str
    sent_by: str
    method: str
    server: bool

    def __init__(self, branch: str, sent_by: str, method: str, server: bool) -> None:
        object.__setattr__(self, "branch", branch)
        object.__setattr__(self, "sent_by", sent_by)
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "server", server)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TransactionKey):
            return NotImplemented
        return (
            self.branch == other.branch
            and self.sent_by == other.sent_by
            and self.method == other.method
            and self.server == other.server
        )

    def __hash__(self) -> int:
        return hash((self.branch, self.sent_by, self.method, self.server))


# -- actions ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, init=False)
class SendMessage:
    """Put ``message`` on the wire on ``flow``.

    ``data`` is the message serialized when the transaction layer did it already: a server
    transaction serializes its responses once and keeps the bytes for retransmission; their
    ``flow`` is then where the response goes (RFC 3261 §18.2.2, see :func:`response_flow`).
    """

    message: Request | Response
    flow: Flow
    data: bytes = b""

    def __init__(self, message: Request | Response, flow: Flow, data: bytes = b"") -> None:
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "flow", flow)
        object.__setattr__(self, "data", data)


@dataclass(frozen=True, slots=True, init=False)
class Resend:
    """Put ``data``, sent before on ``flow``, on the wire again: a server transaction
    retransmitting its last response (RFC 3261 §17.2.1, §17.2.2)."""

    data: bytes
    flow: Flow

    def __init__(self, data: bytes, flow: Flow) -> None:
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "flow", flow)


@dataclass(frozen=True, slots=True, init=False)
class RequestReceived:
    """A new request opened server transaction ``key``; the TU must answer it."""

    key: TransactionKey
    request: Request
    flow: Flow

    def __init__(self, key: TransactionKey, request: Request, flow: Flow) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "request", request)
        object.__setattr__(self, "flow", flow)


@dataclass(frozen=True, slots=True, init=False)
class AckReceived:
    """An ACK for a 2xx (it belongs to the dialog, not a transaction; RFC 3261 §17.1.1.3)."""

    request: Request
    flow: Flow

    def __init__(self, request: Request, flow: Flow) -> None:
        object.__setattr__(self, "request", request)
        object.__setattr__(self, "flow", flow)


@dataclass(frozen=True, slots=True, init=False)
class ResponseReceived:
    """Client transaction ``key`` passes ``response`` up to the TU."""

    key: TransactionKey
    response: Response

    def __init__(self, key: TransactionKey, response: Response) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "response", response)


@dataclass(frozen=True, slots=True, init=False)
class StrayResponse:
    """A response that matches no client transaction (e.g. a 2xx retransmission)."""

    response: Response
    flow: Flow

    def __init__(self, response: Response, flow: Flow) -> None:
        object.__setattr__(self, "response", response)
        object.__setattr__(self, "flow", flow)


@dataclass(frozen=True, slots=True, init=False)
class TimedOut:
    """Timer B, F or H fired: the TU treats it as a 408 (RFC 3261 §8.1.3.1)."""

    key: TransactionKey
    request: Request

    def __init__(self, key: TransactionKey, request: Request) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "request", request)


@dataclass(frozen=True, slots=True, init=False)
class TransportFailed:
    """The transport could not deliver for transaction ``key`` (RFC 3261 §17.1.4, §17.2.4)."""

    key: TransactionKey

    def __init__(self, key: TransactionKey) -> None:
        object.__setattr__(self, "key", key)


@dataclass(frozen=True, slots=True, init=False)
class Terminated:
    """Transaction ``key`` ended and was forgotten."""

    key: TransactionKey

    def __init__(self, key: TransactionKey) -> None:
        object.__setattr__(self, "key", key)


Action = (
    SendMessage | Resend | RequestReceived | AckReceived | ResponseReceived | StrayResponse
    | TimedOut | TransportFailed | Terminated
)  # fmt: skip
