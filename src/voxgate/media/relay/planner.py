"""Media planning for the built-in relay: offers and answers in, the SDP to send on and the
endpoint configs of every stream out (RFC 3264 offer/answer, RFC 4568 SDES, RFC 5761
rtcp-mux, RFC 4961 symmetric RTP).

Pure: no sockets and no clock. Ports come from the forwarder (the engine opens the pairs
first) and keys from a :data:`KeySource`, so a test can plan a whole call in memory.

A call has two parties, the first offerer (``parties[0]``, end ``a`` of every pair) and the
other (``parties[1]``, end ``b``). Each SRTP party gets its own keys from the relay: one per
stream and crypto-suite, made once and kept for the call, so a repeated or re-sent offer puts
the same keys in the SDP (and the forwarder keeps its replay state); the party's own keys
(what it encrypts with) come from its SDP. So every direction of every leg has a fresh key
(MEDIA-1) and the relay decrypts and re-encrypts between legs (MEDIA-3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from voxgate.media.control import InterfaceName, MediaError, OfferOptions, Side, Tag
from voxgate.media.relay.model import Address, EndpointConfig, PairConfig, SrtpKey
from voxgate.sdp.model import (
    CRYPTO_KEY_LENGTHS,
    Attribute,
    Crypto,
    MediaDescription,
    SessionDescription,
)
from voxgate.sdp.rewrite import remove_attributes, set_connection

#: A fresh SDES master key (key||salt of the suite's length) for a crypto-suite.
KeySource = Callable[[str], SrtpKey]

#: Media transport protocols the relay carries, and whether each is SDES-SRTP.
RELAYED_PROTOS: Mapping[str, bool] = {
    "RTP/AVP": False, "RTP/AVPF": False, "RTP/SAVP": True, "RTP/SAVPF": True,
}  # fmt: skip
#: ICE (RFC 8839) and DTLS-SRTP (RFC 8842) attributes: the relay is the only media peer.
_SESSION_STRIPPED = (
    "candidate", "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "end-of-candidates",
    "remote-candidates", "ice-mismatch", "fingerprint", "setup", "tls-id",
)  # fmt: skip
#: ... and, per m= line, what the relay writes itself: keys and RTCP ports.
_STRIPPED = (*_SESSION_STRIPPED, "crypto", "rtcp", "rtcp-mux")
#: RTP clock rates of the static payload types (RFC 3551 §6) that carry voice.
_STATIC_CLOCK = {0: 8000, 3: 8000, 4: 8000, 8: 8000, 9: 8000, 13: 8000, 18: 8000}


@dataclass(frozen=True, slots=True)
class Relay:
    """What the planner needs to know of the relay: its advertised address per interface,
    the crypto-suites its SRTP library supports, and where fresh keys come from."""

    addresses: Mapping[InterfaceName, str]
    supported: frozenset[str]
    keys: KeySource


@dataclass(slots=True)
class Party:
    """One monologue: its tag (None for the answerer until its answer), its side and, per
    m= line, the local RTP port facing it and its end's config."""

    tag: Tag | None
    side: Side
    latch: bool
    ports: list[int] = field(default_factory=list)
    ends: list[EndpointConfig] = field(default_factory=list)
    #: The relay's keys for what it sends this party, by (m= line, suite).
    keys: dict[tuple[int, str], SrtpKey] = field(default_factory=dict)
    #: Its a=crypto line the relay accepted, per m= line, when this party offered SRTP.
    accepted: dict[int, Crypto] = field(default_factory=dict)
    #: It offered rtcp-mux per m= line (the relay always accepts it).
    offered_mux: dict[int, bool] = field(default_factory=dict)


@dataclass(slots=True)
class Pending:
    """The offer that waits for its answer: who made it and the SDP the relay sent on."""

    offerer: int
    sent: SessionDescription
    suites: tuple[str, ...]


@dataclass(slots=True)
class CallPlan:
    """Everything the relay knows about a call's media, between verbs."""

    call_id: str
    parties: tuple[Party, Party]
    pending: Pending | None = None
    #: m= lines relayed (by index); False for a rejected or non-RTP line.
    relayed: list[bool] = field(default_factory=list)

    def party_of(self, tag: Tag) -> int | None:
        """The index of the party with ``tag``, or None."""
        for index, party in enumerate(self.parties):
            if party.tag == tag:
                return index
        return None

    def pair_config(self, index: int) -> PairConfig:
        """The configs of both ends of m= line ``index``."""
        return PairConfig(a=self.parties[0].ends[index], b=self.parties[1].ends[index])


def new_plan(call_id: str, from_tag: Tag, options: OfferOptions) -> CallPlan:
    """A call's plan before its first offer."""
    offerer = Party(from_tag, options.from_side, options.latch_from)
    answerer = Party(None, options.to_side, options.latch_to)
    return CallPlan(call_id, (offerer, answerer))


def relayed_streams(sd: SessionDescription, side: Side) -> list[bool]:
    """Which m= lines of an offer from ``side`` the relay carries: RTP audio and video with a
    port. Raises 488 when none is, or when the profile is not the side's (MEDIA-1: an SRTP
    side offering plain RTP; MEDIA-3: a plain side offering SRTP)."""
    out = []
    for section in sd.media:
        srtp = RELAYED_PROTOS.get(section.proto)
        relayed = section.port != 0 and srtp is not None and section.media in ("audio", "video")
        if relayed and srtp != side.srtp:
            wanted = "SRTP (RTP/SAVP)" if side.srtp else "plain RTP (RTP/AVP)"
            raise MediaError(488, f"{side.interface} media must be {wanted}, not "
                                  f"{section.proto}")  # fmt: skip
        out.append(relayed)
    if not any(out):
        raise MediaError(488, "no media stream the relay can carry (RTP audio or video)")
    return out


def plan_offer(
    plan: CallPlan, offerer: int, sd: SessionDescription, *, options: OfferOptions,
    ports: Mapping[int, tuple[int, int]], relay: Relay,
) -> SessionDescription:  # fmt: skip
    """Take an offer from party ``offerer`` and return the offer for the other party.

    ``ports`` gives, per relayed m= line, the local RTP ports of ends a and b: the engine
    has checked the offer with :func:`relayed_streams` and opened the pairs; a line without
    ports is not relayed.
    """
    keys, supported, addresses = relay.keys, relay.supported, relay.addresses
    relayed = [index in ports for index in range(len(sd.media))]
    source, target = plan.parties[offerer], plan.parties[1 - offerer]
    _grow(source, len(sd.media))
    _grow(target, len(sd.media))
    suites = tuple(s for s in options.suites if s in supported)
    if target.side.srtp and not suites:
        raise MediaError(488, "none of the configured SRTP suites is supported by libsrtp")
    sections = []
    for index, section in enumerate(sd.media):
        if not relayed[index]:
            sections.append(_rejected(section))
            continue
        a_port, b_port = ports[index]
        source.ports[index], target.ports[index] = (a_port, b_port) if offerer == 0 else (
            b_port, a_port)  # fmt: skip
        source.ends[index] = _remote_end(source, sd, index, section,
                                         _acceptable(source, index, section, supported, keys))
        source.offered_mux[index] = section.rtcp_mux
        sections.append(_outgoing(section, target, target.ports[index],
                                  _offered_cryptos(target, index, suites, keys),
                                  mux=section.rtcp_mux))  # fmt: skip
    plan.relayed = relayed
    out = _with_origin(replace(sd, media=tuple(sections)), addresses[target.side.interface])
    out = set_connection(out, addresses[target.side.interface])
    plan.pending = Pending(offerer, out, suites)
    return out


def plan_answer(
    plan: CallPlan, answerer_tag: Tag, sd: SessionDescription, relay: Relay
) -> SessionDescription:
    """Take the answer of the party that got the pending offer and return the answer for the
    offerer; afterwards every relayed m= line has both ends configured (or, rejected by the
    answerer, is no longer relayed)."""
    keys, addresses = relay.keys, relay.addresses
    pending = plan.pending
    if pending is None:
        raise MediaError(481, "no offer is waiting for this answer")
    source, target = plan.parties[1 - pending.offerer], plan.parties[pending.offerer]
    source.tag = answerer_tag  # a later fork's answer replaces an earlier one's party
    if len(sd.media) != len(pending.sent.media):
        raise MediaError(488, f"the answer has {len(sd.media)} m= lines, the offer had "
                              f"{len(pending.sent.media)}")  # fmt: skip
    sections = []
    for index, section in enumerate(sd.media):
        if not plan.relayed[index] or section.port == 0:
            plan.relayed[index] = False
            sections.append(_rejected(section))
            continue
        srtp = RELAYED_PROTOS.get(section.proto)
        if srtp is None or srtp != source.side.srtp:
            raise MediaError(488, f"answer m= line {index} is {section.proto}, the offer was "
                                  f"{pending.sent.media[index].proto}")  # fmt: skip
        source.ends[index] = _remote_end(source, sd, index, section,
                                         _answered(source, index, section,
                                                   pending.sent.media[index]))  # fmt: skip
        accepted = target.accepted.get(index)
        cryptos = []
        if accepted is not None:  # answer the offerer's key with the relay's, same tag
            key = _key(target, index, accepted.suite, keys)
            cryptos = [Crypto(accepted.tag, accepted.suite, key.key_salt)]
        sections.append(_outgoing(section, target, target.ports[index], cryptos,
                                  mux=target.offered_mux.get(index, False)))  # fmt: skip
    out = _with_origin(replace(sd, media=tuple(sections)), addresses[target.side.interface])
    return set_connection(out, addresses[target.side.interface])


def _grow(party: Party, count: int) -> None:
    while len(party.ends) < count:
        party.ends.append(EndpointConfig())
        party.ports.append(0)


def _remote_end(
    party: Party, sd: SessionDescription, index: int, section: MediaDescription,
    keys: tuple[SrtpKey, SrtpKey] | None,
) -> EndpointConfig:  # fmt: skip
    """The end facing ``party`` as its SDP describes it: addresses, latching and, for SRTP,
    ``keys`` (what it encrypts with, what the relay encrypts toward it with)."""
    conn = sd.connection_of(index)
    host = conn.address.split("/")[0] if conn is not None else ""
    remote = None if host in ("", "0.0.0.0", "::") else (host, section.port)  # noqa: S104 - hold
    mux = section.rtcp_mux
    recv_key, send_key = keys if keys is not None else (None, None)
    return EndpointConfig(remote_rtp=remote,
                          remote_rtcp=remote if mux else _rtcp_address(section, remote),
                          rtcp_mux=mux, latch=party.latch, recv_key=recv_key,
                          send_key=send_key, clock_rate=_clock_rate(section))  # fmt: skip


def _acceptable(
    party: Party, index: int, section: MediaDescription, supported: frozenset[str],
    keys: KeySource,
) -> tuple[SrtpKey, SrtpKey] | None:  # fmt: skip
    """For an SRTP offer: its most preferred a=crypto the relay can use (no MKI, no session
    parameters), remembered for the answer, and the relay's key for that suite."""
    if not RELAYED_PROTOS[section.proto]:
        return None
    for crypto in section.crypto:
        if crypto.suite in supported and crypto.mki is None and not crypto.session_params:
            party.accepted[index] = crypto
            send = _key(party, index, crypto.suite, keys)
            return SrtpKey(crypto.suite, crypto.key_salt), send
    raise MediaError(488, f"m= line {index}: no a=crypto with a supported suite "
                          f"({', '.join(sorted(supported))}) and no MKI")  # fmt: skip


def _answered(
    party: Party, index: int, section: MediaDescription, sent: MediaDescription
) -> tuple[SrtpKey, SrtpKey] | None:
    """For an SRTP answer: its single a=crypto, whose tag must name a suite the relay
    offered, and the relay's key of that suite."""
    if not RELAYED_PROTOS[section.proto]:
        return None
    offered = {c.tag: c.suite for c in sent.crypto}
    cryptos = section.crypto
    if len(cryptos) != 1:
        raise MediaError(488, f"an SRTP answer needs exactly one a=crypto, got {len(cryptos)}")
    crypto = cryptos[0]
    if offered.get(crypto.tag) != crypto.suite:
        raise MediaError(488, f"a=crypto tag {crypto.tag} ({crypto.suite}) was not offered")
    if crypto.mki is not None or crypto.session_params:
        raise MediaError(488, "a=crypto MKI and session parameters are not supported")
    return SrtpKey(crypto.suite, crypto.key_salt), party.keys[(index, crypto.suite)]


def _rtcp_address(section: MediaDescription, remote: Address | None) -> Address | None:
    if remote is None:
        return None
    rtcp = section.rtcp
    if rtcp is None:
        return (remote[0], remote[1] + 1)
    port, conn = rtcp
    return ((conn.address.split("/")[0] if conn is not None else remote[0]), port)


def _clock_rate(section: MediaDescription) -> int:
    if not section.formats or not section.formats[0].isdigit():
        return 0
    first = int(section.formats[0])
    rtpmap = section.rtpmaps.get(first)
    return rtpmap.clock_rate if rtpmap is not None else _STATIC_CLOCK.get(first, 0)


def _key(party: Party, index: int, suite: str, keys: KeySource) -> SrtpKey:
    """The relay's key toward ``party`` for m= line ``index`` and ``suite``, made once."""
    key = party.keys.get((index, suite))
    if key is None:
        key = party.keys[(index, suite)] = keys(suite)
    return key


def _offered_cryptos(party: Party, index: int, suites: tuple[str, ...], keys: KeySource
                     ) -> list[Crypto]:  # fmt: skip
    if not party.side.srtp:
        return []
    return [Crypto(tag, suite, _key(party, index, suite, keys).key_salt)
            for tag, suite in enumerate(suites, start=1)]  # fmt: skip


def _outgoing(
    section: MediaDescription, party: Party, port: int, cryptos: list[Crypto], *, mux: bool,
) -> MediaDescription:  # fmt: skip
    """``section`` as the relay sends it to ``party``: its port, its profile, its keys."""
    proto = ("RTP/SAVP" if party.side.srtp else "RTP/AVP") + (
        "F" if section.proto.endswith("F") else "")  # fmt: skip
    attributes = [a for a in section.attributes if a.name not in _STRIPPED]
    if mux:
        attributes.append(Attribute("rtcp-mux"))
    attributes.extend(Attribute("crypto", str(c)) for c in cryptos)
    return replace(section, port=port, proto=proto, connection=None,
                   attributes=tuple(attributes))  # fmt: skip


def _rejected(section: MediaDescription) -> MediaDescription:
    """A line the relay does not carry, sent on with port 0 (RFC 3264 §6)."""
    attributes = tuple(a for a in section.attributes if a.name not in _STRIPPED)
    return replace(section, port=0, attributes=attributes, connection=None)


def _with_origin(sd: SessionDescription, address: str) -> SessionDescription:
    """o= names the relay's address on the side the description goes to; ICE and DTLS
    session attributes are dropped (the relay is the media peer)."""
    addrtype = "IP6" if ":" in address else "IP4"
    origin = replace(sd.origin, addrtype=addrtype, address=address)
    return remove_attributes(replace(sd, origin=origin), *_SESSION_STRIPPED)


def new_key_source(random_bytes: Callable[[int], bytes]) -> KeySource:
    """A :data:`KeySource` drawing key||salt from ``random_bytes`` (``secrets.token_bytes``)."""

    def make(suite: str) -> SrtpKey:
        return SrtpKey(suite, random_bytes(CRYPTO_KEY_LENGTHS[suite]))

    return make
