"""The audit log (ADMIN-7, NET-2): append-only rows, read newest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from voxgate.storage.engine import Store
from voxgate.storage.tables import AuditEventRow


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit event."""

    at: datetime
    actor: str
    source: str
    action: str
    target: str
    detail: str = ""


class AuditRepo:
    """The ``audit_events`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, records: Sequence[AuditRecord]) -> None:
        """Append ``records`` in one transaction."""
        if not records:
            return
        async with self.store.sessions.begin() as session:
            connection = await session.connection()
            await connection.execute(insert(AuditEventRow), [
                {"at": r.at, "actor": r.actor, "source": r.source, "action": r.action,
                 "target": r.target, "detail": r.detail}
                for r in records
            ])  # fmt: skip

    async def recent(
        self, *, limit: int = 100, action_prefix: str | None = None, since: datetime | None = None,
        until: datetime | None = None, actor: str | None = None, offset: int = 0,
    ) -> list[AuditRecord]:  # fmt: skip
        """The newest events first; only actions starting with ``action_prefix``, before
        ``until`` and by ``actor`` if given."""
        query = (select(AuditEventRow).order_by(AuditEventRow.id.desc()).offset(offset)
                 .limit(limit))  # fmt: skip
        if until is not None:
            query = query.where(AuditEventRow.at < until)
        if actor is not None:
            query = query.where(AuditEventRow.actor == actor)
        if action_prefix is not None:
            query = query.where(AuditEventRow.action.startswith(action_prefix, autoescape=True))
        if since is not None:
            query = query.where(AuditEventRow.at >= since)
        async with self.store.sessions() as session:
            rows = await session.scalars(query)
            return [
                AuditRecord(r.at, r.actor, r.source, r.action, r.target, r.detail)
                for r in rows.all()
            ]
