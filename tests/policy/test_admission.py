"""SourceGate: the order of the checks, lockouts and rates, bounded security events."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from voxgate.policy.admission import MAX_REMEMBERED, MAX_REPORTED, GatePolicy, SourceGate, Verdict
from voxgate.policy.netblocks import NetblockSet
from voxgate.policy.throttle import LockoutPolicy, RatePolicy


def blocks(*texts: str, tag: str = "t") -> NetblockSet:
    return NetblockSet((ipaddress.ip_network(t), tag) for t in texts)


def gate(**policy: object) -> SourceGate:
    return SourceGate(GatePolicy(**policy), trusted=blocks("127.0.0.1/32", tag="trusted"))  # type: ignore[arg-type]


def test_unknown_sources_are_admitted_and_trusted_ones_marked() -> None:
    g = gate()
    assert g.check("192.0.2.1", 0.0) is Verdict.ADMITTED
    assert g.check("127.0.0.1", 0.0) is Verdict.TRUSTED
    assert g.check("2001:db8::1", 0.0) is Verdict.ADMITTED


def test_block_list_drops_and_allow_list_wins_over_it() -> None:
    g = gate()
    g.set_netlists(allow=blocks("192.0.2.7/32"), block=blocks("192.0.2.0/24", "2001:db8::/32", tag="Bad"))
    assert g.check("192.0.2.1", 0.0) is Verdict.BLOCKED
    assert g.check("2001:db8::5", 0.0) is Verdict.BLOCKED
    assert g.check("::ffff:192.0.2.9", 0.0) is Verdict.BLOCKED  # an IPv4-mapped source is IPv4
    assert g.check("192.0.2.7", 0.0) is Verdict.TRUSTED
    assert g.check("198.51.100.1", 0.0) is Verdict.ADMITTED
    events = g.take_events()
    assert [(e.kind, e.source) for e in events] == [
        ("blocked", "192.0.2.1"), ("blocked", "2001:db8::5"), ("blocked", "::ffff:192.0.2.9"),
    ]
    assert "'Bad'" in events[0].detail


def test_a_reload_changes_the_verdict_of_sources_already_seen() -> None:
    g = gate()
    assert g.check("192.0.2.1", 0.0) is Verdict.ADMITTED
    assert g.check("198.51.100.1", 0.0) is Verdict.ADMITTED
    g.set_netlists(allow=blocks("198.51.100.1/32"), block=blocks("192.0.2.0/24"))
    assert g.check("192.0.2.1", 0.0) is Verdict.BLOCKED
    assert g.check("198.51.100.1", 0.0) is Verdict.TRUSTED
    g.set_netlists(allow=NetblockSet(), block=NetblockSet())
    assert g.check("192.0.2.1", 0.0) is Verdict.ADMITTED
    assert g.check("198.51.100.1", 0.0) is Verdict.ADMITTED


def test_the_remembered_list_verdicts_are_bounded() -> None:
    g = gate(rate=RatePolicy(rate=1e9, burst=1e9))
    g.set_netlists(allow=NetblockSet(), block=blocks("10.0.0.0/9"))
    for i in range(MAX_REMEMBERED + 10):
        expected = Verdict.BLOCKED if i % 2 else Verdict.ADMITTED
        address = str(ipaddress.IPv4Address((0x0A000000 if i % 2 else 0x0A800000) + i))
        assert g.check(address, 0.0) is expected
    assert len(g._listed) <= MAX_REMEMBERED
    assert g.check("10.0.0.1", 0.0) is Verdict.BLOCKED  # forgotten, and judged again


def test_allowlist_only_drops_everything_else() -> None:
    g = gate(allowlist_only=True)
    g.set_netlists(allow=blocks("198.51.100.0/24"), block=NetblockSet())
    assert g.check("198.51.100.3", 0.0) is Verdict.TRUSTED
    assert g.check("127.0.0.1", 0.0) is Verdict.TRUSTED
    assert g.check("203.0.113.1", 0.0) is Verdict.NOT_ALLOWED


def test_failed_authentications_lock_a_source_out_for_the_lockout_duration() -> None:
    g = gate(lockout=LockoutPolicy(max_failures=3, window=60, lockout=100))
    for t in (0.0, 1.0):
        g.auth_failed("203.0.113.5", t, "REGISTER as '201'")
        assert g.check("203.0.113.5", t) is Verdict.ADMITTED
    g.auth_failed("203.0.113.5", 2.0, "REGISTER as '201'")
    assert g.check("203.0.113.5", 2.0) is Verdict.LOCKED_OUT
    assert g.check("203.0.113.5", 101.0) is Verdict.LOCKED_OUT
    assert g.check("203.0.113.6", 50.0) is Verdict.ADMITTED  # another source is not affected
    assert g.check("203.0.113.5", 102.5) is Verdict.ADMITTED  # the lockout is over
    (event,) = g.take_events()
    assert (event.kind, event.source, event.at) == ("lockout", "203.0.113.5", 2.0)
    assert "3 failed authentications within 60 s" in event.detail and "'201'" in event.detail
    assert g.take_events() == []


def test_failures_spread_wider_than_the_window_never_lock_out() -> None:
    g = gate(lockout=LockoutPolicy(max_failures=3, window=60, lockout=100))
    for t in range(0, 600, 31):
        g.auth_failed("203.0.113.5", float(t))
    assert g.check("203.0.113.5", 600.0) is Verdict.ADMITTED


def test_trusted_and_allowed_sources_are_never_locked_out() -> None:
    g = gate(lockout=LockoutPolicy(max_failures=1, window=60, lockout=100))
    g.set_netlists(allow=blocks("198.51.100.0/24"), block=NetblockSet())
    g.auth_failed("127.0.0.1", 0.0)
    g.auth_failed("198.51.100.9", 0.0)
    assert g.check("127.0.0.1", 1.0) is Verdict.TRUSTED
    assert g.check("198.51.100.9", 1.0) is Verdict.TRUSTED
    assert g.take_events() == []


def test_rate_limit_drops_above_the_burst_and_refills() -> None:
    g = gate(rate=RatePolicy(rate=10, burst=5))
    verdicts = [g.check("203.0.113.9", 0.0) for _ in range(8)]
    assert verdicts.count(Verdict.ADMITTED) == 5
    assert verdicts[5:] == [Verdict.RATE_LIMITED] * 3
    assert g.check("203.0.113.9", 0.5) is Verdict.ADMITTED  # 0.5 s at 10/s refilled 5
    assert g.check("127.0.0.1", 0.0) is Verdict.TRUSTED  # trusted: no rate at all
    events = g.take_events()
    assert [(e.kind, e.source) for e in events] == [("rate limited", "203.0.113.9")]


def test_a_dropping_source_is_reported_once_per_interval() -> None:
    g = gate(report_interval=100.0)
    g.set_netlists(allow=NetblockSet(), block=blocks("192.0.2.0/24"))
    for t in range(0, 250, 5):
        assert g.check("192.0.2.1", float(t)) is Verdict.BLOCKED
    assert [e.at for e in g.take_events()] == [0.0, 100.0, 200.0]
    assert g.counts["blocked"] == 50


def test_a_flood_from_many_addresses_makes_bounded_events_and_state() -> None:
    g = gate(rate=RatePolicy(rate=1, burst=1, max_tracked=1000))
    g.set_netlists(allow=NetblockSet(), block=blocks("10.0.0.0/8"))
    for i in range(MAX_REPORTED + 5000):
        g.check(str(ipaddress.IPv4Address(0x0A000000 + i)), 0.0)
    assert len(g._reported) <= MAX_REPORTED
    assert len(g.take_events()) <= 10_000
    for i in range(5000):
        g.check(str(ipaddress.IPv4Address(0xC6336400 + i % 250)), 0.0)
    assert g.rates.tracked <= 1000


def test_garbage_source_is_dropped_not_raised() -> None:
    g = gate()
    assert g.check("not-an-address", 0.0) is Verdict.BLOCKED
    g.auth_failed("not-an-address", 0.0)


@given(st.ip_addresses())
def test_the_verdict_matches_the_lists(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    g = SourceGate(GatePolicy(rate=RatePolicy(rate=1e6, burst=1e6)))
    g.set_netlists(allow=blocks("10.1.0.0/16", "2001:db8:1::/48"), block=blocks("10.0.0.0/8", "2001:db8::/32"))
    expected = Verdict.ADMITTED
    if address in ipaddress.ip_network("10.1.0.0/16") or (
        address.version == 6 and address in ipaddress.ip_network("2001:db8:1::/48")
    ):
        expected = Verdict.TRUSTED
    elif address in ipaddress.ip_network("10.0.0.0/8") or (
        address.version == 6 and address in ipaddress.ip_network("2001:db8::/32")
    ):
        expected = Verdict.BLOCKED
    elif address.version == 6 and address.ipv4_mapped is not None:
        return  # mapped addresses are judged as their IPv4 address (tested above)
    assert g.check(str(address), 0.0) is expected
