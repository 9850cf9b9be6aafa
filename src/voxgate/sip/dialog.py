"""Dialog state (RFC 3261 §12): identity, sequence numbers, route set, remote target.

A dialog is created by a 1xx-with-tag (early) or a 2xx (confirmed) to an
INVITE, from the UAC side (:meth:`Dialog.from_uac`) or the UAS side
(:meth:`Dialog.from_uas`).  It builds requests inside itself (§12.2.1.1) and
checks requests that arrive in it (§12.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, auto

from voxgate.sip.errors import ParseError, TransactionError
from voxgate.sip.headers import BRANCH_COOKIE, NameAddr, parse_name_addr
from voxgate.sip.message import Headers, Request, Response
from voxgate.sip.uri import SipUri, Uri


class DialogState(Enum):
    """RFC 3261 §12: early, confirmed, terminated."""

    __hash__ = object.__hash__  # members are singletons; Enum's hashes the name in Python

    EARLY = auto()
    CONFIRMED = auto()
    TERMINATED = auto()


class DialogEvent(Enum):
    """What moves a dialog."""

    __hash__ = object.__hash__  # members are singletons; Enum's hashes the name in Python

    PROVISIONAL = auto()  # another 1xx with the same tag
    SUCCESS = auto()  # a 2xx
    FAILURE = auto()  # a non-2xx final to the INVITE that made an early dialog
    BYE = auto()


#: The dialog state table (RFC 3261 §12, §12.3, §15).
TRANSITIONS: dict[tuple[DialogState, DialogEvent], DialogState] = {
    (DialogState.EARLY, DialogEvent.PROVISIONAL): DialogState.EARLY,
    (DialogState.EARLY, DialogEvent.SUCCESS): DialogState.CONFIRMED,
    (DialogState.EARLY, DialogEvent.FAILURE): DialogState.TERMINATED,
    (DialogState.EARLY, DialogEvent.BYE): DialogState.TERMINATED,
    (DialogState.CONFIRMED, DialogEvent.SUCCESS): DialogState.CONFIRMED,
    (DialogState.CONFIRMED, DialogEvent.BYE): DialogState.TERMINATED,
}

#: Requests that refresh the remote target (RFC 3261 §12.2, RFC 3311).
TARGET_REFRESH = frozenset({"INVITE", "UPDATE"})


@dataclass(frozen=True, slots=True, init=False)
class DialogId:
    """Call-ID, local tag and remote tag (RFC 3261 §12)."""

    call_id: str
    local_tag: str
    remote_tag: str

    def __init__(self, call_id: str, local_tag: str, remote_tag: str) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "local_tag", local_tag)
        object.__setattr__(self, "remote_tag", remote_tag)


@dataclass(slots=True, init=False)
class Dialog:
    """One side's view of a dialog."""

    id: DialogId
    state: DialogState
    local_uri: NameAddr
    remote_uri: NameAddr
    remote_target: Uri
    route_set: list[str] = field(default_factory=list)
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        id: DialogId,
        state: DialogState,
        local_uri: NameAddr,
        remote_uri: NameAddr,
        remote_target: Uri,
        route_set: list[str] | None = None,
        local_seq: int | None = None,
        remote_seq: int | None = None,
        secure: bool = False,
    ) -> None:
        self.id = id
        self.state = state
        self.local_uri = local_uri
        self.remote_uri = remote_uri
        self.remote_target = remote_target
        self.route_set = [] if route_set is None else route_set
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.secure = secure

    @classmethod
    def from_uac(cls, request: Request, response: Response) -> Dialog:
        """The UAC's dialog from its INVITE and a 1xx/2xx with a To tag (§12.1.2)."""
        remote_tag = response.to.tag
        local_tag = request.from_.tag
        if remote_tag is None or local_tag is None:
            raise ParseError("Missing tag", detail="a dialog needs From and To tags")
        routes = list(reversed(response.headers.get_all("Record-Route")))
        return cls(
            id=DialogId(request.call_id, local_tag, remote_tag),
            state=_initial(response.status),
            local_uri=request.from_, remote_uri=response.to,
            remote_target=_target(response, request.uri),
            route_set=routes, local_seq=request.cseq.seq, remote_seq=None,
            secure=isinstance(request.uri, SipUri) and request.uri.secure,
        )  # fmt: skip

    @classmethod
    def from_uas(cls, request: Request, response: Response) -> Dialog:
        """The UAS's dialog from the INVITE it got and the 1xx/2xx it sent (§12.1.1)."""
        local_tag = response.to.tag
        remote_tag = request.from_.tag
        if local_tag is None or remote_tag is None:
            raise ParseError("Missing tag", detail="a dialog needs From and To tags")
        return cls(
            id=DialogId(request.call_id, local_tag, remote_tag),
            state=_initial(response.status),
            local_uri=response.to, remote_uri=request.from_,
            remote_target=_target(request, request.uri),
            route_set=request.headers.get_all("Record-Route"),
            local_seq=None, remote_seq=request.cseq.seq,
            secure=isinstance(request.uri, SipUri) and request.uri.secure,
        )  # fmt: skip

    def on(self, event: DialogEvent) -> DialogState:
        """Apply ``event`` through the table; an illegal one raises TransactionError."""
        after = TRANSITIONS.get((self.state, event))
        if after is None:
            raise TransactionError("Dialog", self.state.name, event.name)
        self.state = after
        return after

    def create_request(self, method: str, *, branch: str, via_host: str, via_transport: str,
                       cseq: int | None = None) -> Request:  # fmt: skip
        """A request inside the dialog (RFC 3261 §12.2.1.1).

        ACK and CANCEL take the CSeq number of their INVITE (``cseq``); every
        other request takes the next local sequence number.
        """
        if not branch.startswith(BRANCH_COOKIE):
            raise ValueError("branch must start with z9hG4bK")
        if method in ("ACK", "CANCEL"):
            if cseq is None:
                raise ValueError(f"{method} needs the INVITE's CSeq number")
            seq = cseq
        else:
            seq = (self.local_seq or 0) + 1
            self.local_seq = seq
        request_uri: Uri = self.remote_target
        routes = list(self.route_set)
        if routes and not _loose(routes[0]):
            # Strict routing (§12.2.1.1): the first route becomes the Request-URI.
            request_uri = parse_name_addr(routes[0], "Route").uri
            routes = [*routes[1:], f"<{self.remote_target}>"]
        headers = Headers.of([
            ("Via", f"SIP/2.0/{via_transport} {via_host};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", str(self.local_uri.with_params(tag=self.id.local_tag))),
            ("To", str(self.remote_uri.with_params(tag=self.id.remote_tag))),
            ("Call-ID", self.id.call_id),
            ("CSeq", f"{seq} {method}"),
        ])  # fmt: skip
        for route in routes:
            headers.add("Route", route)
        return Request(method, request_uri, headers)

    def receive_request(self, request: Request) -> int | None:
        """Check a request inside the dialog (§12.2.2): the status to refuse it with, or ``None``.

        A CSeq lower than the last one is out of order → 500.  A target
        refresh request updates the remote target from its Contact.
        """
        seq = request.cseq.seq
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and seq <= self.remote_seq:
                return 500
            self.remote_seq = seq
        if request.method in TARGET_REFRESH and request.contacts:
            self.remote_target = request.contacts[0].uri
        return None


def _initial(status: int) -> DialogState:
    if 100 < status < 200:
        return DialogState.EARLY
    if 200 <= status < 300:
        return DialogState.CONFIRMED
    raise ValueError(f"status {status} does not create a dialog")


def _target(message: Request | Response, fallback: Uri) -> Uri:
    contacts = message.contacts
    return contacts[0].uri if contacts else fallback


def _loose(route: str) -> bool:
    uri = parse_name_addr(route, "Route").uri
    return isinstance(uri, SipUri) and "lr" in uri.params
