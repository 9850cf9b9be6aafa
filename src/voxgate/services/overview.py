"""What the dashboard shows (ADMIN-5): live registrations, recent calls, security events and
the activity of the last hours, counted per hour.  Read-only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from voxgate.storage.engine import Store
from voxgate.storage.repos.audit import AuditRecord
from voxgate.storage.repos.bindings import BindingRecord
from voxgate.storage.repos.cdr import CdrRecord
from voxgate.storage.repos.views import AuditFilter, ViewRepo

#: Audit actions that are security events (the node's, and the administration's logins).
SECURITY_PREFIXES: Final = ("security.", "admin.lockout", "admin.login_failed",
                            "admin.session_refused", "device.learned")  # fmt: skip


@dataclass(frozen=True, slots=True)
class HourCount:
    """Calls and registrations in the hour starting at ``start``."""

    start: datetime
    calls: int
    registrations: int


@dataclass(frozen=True, slots=True)
class Overview:
    """One look at the node."""

    now: datetime
    registrations: int
    bindings: list[BindingRecord]
    calls: list[CdrRecord]
    security: list[AuditRecord]
    hours: list[HourCount]


def per_hour(now: datetime, hours: int, calls: Iterable[datetime],
             registrations: Iterable[datetime]) -> list[HourCount]:  # fmt: skip
    """``hours`` buckets ending with the current hour, oldest first."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    starts = [current - timedelta(hours=hours - 1 - i) for i in range(hours)]
    counts = {start: [0, 0] for start in starts}
    for kind, times in enumerate((calls, registrations)):
        for at in times:
            bucket = counts.get(_utc(at).astimezone(UTC).replace(minute=0, second=0,
                                                                 microsecond=0))  # fmt: skip
            if bucket is not None:
                bucket[kind] += 1
    return [HourCount(start, *counts[start]) for start in starts]


class OverviewService:
    """The dashboard's reads."""

    def __init__(self, store: Store) -> None:
        self.repo = ViewRepo(store)

    async def overview(self, now: datetime | None = None, *, hours: int = 12,
                       rows: int = 10) -> Overview:  # fmt: skip
        """The live registrations (count and latest ``rows``), the latest calls and security
        events, and calls/registrations per hour over the last ``hours``."""
        now = now or datetime.now(UTC)
        count, bindings = await self.repo.live_bindings(now, rows)
        since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
        hours_counted = per_hour(now, hours, await self.repo.call_times(since),
                                 await self.repo.registration_times(since))  # fmt: skip
        security: list[AuditRecord] = []
        for prefix in SECURITY_PREFIXES:
            security += (await self.repo.audit(AuditFilter(action=prefix), limit=rows))[1]
        security.sort(key=lambda r: _utc(r.at), reverse=True)
        return Overview(now, count, bindings, await self.repo.recent_calls(rows),
                        security[:rows], hours_counted)  # fmt: skip

    async def live_contacts(self, aors: Sequence[str], now: datetime | None = None
                            ) -> dict[str, int]:  # fmt: skip
        """Live registered contacts per AOR (an extension's number), for the AORs that have
        one."""
        return await self.repo.live_contacts(aors, now or datetime.now(UTC))

    async def live_bindings_of(self, aor: str, now: datetime | None = None
                               ) -> list[BindingRecord]:  # fmt: skip
        """The live registrations of ``aor``, latest first."""
        return await self.repo.live_bindings_of(aor, now or datetime.now(UTC))

    async def audit(self, where: AuditFilter, *, limit: int = 50,
                    offset: int = 0) -> tuple[int, list[AuditRecord]]:  # fmt: skip
        """Audit events matching ``where``, newest first: (total, one page)."""
        return await self.repo.audit(where, limit=limit, offset=offset)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
