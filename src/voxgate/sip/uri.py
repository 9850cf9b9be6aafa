"""SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), parsed and serialized.

``parse_uri`` accepts any absolute URI so that header values such as
``<mailto:a@b>`` survive; ``SipUri`` and ``TelUri`` are the forms voxgate acts on.
URIs are values: make changed copies (``with_params``, :func:`dataclasses.replace`),
never change one in place (see :mod:`voxgate.sip.headers` on why not frozen):
:func:`parse_uri` hands the same value to every caller that parses the same text.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field, replace

from voxgate.sip.errors import ParseError
from voxgate.sip.grammar import HOSTNAME_RE, Params, check_escapes, format_params

_USER_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+")
_PASSWORD_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,%]*")
_PARAMS_RE = re.compile(
    r"(?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]+(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]*)?)*"
)
_URI_HEADERS_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/?:+$%=&]*")
_TEL_URI_RE = re.compile(
    r"tel:(?P<number>[0-9A-Fa-f*#+\-.()pw]+)(?P<params>(?:;[^;\s<>\"]+)*)", re.IGNORECASE
)
_ABSOLUTE_URI_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+\-.]*):(?P<rest>[^\s<>\"]+)")


@dataclass(slots=True, init=False)
class SipUri:
    """A ``sip:`` or ``sips:`` URI.  Parameter names are lower-cased."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    scheme: str = "sip"
    params: Params = field(default_factory=dict)
    headers: str | None = None

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        host: str,
        user: str | None = None,
        password: str | None = None,
        port: int | None = None,
        scheme: str = "sip",
        params: Params | None = None,
        headers: str | None = None,
    ) -> None:
        self.host = host
        self.user = user
        self.password = password
        self.port = port
        self.scheme = scheme
        self.params = {} if params is None else params
        self.headers = headers

    @property
    def secure(self) -> bool:
        """Whether this is a SIPS URI (RFC 3261 §19.1: TLS on every hop)."""
        return self.scheme == "sips"

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased, if any."""
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def host_port(self) -> str:
        """``host`` or ``host:port`` as written in Via sent-by."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_params(self, **params: str | None) -> SipUri:
        """A copy with the given parameters set (``None`` makes a flag parameter)."""
        merged = dict(self.params)
        merged.update(params)
        return replace(self, params=merged)

    def without_params(self, *names: str) -> SipUri:
        """A copy with the named parameters removed."""
        return replace(self, params={k: v for k, v in self.params.items() if k not in names})

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        out.append(format_params(self.params))
        if self.headers is not None:
            out.append("?" + self.headers)
        return "".join(out)


@dataclass(frozen=True, slots=True)
class TelUri:
    """A ``tel:`` URI (RFC 3966); ``number`` keeps visual separators as written."""

    number: str
    params: Params = field(default_factory=dict)
    scheme: str = "tel"

    @property
    def digits(self) -> str:
        """The number without visual separators (``-``, ``.``, ``(``, ``)``)."""
        return re.sub(r"[\-.()]", "", self.number)

    def __str__(self) -> str:
        return f"tel:{self.number}{format_params(self.params)}"


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """Any other absolute URI (``mailto:``, ``http:``, ``urn:``…), kept verbatim."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | TelUri | AbsoluteUri


@functools.lru_cache(maxsize=4096)
def parse_uri(text: str) -> Uri:
    """Parse an absolute URI; SIP, SIPS and tel URIs are checked against their grammar.

    Remembered by text (bounded, least recently used out: Request-URIs repeat); callers
    share the value.
    """
    colon = text.find(":")
    scheme = text[:colon].lower() if colon > 0 else ""
    if scheme in ("sip", "sips"):
        return parse_sip_uri(text)
    if scheme == "tel":
        m = _TEL_URI_RE.fullmatch(text)
        if m is None:
            raise ParseError("Bad URI", detail="malformed tel URI")
        return TelUri(m["number"], _parse_uri_params(m["params"]))
    m = _ABSOLUTE_URI_RE.fullmatch(text)
    if m is None:
        raise ParseError("Bad URI", detail=f"not an absolute URI: {text[:40]!r}")
    return AbsoluteUri(m["scheme"].lower(), m["rest"])


def parse_sip_uri(text: str) -> SipUri:
    """Parse a ``sip:``/``sips:`` URI strictly (RFC 3261 §25.1 SIP-URI).

    No part of a SIP URI but the userinfo may hold an unescaped ``@``, so the
    URI is cut with string operations and each part checked by its own rule.
    """
    scheme, _, rest = text.partition(":")
    scheme = scheme.lower()
    if scheme not in ("sip", "sips"):
        raise ParseError("Bad URI", detail=f"not a SIP URI: {text[:60]!r}")
    user = password = headers = None
    at = rest.find("@")
    if at >= 0:
        user, colon, pw = rest[:at].partition(":")
        if _USER_RE.fullmatch(user) is None or _PASSWORD_RE.fullmatch(pw) is None:
            raise ParseError("Bad URI", detail=f"bad userinfo in {text[:60]!r}")
        password = pw if colon else None
        rest = rest[at + 1 :]
    question = rest.find("?")
    if question >= 0:
        headers = rest[question + 1 :]
        rest = rest[:question]
        if _URI_HEADERS_RE.fullmatch(headers) is None:
            raise ParseError("Bad URI", detail="bad URI headers")
    semi = rest.find(";")
    params: Params = {}
    if semi >= 0:
        params = _parse_uri_params(rest[semi:])
        rest = rest[:semi]
    host, port = _split_host_port(rest, text)
    if "%" in text:
        check_escapes(text, "URI")
    return SipUri(host, user, password, port, scheme, params, headers)


def _split_host_port(hostport: str, text: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        close = hostport.find("]")
        host, port_text = hostport[: close + 1], hostport[close + 1 :]
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ParseError("Bad URI", detail="bad IPv6 reference") from None
        if port_text and port_text[0] != ":":
            raise ParseError("Bad URI", detail=f"bad host in {text[:60]!r}")
        port_text = port_text[1:]
    else:
        host, colon, port_text = hostport.partition(":")
        if HOSTNAME_RE.fullmatch(host) is None or (colon and not port_text):
            raise ParseError("Bad URI", detail=f"bad host in {text[:60]!r}")
    if not port_text:
        return host.lower(), None
    if not port_text.isdigit() or not port_text.isascii() or not 0 < int(port_text) < 65536:
        raise ParseError("Bad URI", detail=f"bad port in {text[:60]!r}")
    return host.lower(), int(port_text)


def _parse_uri_params(text: str) -> Params:
    params: Params = {}
    if not text:
        return params
    if _PARAMS_RE.fullmatch(text) is None:
        raise ParseError("Bad URI", detail=f"bad URI parameters {text[:40]!r}")
    for item in text[1:].split(";"):
        name, eq, value = item.partition("=")
        if not name:
            raise ParseError("Bad URI", detail="empty URI parameter")
        params[name.lower()] = value if eq else None
    return params
