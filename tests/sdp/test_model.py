"""Tests of voxgate.sdp.model: typed attribute views."""

from __future__ import annotations

import base64

import pytest
from sdp_samples import ASTERISK_G711, BARESIP_SDES, CHROME_WEBRTC, IPV6_RTCP_HOLD

from voxgate.sdp.codec import parse_sdp
from voxgate.sdp.errors import SdpError
from voxgate.sdp.model import RtpMap, parse_crypto, parse_rtpmap


def test_sdes_offer() -> None:
    sd = parse_sdp(BARESIP_SDES)
    audio = sd.media[0]
    assert (audio.media, audio.port, audio.proto) == ("audio", 10412, "RTP/SAVP")
    assert audio.formats == ("9", "0", "8", "101")
    assert audio.rtpmaps[101] == RtpMap(101, "telephone-event", 8000)
    assert audio.fmtp[101] == "0-15"
    first, second = audio.crypto
    assert (first.tag, first.suite, len(first.key_salt)) == (1, "AES_CM_128_HMAC_SHA1_80", 30)
    assert (first.lifetime, first.mki) == ("2^31", "1:1")
    assert second.suite == "AES_CM_128_HMAC_SHA1_32"
    assert audio.ptime == 20
    assert sd.direction(0) == "sendrecv"
    assert sd.connection_of(0) is not None


def test_webrtc_offer() -> None:
    sd = parse_sdp(CHROME_WEBRTC)
    audio = sd.media[0]
    assert audio.rtcp_mux
    assert audio.mid == "0"
    assert audio.setup == "actpass"
    assert audio.fingerprint is not None
    assert audio.fingerprint[0] == "sha-256"
    assert audio.attribute("ice-ufrag") == "yJx6"
    host, srflx = audio.candidates
    assert (host.typ, host.address, host.port, host.priority) == ("host", "192.0.2.5", 46243, 2122260223)
    assert (srflx.typ, srflx.raddr, srflx.rport) == ("srflx", "192.0.2.5", 46243)
    assert ("generation", "0") in srflx.extensions
    assert audio.rtpmaps[111] == RtpMap(111, "opus", 48000, 2)
    rtcp = audio.rtcp
    assert rtcp is not None
    assert rtcp[0] == 9
    assert not sd.ice_lite


def test_plain_offer_and_hold_directions() -> None:
    assert parse_sdp(ASTERISK_G711).media[0].attribute("maxptime") == "150"
    sd = parse_sdp(IPV6_RTCP_HOLD)
    assert sd.direction(0) == "sendonly"  # session-level fallback
    assert sd.direction(1) == "inactive"
    assert sd.connection_of(0).addrtype == "IP6"  # type: ignore[union-attr]
    rtcp = sd.media[0].rtcp
    assert rtcp is not None
    assert rtcp[0] == 53020
    assert rtcp[1] is not None
    assert rtcp[1].address == "2001:db8::2"


@pytest.mark.parametrize(
    "value",
    [
        "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=",  # too short for the suite
        "1 AES_CM_128_HMAC_SHA1_80 inline:not*base64",
        "x AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
        "1 AES_CM_128_HMAC_SHA1_80 uri:https://example.com/key",
        "1 AES_CM_128_HMAC_SHA1_80",
    ],
)
def test_bad_crypto_lines(value: str) -> None:
    with pytest.raises(SdpError):
        parse_crypto(value)


def test_crypto_round_trip_and_aes256_length() -> None:
    key = base64.b64encode(bytes(range(46))).decode()
    crypto = parse_crypto(f"1 AES_256_CM_HMAC_SHA1_80 inline:{key}|2^31 UNENCRYPTED_SRTCP")
    assert len(crypto.key_salt) == 46
    assert parse_crypto(str(crypto)) == crypto


@pytest.mark.parametrize("value", ["x PCMU/8000", "0 PCMU", "0 PCMU/abc", "0 opus/48000/two"])
def test_bad_rtpmap(value: str) -> None:
    with pytest.raises(SdpError):
        parse_rtpmap(value)


def test_crypto_key_without_base64_padding_is_accepted() -> None:
    """rtpengine writes keys unpadded unless told `pad`; 30 bytes → 40 characters, 28 → 38."""
    key = bytes(range(28))
    unpadded = base64.b64encode(key).decode().rstrip("=")
    assert len(unpadded) % 4
    assert parse_crypto(f"1 AEAD_AES_128_GCM inline:{unpadded}").key_salt == key
