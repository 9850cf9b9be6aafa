"""Answers a UAS core owes on its own (RFC 3261 §8.2, §11, §12.2.2, §9.2).

These are the responses for requests that no application handles: OPTIONS
addressed to the node itself, unknown or unserved methods, unsupported
extensions, stray CANCELs and requests inside dialogs that do not exist.
They also answer malformed requests with what the parser said is owed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from voxgate.sip.errors import ParseError
from voxgate.sip.headers import canonical_name
from voxgate.sip.message import REASON_PHRASES, SIP_VERSION, Request, Response, make_response

#: Methods every SIP element understands (RFC 3261 and the common extensions).
KNOWN_METHODS = frozenset(
    {
        "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What this node says it supports in OPTIONS answers and 405/420 responses."""

    allow: tuple[str, ...] = ("OPTIONS", "ACK", "CANCEL")
    accept: tuple[str, ...] = ("application/sdp",)
    supported: tuple[str, ...] = ("outbound", "path")
    server: str = "voxgate"
    extra_headers: tuple[tuple[str, str], ...] = field(default=())


def answer_unhandled(request: Request, caps: Capabilities, *, to_tag: str) -> Response | None:
    """The response owed to a request that no application took, or ``None`` for ACK.

    - ACK is never answered (RFC 3261 §17.2.3);
    - ``Require`` with an option we lack → 420 with Unsupported (§8.2.2.3),
      except on CANCEL and ACK;
    - a request with a To tag belongs to a dialog we do not know → 481 (§12.2.2);
    - CANCEL with no matching transaction → 481 (§9.2);
    - OPTIONS → 200 with Allow, Accept and Supported (§11.2);
    - a known method we do not serve → 405 with Allow; an unknown one → 501 (§8.2.1).
    """
    method = request.method
    if method == "ACK":
        return None
    if method != "CANCEL":
        required = [o.strip() for v in request.headers.get_all("Require") for o in v.split(",")]
        unsupported = [o for o in required if o and o not in caps.supported]
        if unsupported:
            response = _response(request, 420, caps, to_tag)
            response.headers.add("Unsupported", ", ".join(unsupported))
            return response
    if request.to.tag is not None or method == "CANCEL":
        return _response(request, 481, caps, to_tag)
    if method == "OPTIONS":
        response = _response(request, 200, caps, to_tag)
        response.headers.add("Allow", ", ".join(caps.allow))
        response.headers.add("Accept", ", ".join(caps.accept))
        response.headers.add("Supported", ", ".join(caps.supported))
        return response
    if method in KNOWN_METHODS:
        response = _response(request, 405, caps, to_tag)
        response.headers.add("Allow", ", ".join(caps.allow))
        return response
    return _response(request, 501, caps, to_tag)


def _response(request: Request, status: int, caps: Capabilities, to_tag: str) -> Response:
    response = make_response(request, status, to_tag=to_tag)
    response.headers.add("Server", caps.server)
    for name, value in caps.extra_headers:
        response.headers.add(name, value)
    return response


#: Header lines a response must copy, found without trusting the rest of the message.
_COPY_RE = re.compile(
    rb"^(via|v|from|f|to|t|call-id|i|cseq)[ \t]*:[ \t]*([^\r\n]*)\r?$", re.IGNORECASE | re.MULTILINE
)


def error_response_bytes(data: bytes, err: ParseError, server: str, to_tag: str) -> bytes | None:
    """The response to a request that failed to parse, or ``None`` if it can't be sent.

    The parser could not build a message, so the lines a response copies (Via,
    From, To, Call-ID, CSeq; RFC 3261 §8.2.6.2) are lifted from the raw bytes.
    Without a Via nobody could match the response: nothing is sent.  A To
    without a tag gets ``to_tag`` (§8.2.6.2).
    """
    if err.status is None:
        return None
    head_end = data.find(b"\r\n\r\n")
    head = data if head_end < 0 else data[:head_end]
    lines: list[bytes] = []
    copied: set[str] = set()
    for m in _COPY_RE.finditer(head):
        name = canonical_name(m[1].decode())
        if name in copied and name != "Via":
            continue  # a duplicate of a single-valued header: the first one stands
        copied.add(name)
        value = m[2].strip()
        if name == "To" and b"tag=" not in value.lower():
            value += b";tag=" + to_tag.encode()
        lines.append(name.encode() + b": " + value)
    if not any(line.startswith(b"Via:") for line in lines):
        return None
    reason = err.reason if err.reason.isprintable() else REASON_PHRASES.get(err.status, "Error")
    start = f"{SIP_VERSION} {err.status} {reason}".encode()
    tail = [f"Server: {server}".encode(), b"Content-Length: 0", b"", b""]
    return b"\r\n".join([start, *lines, *tail])
