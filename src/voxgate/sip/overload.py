"""What a saturated node defers first: requests that start new work without credentials.

A node that receives more SIP over UDP than it can handle queues datagrams in the kernel
until the queue overflows, and then the kernel drops whatever arrives: as often the second
half of a registration or the ACK of a call already set up as a new request.  Every loss of
work in progress costs the work already done and a retransmission; past a point the node
completes fewer registrations than it did below its limit.

While its receive queue is filling (:class:`voxgate.transport.udp.UdpListener`), the node
skips instead the datagrams :func:`deferrable` picks, before parsing them: out-of-dialog
requests (no To tag) that carry no credentials.  Their answer would be a challenge, or work
that has not started; the phone sends them again after SIP's retransmission timer
(RFC 3261 §17.1.2.2: 500 ms, then doubling), by which time the queue has drained.
Responses, ACKs, in-dialog requests and requests with credentials are always read.

The test reads bytes, not a parsed message, so that a deferred datagram costs a few
searches.  Where it is unsure (folded header lines, odd spellings) it errs towards reading
the datagram: a wrong "no" costs the parse it meant to save, never a request.
"""

from __future__ import annotations

import re
from typing import Final

#: Methods whose out-of-dialog requests start new work (RFC 3261, 3265, 3428, 3903, 3515).
NEW_WORK: Final = (
    b"REGISTER ", b"INVITE ", b"OPTIONS ", b"SUBSCRIBE ", b"MESSAGE ", b"PUBLISH ", b"REFER ",
)  # fmt: skip
#: An Authorization or Proxy-Authorization header line (RFC 3261 §20.7, §20.28).
_CREDENTIALS_RE: Final = re.compile(rb"\n(?:proxy-)?authorization[ \t]*:", re.IGNORECASE)
#: A To header line (or its compact form ``t``) with a ``tag`` parameter (RFC 3261 §20.39).
_TO_TAG_RE: Final = re.compile(rb"\n(?:to|t)[ \t]*:[^\n]*;[ \t]*tag[ \t]*=", re.IGNORECASE)


def deferrable(data: bytes) -> bool:
    """Whether the datagram ``data`` is an out-of-dialog request without credentials that
    starts new work: what a saturated node skips first (the sender retransmits it)."""
    if not data.startswith(NEW_WORK):
        return False
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    return _CREDENTIALS_RE.search(head) is None and _TO_TAG_RE.search(head) is None
