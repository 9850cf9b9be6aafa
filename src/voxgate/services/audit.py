"""The audit log: who changed what, when and from where, and the node's security events.

Every service that changes state takes an :class:`Actor` and writes its event
through :class:`AuditLog`; the CLI is ``cli:<login>`` from ``local``, the admin
UI will be ``admin:<name>`` from the browser's address, and the node itself
(lockouts, blocked sources) is ``node``.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from voxgate.storage.engine import Store
from voxgate.storage.repos.audit import AuditRecord, AuditRepo


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, and from where."""

    name: str
    source: str = "local"

    @classmethod
    def cli(cls) -> Actor:
        """The person running a CLI command on this machine."""
        try:
            login = getpass.getuser()
        except (OSError, KeyError):  # no login name in a bare container
            login = "unknown"
        return cls(f"cli:{login}")


#: The node itself (security events).
NODE = Actor("node", "-")


class AuditLog:
    """Writes and reads audit events."""

    def __init__(self, store: Store) -> None:
        self.repo = AuditRepo(store)

    async def record(self, actor: Actor, action: str, target: str, detail: str = "") -> None:
        """Append one event, now."""
        await self.repo.add([AuditRecord(datetime.now(UTC), actor.name, actor.source, action,
                                         target, detail)])  # fmt: skip

    async def record_many(self, records: Sequence[AuditRecord]) -> None:
        """Append several events in one transaction."""
        await self.repo.add(records)

    async def recent(
        self, *, limit: int = 100, action_prefix: str | None = None, since: datetime | None = None,
        until: datetime | None = None, actor: str | None = None, offset: int = 0,
    ) -> list[AuditRecord]:  # fmt: skip
        """The newest events first (``since`` ≤ at < ``until``)."""
        return await self.repo.recent(limit=limit, action_prefix=action_prefix, since=since,
                                      until=until, actor=actor, offset=offset)  # fmt: skip
