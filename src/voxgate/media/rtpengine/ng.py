"""rtpengine's "ng" control protocol (docs/ng_control_protocol.md), without I/O.

A message is ``<cookie> <bencoded dictionary>`` in one UDP datagram; the reply carries the
same cookie. This module builds the request dictionaries for the :class:`MediaControl` verbs
from our typed options, turns replies into results or :class:`MediaError`, and maps the
statistics of ``query``/``delete`` replies onto :class:`CallStats`.

What rtpengine 10.5 (Debian 12) does, as measured against the daemon (see docs/rtpengine.md):
``SDES`` ``only-<suite>`` and ``order:`` are ignored (they came later), so the suites not
wanted are excluded one by one with ``no-<suite>``; the offered order is rtpengine's own.
Replies' dictionary keys are not sorted. ``delete`` returns statistics only when it names a
``from-tag``, and keeps the call (and its ports) for ``delete-delay`` seconds unless told 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from voxgate.media.bencode import BencodeError, Encodable, Value, decode, encode
from voxgate.media.control import (
    CallId,
    CallStats,
    InterfaceName,
    MediaError,
    OfferOptions,
    PartyStats,
    Side,
    StreamStats,
    Tag,
)
from voxgate.sdp.codec import parse_sdp
from voxgate.sdp.errors import SdpError

#: Every SDES crypto-suite rtpengine 10.5 knows, in the order it offers them.
RTPENGINE_SUITES: Final[tuple[str, ...]] = (
    "AEAD_AES_256_GCM",
    "AEAD_AES_128_GCM",
    "AES_256_CM_HMAC_SHA1_80",
    "AES_256_CM_HMAC_SHA1_32",
    "AES_192_CM_HMAC_SHA1_80",
    "AES_192_CM_HMAC_SHA1_32",
    "AES_CM_128_HMAC_SHA1_80",
    "AES_CM_128_HMAC_SHA1_32",
    "F8_128_HMAC_SHA1_80",
    "F8_128_HMAC_SHA1_32",
    "NULL_HMAC_SHA1_80",
    "NULL_HMAC_SHA1_32",
)

#: Error reasons (rtpengine's own strings) that mean "no such call or party".
_UNKNOWN_CALL: Final = (
    "unknown call-id",
    "call-id not found",
    "from-tag given, but no such tag exists",
    "to-tag not found",
)
#: Error reasons that mean the relay is out of capacity, not that the SDP is wrong.
_NO_CAPACITY: Final = (
    "ran out of ports",
    "parallel session limit reached",
    "load limit exceeded",
    "bandwidth limit exceeded",
)

Reply = dict[bytes, Value]


class NgMessageError(ValueError):
    """A datagram that is not ``<cookie> <bencoded dictionary>``."""


def encode_message(cookie: bytes, request: Mapping[str, Encodable]) -> bytes:
    """One request datagram."""
    if not cookie or b" " in cookie:
        raise ValueError("an ng cookie is a non-empty token without spaces")
    return cookie + b" " + encode(request)


def decode_message(datagram: bytes) -> tuple[bytes, Reply]:
    """The cookie and dictionary of a reply datagram; raises :class:`NgMessageError`."""
    cookie, space, body = datagram.partition(b" ")
    if not space or not cookie:
        raise NgMessageError("no cookie")
    try:
        value = decode(body)
    except BencodeError as exc:
        raise NgMessageError(f"body: {exc}") from None
    if not isinstance(value, dict):
        raise NgMessageError("body is not a dictionary")
    return cookie, value


# -- requests ---------------------------------------------------------------------------


def transport_protocol(side: Side) -> str:
    """The SDP transport rtpengine must speak to a side (RFC 4568 SDES or plain RTP)."""
    return "RTP/SAVP" if side.srtp else "RTP/AVP"


def sdes_flags(suites: Iterable[str]) -> list[str]:
    """``SDES`` options that leave exactly ``suites`` in an offer to an SRTP side:
    ``only-`` for rtpengine ≥ 11 (it takes precedence there), ``no-`` for the rest,
    which is what 10.5 honours."""
    wanted = list(dict.fromkeys(suites))
    return [f"only-{s}" for s in wanted] + [f"no-{s}" for s in RTPENGINE_SUITES if s not in wanted]


def latching_flags(latch: bool) -> list[str]:
    """Flags for the party whose SDP a message carries: learn its address from its first
    packets (``symmetric``, rtpengine's default) or keep the one in its SDP
    (``asymmetric``); either way, once known, packets from elsewhere are dropped
    (``strict-source``)."""
    if latch:
        return ["symmetric", "strict-source", "endpoint-learning-immediate"]
    return ["asymmetric", "strict-source"]


def _common(call_id: CallId, from_tag: Tag, sdp: bytes) -> dict[str, Encodable]:
    return {
        "call-id": call_id,
        "from-tag": from_tag,
        "sdp": sdp,
        "ICE": "remove",
        "DTLS": "off",
        "rtcp-mux": ["accept"],
        "replace": ["origin", "session-connection"],
        # Keys with their base64 padding: rtpengine leaves "=" out by default, which strict
        # SDP parsers (ours among them) refuse.
        "SDES": ["pad"],
    }


def offer_request(
    call_id: CallId, from_tag: Tag, sdp: bytes, options: OfferOptions
) -> dict[str, Encodable]:
    """The ``offer`` of ``sdp`` from ``options.from_side`` towards ``options.to_side``."""
    request = _common(call_id, from_tag, sdp)
    request["command"] = "offer"
    request["direction"] = [options.from_side.interface, options.to_side.interface]
    request["transport-protocol"] = transport_protocol(options.to_side)
    request["flags"] = latching_flags(options.latch_from)
    if options.to_side.srtp:
        request["SDES"] = ["pad", *sdes_flags(options.suites)]
    return request


def answer_request(
    call_id: CallId, from_tag: Tag, to_tag: Tag, sdp: bytes, latch_to: bool | None
) -> dict[str, Encodable]:
    """The ``answer`` of party ``to_tag``; ``latch_to`` as in the offer's options (None: not
    known here, rtpengine's defaults apply)."""
    request = _common(call_id, from_tag, sdp)
    request["command"] = "answer"
    request["to-tag"] = to_tag
    if latch_to is not None:
        request["flags"] = latching_flags(latch_to)
    return request


def delete_request(call_id: CallId, from_tag: Tag) -> dict[str, Encodable]:
    """``delete`` at once (no ``delete-delay``): the ports close now."""
    return {"command": "delete", "call-id": call_id, "from-tag": from_tag, "delete-delay": 0}


def query_request(call_id: CallId) -> dict[str, Encodable]:
    return {"command": "query", "call-id": call_id}


PING_REQUEST: Final[dict[str, Encodable]] = {"command": "ping"}


# -- our own checks ------------------------------------------------------------------------


def check_side(sdp: bytes, side: Side, role: str) -> None:
    """Refuse (488) an SDP that does not match its side: SDES-SRTP media (``RTP/SAVP`` with
    ``a=crypto``) from an SRTP side, plain ``RTP/AVP`` without keys from a plain one.
    Disabled streams (port 0) are not checked."""
    try:
        description = parse_sdp(sdp)
    except SdpError as exc:
        raise MediaError(488, f"{role} SDP: {exc}") from None
    for index, media in enumerate(description.media, 1):
        if media.port == 0:
            continue
        secure = "SAVP" in media.proto
        keyed = bool(media.attributes_named("crypto"))
        if side.srtp and not (secure and keyed):
            raise MediaError(488, f"{role} m={index}: SRTP (RTP/SAVP with a=crypto) required")
        if not side.srtp and (secure or keyed):
            raise MediaError(488, f"{role} m={index}: plain RTP expected, got SRTP")


# -- replies ----------------------------------------------------------------------------------


def _text(value: Value | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else ""


def error_reason(reply: Reply) -> str | None:
    """The ``error-reason`` of an error reply, None for ``ok``/``pong``."""
    result = _text(reply.get(b"result"))
    if result in ("ok", "pong"):
        return None
    if result == "load limit":
        return _text(reply.get(b"message")) or "load limit exceeded"
    return _text(reply.get(b"error-reason")) or f"result {result!r}"


def is_unknown_call(reason: str) -> bool:
    lowered = reason.lower()
    return any(lowered.startswith(known) for known in _UNKNOWN_CALL)


def sdp_reply(reply: Reply, command: str) -> bytes:
    """The rewritten SDP of an ``offer``/``answer`` reply, or the :class:`MediaError` the
    signaling should answer with: 481 for an answer to no known offer, 503 when the relay
    is out of ports or over a limit, 488 for the rest (SDP rtpengine could not take)."""
    reason = error_reason(reply)
    if reason is not None:
        lowered = reason.lower()
        if command == "answer" and is_unknown_call(reason):
            raise MediaError(481, f"media relay: {reason}")
        if any(lowered.startswith(known) for known in _NO_CAPACITY) or lowered == "load limit":
            raise MediaError(503, f"media relay: {reason}")
        raise MediaError(488, f"media relay: {reason}")
    sdp = reply.get(b"sdp")
    if not isinstance(sdp, bytes):
        raise MediaError(500, f"media relay: {command} reply without SDP")
    return sdp


@dataclass(frozen=True, slots=True)
class _Totals:
    packets: int = 0
    octets: int = 0
    errors: int = 0


def _int(value: Value | None) -> int:
    return value if isinstance(value, int) else 0


def _dicts(value: Value | None) -> list[dict[bytes, Value]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _endpoint(stream: dict[bytes, Value]) -> tuple[str, int] | None:
    endpoint = stream.get(b"endpoint")
    if not isinstance(endpoint, dict):
        return None
    address, port = _text(endpoint.get(b"address")), _int(endpoint.get(b"port"))
    return (address, port) if address and port else None


def _media_stats(media: dict[bytes, Value]) -> tuple[StreamStats, float]:
    """One m= line of one party: its RTP and RTCP streams added up, and its last packet."""
    packets = octets = errors = 0
    last = 0.0
    for stream in _dicts(media.get(b"streams")):
        stats = stream.get(b"stats")
        if isinstance(stats, dict):
            stream_packets = _int(stats.get(b"packets"))
            packets += stream_packets
            octets += _int(stats.get(b"bytes"))
            errors += _int(stats.get(b"errors"))
            if stream_packets:  # "last packet" is the creation time until one arrives
                last = max(last, float(_int(stream.get(b"last packet"))))
    srtp = "SAVP" in _text(media.get(b"protocol"))
    # rtpengine counts every dropped packet in one "errors" figure: on SRTP media that is
    # mostly failed authentication, on plain media only a wrong source can be the cause.
    return (
        StreamStats(
            packets=packets,
            octets=octets,
            dropped_auth=errors if srtp else 0,
            dropped_source=0 if srtp else errors,
        ),
        last,
    )


def _rtp_source(medias: list[dict[bytes, Value]]) -> tuple[str, int] | None:
    for media in medias:
        for stream in _dicts(media.get(b"streams")):
            raw = stream.get(b"flags")
            flags = {_text(f) for f in raw} if isinstance(raw, list) else set()
            if "RTP" in flags:
                return _endpoint(stream)
    return None


def call_stats(
    call_id: CallId,
    reply: Reply,
    interfaces: Mapping[Tag, InterfaceName],
    addresses: Mapping[str, InterfaceName],
) -> CallStats:
    """:class:`CallStats` from a ``query`` (or ``delete``) reply. Per tag, rtpengine reports
    what that party sent to its local ports (bytes after SRTP decryption); a party's
    interface comes from ``interfaces`` (what the offer said), else from the local address
    of its streams looked up in ``addresses``, else it is assumed to be ``wan``.
    ``packets`` are the packets accepted (rtpengine counts drops apart, in ``errors``);
    rtpengine 10.5 gives no loss, jitter or forwarded figure per party: those stay 0."""
    tags = reply.get(b"tags")
    parties: list[PartyStats] = []
    last_packet = 0.0
    for key, entry in (tags.items() if isinstance(tags, dict) else ()):
        if not isinstance(entry, dict) or not key or key.startswith(b"<"):
            # The party of a half-done dialogue that has no tag yet: "" in the ng docs,
            # "<untagged 1>" in 10.5 (no SIP tag can hold "<": RFC 3261 §25.1 token).
            continue
        tag = Tag(key.decode(errors="replace"))
        medias = _dicts(entry.get(b"medias"))
        streams: list[StreamStats] = []
        for media in medias:
            stats, last = _media_stats(media)
            streams.append(stats)
            last_packet = max(last_packet, last)
        interface = interfaces.get(tag)
        if interface is None:
            local = next(
                (
                    _text(s.get(b"local address"))
                    for m in medias
                    for s in _dicts(m.get(b"streams"))
                ),
                "",
            )
            interface = addresses.get(local, "wan")
        parties.append(PartyStats(tag, interface, _rtp_source(medias), tuple(streams)))
    return CallStats(
        call_id=call_id,
        created=float(_int(reply.get(b"created"))) + _int(reply.get(b"created_us")) / 1e6,
        last_packet=last_packet,
        parties=tuple(parties),
    )
