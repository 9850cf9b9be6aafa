"""What a back-to-back user agent copies from one leg to the other, and how it builds the
requests of its own legs (RFC 3261 §12.2.1.1, §13, §20).

Shared by the call control's B2BUA (:mod:`voxgate.pbx.calls`) and the edge's
(:mod:`voxgate.edge.calls`): each leg has identifiers of its own, and only these headers,
option tags and bodies cross from one leg to the other.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from voxgate.sip.dialog import Dialog
from voxgate.sip.flow import Address, Flow
from voxgate.sip.headers import BRANCH_COOKIE
from voxgate.sip.message import Headers, Request, Response


def new_branch() -> str:
    """A fresh RFC 3261 branch (magic cookie + 64 random bits)."""
    return BRANCH_COOKIE + secrets.token_hex(8)


def host_port(address: Address) -> str:
    """``host:port`` as written in Via sent-by and URIs (IPv6 in brackets)."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def name_addr(display: str, uri: str, tag: str) -> str:
    """A From/To value with a display name stripped of quotes and backslashes."""
    name = display.replace("\\", "").replace('"', "")
    return (f'"{name}" ' if name else "") + f"<{uri}>;tag={tag}"


def in_dialog(dialog: Dialog, method: str, flow: Flow, sent_by: str, cseq: int | None = None
              ) -> Request:  # fmt: skip
    """A request of ``dialog`` leaving on ``flow`` with Via sent-by ``sent_by``."""
    return dialog.create_request(method, branch=new_branch(), via_host=sent_by,
                                 via_transport=flow.transport.value, cseq=cseq)  # fmt: skip


def copy_headers(source: Headers, target: Headers, names: tuple[str, ...]) -> None:
    """Append every field of ``names`` from ``source`` to ``target``."""
    for name in names:
        for value in source.fields(name):
            target.add(name, value)


def copy_options(source: Headers, target: Headers, passed: frozenset[str]) -> None:
    """Supported/Require, keeping only the option tags in ``passed`` (lower case)."""
    for name in ("Supported", "Require"):
        options = [
            o.strip() for v in source.fields(name) for o in v.split(",")
            if o.strip().lower() in passed
        ]  # fmt: skip
        if options:
            target.set(name, ", ".join(options))


def copy_body(source: Request, target: Request) -> None:
    """The body with its Content-Type and Content-Disposition (an ACK's late answer)."""
    if source.body:
        target.body = source.body
        for name in ("Content-Type", "Content-Disposition"):
            value = source.headers.get(name)
            if value is not None:
                target.headers.set(name, value)


@dataclass(slots=True, init=False)
class Unacked:
    """A 2xx to an INVITE that the B2BUA, as the UAS of one leg, sends again over UDP until
    its ACK arrives, doubling the interval up to T2, giving up after 64·T1 (RFC 3261
    §13.3.1.4).  On a reliable transport it is only waited for, never resent."""

    response: Response
    flow: Flow
    cseq: int
    to_a: bool
    next_at: float
    interval: float
    give_up_at: float

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        response: Response,
        flow: Flow,
        cseq: int,
        to_a: bool,
        next_at: float,
        interval: float,
        give_up_at: float,
    ) -> None:
        self.response = response
        self.flow = flow
        self.cseq = cseq
        self.to_a = to_a
        self.next_at = next_at
        self.interval = interval
        self.give_up_at = give_up_at

    @classmethod
    def start(
        cls, response: Response, flow: Flow, cseq: int, to_a: bool, *, now: float, t1: float
    ) -> Unacked:
        """The 2xx just sent at ``now``."""
        next_at = float("inf") if flow.transport.reliable else now + t1
        return cls(response, flow, cseq, to_a, next_at, t1, now + 64 * t1)

    @property
    def deadline(self) -> float:
        """When something is due: the next resend or giving up."""
        return min(self.next_at, self.give_up_at)

    def resend_due(self, now: float, t2: float) -> bool:
        """Whether to send the 2xx again at ``now``; if so, the next resend is scheduled."""
        if now < self.next_at:
            return False
        self.interval = min(2 * self.interval, t2)
        self.next_at = now + self.interval
        return True
