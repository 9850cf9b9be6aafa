"""SRTP and SRTCP contexts (RFC 3711) for the relay, over libsrtp through pylibsrtp.

One :class:`InboundContext` checks and decrypts what a party sends under its ``recv_key``; one
:class:`OutboundContext` protects what the relay sends to a party under its ``send_key``. Each
holds one libsrtp session whose template stream takes any SSRC (``SSRC_ANY_INBOUND`` /
``SSRC_ANY_OUTBOUND``), so the party may change SSRC; libsrtp derives the SRTCP keys from the
same master key, so one context serves RTP and RTCP.

A packet that fails authentication or the replay check (RFC 3711 §3.3.2) makes libsrtp return
an error; here that is ``None``, which the forwarder counts as ``dropped_auth`` and never
forwards.

Crypto-suites are named as in RFC 4568 §6.2 (and RFC 7714 §14.2 for GCM). The installed
pylibsrtp exposes libsrtp's DTLS-SRTP profiles only, so :data:`SUPPORTED_SUITES` is what the
planner may offer or accept; :func:`suite_profile` refuses the others with 488.
"""

from __future__ import annotations

from typing import Final

import pylibsrtp

from voxgate.media.control import MediaError
from voxgate.media.relay.model import SrtpKey

#: RFC 4568 / RFC 7714 suite name → libsrtp profile, for the suites this libsrtp binding can do.
_PROFILES: Final[dict[str, int]] = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    "AEAD_AES_128_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "AEAD_AES_256_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}

#: Master key + salt octets per profile (RFC 3711 §8.2, RFC 7714 §12).
_KEY_SALT_LENGTHS: Final[dict[int, int]] = {
    pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80: 16 + 14,
    pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32: 16 + 14,
    pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM: 16 + 12,
    pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM: 32 + 12,
}

#: The suites the relay can terminate, most preferred first (the planner offers only these).
SUPPORTED_SUITES: Final[tuple[str, ...]] = tuple(_PROFILES)

#: Suites that are registered (RFC 4568, RFC 6188) but that this relay cannot do, and why:
#: pylibsrtp sets crypto policies only from libsrtp's DTLS-SRTP profiles, and libsrtp has no
#: profile for these (AES-256 counter mode, AES-192, F8, the NULL cipher).
UNSUPPORTED_SUITES: Final[dict[str, str]] = {
    "AES_256_CM_HMAC_SHA1_80": "no libsrtp profile reachable through pylibsrtp",
    "AES_256_CM_HMAC_SHA1_32": "no libsrtp profile reachable through pylibsrtp",
    "AES_192_CM_HMAC_SHA1_80": "no libsrtp profile reachable through pylibsrtp",
    "AES_192_CM_HMAC_SHA1_32": "no libsrtp profile reachable through pylibsrtp",
    "F8_128_HMAC_SHA1_80": "F8 mode is not in libsrtp",
    "AES_CM_128_NULL_AUTH": "unauthenticated SRTP is refused",
}


def suite_profile(suite: str) -> int:
    """The libsrtp profile of an RFC 4568 suite name; ``MediaError(488)`` if unsupported."""
    try:
        return _PROFILES[suite]
    except KeyError:
        why = UNSUPPORTED_SUITES.get(suite, "unknown crypto-suite")
        raise MediaError(488, f"SRTP crypto-suite {suite} not supported: {why}") from None


def key_salt_length(suite: str) -> int:
    """Octets of master key plus master salt for ``suite`` (30 for AES_CM_128, 28 for
    AEAD_AES_128_GCM, 44 for AEAD_AES_256_GCM)."""
    return _KEY_SALT_LENGTHS[suite_profile(suite)]


def _session(key: SrtpKey, ssrc_type: int) -> pylibsrtp.Session:
    expected = key_salt_length(key.suite)
    if len(key.key_salt) != expected:
        raise MediaError(
            488, f"SRTP key for {key.suite} has {len(key.key_salt)} octets, not {expected}"
        )
    policy = pylibsrtp.Policy(
        key=key.key_salt, ssrc_type=ssrc_type, srtp_profile=suite_profile(key.suite)
    )
    if ssrc_type == pylibsrtp.Policy.SSRC_ANY_OUTBOUND:
        # The relay re-sends what it is given: a party's retransmission (or a plain party's
        # duplicate) must not make protect fail on libsrtp's sender-side replay check.
        policy.allow_repeat_tx = True
    return pylibsrtp.Session(policy)


class InboundContext:
    """Authenticates and decrypts a party's SRTP and SRTCP (RFC 3711 §3.3, §3.4)."""

    __slots__ = ("_session", "key")

    def __init__(self, key: SrtpKey) -> None:
        self.key = key
        self._session = _session(key, pylibsrtp.Policy.SSRC_ANY_INBOUND)

    def unprotect_rtp(self, packet: bytes) -> bytes | None:
        """The RTP packet, or None if it fails authentication or the replay check."""
        try:
            return self._session.unprotect(packet)
        except (pylibsrtp.Error, ValueError):
            return None

    def unprotect_rtcp(self, packet: bytes) -> bytes | None:
        """The RTCP compound packet, or None if it fails authentication or replay."""
        try:
            return self._session.unprotect_rtcp(packet)
        except (pylibsrtp.Error, ValueError):
            return None


class OutboundContext:
    """Encrypts and authenticates what the relay sends to a party."""

    __slots__ = ("_session", "key")

    def __init__(self, key: SrtpKey) -> None:
        self.key = key
        self._session = _session(key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)

    def protect_rtp(self, packet: bytes) -> bytes | None:
        """The SRTP packet, or None if libsrtp refuses it (too long for its buffer)."""
        try:
            return self._session.protect(packet)
        except (pylibsrtp.Error, ValueError):
            return None

    def protect_rtcp(self, packet: bytes) -> bytes | None:
        """The SRTCP packet, or None if libsrtp refuses it."""
        try:
            return self._session.protect_rtcp(packet)
        except (pylibsrtp.Error, ValueError):
            return None


def inbound(current: InboundContext | None, key: SrtpKey | None) -> InboundContext | None:
    """The context for ``key``: ``current`` itself when the key is unchanged (its replay
    window survives a re-INVITE), a fresh one for a new key, None for plain RTP."""
    if key is None:
        return None
    if current is not None and current.key == key:
        return current
    return InboundContext(key)


def outbound(current: OutboundContext | None, key: SrtpKey | None) -> OutboundContext | None:
    """As :func:`inbound`, for the sending side (its rollover counter survives)."""
    if key is None:
        return None
    if current is not None and current.key == key:
        return current
    return OutboundContext(key)
