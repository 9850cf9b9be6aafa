"""SDP text ⇄ model (RFC 8866 §5, §9 grammar), strict on structure.

Lines must come in the order of RFC 8866 §5 (v o s i u e p c b t r z k a, then
m sections with i c b k a).  CRLF or bare LF line ends are accepted, as real
peers send both; output always uses CRLF.  Well-formed CRLF input serializes
back byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voxgate.sdp.errors import SdpError
from voxgate.sdp.model import Attribute, Connection, MediaDescription, Origin, SessionDescription


@dataclass(frozen=True, slots=True)
class SdpLimits:
    """What a description may hold."""

    max_size: int = 65536
    max_lines: int = 2000
    max_media: int = 32


DEFAULT_SDP_LIMITS = SdpLimits()

#: Session-level line types in their required order (RFC 8866 §5).
_SESSION_ORDER = "vosiuepcbtrzka"
_MEDIA_ORDER = "icbka"
_ATTR_NAME_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_MEDIA_RE = re.compile(r"([a-z]+) ([0-9]+)(?:/([0-9]+))? ([A-Za-z0-9/.\-_]+)((?: [^ ]+)*)")


def parse_sdp(data: bytes | str, limits: SdpLimits = DEFAULT_SDP_LIMITS) -> SessionDescription:
    """Parse an SDP body; raises :class:`SdpError` naming the line and the fault."""
    if len(data) > limits.max_size:
        raise SdpError(f"SDP larger than {limits.max_size} bytes")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SdpError("SDP is not UTF-8") from None
    else:
        text = data
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > limits.max_lines:
        raise SdpError(f"SDP has more than {limits.max_lines} lines")
    if not lines or lines[0] != "v=0":
        raise SdpError("line 1: SDP must start with v=0")
    session: dict[str, list[str]] = {t: [] for t in _SESSION_ORDER}
    media_blocks: list[tuple[int, str, dict[str, list[str]]]] = []
    position = 0
    order = _SESSION_ORDER
    for number, line in enumerate(lines, 1):
        if len(line) < 2 or line[1] != "=" or not line[0].islower():
            raise SdpError(f"line {number}: not a type=value line: {line[:40]!r}")
        kind, value = line[0], line[2:]
        if any(ch in value for ch in "\r\0"):
            raise SdpError(f"line {number}: control character in value")
        if kind == "m":
            if len(media_blocks) >= limits.max_media:
                raise SdpError(f"more than {limits.max_media} media sections")
            media_blocks.append((number, value, {t: [] for t in _MEDIA_ORDER}))
            order, position = _MEDIA_ORDER, 0
            continue
        at = order.find(kind)
        if at < 0:
            raise SdpError(f"line {number}: {kind}= is not allowed here")
        if at < position:
            raise SdpError(f"line {number}: {kind}= is out of order")
        position = at
        target = media_blocks[-1][2] if media_blocks else session
        target[kind].append(value)
    return _build(session, media_blocks)


def _one(values: list[str], kind: str, *, required: bool) -> str | None:
    if len(values) > 1:
        raise SdpError(f"more than one {kind}= line")
    if required and not values:
        raise SdpError(f"missing {kind}= line")
    return values[0] if values else None


def _connection(value: str, where: str) -> Connection:
    parts = value.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SdpError(f"{where}: bad c= line {value!r}")
    return Connection(*parts)


def _attributes(values: list[str], where: str) -> tuple[Attribute, ...]:
    out = []
    for value in values:
        name, colon, rest = value.partition(":")
        if _ATTR_NAME_RE.fullmatch(name) is None:
            raise SdpError(f"{where}: bad attribute name in a={value[:40]!r}")
        out.append(Attribute(name, rest if colon else None))
    return tuple(out)


def _build(
    session: dict[str, list[str]], blocks: list[tuple[int, str, dict[str, list[str]]]]
) -> SessionDescription:
    origin_text = _one(session["o"], "o", required=True)
    assert origin_text is not None
    origin_parts = origin_text.split(" ")
    if len(origin_parts) != 6 or not all(origin_parts):
        raise SdpError(f"bad o= line {origin_text!r}")
    name = _one(session["s"], "s", required=True)
    if not name:
        raise SdpError("s= must not be empty (use s=-)")
    if not session["t"]:
        raise SdpError("missing t= line")
    conn = _one(session["c"], "c", required=False)
    media = []
    for number, value, lines in blocks:
        m = _MEDIA_RE.fullmatch(value)
        if m is None:
            raise SdpError(f"line {number}: bad m= line {value[:60]!r}")
        port = int(m[2])
        if port > 65535:
            raise SdpError(f"line {number}: port {port} out of range")
        formats = tuple(m[5].split())
        if not formats:
            raise SdpError(f"line {number}: m= line without formats")
        if "RTP/" in m[4] and not all(f.isdigit() and int(f) < 128 for f in formats):
            raise SdpError(f"line {number}: RTP payload types must be numbers below 128")
        mconn = _one(lines["c"], "c", required=False)
        where = f"media section at line {number}"
        media.append(MediaDescription(
            media=m[1], port=port, proto=m[4], formats=formats,
            port_count=int(m[3]) if m[3] else None,
            title=_one(lines["i"], "i", required=False),
            connection=_connection(mconn, where) if mconn else None,
            bandwidths=tuple(lines["b"]), key=_one(lines["k"], "k", required=False),
            attributes=_attributes(lines["a"], where),
        ))  # fmt: skip
    return SessionDescription(
        origin=Origin(*origin_parts), session_name=name, version=0,
        info=_one(session["i"], "i", required=False), uri=_one(session["u"], "u", required=False),
        emails=tuple(session["e"]), phones=tuple(session["p"]),
        connection=_connection(conn, "session") if conn else None,
        bandwidths=tuple(session["b"]), timings=tuple(session["t"]),
        repeats=tuple(f"{k}={v}" for k in "rz" for v in session[k]),
        key=_one(session["k"], "k", required=False),
        attributes=_attributes(session["a"], "session"), media=tuple(media),
    )  # fmt: skip


def serialize_sdp(sd: SessionDescription) -> bytes:
    """The description as SDP text with CRLF line ends."""
    out = [f"v={sd.version}", f"o={sd.origin}", f"s={sd.session_name}"]
    if sd.info is not None:
        out.append(f"i={sd.info}")
    if sd.uri is not None:
        out.append(f"u={sd.uri}")
    out += [f"e={e}" for e in sd.emails]
    out += [f"p={p}" for p in sd.phones]
    if sd.connection is not None:
        out.append(f"c={sd.connection}")
    out += [f"b={b}" for b in sd.bandwidths]
    out += [f"t={t}" for t in sd.timings]
    out += list(sd.repeats)
    if sd.key is not None:
        out.append(f"k={sd.key}")
    out += [f"a={a}" for a in sd.attributes]
    for m in sd.media:
        port = f"{m.port}/{m.port_count}" if m.port_count is not None else str(m.port)
        out.append(f"m={m.media} {port} {m.proto} {' '.join(m.formats)}")
        if m.title is not None:
            out.append(f"i={m.title}")
        if m.connection is not None:
            out.append(f"c={m.connection}")
        out += [f"b={b}" for b in m.bandwidths]
        if m.key is not None:
            out.append(f"k={m.key}")
        out += [f"a={a}" for a in m.attributes]
    return ("\r\n".join(out) + "\r\n").encode()
