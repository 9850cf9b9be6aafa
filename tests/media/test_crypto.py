"""SRTP/SRTCP contexts over libsrtp: a round trip per supported suite, forged and replayed
packets refused, unsupported suites refused with 488, contexts kept for an unchanged key."""

from __future__ import annotations

import os
import random

import pylibsrtp
import pytest

from voxgate.media.control import DEFAULT_SUITES, MediaError
from voxgate.media.relay import crypto
from voxgate.media.relay.model import SrtpKey

RTP = bytes.fromhex("80000001 000000a0 12345678") + bytes(range(160))
RTCP_SR = bytes.fromhex("80c80006 12345678") + bytes(20)


def key(suite: str) -> SrtpKey:
    return SrtpKey(suite, os.urandom(crypto.key_salt_length(suite)))


@pytest.mark.parametrize("suite", crypto.SUPPORTED_SUITES)
def test_rtp_and_rtcp_round_trip(suite: str) -> None:
    k = key(suite)
    sender, receiver = crypto.OutboundContext(k), crypto.InboundContext(k)
    protected = sender.protect_rtp(RTP)
    assert protected is not None and protected != RTP
    assert RTP[12:] not in protected  # the payload is encrypted
    assert receiver.unprotect_rtp(protected) == RTP
    srtcp = sender.protect_rtcp(RTCP_SR)
    assert srtcp is not None and srtcp != RTCP_SR
    assert receiver.unprotect_rtcp(srtcp) == RTCP_SR


@pytest.mark.parametrize("suite", crypto.SUPPORTED_SUITES)
def test_interoperates_with_plain_pylibsrtp(suite: str) -> None:
    """What a party's own libsrtp protects, the relay's context opens (and back)."""
    k = key(suite)
    profile = crypto.suite_profile(suite)
    party_tx = pylibsrtp.Session(
        pylibsrtp.Policy(k.key_salt, pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
    )
    party_rx = pylibsrtp.Session(
        pylibsrtp.Policy(k.key_salt, pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
    )
    assert crypto.InboundContext(k).unprotect_rtp(party_tx.protect(RTP)) == RTP
    out = crypto.OutboundContext(k).protect_rtp(RTP)
    assert out is not None
    assert party_rx.unprotect(out) == RTP


@pytest.mark.parametrize("suite", crypto.SUPPORTED_SUITES)
def test_tampered_tag_and_payload_refused(suite: str) -> None:
    k = key(suite)
    sender, receiver = crypto.OutboundContext(k), crypto.InboundContext(k)
    protected = sender.protect_rtp(RTP)
    assert protected is not None
    wrong_tag = protected[:-1] + bytes([protected[-1] ^ 1])
    wrong_payload = protected[:20] + bytes([protected[20] ^ 0x80]) + protected[21:]
    assert receiver.unprotect_rtp(wrong_tag) is None
    assert receiver.unprotect_rtp(wrong_payload) is None
    assert receiver.unprotect_rtp(protected) == RTP  # the genuine one still passes
    srtcp = sender.protect_rtcp(RTCP_SR)
    assert srtcp is not None
    assert receiver.unprotect_rtcp(srtcp[:-1] + bytes([srtcp[-1] ^ 1])) is None


@pytest.mark.parametrize("suite", crypto.SUPPORTED_SUITES)
def test_replay_refused(suite: str) -> None:
    k = key(suite)
    sender, receiver = crypto.OutboundContext(k), crypto.InboundContext(k)
    protected = sender.protect_rtp(RTP)
    assert protected is not None
    assert receiver.unprotect_rtp(protected) == RTP
    assert receiver.unprotect_rtp(protected) is None
    srtcp = sender.protect_rtcp(RTCP_SR)
    assert srtcp is not None
    assert receiver.unprotect_rtcp(srtcp) == RTCP_SR
    assert receiver.unprotect_rtcp(srtcp) is None


def test_wrong_key_refused() -> None:
    sender = crypto.OutboundContext(key("AES_CM_128_HMAC_SHA1_80"))
    protected = sender.protect_rtp(RTP)
    assert protected is not None
    assert crypto.InboundContext(key("AES_CM_128_HMAC_SHA1_80")).unprotect_rtp(protected) is None


@pytest.mark.parametrize(
    "garbage", [b"", b"\x80", b"\x80\x00\x00", RTP[:11], random.Random(40).randbytes(40), b"\xff" * 1600]
)
def test_garbage_is_refused_not_raised(garbage: bytes) -> None:
    k = key("AES_CM_128_HMAC_SHA1_80")
    receiver = crypto.InboundContext(k)
    assert receiver.unprotect_rtp(garbage) is None
    assert receiver.unprotect_rtcp(garbage) is None


def test_retransmission_is_protected_again() -> None:
    """The relay forwards a plain party's duplicate: libsrtp's sender-side replay check must
    not refuse it."""
    sender = crypto.OutboundContext(key("AES_CM_128_HMAC_SHA1_80"))
    assert sender.protect_rtp(RTP) is not None
    assert sender.protect_rtp(RTP) is not None


def test_suites() -> None:
    assert {"AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"} <= set(crypto.SUPPORTED_SUITES)
    assert set(DEFAULT_SUITES) <= set(crypto.SUPPORTED_SUITES) | set(crypto.UNSUPPORTED_SUITES)
    assert crypto.key_salt_length("AES_CM_128_HMAC_SHA1_80") == 30
    assert crypto.key_salt_length("AEAD_AES_128_GCM") == 28
    assert crypto.key_salt_length("AEAD_AES_256_GCM") == 44
    for suite in ("AES_256_CM_HMAC_SHA1_80", "NO_SUCH_SUITE"):
        with pytest.raises(MediaError) as refused:
            crypto.suite_profile(suite)
        assert refused.value.status == 488
        assert suite in refused.value.reason


def test_key_of_wrong_length_refused() -> None:
    with pytest.raises(MediaError) as refused:
        crypto.InboundContext(SrtpKey("AES_CM_128_HMAC_SHA1_80", bytes(16)))
    assert refused.value.status == 488


def test_unchanged_key_keeps_the_context_and_its_replay_window() -> None:
    k = key("AES_CM_128_HMAC_SHA1_80")
    first = crypto.inbound(None, k)
    assert first is not None
    protected = crypto.OutboundContext(k).protect_rtp(RTP)
    assert protected is not None
    assert first.unprotect_rtp(protected) == RTP
    same = crypto.inbound(first, SrtpKey(k.suite, bytes(k.key_salt)))
    assert same is first
    assert same.unprotect_rtp(protected) is None  # still a replay
    fresh = crypto.inbound(first, key("AES_CM_128_HMAC_SHA1_80"))
    assert fresh is not None and fresh is not first
    assert crypto.inbound(first, None) is None
    out = crypto.outbound(None, k)
    assert crypto.outbound(out, k) is out
    assert k.key_salt.hex() not in repr(k) and str(k.key_salt) not in repr(k)
