"""Tests of voxgate.sdp.codec: parse, serialize, limits, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sdp_samples import ALL, BARESIP_SDES

from voxgate.sdp.codec import SdpLimits, parse_sdp, serialize_sdp
from voxgate.sdp.errors import SdpError
from voxgate.sdp.model import Attribute, MediaDescription, Origin, SessionDescription


@pytest.mark.parametrize("name", sorted(ALL))
def test_real_shapes_round_trip_byte_for_byte(name: str) -> None:
    data = ALL[name]
    assert serialize_sdp(parse_sdp(data)) == data


def test_lf_line_ends_are_accepted_and_written_as_crlf() -> None:
    lf = BARESIP_SDES.replace(b"\r\n", b"\n")
    assert serialize_sdp(parse_sdp(lf)) == BARESIP_SDES


@pytest.mark.parametrize(
    ("data", "fault"),
    [
        (b"o=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "start with v=0"),
        (b"v=0\r\ns=-\r\nt=0 0\r\n", "missing o="),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n", "missing t="),
        (b"v=0\r\no=- 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "bad o="),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\n", "out of range"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP abc\r\n", "payload types"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\njunk line\r\n", "line 5"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\ns=-\r\n", "out of order"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nt=0 0\r\n", "not allowed"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\na=bad name\r\n", "bad attribute"),
    ],
)
def test_malformed_descriptions_name_the_fault(data: bytes, fault: str) -> None:
    with pytest.raises(SdpError, match=fault):
        parse_sdp(data)


def test_limits() -> None:
    with pytest.raises(SdpError, match="larger"):
        parse_sdp(BARESIP_SDES, SdpLimits(max_size=100))
    with pytest.raises(SdpError, match="lines"):
        parse_sdp(BARESIP_SDES, SdpLimits(max_lines=5))
    many = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n" + b"m=audio 4000 RTP/AVP 0\r\n" * 40
    with pytest.raises(SdpError, match="media sections"):
        parse_sdp(many)


TOKEN = st.from_regex(r"[a-z][a-z0-9\-]{0,10}", fullmatch=True)


@st.composite
def descriptions(draw: st.DrawFn) -> SessionDescription:
    media = tuple(
        MediaDescription(
            media=draw(st.sampled_from(["audio", "video"])),
            port=draw(st.integers(0, 65535)),
            proto=draw(st.sampled_from(["RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF"])),
            formats=tuple(str(f) for f in draw(st.lists(st.integers(0, 127), min_size=1, max_size=5))),
            attributes=tuple(
                Attribute(draw(TOKEN), draw(st.one_of(st.none(), TOKEN)))
                for _ in range(draw(st.integers(0, 5)))
            ),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    return SessionDescription(
        origin=Origin("-", str(draw(st.integers(0, 2**62))), "1", "IN", "IP4", "192.0.2.1"),
        attributes=(Attribute("sendrecv"),) if draw(st.booleans()) else (),
        media=media,
    )


@given(descriptions())
@settings(max_examples=200)
def test_generated_models_round_trip(sd: SessionDescription) -> None:
    assert parse_sdp(serialize_sdp(sd)) == sd


@given(st.binary(max_size=500))
@settings(max_examples=500)
def test_arbitrary_bytes_raise_only_sdp_error(data: bytes) -> None:
    try:
        parse_sdp(b"v=0\r\n" + data)
    except SdpError:
        pass
