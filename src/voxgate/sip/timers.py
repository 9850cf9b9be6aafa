"""SIP timer values (RFC 3261 §17 and Table 4, as amended by RFC 6026 §8.11)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2 and T4 (seconds) and the timers derived from them.

    Timers that only absorb retransmissions are zero on reliable transports
    (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    #: How long an INVITE server transaction waits for the TU before sending 100 Trying.
    trying_delay: float = 0.2

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H, J (unreliable), L and M."""
        return 64 * self.t1

    def a_initial(self) -> float:
        """Timer A (and E, G) starts at T1 and doubles (E and G cap at T2)."""
        return self.t1

    def d(self, reliable: bool) -> float:
        """Timer D: at least 32 s for unreliable transports, 0 for reliable."""
        return 0.0 if reliable else max(32.0, self.timeout)

    def i(self, reliable: bool) -> float:
        """Timer I: T4 for unreliable transports, 0 for reliable."""
        return 0.0 if reliable else self.t4

    def j(self, reliable: bool) -> float:
        """Timer J: 64*T1 for unreliable transports, 0 for reliable."""
        return 0.0 if reliable else self.timeout

    def k(self, reliable: bool) -> float:
        """Timer K: T4 for unreliable transports, 0 for reliable."""
        return 0.0 if reliable else self.t4
