"""Errors raised by the SIP core.

Every error caused by the remote side carries the answer that a server owes it
(STYLE.md rule 5): ``status`` is the response code to send, or ``None`` when the
message must be dropped silently (a malformed response, a datagram that is not
SIP at all).  The adapter catches these at the per-message boundary and acts on
them; nothing else in the core needs a broad ``except``.
"""

from __future__ import annotations


class SipError(Exception):
    """Base class of every error raised by :mod:`voxgate.sip`."""


class ParseError(SipError, ValueError):
    """A message could not be parsed or violates the RFC 3261 grammar.

    ``status`` is the response a server owes the sender (400, 413, 416, 505,
    513) or ``None`` when the message is to be dropped.  ``reason`` is the
    reason phrase to put in that response; it names the fault, e.g.
    ``"Bad CSeq header"``.
    """

    def __init__(self, reason: str, status: int | None = 400, *, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.status = status
        self.detail = detail

    def dropped(self) -> ParseError:
        """Return a copy that tells the caller to drop rather than answer."""
        return ParseError(self.reason, None, detail=self.detail)


class TransactionError(SipError):
    """An event arrived that the transaction state machine cannot take."""

    def __init__(self, machine: str, state: str, event: str) -> None:
        super().__init__(f"{machine}: event {event} is illegal in state {state}")
        self.machine = machine
        self.state = state
        self.event = event
