"""The calls under way, as the dashboard shows them (ADMIN-5): who calls whom, where the call
is, since when, and what the media relay counts for each party.  Plain data: the node builds
it from the edge's and the call control's calls and the relay's counters
(:meth:`voxgate.app.Node.live_calls`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

#: Most calls the dashboard lists (the oldest first; the count says how many there are).
MAX_SHOWN: Final = 100


@dataclass(frozen=True, slots=True)
class LiveMedia:
    """What one party of a call sent to the relay so far (every stream together)."""

    #: The relay's side of the party: ``wan`` (a remote device) or ``lan`` (the call control).
    side: str
    #: Where its media comes from (``address:port``), once known.
    source: str | None
    packets: int
    #: RTP packets missing from its sequence.
    lost: int
    jitter_ms: float
    #: Packets dropped: failed SRTP authentication or replay, or from a stranger's address.
    dropped: int

    @property
    def loss_percent(self) -> float:
        """Lost packets as a share of those expected."""
        expected = self.packets + self.lost
        return 100.0 * self.lost / expected if expected else 0.0


@dataclass(frozen=True, slots=True)
class LiveCall:
    """One call under way."""

    #: ``edge`` (a remote device's call, relayed) or ``call control`` (between extensions).
    where: str
    caller: str
    callee: str
    #: ``ringing``, ``answered`` (waiting for the caller's ACK) or ``connected``.
    state: str
    started: datetime
    answered: datetime | None
    #: The remote device's address for an edge call (``address:port``), else the caller's.
    party: str
    #: The call's name at the media relay, when its media goes through it.
    media_id: str | None = None
    media: tuple[LiveMedia, ...] = ()

    def duration(self, now: datetime) -> float:
        """Seconds since the answer (or since the call began, while it rings)."""
        return max(0.0, (now - (self.answered or self.started)).total_seconds())


#: What the node gives the web administration: the calls under way, now.
LiveCalls = Callable[[], Awaitable[list[LiveCall]]]


async def no_calls() -> list[LiveCall]:
    """Without a node (the admin server alone, in tests): none."""
    return []


def wall(seconds: float) -> datetime:
    """A time from ``time.time()`` seconds."""
    return datetime.fromtimestamp(seconds, UTC)
