"""Login brute-force lockout per client address (ADMIN-3, NET-2).

The failure counting is :class:`voxgate.policy.throttle.FailureTracker`, the machine the SIP
side locks sources out with, here with the ``[admin]`` rule: the ``edge`` preset (6 failures
within 10 minutes lock the address out for 30 minutes) or ``call-control`` (3 consecutive
failures: 15 minutes — no window, only a successful login clears the count).  Every failed
login and every lockout is an audit event; a locked-out address may not even try a password.
The lockouts still running are read back from the audit log when the server starts
(:meth:`LoginGuard.restore`), so restarting the node releases nobody.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from voxgate.config.schema import AdminSettings
from voxgate.policy.throttle import FailureTracker, LockoutPolicy
from voxgate.services.audit import Actor, AuditLog

log = logging.getLogger(__name__)

#: Client addresses remembered for failure counts (bounded memory).
MAX_TRACKED = 10_000
LOCKOUT_ACTION = "admin.lockout"


def lockout_policy(settings: AdminSettings) -> LockoutPolicy:
    """The tracker's policy for ``settings`` (its preset and overrides)."""
    failures, window, duration = settings.lockout_rule
    return LockoutPolicy(max_failures=failures, window=float(window) if window else math.inf,
                         lockout=float(duration), max_tracked=MAX_TRACKED,
                         max_locked=MAX_TRACKED)  # fmt: skip


class LoginGuard:
    """Counts failed logins per client address, locks addresses out, audits both."""

    def __init__(self, policy: LockoutPolicy, audit: AuditLog) -> None:
        self.failures = FailureTracker(policy)
        self.audit = audit

    def locked_for(self, source: str, now: float) -> float | None:
        """Seconds ``source`` stays locked out, or ``None``."""
        until = self.failures.locked_until(source, now)
        return None if until is None else until - now

    async def failed(self, source: str, username: str, now: float) -> bool:
        """A failed login from ``source`` for ``username``; ``True`` when it locks ``source``
        out."""
        actor = Actor(f"login:{username[:64]}", source)
        await self.audit.record(actor, "admin.login_failed", username[:64],
                                "wrong user name or password")  # fmt: skip
        if not self.failures.failed(source, now):
            return False
        policy = self.failures.policy
        within = "" if math.isinf(policy.window) else f" within {policy.window:g} s"
        await self.audit.record(actor, LOCKOUT_ACTION, source,
                                f"{policy.max_failures} failed logins{within}: locked out "
                                f"for {policy.lockout:g} s")  # fmt: skip
        return True

    def succeeded(self, source: str) -> None:
        """A successful login clears ``source``'s failures."""
        self.failures.succeeded(source)

    async def restore(self, clock: Callable[[], float]) -> int:
        """Lock out again the addresses whose lockout (an audit event) has not ended yet;
        how many.  ``clock`` is the clock the guard is asked with (the server's)."""
        policy = self.failures.policy
        now_wall = time.time()
        since = datetime.fromtimestamp(now_wall - policy.lockout, UTC)
        events = await self.audit.recent(limit=policy.max_locked, action_prefix=LOCKOUT_ACTION,
                                         since=since)  # fmt: skip
        offset = clock() - now_wall
        restored = 0
        for event in reversed(events):  # oldest first: the tracker keeps lockouts in end order
            if event.action == LOCKOUT_ACTION:
                self.failures.restore(event.target, event.at.timestamp() + policy.lockout + offset)
                restored += 1
        if restored:
            log.info("admin: %d login lockouts still running restored from the audit log",
                     restored)  # fmt: skip
        return restored
