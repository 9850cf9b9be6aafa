"""Bytes → SIP message, for datagrams and for streams (RFC 3261 §7, §18.3).

``parse_message`` checks the start line, splits and names the header fields,
checks that mandatory headers are present and single-valued headers appear
once, and cuts the body by Content-Length.  The typed views of the headers
are parsed on access (see :meth:`Message.check`).  ``StreamFramer`` cuts a TCP
or TLS byte stream into messages and RFC 5626 keep-alive pings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from voxgate.sip.errors import ParseError
from voxgate.sip.grammar import TOKEN_RE
from voxgate.sip.headers import CANONICAL, MANDATORY_REQUEST_HEADERS, SINGLE_HEADERS
from voxgate.sip.message import SIP_VERSION, Headers, Request, Response, SipMessage


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard limits on what the parser accepts; a message over them gets 513 or is dropped."""

    max_message_size: int = 65535
    max_headers: int = 128
    max_line_length: int = 8192


DEFAULT_LIMITS: Final = Limits()

_FOLD_RE = re.compile(r"[ \t]*\r\n[ \t]+")
_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_STATUS_LINE_RE = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9])(?: (.*))?", re.IGNORECASE)
_REQUEST_URI_SCHEMES = frozenset({"sip", "sips", "tel"})
_HEAD_END: Final = b"\r\n\r\n"


def parse_message(
    data: bytes, limits: Limits = DEFAULT_LIMITS, *, stream: bool = False
) -> SipMessage:
    """Parse one SIP message.

    ``stream`` is true for a message framed by :class:`StreamFramer`, where
    Content-Length is mandatory.  Raises :class:`ParseError` whose ``status``
    is the response owed (``None``: drop).
    """
    if len(data) > limits.max_message_size:
        raise ParseError(
            "Message Too Large", 513 if _looks_like_request(data) else None,
            detail=f"{len(data)} bytes",
        )  # fmt: skip
    start = 0
    while data.startswith(b"\r\n", start):  # RFC 3261 §7.5: ignore CRLFs before the start line
        start += 2
    end = data.find(_HEAD_END, start)
    if end < 0:
        raise ParseError("Incomplete message", None, detail="no end of headers")
    raw_head = data[start:end]
    try:
        head = raw_head.decode("utf-8")
    except UnicodeDecodeError:
        raise _error_for(raw_head, "Bad Header Encoding", "invalid UTF-8") from None
    try:
        return _parse(head, raw_head, data, end + 4, limits, stream=stream)
    except ParseError as err:
        if not _looks_like_request(raw_head):
            raise err.dropped() from err
        raise


#: Bytes allowed in a header block besides CR and LF: printable ASCII, HTAB and
#: UTF-8 (RFC 3261 §25.1 TEXT-UTF8char and LWS).  Whatever ``translate`` leaves
#: must be CRLF pairs.
_ALLOWED_BYTES: Final = bytes([9, *range(0x20, 0x7F), *range(0x80, 0x100)])
#: Header name → (lookup key, canonical spelling), for names spelt either way.
_NAME_KEYS: Final[dict[str, tuple[str, str]]] = {
    spelling: (canonical.lower(), canonical)
    for lname, canonical in CANONICAL.items()
    for spelling in (lname, canonical)
}
_REQUEST_LINE_RE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+) ([^ ]+) SIP/2\.0")


def _parse(
    head: str, raw_head: bytes, data: bytes, body_start: int, limits: Limits, *, stream: bool
) -> SipMessage:
    crlf = raw_head.count(b"\r\n")
    if len(raw_head.translate(None, _ALLOWED_BYTES)) != 2 * crlf:
        raise ParseError("Bad Characters In Header", detail="control character or bare CR/LF")
    if crlf > limits.max_headers:
        raise ParseError("Too Many Headers", 513, detail=f"more than {limits.max_headers}")
    max_line = limits.max_line_length
    if len(head) > max_line and any(len(line) > max_line for line in head.split("\r\n")):
        raise ParseError("Header Line Too Long", 513, detail=f"over {max_line} characters")
    lines = head.split("\r\n")
    fields: list[tuple[str, str, str]] = []
    append = fields.append
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        entry = _NAME_KEYS.get(name)
        if entry is None:
            if line[:1] in (" ", "\t"):  # a continuation line (RFC 3261 §7.3.1): unfold
                fields.clear()
                lines = _FOLD_RE.sub(" ", head).split("\r\n")
                for unfolded in lines[1:]:
                    name, colon, value = unfolded.partition(":")
                    entry = _NAME_KEYS.get(name) or _header_name(unfolded, name, colon)
                    append((entry[0], entry[1], value.strip(" \t")))
                break
            entry = _header_name(line, name, colon)
        append((entry[0], entry[1], value.strip(" \t")))
    start_line = lines[0]
    is_response = start_line.startswith(("SIP/", "sip/"))
    keys = [f[0] for f in fields]
    singles = [key for key in keys if key in SINGLE_HEADERS]
    if len(singles) != len(set(singles)):
        duplicate = next(key for key in singles if singles.count(key) > 1)
        raise ParseError(f"Duplicate {CANONICAL[duplicate]} header")
    body = _cut_body(data, body_start, fields, keys, stream=stream)
    headers = Headers(fields)
    if is_response:
        status, reason = _parse_status_line(start_line)
        return Response(status, reason, headers, body)
    m = _REQUEST_LINE_RE.fullmatch(start_line)
    if m is None:
        method, uri_text = _bad_request_line(start_line)
    else:
        method, uri_text = m[1], m[2]
    scheme = uri_text[: uri_text.find(":")].lower()
    if scheme not in _REQUEST_URI_SCHEMES:
        if scheme and TOKEN_RE.fullmatch(scheme):
            raise ParseError("Unsupported URI Scheme", 416, detail=scheme)
        raise ParseError("Bad Request-URI", detail=f"{uri_text[:60]!r}")
    if not MANDATORY_REQUEST_HEADERS.issubset(keys):
        missing = next(key for key in MANDATORY_REQUEST_HEADERS if key not in keys)
        raise ParseError(f"Missing {CANONICAL[missing]} header")
    return Request(method, uri_text, headers, body)


def _header_name(line: str, name: str, colon: str) -> tuple[str, str]:
    """Slow path for a header name not spelt canonically."""
    if not colon:
        raise ParseError("Bad Header Line", detail=f"no colon in {line[:40]!r}")
    name = name.rstrip(" \t")
    entry = _NAME_KEYS.get(name) or _NAME_KEYS.get(name.lower())
    if entry is not None:
        return entry
    if TOKEN_RE.fullmatch(name) is None:
        raise ParseError("Bad Header Name", detail=f"{name[:40]!r}")
    return (name.lower(), name)


def _bad_request_line(line: str) -> tuple[str, str]:
    """Classify a request line that the fast pattern refused.

    A line that does not even look like ``method … SIP/x.y`` is not SIP: drop it.
    """
    parts = line.split(" ")
    looks_like_sip = TOKEN_RE.fullmatch(parts[0]) and _VERSION_RE.fullmatch(parts[-1])
    if len(parts) < 3 or not looks_like_sip:
        raise ParseError("Bad Request Line", None, detail=f"{line[:60]!r}")
    if parts[-1].upper() != SIP_VERSION:
        raise ParseError("Version Not Supported", 505, detail=parts[-1])
    if len(parts) != 3 or not parts[1]:
        raise ParseError("Bad Request Line", detail=f"{line[:60]!r}")
    return parts[0], parts[1]


def _parse_status_line(line: str) -> tuple[int, str]:
    m = _STATUS_LINE_RE.fullmatch(line)
    if m is None:
        raise ParseError("Bad Status Line", None, detail=f"{line[:60]!r}")
    return int(m[1]), m[2] or ""


def _cut_body(
    data: bytes, body_start: int, fields: list[tuple[str, str, str]], keys: list[str], *,
    stream: bool,
) -> bytes:
    if "content-length" not in keys:
        if stream:
            raise ParseError("Missing Content-Length", detail="required on stream transports")
        return data[body_start:]
    value = next(v for k, _n, v in fields if k == "content-length")
    if not value.isdigit() or not value.isascii() or len(value) > 10:
        raise ParseError("Bad Content-Length header", detail=f"{value[:20]!r}")
    length = int(value)
    available = len(data) - body_start
    if length > available:
        raise ParseError(
            "Bad Content-Length header", detail=f"claims {length} bytes, {available} present"
        )
    # RFC 3261 §18.3: bytes beyond Content-Length in a datagram are discarded.
    return data[body_start : body_start + length]


def _looks_like_request(data: bytes) -> bool:
    return not data.lstrip(b"\r\n")[:4].upper().startswith(b"SIP/")


def _error_for(data: bytes, reason: str, detail: str) -> ParseError:
    return ParseError(reason, 400 if _looks_like_request(data) else None, detail=detail)


@dataclass(frozen=True, slots=True)
class KeepAlivePing:
    """A double-CRLF ping on a stream (RFC 5626 §4.4.1); answer with one CRLF."""


Frame = bytes | KeepAlivePing
_CONTENT_LENGTH_RE = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*\r\n", re.I)


class StreamFramer:
    """Cuts a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3).

    Feed bytes with :meth:`feed`, then call :meth:`next_frame` until it returns
    ``None``.  A framing error (no Content-Length, oversize) raises
    :class:`ParseError`; the connection cannot be resynchronised and must close.
    """

    __slots__ = ("_buffer", "_limits")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._buffer = bytearray()
        self._limits = limits

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buffer += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return len(self._buffer)

    def next_frame(self) -> Frame | None:
        """The next complete message or ping, or ``None`` if more bytes are needed."""
        buf = self._buffer
        if buf.startswith(b"\r\n"):
            if buf.startswith(_HEAD_END):
                del buf[:4]
                return KeepAlivePing()
            if len(buf) < 4 and _HEAD_END.startswith(bytes(buf)):
                return None  # maybe the start of a ping: wait for the rest
            del buf[:2]  # a pong, or a CRLF before a start line (RFC 3261 §7.5)
            return self.next_frame()
        end = buf.find(_HEAD_END)
        limit = self._limits.max_message_size
        if end < 0:
            if len(buf) > limit:
                raise ParseError("Message Too Large", 513, detail="headers never end")
            return None
        m = _CONTENT_LENGTH_RE.search(buf, 0, end + 2)
        if m is None:
            raise ParseError("Missing Content-Length", detail="required on stream transports")
        total = end + 4 + int(m[1])
        if total > limit:
            raise ParseError("Message Too Large", 513, detail=f"{total} bytes")
        if len(buf) < total:
            return None
        frame = bytes(buf[:total])
        del buf[:total]
        return frame
