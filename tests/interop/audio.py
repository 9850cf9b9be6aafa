"""Real audio for the tests: tones in WAV files, finding a tone in what a phone recorded, and
tshark captures of the RTP between phones (is the payload plain G.711 carrying our tone?).

Pure Python (``wave``, ``math``): no numpy. Audio is 16-bit mono PCM at 8 kHz, the rate of
G.711 (RFC 3551 §4.5.14), analysed in 20 ms frames (the usual packetization time).

Finding a tone (:func:`analyse`, :func:`tone_seconds`) uses the Goertzel algorithm: the power
of one frequency in a Hann-windowed frame, as a share of the frame's energy (1.0 for a pure
tone, about 3/N for white noise). A frame holds the tone when it is louder than a floor and
the share passes a threshold, so leading silence, jitter-buffer gaps and G.711 quantization
noise don't count as tone and don't hide it. The dominant frequency is found by a coarse scan
over the loudest stretch, refined to a fraction of a hertz over up to a second of it.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from netns import Namespace
from peers import free_port

RATE = 8000
#: Samples in one 20 ms frame at 8 kHz.
FRAME = 160
FULL_SCALE = 32767

#: A frame quieter than this (RMS, of 32767: about -50 dBFS) is silence, whatever its shape.
SILENCE_RMS = 100.0
#: Share of a frame's energy that must lie at the tone's frequency for the frame to hold it.
TONE_SHARE = 0.5


# -- WAV files ------------------------------------------------------------------------------
def tone(frequency: float, seconds: float, *, amplitude: float = 0.3, rate: int = RATE) -> list[int]:
    """Samples of a sine at ``frequency`` Hz, ``amplitude`` of full scale."""
    count = round(seconds * rate)
    step = 2 * math.pi * frequency / rate
    return [round(amplitude * FULL_SCALE * math.sin(step * n)) for n in range(count)]


def write_wav(path: Path, samples: Sequence[int], *, rate: int = RATE) -> Path:
    """Write 16-bit mono PCM (what baresip's ``aufile`` reads: S16LE, mono)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(_clip(s).to_bytes(2, "little", signed=True) for s in samples))
    return path


def write_tone(path: Path, frequency: float, seconds: float, *, amplitude: float = 0.3) -> Path:
    """A WAV file of one tone (16-bit mono 8 kHz)."""
    return write_wav(path, tone(frequency, seconds, amplitude=amplitude))


def read_wav(path: Path) -> tuple[list[int], int]:
    """Samples (the first channel if there are several) and sample rate of a 16-bit WAV."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: {8 * wav.getsampwidth()}-bit samples, expected 16")
        channels = wav.getnchannels()
        data = wav.readframes(wav.getnframes())
        rate = wav.getframerate()
    step = 2 * channels
    return [int.from_bytes(data[i : i + 2], "little", signed=True)
            for i in range(0, len(data) - 1, step)], rate  # fmt: skip


def _clip(sample: int) -> int:
    return max(-32768, min(32767, sample))


# -- G.711 (ITU-T G.711; the same tables as Sun's g711.c) -------------------------------------
def ulaw_to_linear(byte: int) -> int:
    """One PCMU (mu-law) byte to a 16-bit sample."""
    u = ~byte & 0xFF
    magnitude = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - magnitude if u & 0x80 else magnitude - 0x84


def alaw_to_linear(byte: int) -> int:
    """One PCMA (A-law) byte to a 16-bit sample."""
    a = byte ^ 0x55
    exponent = (a & 0x70) >> 4
    magnitude = (a & 0x0F) << 4
    magnitude = magnitude + 8 if exponent == 0 else (magnitude + 0x108) << (exponent - 1)
    return magnitude if a & 0x80 else -magnitude


def linear_to_ulaw(sample: int) -> int:
    """A 16-bit sample to a PCMU byte (for tests: what a phone would send), on 14 bits."""
    pcm = sample >> 2
    sign = 0x80 if pcm < 0 else 0
    magnitude = min(-pcm if pcm < 0 else pcm, 8159) + 0x21
    exponent = magnitude.bit_length() - 6
    if exponent > 7:  # only the very top of the range: the loudest code
        return ~(sign | 0x7F) & 0xFF
    mantissa = (magnitude >> (exponent + 1)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def linear_to_alaw(sample: int) -> int:
    """A 16-bit sample to a PCMA byte."""
    sign = 0x80 if sample >= 0 else 0
    magnitude = min(abs(sample) if sample >= 0 else -sample - 1, 32767) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


_ULAW = [ulaw_to_linear(b) for b in range(256)]
_ALAW = [alaw_to_linear(b) for b in range(256)]
Codec = Literal["PCMU", "PCMA"]
#: The static payload types of G.711 (RFC 3551 §6).
PAYLOAD_TYPES: dict[Codec, int] = {"PCMU": 0, "PCMA": 8}


def g711_decode(payload: bytes, codec: Codec) -> list[int]:
    table = _ULAW if codec == "PCMU" else _ALAW
    return [table[b] for b in payload]


def g711_encode(samples: Sequence[int], codec: Codec) -> bytes:
    encode = linear_to_ulaw if codec == "PCMU" else linear_to_alaw
    return bytes(encode(s) for s in samples)


# -- finding a tone -----------------------------------------------------------------------------
def _hann(size: int) -> list[float]:
    return [0.5 - 0.5 * math.cos(2 * math.pi * n / size) for n in range(size)]


def goertzel_power(samples: Sequence[float], frequency: float, rate: int = RATE) -> float:
    """|X(f)|² of ``samples`` at ``frequency`` (any frequency, not only DFT bins)."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coefficient * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coefficient * s1 * s2


def tone_share(frame: Sequence[int], frequency: float, rate: int = RATE) -> float:
    """The share of a frame's (Hann-windowed) energy that lies at ``frequency``: about 1 for a
    pure tone at that frequency, near 0 for other tones, about 3/len(frame) for white noise."""
    window = _hann(len(frame))
    windowed = [w * x for w, x in zip(window, frame, strict=True)]
    energy = sum(x * x for x in windowed)
    if energy == 0:
        return 0.0
    sum_w = sum(window)
    sum_w2 = sum(w * w for w in window)
    return 2 * sum_w2 * goertzel_power(windowed, frequency, rate) / (sum_w * sum_w * energy)


def _rms(frame: Sequence[int]) -> float:
    return math.sqrt(sum(x * x for x in frame) / len(frame)) if frame else 0.0


def frames(samples: Sequence[int], size: int = FRAME) -> list[Sequence[int]]:
    """Whole frames of ``size`` samples (a last partial frame is dropped)."""
    return [samples[i : i + size] for i in range(0, len(samples) - size + 1, size)]


def tone_frames(samples: Sequence[int], frequency: float, *, rate: int = RATE,
                share: float = TONE_SHARE, floor: float = SILENCE_RMS) -> list[bool]:  # fmt: skip
    """Per 20 ms frame: does it hold the tone (louder than ``floor``, ``share`` of its energy at
    ``frequency``)?"""
    size = rate // 50
    return [_rms(f) > floor and tone_share(f, frequency, rate) >= share
            for f in frames(samples, size)]  # fmt: skip


def tone_seconds(samples: Sequence[int], frequency: float, *, rate: int = RATE,
                 share: float = TONE_SHARE, floor: float = SILENCE_RMS) -> float:  # fmt: skip
    """For how long (in 20 ms frames, not necessarily contiguous) the tone is present."""
    return round(sum(tone_frames(samples, frequency, rate=rate, share=share, floor=floor)) * 0.02, 2)


def dominant_frequency(samples: Sequence[int], *, rate: int = RATE, low: float = 100,
                       high: float = 3800) -> float | None:  # fmt: skip
    """The strongest frequency in the longest stretch of loud frames (coarse scan in 10 Hz
    steps over 0.2 s of it, then refined to 0.1 Hz over up to 1 s); None if all is silence."""
    size = rate // 50
    levels = [_rms(f) for f in frames(samples, size)]
    if not levels:
        return None
    # Loud: above the silence floor and near the loud end of this recording (so that a noise
    # bed before or after the tone doesn't join the stretch).
    floor = max(SILENCE_RMS, 0.25 * sorted(levels)[len(levels) * 9 // 10])
    loud = [level > floor for level in levels]
    best_start = best_length = start = 0
    for index, is_loud in enumerate([*loud, False]):
        if not is_loud:
            if index - start > best_length:
                best_start, best_length = start, index - start
            start = index + 1
    if best_length == 0:
        return None
    # Skip the first and last frames of the stretch (onset, fade), keep at most 1 s.
    trim = 2 if best_length > 8 else 0
    first = (best_start + trim) * size
    stretch = samples[first : first + min(best_length - 2 * trim, 50) * size]

    def peak(part: Sequence[int], candidates: Iterator[float]) -> float:
        window = _hann(len(part))
        windowed = [w * x for w, x in zip(window, part, strict=True)]
        return max(candidates, key=lambda f: goertzel_power(windowed, f, rate))

    coarse_part = stretch[: rate // 5]
    steps = int((high - low) / 10)
    coarse = peak(coarse_part, (low + 10 * i for i in range(steps + 1)))
    medium = peak(stretch, (coarse - 10 + i for i in range(21)))
    return peak(stretch, (medium - 1 + 0.1 * i for i in range(21)))


@dataclass(frozen=True, slots=True)
class Tone:
    """What :func:`analyse` found in a recording."""

    frequency: float
    #: Total time the tone is present (20 ms frames, gaps not counted).
    seconds: float
    #: When it is first present, from the start of the recording.
    onset: float


def analyse(samples: Sequence[int], *, rate: int = RATE) -> Tone | None:
    """The dominant tone of a recording and how long it lasts; None if it holds only silence
    (or nothing with a clear tone)."""
    frequency = dominant_frequency(samples, rate=rate)
    if frequency is None:
        return None
    present = tone_frames(samples, frequency, rate=rate)
    if not any(present):
        return None
    return Tone(frequency, round(sum(present) * 0.02, 2), round(present.index(True) * 0.02, 2))


def analyse_wav(path: Path) -> Tone | None:
    samples, rate = read_wav(path)
    return analyse(samples, rate=rate)


# -- tshark: capture UDP, read RTP ------------------------------------------------------------
def _tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.fail("tshark is not installed: ./test installs Debian's tshark")
    return path


def udp_filter(*, ports: Sequence[int | tuple[int, int]] = (), hosts: Sequence[str] = ()) -> str:
    """A capture filter (BPF) for UDP to or from any of ``ports`` (a port or an inclusive
    (first, last) range) and any of ``hosts``; narrow it: other tests share loopback."""
    parts = ["udp"]
    if ports:
        parts.append("(" + " or ".join(
            f"port {p}" if isinstance(p, int) else f"portrange {p[0]}-{p[1]}" for p in ports
        ) + ")")  # fmt: skip
    if hosts:
        parts.append("(" + " or ".join(f"host {h}" for h in hosts) + ")")
    return " and ".join(parts)


#: Payloads of the datagrams :func:`capture` sends through its own filter (not RTP: version 1).
MARKS = (b"voxgate-capture-start", b"voxgate-capture-end")
#: Without a marker: how long to let tshark settle after it says it captures, and before it
#: stops (measured on loopback: the first ~20 ms after "Capturing on" and the last ~20 ms
#: before SIGINT are lost).
SETTLE_SECONDS = 0.5


@contextlib.contextmanager
def capture(
    pcap: Path, bpf: str, *, interface: str = "lo", netns: Namespace | None = None,
    marker: tuple[str, int] | None = None, timeout: float = 10,
) -> Iterator[Path]:  # fmt: skip
    """Capture what matches the capture filter ``bpf`` (see :func:`udp_filter`) on
    ``interface`` (inside ``netns`` if given) into a pcap file while the block runs.

    tshark announces "Capturing on" before it captures, and drops what it has not written
    when told to stop; so the capture proves both ends: it sends a datagram to ``marker``
    (host, port: an address whose route crosses ``interface``; by default a free port of
    127.0.0.1 when capturing on ``lo``) until one shows up in the file, and after the block
    sends another and waits for it before stopping. The file holds these markers (UDP to
    ``marker``, payloads :data:`MARKS`, not RTP). With no marker it waits
    :data:`SETTLE_SECONDS` instead.
    """
    if marker is None and interface == "lo":
        marker = ("127.0.0.1", free_port())
    if marker is not None:
        bpf = f"({bpf}) or (udp and dst host {marker[0]} and dst port {marker[1]})"
    command = [_tshark(), "-n", "-q", "-i", interface, "-f", bpf, "-F", "pcap", "-w", str(pcap)]
    log = pcap.with_suffix(".tshark.log")
    with log.open("wb") as out:
        if netns is None:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        else:
            process = netns.popen(command, stdout=out, stderr=out)

    def failed(what: str) -> None:
        pytest.fail(f"tshark {what}:\n{log.read_text(errors='replace')}")

    def mark(payload: bytes) -> None:
        """Send ``payload`` to the marker until tshark has written it to the file."""
        if marker is None:
            time.sleep(SETTLE_SECONDS)
            return
        deadline = time.monotonic() + timeout
        while not (pcap.exists() and payload in pcap.read_bytes()):
            if process.poll() is not None or time.monotonic() > deadline:
                failed(f"did not capture its marker {payload!r} to {marker}")
            _send_datagram(marker, payload, netns)
            time.sleep(0.05)

    try:
        deadline = time.monotonic() + timeout
        while "Capturing on" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                failed("did not start capturing")
            time.sleep(0.05)
        mark(MARKS[0])
        yield pcap
        mark(MARKS[1])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # tshark writes what it has and closes the file
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _send_datagram(to: tuple[str, int], payload: bytes, netns: Namespace | None) -> None:
    if netns is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(payload, to)
    else:
        netns.run(sys.executable, "-c", "import socket, sys; socket.socket(socket.AF_INET, "
                  f"socket.SOCK_DGRAM).sendto({payload!r}, ({to[0]!r}, {to[1]}))")  # fmt: skip


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet as tshark decoded it (RFC 3550 §5.1; for SRTP the payload is the
    ciphertext and the authentication tag)."""

    source: str  # host:port
    destination: str
    ssrc: int
    payload_type: int
    sequence: int
    timestamp: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class RtpStream:
    """The packets of one SSRC from one source to one destination."""

    ssrc: int
    source: str
    destination: str
    payload_types: frozenset[int]
    #: Packets seen, duplicates (a sequence number seen before) included.
    packets: int
    #: Packets whose sequence number had been seen already (replays, retransmissions).
    duplicates: int
    #: Sequence numbers missing between the first and the last (RFC 3550 §6.4.1 "lost").
    lost: int
    #: The payloads in sequence-number order, one per sequence number (RFC 3550 §5.1;
    #: wrap-around taken care of).
    payload: bytes


def rtp_packets(pcap: Path, *, decode_ports: Sequence[int | tuple[int, int]] = ()) -> list[RtpPacket]:
    """The RTP packets in ``pcap``: UDP on ``decode_ports`` is decoded as RTP, any other UDP
    only if tshark's RTP heuristic (version 2, a plausible payload type) accepts it."""
    command = [_tshark(), "-n", "-r", str(pcap), "--enable-heuristic", "rtp_udp"]
    for port in decode_ports:
        spec = str(port) if isinstance(port, int) else f"{port[0]}-{port[1]}"
        command += ["-d", f"udp.port=={spec},rtp"]
    fields = ["ip.src", "ipv6.src", "udp.srcport", "ip.dst", "ipv6.dst", "udp.dstport",
              "rtp.ssrc", "rtp.p_type", "rtp.seq", "rtp.timestamp", "rtp.payload"]  # fmt: skip
    command += ["-Y", "rtp.version == 2 and not rtcp", "-T", "fields", "-E", "separator=\t"]
    for name in fields:
        command += ["-e", name]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tshark could not read {pcap}: {done.stderr}")
    packets = []
    for line in done.stdout.splitlines():
        src4, src6, sport, dst4, dst6, dport, ssrc, pt, seq, ts, payload = line.split("\t")
        packets.append(RtpPacket(
            _endpoint(src4, src6, sport), _endpoint(dst4, dst6, dport), int(ssrc, 0), int(pt),
            int(seq), int(ts), bytes.fromhex(payload.replace(":", "")),
        ))  # fmt: skip
    return packets


def _endpoint(ipv4: str, ipv6: str, port: str) -> str:
    return f"{ipv4}:{port}" if ipv4 else f"[{ipv6}]:{port}"


def rtp_streams(pcap: Path, *, decode_ports: Sequence[int | tuple[int, int]] = ()) -> list[RtpStream]:
    """The RTP streams in ``pcap`` (by SSRC, source and destination), in order of first packet."""
    grouped: dict[tuple[int, str, str], list[RtpPacket]] = {}
    for packet in rtp_packets(pcap, decode_ports=decode_ports):
        grouped.setdefault((packet.ssrc, packet.source, packet.destination), []).append(packet)
    streams = []
    for (ssrc, source, destination), packets in grouped.items():
        extended = packets[0].sequence
        unique = {extended: packets[0]}
        for packet in packets[1:]:  # extend 16-bit sequence numbers across wrap-around
            delta = (packet.sequence - extended) & 0xFFFF
            extended += delta - 0x10000 if delta >= 0x8000 else delta
            unique.setdefault(extended, packet)
        streams.append(RtpStream(
            ssrc, source, destination, frozenset(p.payload_type for p in packets), len(packets),
            len(packets) - len(unique), max(unique) - min(unique) + 1 - len(unique),
            b"".join(unique[n].payload for n in sorted(unique)),
        ))  # fmt: skip
    return streams


def stream_tone_seconds(stream: RtpStream, frequency: float, codec: Codec | None = None) -> float:
    """For how long the stream's payload, read as plain G.711 (``codec``, or by its payload
    type), carries the tone: 0 for SRTP (ciphertext reads as noise) and for other codecs."""
    if codec is None:
        by_type = {t: c for c, t in PAYLOAD_TYPES.items()}
        if len(stream.payload_types) != 1 or next(iter(stream.payload_types)) not in by_type:
            return 0.0
        codec = by_type[next(iter(stream.payload_types))]
    return tone_seconds(g711_decode(stream.payload, codec), frequency)


def payload_has_tone(pcap: Path, frequency: float, codec: Codec | None = None, *,
                     seconds: float = 0.5,
                     decode_ports: Sequence[int | tuple[int, int]] = ()) -> bool:  # fmt: skip
    """Does some RTP stream in ``pcap`` carry the tone in plain G.711 for at least
    ``seconds``? (The proof that a link is *not* encrypted; False on an SRTP link.)"""
    return any(stream_tone_seconds(s, frequency, codec) >= seconds
               for s in rtp_streams(pcap, decode_ports=decode_ports))  # fmt: skip
