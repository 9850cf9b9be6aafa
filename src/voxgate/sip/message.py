"""SIP requests and responses (RFC 3261 §7) and their serialization.

Header fields are stored as text in arrival order; the typed views (``via``,
``from_``, ``cseq``…) are parsed on first access, cached, and raise
:class:`~voxgate.sip.errors.ParseError` (400) when the text is malformed.
:meth:`Message.check` parses every header that the transaction and dialog
layers depend on, so a caller can turn a bad message into one 400 up front.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from voxgate.sip.errors import ParseError
from voxgate.sip.grammar import CALL_ID_RE, split_commas
from voxgate.sip.headers import (
    CANONICAL,
    LIST_HEADERS,
    CSeq,
    NameAddr,
    Via,
    canonical_name,
    header_key,
    parse_cseq,
    parse_name_addr,
    parse_via,
)
from voxgate.sip.uri import Uri, parse_uri

SIP_VERSION: Final = "SIP/2.0"

#: Default reason phrases (RFC 3261 §21 and later RFCs).
REASON_PHRASES: Final[dict[int, str]] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 301: "Moved Permanently",
    302: "Moved Temporarily", 305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 414: "Request-URI Too Long",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    421: "Extension Required", 422: "Session Interval Too Small", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    491: "Request Pending", 493: "Undecipherable", 500: "Server Internal Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Server Time-out", 505: "Version Not Supported", 513: "Message Too Large",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}  # fmt: skip


#: Lookup key and canonical name of every spelling of a known header name (a fast path of
#: header_key and canonical_name).
_ENTRIES: Final[dict[str, tuple[str, str]]] = {
    spelling: (canonical.lower(), canonical)
    for lname, canonical in CANONICAL.items()
    for spelling in (lname, canonical)
}
_KEYS: Final[dict[str, str]] = {spelling: key for spelling, (key, _) in _ENTRIES.items()}


def _entry(name: str) -> tuple[str, str]:
    """Lookup key and canonical spelling of a header name."""
    return _ENTRIES.get(name) or (header_key(name), canonical_name(name))


class Headers:
    """Ordered, case-insensitive header fields; compact names are expanded.

    Each field is one header line's value.  ``get_all`` splits list-valued
    headers (Via, Contact, Route…) at their commas so that ``Via: a, b`` and two
    Via lines read the same.
    """

    __slots__ = ("_fields", "_parsed")

    def __init__(self, fields: list[tuple[str, str, str]] | None = None) -> None:
        # (key, name, value): key is the lower-cased canonical name used for lookups.
        self._fields: list[tuple[str, str, str]] = fields if fields is not None else []
        self._parsed: dict[str, object] = {}

    @classmethod
    def of(cls, pairs: list[tuple[str, str]]) -> Headers:
        """Build from ``(name, value)`` pairs."""
        return cls([(header_key(n), canonical_name(n), v) for n, v in pairs])

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _key, name, value in self._fields:
            yield name, value

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = header_key(name)
        return any(f[0] == key for f in self._fields)

    def get(self, name: str) -> str | None:
        """The first field value of ``name``, or ``None``."""
        key = _KEYS.get(name) or header_key(name)
        for fkey, _name, value in self._fields:
            if fkey == key:
                return value
        return None

    def fields(self, name: str) -> list[str]:
        """Every field value of ``name``, one per header line, unsplit."""
        key = _KEYS.get(name) or header_key(name)
        return [value for fkey, _name, value in self._fields if fkey == key]

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``; list headers are split at their separating commas."""
        key = _KEYS.get(name) or header_key(name)
        values = [value for fkey, _name, value in self._fields if fkey == key]
        if key not in LIST_HEADERS:
            return values
        out: list[str] = []
        for value in values:
            out.extend(split_commas(value))
        return out

    def count(self, name: str) -> int:
        """How many header lines carry ``name``."""
        key = header_key(name)
        return sum(1 for f in self._fields if f[0] == key)

    def set(self, name: str, value: object) -> None:
        """Replace every field of ``name`` with one field at the first one's position."""
        key, canonical = _entry(name)
        text = str(value)
        fields = self._fields
        for i, f in enumerate(fields):
            if f[0] == key:
                fields[i] = (key, f[1], text)
                if any(fields[j][0] == key for j in range(i + 1, len(fields))):
                    fields[i + 1 :] = [g for g in fields[i + 1 :] if g[0] != key]
                break
        else:
            fields.append((key, canonical, text))
        if self._parsed:
            self._parsed.pop(key, None)

    def add(self, name: str, value: object) -> None:
        """Append a field."""
        key, canonical = _entry(name)
        self._fields.append((key, canonical, str(value)))
        if self._parsed:
            self._parsed.pop(key, None)

    def prepend(self, name: str, value: object) -> None:
        """Insert a field before the first field of the same name (or first of all)."""
        key, canonical = _entry(name)
        at = next((i for i, f in enumerate(self._fields) if f[0] == key), 0)
        self._fields.insert(at, (key, canonical, str(value)))
        self._parsed.pop(key, None)

    def replace_first_value(self, name: str, value: object) -> None:
        """Replace the first value of a list header (e.g. the top Via) where it stands; the
        other values of its line stay, on a line of their own after it."""
        key, _ = _entry(name)
        fields = self._fields
        for i, (fkey, fname, text) in enumerate(fields):
            if fkey == key:
                fields[i] = (fkey, fname, str(value))
                if key in LIST_HEADERS and "," in text:
                    rest = split_commas(text)[1:]
                    if rest:
                        fields.insert(i + 1, (fkey, fname, ", ".join(rest)))
                self._parsed.pop(key, None)
                return
        raise KeyError(name)

    def remove(self, name: str) -> None:
        """Remove every field of ``name``."""
        key = header_key(name)
        self._fields = [f for f in self._fields if f[0] != key]
        self._parsed.pop(key, None)

    def remove_first_value(self, name: str) -> str | None:
        """Remove the first value of a list header (e.g. the top Via) and return it."""
        key = header_key(name)
        for i, (fkey, fname, value) in enumerate(self._fields):
            if fkey == key:
                values = split_commas(value) if key in LIST_HEADERS else [value]
                if len(values) > 1:
                    self._fields[i] = (fkey, fname, ", ".join(values[1:]))
                else:
                    del self._fields[i]
                self._parsed.pop(key, None)
                return values[0]
        return None

    def subset(self, keys: tuple[str, ...]) -> Headers:
        """A new Headers with only the fields whose canonical keys are in ``keys``.

        Parsed views of those fields are values, so the copy shares them.
        """
        copy = Headers([f for f in self._fields if f[0] in keys])
        copy._parsed = {k: v for k, v in self._parsed.items() if k in keys}
        return copy

    def copy(self) -> Headers:
        """An independent copy (parsed views are not shared)."""
        return Headers(list(self._fields))

    def cached(self, key: str) -> object | None:
        """A parsed view stored by :meth:`remember`, if still valid."""
        return self._parsed.get(key)

    def remember(self, key: str, value: object) -> None:
        """Store a parsed view; any change to the header named ``key`` forgets it."""
        self._parsed[key] = value

    def serialize_into(self, out: list[str]) -> None:
        """Append ``Name: value`` lines (without CRLF) to ``out``."""
        for _key, name, value in self._fields:
            out.append(f"{name}: {value}")


class Message:
    """What requests and responses share: headers, body, and typed header views."""

    __slots__ = ("body", "headers")

    def __init__(self, headers: Headers, body: bytes = b"") -> None:
        self.headers = headers
        self.body = body

    # -- typed views ---------------------------------------------------------
    @property
    def via(self) -> list[Via]:
        """Every Via value, top first."""
        cached = self.headers.cached("via")
        if cached is None:
            cached = [parse_via(v) for v in self.headers.get_all("via")]
            self.headers.remember("via", cached)
        assert isinstance(cached, list)
        return cached

    @property
    def top_via(self) -> Via:
        """The topmost Via (RFC 3261 §8.2.6: responses are routed by it)."""
        vias = self.via
        if not vias:
            raise ParseError("Missing Via header")
        return vias[0]

    @property
    def from_(self) -> NameAddr:
        """The From header."""
        return self._name_addr("from", "From")

    @property
    def to(self) -> NameAddr:
        """The To header."""
        return self._name_addr("to", "To")

    @property
    def call_id(self) -> str:
        """The Call-ID, checked against the ``word ["@" word]`` grammar."""
        cached = self.headers.cached("call-id")
        if cached is None:
            value = self.headers.get("call-id")
            if value is None:
                raise ParseError("Missing Call-ID header")
            if CALL_ID_RE.fullmatch(value) is None:
                raise ParseError("Bad Call-ID header", detail=f"{value[:40]!r}")
            self.headers.remember("call-id", value)
            cached = value
        assert isinstance(cached, str)
        return cached

    @property
    def cseq(self) -> CSeq:
        """The CSeq header."""
        cached = self.headers.cached("cseq")
        if cached is None:
            value = self.headers.get("cseq")
            if value is None:
                raise ParseError("Missing CSeq header")
            cached = parse_cseq(value)
            self.headers.remember("cseq", cached)
        assert isinstance(cached, CSeq)
        return cached

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards (0…255), or ``None`` when absent."""
        value = self.headers.get("max-forwards")
        if value is None:
            return None
        if not value.isdigit() or not value.isascii() or int(value) > 255:
            raise ParseError("Bad Max-Forwards header", detail=f"{value[:20]!r}")
        return int(value)

    @property
    def contact_star(self) -> bool:
        """Whether Contact is ``*`` (RFC 3261 §10.2.2 remove all bindings)."""
        return self.headers.get_all("contact") == ["*"]

    @property
    def contacts(self) -> list[NameAddr]:
        """Every Contact value (empty for ``Contact: *``)."""
        cached = self.headers.cached("contact")
        if cached is None:
            values = self.headers.get_all("contact")
            if "*" in values:
                if len(values) != 1:
                    raise ParseError("Bad Contact header", detail="'*' mixed with addresses")
                cached = []
            else:
                cached = [parse_name_addr(v, "Contact") for v in values]
            self.headers.remember("contact", cached)
        assert isinstance(cached, list)
        return cached

    @property
    def content_type(self) -> str | None:
        """The media type of the body, lower-cased, without parameters."""
        value = self.headers.get("content-type")
        return value.split(";", 1)[0].strip().lower() if value else None

    def _name_addr(self, key: str, what: str) -> NameAddr:
        cached = self.headers.cached(key)
        if cached is None:
            value = self.headers.get(key)
            if value is None:
                raise ParseError(f"Missing {what} header")
            cached = parse_name_addr(value, what)
            self.headers.remember(key, cached)
        assert isinstance(cached, NameAddr)
        return cached

    def check(self) -> None:
        """Parse every header the transaction and dialog layers rely on.

        Raises :class:`ParseError` naming the first bad header.
        """
        if not self.via:
            raise ParseError("Missing Via header")
        _ = (self.from_, self.to, self.call_id, self.cseq, self.max_forwards, self.contacts)

    # -- serialization ---------------------------------------------------------
    def start_line(self) -> str:
        """The request or status line."""
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Serialize; Content-Length is always written and always matches the body."""
        lines = [self.start_line()]
        self.headers.set("Content-Length", str(len(self.body)))
        self.headers.serialize_into(lines)
        lines.append("")
        lines.append("")
        return "\r\n".join(lines).encode() + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


class Request(Message):
    """A SIP request (RFC 3261 §7.1).

    The Request-URI may be given as text; it is then parsed on first access of
    :attr:`uri` (or by :meth:`check`), which raises 400 if it is malformed.
    """

    __slots__ = ("_uri", "_uri_text", "method")

    def __init__(self, method: str, uri: Uri | str, headers: Headers, body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.method = method
        self._uri: Uri | None
        if isinstance(uri, str):
            self._uri, self._uri_text = None, uri
        else:
            self._uri, self._uri_text = uri, ""

    @property
    def uri(self) -> Uri:
        """The Request-URI."""
        if self._uri is None:
            try:
                self._uri = parse_uri(self._uri_text)
            except ParseError as err:
                raise ParseError("Bad Request-URI", detail=err.detail) from None
        return self._uri

    @uri.setter
    def uri(self, value: Uri) -> None:
        self._uri = value

    def start_line(self) -> str:
        uri = self._uri_text if self._uri is None else str(self._uri)
        return f"{self.method} {uri} {SIP_VERSION}"

    def check(self) -> None:
        """Also parse the Request-URI and require the CSeq method to match the
        request method (RFC 3261 §8.1.1.5)."""
        _ = self.uri
        super().check()
        if self.cseq.method != self.method:
            raise ParseError("CSeq Method Mismatch", detail=f"{self.cseq.method} != {self.method}")

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.start_line().split(' ')[1]}>"


class Response(Message):
    """A SIP response (RFC 3261 §7.2)."""

    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str, headers: Headers, body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = reason

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"

    def check(self) -> None:
        """A malformed response is dropped, never answered (RFC 3261 §16.7)."""
        try:
            super().check()
        except ParseError as err:
            raise err.dropped() from err

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


SipMessage = Request | Response

#: Headers a response copies from its request (RFC 3261 §8.2.6.2).
_COPIED_TO_RESPONSE = ("via", "from", "to", "call-id", "cseq")


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    body: bytes = b"",
) -> Response:
    """Build a response to ``request`` with Via, From, To, Call-ID and CSeq copied.

    ``to_tag`` is added to To unless the request's To already carries a tag
    (RFC 3261 §8.2.6.2); a 100 Trying never gets one.
    """
    headers = request.headers.subset(_COPIED_TO_RESPONSE)
    if status == 100:
        timestamp = request.headers.get("timestamp")
        if timestamp is not None:
            headers.add("Timestamp", timestamp)
    elif to_tag is not None and request.to.tag is None:
        # the request's To as it was written, with the tag (RFC 3261 §8.2.6.2)
        headers.set("To", f"{request.headers.get('to')};tag={to_tag}")
        headers.remember("to", request.to.with_params(tag=to_tag))
    return Response(status, reason or REASON_PHRASES.get(status, "Unknown"), headers, body)
