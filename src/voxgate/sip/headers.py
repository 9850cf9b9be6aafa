"""Header names and the typed header values voxgate acts on (RFC 3261 §7.3, §20).

Header values are kept as text in :class:`voxgate.sip.message.Headers`; the
classes here are parsed from that text on demand and serialize back with
``str()``.  They are values: never change one in place (messages cache them,
and :func:`parse_name_addr` hands the same value to every message that carries the
same text), make a changed copy with ``with_params`` or :func:`dataclasses.replace`.
They are not frozen only because frozen dataclasses cost 4x more to build, and the
parser builds several per message.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from voxgate.sip.errors import ParseError
from voxgate.sip.grammar import (
    QUOTED_RE,
    TOKEN_RE,
    Params,
    format_params,
    parse_params,
    quote,
    skip_lws,
    unquote,
)
from voxgate.sip.uri import SipUri, Uri, parse_uri

#: Canonical spelling of well-known header names, keyed by lower-cased name.
#: Compact forms (RFC 3261 §7.3.3 and later RFCs) map to their full names.
_NAMES = (
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "In-Reply-To",
    "Max-Forwards", "Min-Expires", "Min-SE", "MIME-Version", "Organization", "P-Asserted-Identity",
    "Path", "Priority", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck",
    "Reason", "Record-Route", "Refer-To", "Referred-By", "Reject-Contact", "Reply-To", "Require",
    "Retry-After", "Route", "RSeq", "Server", "Service-Route", "Session-Expires",
    "Subject", "Subscription-State", "Supported", "Timestamp", "To", "Unsupported", "User-Agent",
    "Via", "Warning", "WWW-Authenticate", "Flow-Timer",
)  # fmt: skip
CANONICAL: dict[str, str] = {name.lower(): name for name in _NAMES}
CANONICAL.update(
    {
        "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
        "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To",
        "v": "Via", "o": "Event", "u": "Allow-Events", "r": "Refer-To", "b": "Referred-By",
        "x": "Session-Expires", "a": "Accept-Contact", "j": "Reject-Contact",
    }
)  # fmt: skip

#: Headers whose field value is a comma-separated list (RFC 3261 §7.3.1).
LIST_HEADERS = frozenset(
    {
        "via", "contact", "route", "record-route", "path", "service-route", "allow",
        "supported", "require", "proxy-require", "unsupported", "accept", "accept-encoding",
        "accept-language", "content-encoding", "content-language", "allow-events",
        "in-reply-to", "p-asserted-identity", "accept-contact", "reject-contact", "call-info",
        "alert-info", "error-info", "warning", "reason",
    }
)  # fmt: skip
#: Headers that may appear at most once in a message.
SINGLE_HEADERS = frozenset(
    {"to", "from", "call-id", "cseq", "max-forwards", "content-length", "content-type", "expires"}
)
#: Headers every request carries (RFC 3261 §8.1.1); Max-Forwards is checked separately.
MANDATORY_REQUEST_HEADERS = frozenset({"via", "from", "to", "call-id", "cseq"})


def header_key(name: str) -> str:
    """Lower-cased canonical key of a header name (compact forms expanded)."""
    lname = name.lower()
    canonical = CANONICAL.get(lname)
    return canonical.lower() if canonical is not None else lname


def canonical_name(name: str) -> str:
    """Canonical spelling of a header name; unknown names are returned unchanged."""
    return CANONICAL.get(name.lower(), name)


_VIA_RE = re.compile(
    r"SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*(?P<transport>[A-Za-z0-9\-.!%*_+`'~]+)[ \t]+"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?:[ \t]*:[ \t]*(?P<port>[0-9]{1,5}))?[ \t]*",
    re.IGNORECASE,
)

#: RFC 3261 §8.1.1.7 magic cookie that marks a branch as unique.
BRANCH_COOKIE = "z9hG4bK"


@dataclass(slots=True, init=False)
class Via:
    """One Via value (RFC 3261 §20.42, RFC 3581 rport)."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=dict)

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: Params | None = None,
    ) -> None:
        self.transport = transport
        self.host = host
        self.port = port
        self.params = {} if params is None else params

    @property
    def branch(self) -> str | None:
        """The branch parameter, or ``None`` for an RFC 2543 peer."""
        return self.params.get("branch")

    @property
    def sent_by(self) -> tuple[str, int | None]:
        """Host and port of the sent-by field."""
        return (self.host, self.port)

    @property
    def rport_requested(self) -> bool:
        """Whether the client asked for symmetric response routing (RFC 3581 §3)."""
        return "rport" in self.params

    def with_params(self, **params: str | None) -> Via:
        """A copy with parameters set (``None`` makes a flag)."""
        return Via(self.transport, self.host, self.port, {**self.params, **params})

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"


def parse_via(value: str) -> Via:
    """Parse one Via value (already split at commas)."""
    m = _VIA_RE.match(value)
    if m is None:
        raise ParseError("Bad Via header", detail=f"{value[:60]!r}")
    host = m["host"]
    port = int(m["port"]) if m["port"] is not None else None
    if port is not None and not 0 < port < 65536:
        raise ParseError("Bad Via header", detail=f"port {port} out of range")
    params = parse_params(value[m.end() :], "Via")
    if "branch" in params and not params["branch"]:
        raise ParseError("Bad Via header", detail="empty branch")
    return Via(m["transport"].upper(), host.lower(), port, params)


@dataclass(slots=True, init=False)
class NameAddr:
    """A name-addr or addr-spec with header parameters (From, To, Contact, Route…)."""

    uri: Uri
    display_name: str | None = None
    params: Params = field(default_factory=dict)

    def __init__(
        self,
        uri: Uri,
        display_name: str | None = None,
        params: Params | None = None,
    ) -> None:
        self.uri = uri
        self.display_name = display_name
        self.params = {} if params is None else params

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (From/To, RFC 3261 §19.3)."""
        return self.params.get("tag")

    @property
    def sip_uri(self) -> SipUri:
        """The URI as a SIP URI; raises 400 if it is of another scheme."""
        if isinstance(self.uri, SipUri):
            return self.uri
        raise ParseError("Bad header", detail=f"expected a SIP URI, got {self.uri.scheme}:")

    def with_params(self, **params: str | None) -> NameAddr:
        """A copy with header parameters set (``None`` makes a flag)."""
        return NameAddr(self.uri, self.display_name, {**self.params, **params})

    def __str__(self) -> str:
        name = "" if self.display_name is None else quote(self.display_name) + " "
        return f"{name}<{self.uri}>{format_params(self.params)}"


_SIMPLE_NAME_ADDR_RE = re.compile(
    r'(?:"([^"\\\r\n]*)"|([A-Za-z0-9\-.!%*_+`\'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`\'~]+)*))?'
    r'[ \t]*<([^<>"\s]+)>(.*)'
)


#: How many parsed From/To/Contact/Route values are remembered by their text.
NAME_ADDR_MEMO = 4096


@functools.lru_cache(maxsize=NAME_ADDR_MEMO)
def parse_name_addr(value: str, what: str) -> NameAddr:
    """Parse ``[display-name] <uri> *(;param)`` or ``addr-spec *(;param)`` (RFC 3261 §20.10).

    Remembered by text (bounded, least recently used out): a phone sends each REGISTER and
    INVITE twice, challenged then with credentials, with the same From, To and Contact, and
    refreshes with the same To and Contact.  Callers share the value: never change it.
    """
    simple = _SIMPLE_NAME_ADDR_RE.fullmatch(value)
    if simple is not None:  # <uri> after an optional name free of escapes
        name = simple[1] if simple[2] is None else " ".join(simple[2].split())
        return NameAddr(parse_uri(simple[3]), name, parse_params(simple[4].strip(" \t"), what))
    if not value:
        raise ParseError(f"Bad {what} header", detail="empty value")
    display: str | None = None
    i = 0
    if value[0] == '"':
        q = QUOTED_RE.match(value)
        if q is None:
            raise ParseError(f"Bad {what} header", detail="unterminated display name")
        display = unquote(q.group())
        i = skip_lws(value, q.end())
        if i >= len(value) or value[i] != "<":
            raise ParseError(f"Bad {what} header", detail="display name without <URI>")
    else:
        lt = value.find("<")
        if lt >= 0:
            words = value[:lt].split()
            if any(TOKEN_RE.fullmatch(w) is None for w in words):
                raise ParseError(f"Bad {what} header", detail="bad display name")
            display = " ".join(words) if words else None
            i = lt
    if i < len(value) and value[i] == "<":
        gt = value.find(">", i)
        if gt < 0:
            raise ParseError(f"Bad {what} header", detail="'<' without '>'")
        uri = parse_uri(value[i + 1 : gt])
        rest = value[gt + 1 :]
    else:
        semi = value.find(";")
        spec = value if semi < 0 else value[:semi]
        rest = "" if semi < 0 else value[semi:]
        if any(c in spec for c in " \t,?"):
            raise ParseError(f"Bad {what} header", detail="addr-spec needs <> around this URI")
        uri = parse_uri(spec)
    rest = rest.strip(" \t")
    return NameAddr(uri, display, parse_params(rest, what))


@dataclass(slots=True, init=False)
class CSeq:
    """The CSeq header (RFC 3261 §20.16)."""

    seq: int
    method: str

    def __init__(self, seq: int, method: str) -> None:
        self.seq = seq
        self.method = method

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


_CSEQ_RE = re.compile(r"([0-9]{1,10})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)")


def parse_cseq(value: str) -> CSeq:
    """Parse a CSeq value; the number must be below 2**31 (RFC 3261 §8.1.1.5)."""
    m = _CSEQ_RE.fullmatch(value)
    if m is None:
        raise ParseError("Bad CSeq header", detail=f"{value[:40]!r}")
    seq = int(m[1])
    if seq >= 2**31:
        raise ParseError("Bad CSeq header", detail="sequence number is not below 2**31")
    return CSeq(seq, m[2])

