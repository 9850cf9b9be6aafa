"""NET-2 protections, pure: lockout after repeated failures, per-source rates, bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxgate.policy.throttle import FailureTracker, LockoutPolicy, RateLimiter, RatePolicy


def test_six_failures_in_ten_minutes_lock_out_for_thirty() -> None:
    tracker = FailureTracker()
    locks = [tracker.failed("198.51.100.7", t * 60.0) for t in range(6)]
    assert locks == [False] * 5 + [True]
    assert tracker.locked_until("198.51.100.7", 301.0) == 300.0 + 1800.0
    assert tracker.failed("198.51.100.7", 400.0) is False  # already locked: no new event
    assert tracker.locked_until("198.51.100.7", 2100.0) is None  # over after 30 minutes
    assert tracker.locked_until("198.51.100.8", 400.0) is None


def test_failures_spread_wider_than_the_window_do_not_lock() -> None:
    tracker = FailureTracker()
    assert not any(tracker.failed("192.0.2.1", t * 130.0) for t in range(12))  # 5 per 650 s


def test_success_clears_the_count_but_not_a_lockout() -> None:
    tracker = FailureTracker(LockoutPolicy(max_failures=3))
    tracker.failed("a", 0.0)
    tracker.failed("a", 1.0)
    tracker.succeeded("a")
    assert not tracker.failed("a", 2.0)
    tracker.failed("a", 3.0)
    assert tracker.failed("a", 4.0)
    tracker.succeeded("a")
    assert tracker.locked_until("a", 5.0) is not None


def test_many_fresh_addresses_do_not_release_a_locked_one() -> None:
    tracker = FailureTracker(LockoutPolicy(max_failures=2, max_tracked=100, max_locked=10))
    tracker.failed("attacker", 0.0)
    assert tracker.failed("attacker", 1.0)
    for i in range(10_000):  # a flood of single failures from fresh addresses
        tracker.failed(f"10.{i // 256}.{i % 256}.1", 2.0)
    assert tracker.tracked <= 100
    assert tracker.locked_until("attacker", 3.0) is not None


def test_rate_limit_allows_bursts_then_the_rate() -> None:
    limiter = RateLimiter(RatePolicy(rate=10.0, burst=5.0))
    assert [limiter.allow("s", 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert limiter.allow("s", 0.1)  # one token back after 0.1 s at 10/s
    assert not limiter.allow("s", 0.1)
    assert limiter.allow("other", 0.1)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5000), st.floats(0, 1)), max_size=3000))
def test_memory_stays_bounded(requests: list[tuple[int, float]]) -> None:
    tracker = FailureTracker(LockoutPolicy(max_failures=3, max_tracked=50, max_locked=20))
    limiter = RateLimiter(RatePolicy(max_tracked=50))
    now = 0.0
    for source, step in requests:
        now += step
        tracker.failed(str(source), now)
        limiter.allow(str(source), now)
        assert tracker.tracked <= 50
        assert tracker.locked <= 20
        assert limiter.tracked <= 50


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        LockoutPolicy(max_failures=0)
    with pytest.raises(ValueError, match="positive"):
        RatePolicy(rate=0)
