"""Source admission (NET-1, NET-2): the first links of the request chain, per packet.

:class:`SourceGate` decides, for the source address of every datagram, every
new connection and every framed message, whether it goes any further:

1. a *trusted* source (the configured trusted networks, loopback by default,
   and the allow list) is always admitted: never blocked, locked out or
   rate-limited — the office's own addresses and the local call control;
2. with ``allowlist_only`` every other source is dropped;
3. a block-listed source is dropped;
4. a locked-out source (too many failed authentications) is dropped;
5. a source over its request rate is dropped.

Pure (times are passed in).  What the node must write to the audit log comes
out of :meth:`SourceGate.take_events`: every lockout, and the first drop of a
source for being blocked, not allowed or over its rate in each
``report_interval`` — bounded, so a flood makes a few rows, not millions.
"""

from __future__ import annotations

import enum
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from voxgate.policy.netblocks import NetblockSet
from voxgate.policy.throttle import FailureTracker, LockoutPolicy, RateLimiter, RatePolicy

#: Sources remembered as "already reported" per interval (bounded, least recent out first).
MAX_REPORTED = 10_000
#: Security events held until the node takes them (the oldest are dropped beyond this).
MAX_PENDING = 10_000
#: Sources whose list verdicts (trusted, allowed, blocked) are remembered between reloads;
#: beyond this the memory is emptied and refilled, so a flood of sources costs no memory.
MAX_REMEMBERED = 65_536


class Verdict(enum.Enum):
    """What the gate decided about one packet or connection."""

    ADMITTED = "admitted"
    TRUSTED = "trusted"
    NOT_ALLOWED = "not allowed"
    BLOCKED = "blocked"
    LOCKED_OUT = "locked out"
    RATE_LIMITED = "rate limited"

    @property
    def admitted(self) -> bool:
        """Whether the packet goes on."""
        return self is Verdict.ADMITTED or self is Verdict.TRUSTED


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """Something for the audit log: ``kind`` is ``lockout``, ``blocked``, ``not allowed`` or
    ``rate limited``; ``at`` is the gate's clock."""

    at: float
    kind: str
    source: str
    detail: str


@dataclass(frozen=True, slots=True)
class GatePolicy:
    """The ``[security]`` settings the gate applies."""

    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    rate: RatePolicy = field(default_factory=RatePolicy)
    allowlist_only: bool = False
    report_interval: float = 3600.0


class SourceGate:
    """Allow list, block list, lockouts and rate limits for every source address."""

    def __init__(self, policy: GatePolicy | None = None, trusted: NetblockSet | None = None):
        self.policy = policy or GatePolicy()
        self.failures = FailureTracker(self.policy.lockout)
        self.rates = RateLimiter(self.policy.rate)
        self._trusted = trusted or NetblockSet()
        self._allow = NetblockSet()
        self._block = NetblockSet()
        #: source -> (trusted or allowed, the block list's tag): the netblock lookups of the
        #: listed sources, valid until the lists change (every datagram asks).
        self._listed: dict[str, tuple[bool, str | None]] = {}
        self._reported: OrderedDict[tuple[str, Verdict], float] = OrderedDict()
        self._events: deque[SecurityEvent] = deque(maxlen=MAX_PENDING)
        #: Drops per verdict, and ``events_lost`` when the pending queue overflowed.
        self.counts: dict[str, int] = {v.value: 0 for v in Verdict} | {"events_lost": 0}
        #: Told ``(source, until)`` (gate clock) of every new lockout: the registrar workers
        #: of ``pbx.workers`` enforce the main process's lockouts.
        self.on_lockout: Callable[[str, float], None] | None = None

    def set_netlists(self, allow: NetblockSet, block: NetblockSet) -> None:
        """Swap in new allow and block lists (a reload)."""
        self._allow = allow
        self._block = block
        self._listed = {}

    @property
    def netlist_sizes(self) -> tuple[int, int]:
        """Netblocks in the allow list and in the block list."""
        return len(self._allow), len(self._block)

    def check(self, source: str, now: float) -> Verdict:
        """The verdict for one packet from ``source`` (an IP literal) at ``now``.

        An unparsable source (which the kernel never gives) is treated as blocked.
        """
        try:
            trusted, blocked = self._lists(source)
        except ValueError:
            return self._dropped(source, Verdict.BLOCKED, "not an IP address", now)
        if trusted:
            return Verdict.TRUSTED
        if self.policy.allowlist_only:
            return self._dropped(source, Verdict.NOT_ALLOWED, "not in the allow list", now)
        if blocked is not None:
            return self._dropped(source, Verdict.BLOCKED, f"block list {blocked!r}", now)
        if self.failures.locked_until(source, now) is not None:
            self.counts[Verdict.LOCKED_OUT.value] += 1  # the lockout itself was the event
            return Verdict.LOCKED_OUT
        if not self.rates.allow(source, now):
            rate = self.policy.rate
            detail = f"over {rate.rate:g} requests/s (burst {rate.burst:g})"
            return self._dropped(source, Verdict.RATE_LIMITED, detail, now)
        return Verdict.ADMITTED

    def admits(self, source: str, now: float) -> bool:
        """Whether a packet from ``source`` goes on (:meth:`check` for the listeners)."""
        return self.check(source, now).admitted

    def auth_failed(self, source: str, now: float, detail: str = "") -> None:
        """A failed authentication from ``source`` (a wrong secret or an unknown user).

        Trusted sources are never locked out (the failure still shows in the call
        control's own records)."""
        try:
            if self._lists(source)[0]:
                return
        except ValueError:
            return
        if self.failures.failed(source, now):
            lockout = self.policy.lockout
            text = (f"{lockout.max_failures} failed authentications within "
                    f"{lockout.window:g} s: locked out for {lockout.lockout:g} s")  # fmt: skip
            self._event(SecurityEvent(now, "lockout", source, f"{text}; last: {detail}"
                                      if detail else text))  # fmt: skip
            until = self.failures.locked_until(source, now)
            if self.on_lockout is not None and until is not None:
                self.on_lockout(source, until)

    def _lists(self, source: str) -> tuple[bool, str | None]:
        """Whether ``source`` is trusted or allowed, and else its block list tag; raises
        ``ValueError`` for a source that is not an IP literal."""
        listed = self._listed.get(source)
        if listed is None:
            trusted = (self._trusted.match(source) is not None
                       or self._allow.match(source) is not None)  # fmt: skip
            listed = (trusted, None if trusted else self._block.match(source))
            if len(self._listed) >= MAX_REMEMBERED:
                self._listed.clear()
            self._listed[source] = listed
        return listed

    def restore_lockout(self, source: str, until: float) -> None:
        """Lock ``source`` out until ``until`` (gate clock) without a new event: a lockout
        read back from the audit log at start, so a restart does not release it."""
        self.failures.restore(source, until)

    def locked_until(self, source: str, now: float) -> float | None:
        """When ``source``'s lockout ends (gate clock), or ``None``."""
        return self.failures.locked_until(source, now)

    def take_events(self) -> list[SecurityEvent]:
        """The security events since the last call, oldest first."""
        events = list(self._events)
        self._events.clear()
        return events

    def _dropped(self, source: str, verdict: Verdict, detail: str, now: float) -> Verdict:
        self.counts[verdict.value] += 1
        key = (source, verdict)
        last = self._reported.get(key)
        if last is None or now - last >= self.policy.report_interval:
            self._reported.pop(key, None)
            self._reported[key] = now
            while len(self._reported) > MAX_REPORTED:
                self._reported.popitem(last=False)
            self._event(SecurityEvent(now, verdict.value, source, detail))
        return verdict

    def _event(self, event: SecurityEvent) -> None:
        if len(self._events) == self._events.maxlen:
            self.counts["events_lost"] += 1
        self._events.append(event)
