"""The test-side audio tools (audio.py): tones in WAV files, finding a tone in a damaged
recording, G.711, and reading RTP out of tshark captures (plain vs SRTP)."""

from __future__ import annotations

import math
import random
import socket
import struct
import sys
import wave
from pathlib import Path

import pylibsrtp
import pytest
from audio import (
    MARKS,
    RATE,
    Codec,
    alaw_to_linear,
    analyse,
    analyse_wav,
    capture,
    dominant_frequency,
    g711_decode,
    g711_encode,
    linear_to_alaw,
    linear_to_ulaw,
    payload_has_tone,
    read_wav,
    rtp_streams,
    tone,
    tone_seconds,
    udp_filter,
    ulaw_to_linear,
    write_tone,
    write_wav,
)
from netns import Topology
from peers import free_port


def silence(seconds: float) -> list[int]:
    return [0] * round(seconds * RATE)


def noisy(samples: list[int], rms: float, seed: int = 5) -> list[int]:
    rng = random.Random(seed)
    return [s + round(rng.gauss(0, rms)) for s in samples]


def with_gaps(samples: list[int], every: int, length: int) -> list[int]:
    """Replace ``length`` samples with silence every ``every`` samples (a jitter buffer that
    ran dry), at positions that don't line up with 20 ms frames."""
    out = list(samples)
    for start in range(every // 3, len(out), every):
        out[start : start + length] = [0] * len(out[start : start + length])
    return out


# -- WAV ------------------------------------------------------------------------------------
def test_write_tone_is_16_bit_mono_8_khz_and_reads_back(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "a.wav", 700, 1.5)
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (
            1, 2, 8000, 12000
        )  # fmt: skip
    samples, rate = read_wav(path)
    assert rate == RATE
    assert samples == tone(700, 1.5)
    assert max(samples) == round(0.3 * 32767)


def test_read_wav_takes_the_first_channel_of_a_stereo_file(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(struct.pack("<4h", 100, -5, 200, -6))
    assert read_wav(path) == ([100, 200], RATE)


# -- finding a tone -----------------------------------------------------------------------------
@pytest.mark.parametrize("frequency", [440, 700, 1100, 1633.5])
def test_a_clean_tone_is_found_with_its_frequency_and_duration(frequency: float) -> None:
    found = analyse(tone(frequency, 3))
    assert found is not None
    assert found.frequency == pytest.approx(frequency, abs=0.5)
    assert found.seconds == pytest.approx(3, abs=0.02)
    assert found.onset == 0


def test_a_tone_after_silence_through_g711_with_noise_and_gaps_is_found(tmp_path: Path) -> None:
    """What a phone records: silence until the call is up, the tone through PCMU or PCMA, the
    jitter buffer running dry now and then, a little noise; read back from a WAV file."""
    for codec in ("PCMU", "PCMA"):
        clean = silence(0.7) + tone(1100, 3) + silence(0.5)
        coded = g711_decode(g711_encode(clean, codec), codec)
        recorded = noisy(with_gaps(coded, every=1000, length=60), rms=300)
        found = analyse_wav(write_wav(tmp_path / f"rec-{codec}.wav", recorded))
        assert found is not None
        assert found.frequency == pytest.approx(1100, abs=1)
        assert found.onset == pytest.approx(0.7, abs=0.04)
        assert 2.5 <= found.seconds <= 3.0


def test_a_wrong_frequency_is_not_detected() -> None:
    samples = silence(0.3) + tone(700, 2)
    assert tone_seconds(samples, 700) == pytest.approx(2, abs=0.04)
    for other in (440, 600, 800, 1100, 2000):
        assert tone_seconds(samples, other) == 0


def test_the_frequency_estimate_tells_close_tones_apart() -> None:
    assert dominant_frequency(tone(700, 1)) == pytest.approx(700, abs=0.5)
    assert dominant_frequency(tone(706, 1)) == pytest.approx(706, abs=0.5)


def test_two_tones_in_turn_the_longer_one_wins() -> None:
    samples = tone(700, 0.6) + silence(0.2) + tone(1100, 2)
    found = analyse(samples)
    assert found is not None
    assert found.frequency == pytest.approx(1100, abs=0.5)
    assert tone_seconds(samples, 700) == pytest.approx(0.6, abs=0.04)


def test_silence_noise_and_quiet_hum_hold_no_tone() -> None:
    assert analyse(silence(2)) is None
    assert analyse([]) is None
    assert analyse(noisy(silence(2), rms=3000)) is None
    hum = tone(700, 2, amplitude=0.001)  # ~33 of 32767: below the silence floor
    assert analyse(hum) is None


def test_noise_loud_as_the_tone_hides_most_of_it() -> None:
    """The threshold is a share of the energy: a tone under equal-power noise is not 'there'
    in every frame (the detector doesn't hallucinate through noise)."""
    samples = noisy(tone(700, 2), rms=0.3 * 32767 / math.sqrt(2) * 2)
    assert tone_seconds(samples, 700) < 1.5


# -- G.711 -----------------------------------------------------------------------------------
def test_g711_known_values() -> None:
    # ITU-T G.711 tables: mu-law 0xFF/0x7F are +0/-0, 0x80/0x00 the extremes; A-law 0xD5/0x55
    # the smallest steps, 0xAA/0x2A the extremes.
    assert [ulaw_to_linear(b) for b in (0xFF, 0x7F, 0x80, 0x00)] == [0, 0, 32124, -32124]
    assert [alaw_to_linear(b) for b in (0xD5, 0x55, 0xAA, 0x2A)] == [8, -8, 32256, -32256]
    assert linear_to_ulaw(0) == 0xFF
    assert linear_to_alaw(0) == 0xD5


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_g711_round_trips(codec: Codec) -> None:
    codes = bytes(range(256))
    again = g711_encode(g711_decode(codes, codec), codec)
    differ = [c for c, a in zip(codes, again, strict=True) if c != a]
    assert differ == ([0x7F] if codec == "PCMU" else [])  # mu-law's -0 comes back as +0
    samples = list(range(-32768, 32768, 37))
    for sample, back in zip(samples, g711_decode(g711_encode(samples, codec), codec), strict=True):
        assert abs(back - sample) <= max(16, abs(sample) / 16)  # 4 mantissa bits


# -- RTP in pcap files (tshark) ---------------------------------------------------------------
SRC, DST = ("127.0.0.21", 20000), ("127.0.0.22", 20100)
KEY = bytes(range(30))


def rtp(payload: bytes, *, ssrc: int, seq: int, payload_type: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, payload_type, seq & 0xFFFF, seq * 160 & 0xFFFFFFFF, ssrc) + payload


def tone_packets(frequency: float, seconds: float, codec: Codec, *, ssrc: int, first_seq: int = 0) -> list[bytes]:
    payload = g711_encode(tone(frequency, seconds), codec)
    return [
        rtp(payload[i : i + 160], ssrc=ssrc, seq=first_seq + n, payload_type=0 if codec == "PCMU" else 8)
        for n, i in enumerate(range(0, len(payload), 160))
    ]


def srtp(packets: list[bytes]) -> list[bytes]:
    policy = pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                              srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80)  # fmt: skip
    session = pylibsrtp.Session(policy)
    return [session.protect(p) for p in packets]


def write_pcap(path: Path, datagrams: list[tuple[tuple[str, int], tuple[str, int], bytes]]) -> Path:
    """A pcap of UDP datagrams over IPv4 (link type RAW): what tshark reads like a capture."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    for n, ((src, sport), (dst, dport), payload) in enumerate(datagrams):
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
                         socket.inet_aton(src), socket.inet_aton(dst)) + udp  # fmt: skip
        out += struct.pack("<IIII", 1_700_000_000 + n // 50, (n % 50) * 20_000, len(ip), len(ip)) + ip
    path.write_bytes(bytes(out))
    return path


@pytest.mark.interop
def test_plain_g711_rtp_shows_the_tone_and_srtp_does_not(tmp_path: Path) -> None:
    plain = tone_packets(700, 2, "PCMU", ssrc=0x1234, first_seq=65500)  # wraps around
    back = tone_packets(1100, 2, "PCMA", ssrc=0x5678)
    pcap = write_pcap(tmp_path / "plain.pcap", [(SRC, DST, p) for p in plain] + [(DST, SRC, p) for p in back])
    streams = {s.ssrc: s for s in rtp_streams(pcap)}
    assert set(streams) == {0x1234, 0x5678}
    assert (streams[0x1234].source, streams[0x1234].destination) == ("127.0.0.21:20000", "127.0.0.22:20100")
    assert streams[0x1234].payload_types == {0}
    assert streams[0x5678].payload_types == {8}
    assert streams[0x1234].packets == streams[0x5678].packets == 100
    assert streams[0x1234].payload == g711_encode(tone(700, 2), "PCMU")  # in sequence order
    assert payload_has_tone(pcap, 700)
    assert payload_has_tone(pcap, 1100)
    assert payload_has_tone(pcap, 700, "PCMU", seconds=1.9)
    assert not payload_has_tone(pcap, 700, "PCMU", seconds=2.1)
    assert not payload_has_tone(pcap, 440)
    assert not payload_has_tone(pcap, 700, "PCMA")  # read with the wrong law: no clean tone

    # a replayed packet and a missing one: counted, the replay's payload not taken twice
    damaged = tone_packets(700, 1, "PCMU", ssrc=0x9999, first_seq=65530)
    damaged = [*damaged[:20], *damaged[21:], damaged[3], damaged[45]]
    [stream] = rtp_streams(write_pcap(tmp_path / "damaged.pcap", [(SRC, DST, p) for p in damaged]))
    assert (stream.packets, stream.duplicates, stream.lost) == (51, 2, 1)
    assert len(stream.payload) == 49 * 160
    assert streams[0x1234].duplicates == streams[0x1234].lost == 0

    # capture()'s markers (RTP version 1) from a port inside a range decoded as RTP: not RTP
    marked = write_pcap(tmp_path / "marked.pcap", [(("127.0.0.1", 20005), ("127.0.0.1", 40000), m) for m in MARKS])
    assert rtp_streams(marked, decode_ports=[(20000, 20199)]) == []

    secret = write_pcap(tmp_path / "srtp.pcap", [(SRC, DST, p) for p in srtp(plain)])
    [stream] = rtp_streams(secret, decode_ports=[(20000, 20199)])
    assert (stream.ssrc, stream.packets, stream.payload_types) == (0x1234, 100, frozenset({0}))
    assert not payload_has_tone(secret, 700, decode_ports=[(20000, 20199)])
    assert not payload_has_tone(secret, 700, "PCMU", seconds=0.02, decode_ports=[(20000, 20199)])


@pytest.mark.interop
def test_capture_on_loopback_keeps_only_the_filtered_ports(tmp_path: Path) -> None:
    port, other = free_port(), free_port()
    packets = tone_packets(700, 1, "PCMU", ssrc=0xCAFE)
    with (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink,
          socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender):  # fmt: skip
        sink.bind(("127.0.0.1", port))
        with capture(tmp_path / "lo.pcap", udp_filter(ports=[(port, port + 1)], hosts=["127.0.0.1"])) as pcap:
            for packet in packets:
                sender.sendto(packet, ("127.0.0.1", port))
                sender.sendto(packet, ("127.0.0.1", other))
            # the sink has read them all: they went past the capture point
            sink.settimeout(5)
            for _ in packets:
                sink.recv(2048)
    [stream] = rtp_streams(pcap, decode_ports=[port])
    assert (stream.ssrc, stream.packets, stream.destination) == (0xCAFE, 50, f"127.0.0.1:{port}")
    assert payload_has_tone(pcap, 700, "PCMU", seconds=0.9)


def test_udp_filter_builds_narrow_capture_filters() -> None:
    assert udp_filter() == "udp"
    assert udp_filter(ports=[5060, (20000, 20099)], hosts=["127.0.0.21", "10.0.0.1"]) == (
        "udp and (port 5060 or portrange 20000-20099) and (host 127.0.0.21 or host 10.0.0.1)"
    )


#: Sends the RTP packets (hex, one per line on stdin) from a namespace to argv[1]:argv[2].
_SEND = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for line in sys.stdin.read().split():
    s.sendto(bytes.fromhex(line), (sys.argv[1], int(sys.argv[2])))
"""


@pytest.mark.interop
def test_capture_on_a_link_inside_a_namespace(netns: Topology, tmp_path: Path) -> None:
    """Capturing on a veth inside a namespace (a WAN link, say): the markers go to the far end
    of the link, so they cross the captured interface."""
    phone, edge = netns.namespace("phone"), netns.namespace("edge")
    phone_end, edge_end = netns.link(phone, "10.231.7.2/24", edge, "10.231.7.1/24")
    packets = tone_packets(1100, 1, "PCMA", ssrc=0xBEEF)
    bpf = udp_filter(ports=[(30000, 30001)], hosts=[edge_end.ip])
    with capture(tmp_path / "wan.pcap", bpf, interface=phone_end.name, netns=phone,
                 marker=(edge_end.ip, 9)) as pcap:  # fmt: skip
        phone.run(sys.executable, "-c", _SEND, edge_end.ip, "30000",
                  stdin="\n".join(p.hex() for p in packets))  # fmt: skip
    [stream] = rtp_streams(pcap, decode_ports=[30000])
    assert (stream.ssrc, stream.packets, stream.destination) == (0xBEEF, 50, f"{edge_end.ip}:30000")
    assert stream.source.startswith(f"{phone_end.ip}:")
    assert payload_has_tone(pcap, 1100, seconds=0.9)
