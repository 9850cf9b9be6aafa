"""Receive statistics of RFC 3550: loss from the extended sequence number (A.1, A.3) and
interarrival jitter (§6.4.1)."""

from __future__ import annotations

import struct

from voxgate.media.relay.stats import PartyCounters


def rtp(seq: int, timestamp: int, ssrc: int = 1) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)


def test_loss_across_the_sequence_wrap() -> None:
    counters = PartyCounters()
    for seq in [65530, 65531, 65533, 65535, 0, 1, 4]:
        counters.rtp_received(rtp(seq, 0), 0.0)
    # expected 65530..65535 (6) + 0..4 (5) = 11, received 7
    assert counters.lost == 4


def test_reordered_and_duplicate_packets_are_not_loss() -> None:
    counters = PartyCounters()
    for seq in [10, 12, 11, 13, 13]:
        counters.rtp_received(rtp(seq, 0), 0.0)
    assert counters.lost == 0


def test_new_ssrc_restarts_the_count() -> None:
    counters = PartyCounters()
    for seq in [1, 5]:
        counters.rtp_received(rtp(seq, 0), 0.0)
    assert counters.lost == 3
    for seq in [900, 901]:
        counters.rtp_received(rtp(seq, 0, ssrc=2), 0.0)
    assert counters.lost == 0


def test_jitter_of_a_steady_stream_is_zero_and_grows_with_variation() -> None:
    counters = PartyCounters()
    counters.clock_rate = 8000
    for n in range(50):  # 20 ms packets arriving exactly every 20 ms
        counters.rtp_received(rtp(n, n * 160), 100.0 + n * 0.02)
    assert counters.snapshot().jitter_ms == 0.0
    # one packet 8 ms late: D = 64 timestamp units; J = 64/16 = 4 units = 0.5 ms
    counters.rtp_received(rtp(50, 50 * 160), 100.0 + 50 * 0.02 + 0.008)
    assert abs(counters.snapshot().jitter_ms - 0.5) < 1e-6


def test_no_jitter_without_a_clock_rate() -> None:
    counters = PartyCounters()
    counters.rtp_received(rtp(1, 0), 0.0)
    counters.rtp_received(rtp(2, 160), 5.0)
    assert counters.snapshot().jitter_ms == 0.0
