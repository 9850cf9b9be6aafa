"""Per-party counters of a relayed stream: packets, octets, drops, loss and jitter.

Loss follows RFC 3550 Appendix A.1/A.3 (extended highest sequence number against the base,
with the probation and large-jump rules simplified to a restart on a new SSRC); jitter
follows RFC 3550 §6.4.1 (J += (|D| - J) / 16 in timestamp units, from arrival times in the
party's RTP clock rate).
"""

from __future__ import annotations

from voxgate.media.control import StreamStats

_RTP_SEQ_MOD = 1 << 16
#: RFC 3550 A.1: a jump this large is a restart rather than loss.
_MAX_DROPOUT = 3000
_MAX_MISORDER = 100


class PartyCounters:
    """What one party sent to the relay (RTP and RTCP together); mutable, owned by one
    endpoint of a pair."""

    __slots__ = (
        "_base_seq",
        "_cycles",
        "_jitter",
        "_max_seq",
        "_received_rtp",
        "_ssrc",
        "_transit",
        "clock_rate",
        "dropped_auth",
        "dropped_source",
        "forwarded",
        "octets",
        "packets",
    )

    def __init__(self) -> None:
        self.packets = 0
        self.octets = 0
        self.dropped_auth = 0
        self.dropped_source = 0
        self.forwarded = 0
        self.clock_rate = 0
        self._ssrc = -1
        self._base_seq = 0
        self._max_seq = 0
        self._cycles = 0
        self._received_rtp = 0
        self._transit = 0.0
        self._jitter = 0.0

    def rtp_received(self, packet: bytes, arrival: float) -> None:
        """Account an accepted RTP packet (its header in the clear) arriving at ``arrival``
        seconds (any monotonic clock)."""
        seq = (packet[2] << 8) | packet[3]
        ssrc = int.from_bytes(packet[8:12], "big")
        if ssrc != self._ssrc:
            self._restart(ssrc, seq)
        else:
            delta = (seq - self._max_seq) % _RTP_SEQ_MOD
            if delta < _MAX_DROPOUT:
                if seq < self._max_seq:
                    self._cycles += _RTP_SEQ_MOD
                self._max_seq = seq
            elif delta <= _RTP_SEQ_MOD - _MAX_MISORDER:
                self._restart(ssrc, seq)  # a large jump: the sender restarted
            # else: a duplicate or reordered packet, counted as received below
        self._received_rtp += 1
        rate = self.clock_rate
        if rate > 0:
            timestamp = int.from_bytes(packet[4:8], "big")
            transit = arrival * rate - timestamp
            if self._received_rtp > 1:
                d = abs(transit - self._transit)
                if d < rate * 60:  # not a timestamp wrap or restart
                    self._jitter += (d - self._jitter) / 16.0
            self._transit = transit

    def _restart(self, ssrc: int, seq: int) -> None:
        self._ssrc = ssrc
        self._base_seq = seq
        self._max_seq = seq
        self._cycles = 0
        self._received_rtp = 0
        self._jitter = 0.0

    @property
    def lost(self) -> int:
        """RFC 3550 A.3: expected minus received since the current SSRC's first packet
        (duplicates can make the difference negative; reported as 0)."""
        if self._received_rtp == 0:
            return 0
        expected = self._cycles + self._max_seq - self._base_seq + 1
        return max(0, expected - self._received_rtp)

    def snapshot(self) -> StreamStats:
        return StreamStats(
            packets=self.packets,
            octets=self.octets,
            dropped_auth=self.dropped_auth,
            dropped_source=self.dropped_source,
            lost=self.lost,
            jitter_ms=(self._jitter * 1000.0 / self.clock_rate) if self.clock_rate else 0.0,
            forwarded=self.forwarded,
        )
