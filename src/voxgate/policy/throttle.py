"""Brute-force and flood protection (NET-2), pure: failed-authentication lockouts and
per-source request rates, with memory bounded whatever an attacker does.

Times are seconds passed in by the caller.  Every table is bounded: an attacker
with many addresses can push out the least recently seen *unlocked* sources,
but a lockout is only ever dropped for another lockout, the one ending soonest
first, so flooding from fresh addresses does not release a locked-out one early.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """``max_failures`` failed authentications within ``window`` seconds lock the source out
    for ``lockout`` seconds (defaults: 6 in 10 minutes → 30 minutes)."""

    max_failures: int = 6
    window: float = 600.0
    lockout: float = 1800.0
    max_tracked: int = 100_000
    max_locked: int = 100_000

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window <= 0 or self.lockout <= 0:
            raise ValueError("max_failures, window and lockout must be positive")
        if self.max_tracked < 1 or self.max_locked < 1:
            raise ValueError("the tables need room for at least one source")


class FailureTracker:
    """Counts failed authentications per source and locks sources out."""

    def __init__(self, policy: LockoutPolicy | None = None) -> None:
        self.policy = policy or LockoutPolicy()
        # source -> (first failure of the current window, failures in it), least recent first
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()
        # source -> end of its lockout, in order of lockout (so the soonest to end first)
        self._locked: OrderedDict[str, float] = OrderedDict()

    def locked_until(self, source: str, now: float) -> float | None:
        """When ``source``'s lockout ends, or ``None`` if it is not locked out."""
        until = self._locked.get(source)
        if until is None:
            return None
        if until <= now:
            del self._locked[source]
            return None
        return until

    def failed(self, source: str, now: float) -> bool:
        """Record a failure; ``True`` when this one locks ``source`` out (an audit event)."""
        if self.locked_until(source, now) is not None:
            return False
        policy = self.policy
        first, count = self._failures.pop(source, (now, 0))
        if now - first >= policy.window:
            first, count = now, 0
        count += 1
        if count >= policy.max_failures:
            self._lock(source, now + policy.lockout)
            return True
        self._failures[source] = (first, count)
        while len(self._failures) > policy.max_tracked:
            self._failures.popitem(last=False)
        return False

    def succeeded(self, source: str) -> None:
        """A successful authentication clears the source's failures (not a lockout)."""
        self._failures.pop(source, None)

    def restore(self, source: str, until: float) -> None:
        """Lock ``source`` out until ``until`` (a lockout that outlived a restart); call in
        order of ``until``."""
        self._lock(source, until)

    def _lock(self, source: str, until: float) -> None:
        self._locked.pop(source, None)
        self._locked[source] = until  # same duration for all: insertion order = end order
        while len(self._locked) > self.policy.max_locked:
            self._locked.popitem(last=False)

    @property
    def tracked(self) -> int:
        """Sources with failures counted (bounded by ``max_tracked``)."""
        return len(self._failures)

    @property
    def locked(self) -> int:
        """Sources locked out, expired ones not yet forgotten included."""
        return len(self._locked)


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """A token bucket per source: ``rate`` requests a second on average, bursts of ``burst``."""

    rate: float = 20.0
    burst: float = 60.0
    max_tracked: int = 100_000

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1 or self.max_tracked < 1:
            raise ValueError("rate, burst and max_tracked must be positive")


class RateLimiter:
    """Per-source request rate limits (token buckets) in bounded memory."""

    def __init__(self, policy: RatePolicy | None = None) -> None:
        self.policy = policy or RatePolicy()
        # source -> (tokens, last update), least recently seen first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, source: str, now: float) -> bool:
        """Whether one more request from ``source`` is within its rate."""
        policy = self.policy
        tokens, last = self._buckets.pop(source, (policy.burst, now))
        tokens = min(policy.burst, tokens + max(0.0, now - last) * policy.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[source] = (tokens, now)
        while len(self._buckets) > policy.max_tracked:
            # a forgotten source starts again with a full bucket: bounded memory costs an
            # attacker with many addresses one burst each, which the lockouts still catch
            self._buckets.popitem(last=False)
        return allowed

    @property
    def tracked(self) -> int:
        """Sources with a bucket (bounded by ``max_tracked``)."""
        return len(self._buckets)
