"""The SDP model (RFC 8866) with typed views of the attributes voxgate uses.

Descriptions are frozen values; make changed copies with
:func:`dataclasses.replace` or the functions in :mod:`voxgate.sdp.rewrite`.
Unknown attributes and lines are kept verbatim and in order so that a
description serializes back to the bytes it was parsed from.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from voxgate.sdp.errors import SdpError

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

#: key||salt length in bytes per SRTP crypto-suite (RFC 4568 §6.2, RFC 6188, RFC 7714).
CRYPTO_KEY_LENGTHS = {
    "AES_CM_128_HMAC_SHA1_80": 30,
    "AES_CM_128_HMAC_SHA1_32": 30,
    "AES_192_CM_HMAC_SHA1_80": 38,
    "AES_192_CM_HMAC_SHA1_32": 38,
    "AES_256_CM_HMAC_SHA1_80": 46,
    "AES_256_CM_HMAC_SHA1_32": 46,
    "AEAD_AES_128_GCM": 28,
    "AEAD_AES_256_GCM": 44,
}


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=`` (RFC 8866 §5.2)."""

    username: str
    sess_id: str
    sess_version: str
    nettype: str
    addrtype: str
    address: str

    def __str__(self) -> str:
        return (
            f"{self.username} {self.sess_id} {self.sess_version} {self.nettype} "
            f"{self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=`` (RFC 8866 §5.7); ``address`` keeps any TTL/count suffix."""

    nettype: str
    addrtype: str
    address: str

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True, slots=True)
class Attribute:
    """``a=name[:value]`` (RFC 8866 §5.13); ``value`` is ``None`` for a flag."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap`` (RFC 8866 §6.6)."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None


@dataclass(frozen=True, slots=True)
class Crypto:
    """``a=crypto`` (RFC 4568 §9.1) with one inline key."""

    tag: int
    suite: str
    key_salt: bytes
    lifetime: str | None = None
    mki: str | None = None
    session_params: tuple[str, ...] = ()

    def __str__(self) -> str:
        key = "inline:" + base64.b64encode(self.key_salt).decode()
        if self.lifetime is not None:
            key += "|" + self.lifetime
        if self.mki is not None:
            key += "|" + self.mki
        return " ".join([str(self.tag), self.suite, key, *self.session_params])


@dataclass(frozen=True, slots=True)
class Candidate:
    """``a=candidate`` (RFC 8839 §5.1)."""

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    typ: str
    raddr: str | None = None
    rport: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """One ``m=`` section (RFC 8866 §5.14) and the lines under it."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    title: str | None = None
    connection: Connection | None = None
    bandwidths: tuple[str, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()

    def attribute(self, name: str) -> str | None:
        """The value of the first attribute ``name`` ("" for a flag), or ``None``."""
        for attr in self.attributes:
            if attr.name == name:
                return attr.value if attr.value is not None else ""
        return None

    def attributes_named(self, name: str) -> list[Attribute]:
        """Every attribute ``name``, in order."""
        return [a for a in self.attributes if a.name == name]

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """``a=rtpmap`` by payload type."""
        out = {}
        for attr in self.attributes_named("rtpmap"):
            rtpmap = parse_rtpmap(attr.value or "")
            out[rtpmap.payload_type] = rtpmap
        return out

    @property
    def fmtp(self) -> dict[int, str]:
        """``a=fmtp`` parameters by payload type."""
        out = {}
        for attr in self.attributes_named("fmtp"):
            pt, _, params = (attr.value or "").partition(" ")
            if pt.isdigit():
                out[int(pt)] = params
        return out

    @property
    def crypto(self) -> list[Crypto]:
        """``a=crypto`` lines in preference order."""
        return [parse_crypto(a.value or "") for a in self.attributes_named("crypto")]

    @property
    def candidates(self) -> list[Candidate]:
        """``a=candidate`` lines."""
        return [parse_candidate(a.value or "") for a in self.attributes_named("candidate")]

    @property
    def rtcp(self) -> tuple[int, Connection | None] | None:
        """``a=rtcp`` port and optional address (RFC 3605)."""
        value = self.attribute("rtcp")
        if value is None:
            return None
        parts = value.split()
        if not parts or not parts[0].isdigit() or len(parts) not in (1, 4):
            raise SdpError(f"bad a=rtcp value {value!r}")
        conn = Connection(parts[1], parts[2], parts[3]) if len(parts) == 4 else None
        return int(parts[0]), conn

    @property
    def rtcp_mux(self) -> bool:
        """``a=rtcp-mux`` (RFC 5761)."""
        return self.attribute("rtcp-mux") is not None

    @property
    def mid(self) -> str | None:
        """``a=mid`` (RFC 9143)."""
        return self.attribute("mid")

    @property
    def setup(self) -> str | None:
        """``a=setup`` (RFC 4145): active, passive, actpass or holdconn."""
        return self.attribute("setup")

    @property
    def fingerprint(self) -> tuple[str, str] | None:
        """``a=fingerprint`` hash function and value (RFC 8122)."""
        value = self.attribute("fingerprint")
        if value is None:
            return None
        func, _, digest = value.partition(" ")
        return func.lower(), digest

    @property
    def ptime(self) -> int | None:
        """``a=ptime`` in milliseconds."""
        value = self.attribute("ptime")
        return int(value) if value and value.isdigit() else None

    def own_direction(self) -> str | None:
        """The direction attribute of this section, if it has one."""
        for attr in self.attributes:
            if attr.name in DIRECTIONS:
                return attr.name
        return None


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP description (RFC 8866 §5)."""

    origin: Origin
    session_name: str = "-"
    version: int = 0
    info: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: Connection | None = None
    bandwidths: tuple[str, ...] = ()
    timings: tuple[str, ...] = ("0 0",)
    repeats: tuple[str, ...] = ()  # r= and z= lines, raw and in order
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()

    def attribute(self, name: str) -> str | None:
        """The value of the first session-level attribute ``name``, or ``None``."""
        for attr in self.attributes:
            if attr.name == name:
                return attr.value if attr.value is not None else ""
        return None

    def direction(self, index: int) -> str:
        """The direction of media section ``index``: its own, else session level, else sendrecv."""
        own = self.media[index].own_direction()
        if own is not None:
            return own
        for attr in self.attributes:
            if attr.name in DIRECTIONS:
                return attr.name
        return "sendrecv"

    def connection_of(self, index: int) -> Connection | None:
        """The connection that applies to media section ``index`` (media level wins)."""
        return self.media[index].connection or self.connection

    @property
    def ice_lite(self) -> bool:
        """``a=ice-lite`` at session level (RFC 8839 §5.3)."""
        return self.attribute("ice-lite") is not None


def parse_rtpmap(value: str) -> RtpMap:
    """``<payload type> <encoding name>/<clock rate>[/<channels>]``."""
    pt, _, rest = value.partition(" ")
    parts = rest.strip().split("/")
    if not pt.isdigit() or len(parts) not in (2, 3) or not parts[1].isdigit():
        raise SdpError(f"bad a=rtpmap value {value!r}")
    if len(parts) == 3 and not parts[2].isdigit():
        raise SdpError(f"bad a=rtpmap channels in {value!r}")
    channels = int(parts[2]) if len(parts) == 3 else None
    return RtpMap(int(pt), parts[0], int(parts[1]), channels)


def parse_crypto(value: str) -> Crypto:
    """``<tag> <crypto-suite> inline:<key||salt>[|lifetime][|MKI:length] *(session-param)``."""
    parts = value.split()
    if len(parts) < 3 or not parts[0].isdigit():
        raise SdpError(f"bad a=crypto value {value!r}")
    tag, suite, key_params = int(parts[0]), parts[1], parts[2]
    if not key_params.startswith("inline:"):
        raise SdpError(f"a=crypto key method must be inline: {value!r}")
    fields = key_params[len("inline:") :].split("|")
    try:
        # rtpengine and others leave the padding out: accept it either way
        key_salt = base64.b64decode(fields[0] + "=" * (-len(fields[0]) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SdpError(f"a=crypto key is not base64: {value!r}") from None
    expected = CRYPTO_KEY_LENGTHS.get(suite)
    if expected is not None and len(key_salt) != expected:
        raise SdpError(f"a=crypto {suite} needs {expected} key bytes, got {len(key_salt)}")
    lifetime = mki = None
    for extra in fields[1:]:
        if ":" in extra:
            mki = extra
        else:
            lifetime = extra
    return Crypto(tag, suite, key_salt, lifetime, mki, tuple(parts[3:]))


def parse_candidate(value: str) -> Candidate:
    """``a=candidate`` (RFC 8839 §5.1)."""
    parts = value.split()
    if len(parts) < 8 or parts[6] != "typ" or not parts[1].isdigit():
        raise SdpError(f"bad a=candidate value {value!r}")
    if not parts[3].isdigit() or not parts[5].isdigit():
        raise SdpError(f"bad a=candidate value {value!r}")
    rest = parts[8:]
    if len(rest) % 2:
        raise SdpError(f"bad a=candidate extensions in {value!r}")
    pairs = list(zip(rest[::2], rest[1::2], strict=True))
    raddr = next((v for k, v in pairs if k == "raddr"), None)
    rport_text = next((v for k, v in pairs if k == "rport"), None)
    extensions = tuple((k, v) for k, v in pairs if k not in ("raddr", "rport"))
    rport = int(rport_text) if rport_text and rport_text.isdigit() else None
    return Candidate(parts[0], int(parts[1]), parts[2], int(parts[3]), parts[4], int(parts[5]),
                     parts[7], raddr, rport, extensions)  # fmt: skip
