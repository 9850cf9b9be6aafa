"""Tests of voxgate.sdp.rewrite."""

from __future__ import annotations

from sdp_samples import BARESIP_SDES, IPV6_RTCP_HOLD

from voxgate.sdp.codec import parse_sdp, serialize_sdp
from voxgate.sdp.model import Attribute, Crypto
from voxgate.sdp.rewrite import (
    add_attribute,
    bump_version,
    remove_attributes,
    set_connection,
    set_crypto,
    set_port,
)


def test_connection_port_and_rtcp() -> None:
    sd = parse_sdp(IPV6_RTCP_HOLD)
    moved = set_port(set_connection(sd, "203.0.113.9"), 0, 30000, rtcp_port=30001)
    text = serialize_sdp(moved).decode()
    assert "c=IN IP4 203.0.113.9\r\n" in text
    assert "m=audio 30000 RTP/AVP 0\r\n" in text
    assert "a=rtcp:30001 IN IP6 2001:db8::2\r\n" in text
    assert "c=IN IP4 0.0.0.0" not in text  # media-level c= rewritten too
    assert sd.media[0].port == 49170  # the original is untouched


def test_crypto_replaced_in_place_and_version_bumped() -> None:
    sd = parse_sdp(BARESIP_SDES)
    key = bytes(range(30))
    new = bump_version(set_crypto(sd, 0, [Crypto(1, "AES_CM_128_HMAC_SHA1_80", key)]))
    assert [c.key_salt for c in new.media[0].crypto] == [key]
    names = [a.name for a in new.media[0].attributes]
    assert names.index("crypto") == [a.name for a in sd.media[0].attributes].index("crypto")
    assert new.origin.sess_version == str(int(sd.origin.sess_version) + 1)


def test_remove_and_add_attributes() -> None:
    sd = remove_attributes(parse_sdp(BARESIP_SDES), "crypto", "ssrc")
    assert sd.media[0].crypto == []
    sd = add_attribute(sd, 0, Attribute("rtcp-mux"))
    assert sd.media[0].rtcp_mux
