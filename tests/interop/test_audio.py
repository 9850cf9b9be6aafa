"""Real phones, real audio: two baresip phones registered over TLS to the embedded call control
call each other, each playing its own tone from a WAV file and recording what it receives; the
test finds the other side's tone (frequency, duration) in each recording, and in a tshark
capture of the call's RTP on loopback.

No media relay is in the path yet: the phones send RTP to each other directly, so the capture
shows the tones in plain G.711, or only ciphertext when both phones insist on SDES-SRTP.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from audio import (
    Tone,
    analyse_wav,
    capture,
    rtp_streams,
    stream_tone_seconds,
    udp_filter,
    write_tone,
)
from peers import Node, import_extensions
from phones import Baresip, MediaEncryption, account

pytestmark = pytest.mark.interop

SECRETS = {"201": "Tq7-vLp2-Wz9k", "202": "Hx4-rMn8-Pq2v"}
#: Each phone's tone: far apart, well inside G.711's band, 20 ms frames hold whole periods.
TONES = {"201": 700.0, "202": 1100.0}
ADDRESSES = {"201": "127.0.0.41", "202": "127.0.0.42"}
TALK_SECONDS = 4


def phone(node: Node, tmp_path: Path, number: str, mediaenc: MediaEncryption | None) -> Baresip:
    aor = f"<sip:{number}@127.0.0.1:{node.tls};transport=tls>"
    wav = write_tone(tmp_path / f"tone-{number}.wav", TONES[number], TALK_SECONDS + 4)
    return Baresip(
        f"phone{number}", ADDRESSES[number], account(aor, SECRETS[number], mediaenc=mediaenc),
        node.data_dir / "tls" / "cert.pem", tmp_path, play=wav, record=tmp_path / f"rec-{number}",
    )  # fmt: skip


def talk(node: Node, tmp_path: Path, mediaenc: MediaEncryption | None) -> tuple[Baresip, Baresip, Path]:
    """201 calls 202 (auto-answer), both talk for a while, 201 hangs up; the call's RTP and
    RTCP (the phones' port ranges) is captured on loopback."""
    import_extensions(node, tmp_path, list(SECRETS.items()))
    with phone(node, tmp_path, "201", mediaenc) as alice, phone(node, tmp_path, "202", mediaenc) as bob:
        alice.wait_registered()
        bob.wait_registered()
        assert alice.rtp_ports is not None
        assert bob.rtp_ports is not None
        ports = udp_filter(ports=[alice.rtp_ports, bob.rtp_ports])
        with capture(tmp_path / "call.pcap", ports) as pcap:
            alice.command("dial", f"sip:202@127.0.0.1:{node.tls};transport=tls")
            alice.wait_event("CALL_ESTABLISHED")
            bob.wait_event("CALL_ESTABLISHED")
            time.sleep(TALK_SECONDS)
            alice.command("hangup")
            alice.wait_event("CALL_CLOSED")
            bob.wait_event("CALL_CLOSED")
    return alice, bob, pcap


def heard(phone: Baresip) -> Tone:
    found = analyse_wav(phone.received())
    assert found is not None, f"{phone.name} recorded no tone in {phone.received()}"
    return found


def assert_each_heard_the_other(alice: Baresip, bob: Baresip) -> None:
    for listener, talker in ((alice, "202"), (bob, "201")):
        found = heard(listener)
        assert found.frequency == pytest.approx(TONES[talker], abs=3), (listener.name, found)
        assert found.seconds >= TALK_SECONDS - 2, (listener.name, found)


def test_each_phone_hears_the_others_tone_sent_as_plain_rtp(node: Node, tmp_path: Path) -> None:
    alice, bob, pcap = talk(node, tmp_path, mediaenc=None)
    assert_each_heard_the_other(alice, bob)
    assert alice.rtp_ports is not None
    assert bob.rtp_ports is not None
    # Decoding the phones' port ranges as RTP; RTCP (the odd ports) is left out by rtp_streams.
    streams = rtp_streams(pcap, decode_ports=[alice.rtp_ports, bob.rtp_ports])
    to_bob = [s for s in streams if s.destination.startswith(f"{bob.address}:")]
    to_alice = [s for s in streams if s.destination.startswith(f"{alice.address}:")]
    assert len(to_bob) == len(to_alice) == 1, streams
    for stream, tone, other in ((to_bob[0], TONES["201"], TONES["202"]),
                                (to_alice[0], TONES["202"], TONES["201"])):  # fmt: skip
        assert stream.payload_types == {0}  # PCMU, baresip's first codec
        assert stream.packets >= (TALK_SECONDS - 1) * 50
        assert stream_tone_seconds(stream, tone) >= TALK_SECONDS - 1
        assert stream_tone_seconds(stream, other) == 0


def test_with_mandatory_srtp_the_tones_cross_but_not_in_clear(node: Node, tmp_path: Path) -> None:
    """``mediaenc=srtp-mand`` on both phones: SDES keys go in the SDP over TLS, the call's audio
    still arrives both ways, and the capture shows RTP headers with ciphertext only."""
    alice, bob, pcap = talk(node, tmp_path, mediaenc="srtp-mand")
    assert_each_heard_the_other(alice, bob)
    assert alice.rtp_ports is not None
    assert bob.rtp_ports is not None
    streams = rtp_streams(pcap, decode_ports=[alice.rtp_ports, bob.rtp_ports])
    assert {s.destination.split(":")[0] for s in streams} == {alice.address, bob.address}
    for stream in streams:
        assert stream.packets >= (TALK_SECONDS - 1) * 50
        for tone in TONES.values():
            assert stream_tone_seconds(stream, tone, "PCMU") == 0
            assert stream_tone_seconds(stream, tone, "PCMA") == 0
