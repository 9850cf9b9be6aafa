"""Read-only queries behind the web administration's views (ADMIN-5, ADMIN-7): live
registrations, recent calls, activity times for the dashboard chart, and the audit log
searched with filters.  Nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select

from voxgate.storage.engine import Store
from voxgate.storage.repos.audit import AuditRecord
from voxgate.storage.repos.bindings import BindingRecord
from voxgate.storage.repos.cdr import CDR_FIELDS, CdrRecord
from voxgate.storage.tables import AuditEventRow, BindingRow, CallRecordRow, RegistrationEventRow

_BINDING_FIELDS = tuple(BindingRecord.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to look for in the audit log; empty fields match everything."""

    actor: str = ""
    action: str = ""
    source: str = ""
    text: str = ""
    since: datetime | None = None
    until: datetime | None = None


class ViewRepo:
    """Queries for the admin views."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def live_bindings(self, now: datetime, limit: int) -> tuple[int, list[BindingRecord]]:
        """(how many bindings are live at ``now``, the ``limit`` latest registered)."""
        live = BindingRow.expires_at > now
        async with self.store.sessions() as session:
            count = await session.scalar(select(func.count()).select_from(BindingRow).where(live))
            rows = (await session.execute(
                select(BindingRow).where(live).order_by(BindingRow.registered_at.desc())
                .limit(limit)
            )).scalars().all()  # fmt: skip
        return int(count or 0), [
            BindingRecord(**{f: getattr(r, f) for f in _BINDING_FIELDS}) for r in rows
        ]

    async def live_contacts(self, aors: Sequence[str], now: datetime) -> dict[str, int]:
        """How many contacts each of ``aors`` has registered and live at ``now`` (AORs
        without one are left out)."""
        found: dict[str, int] = {}
        async with self.store.sessions() as session:
            for start in range(0, len(aors), 500):
                rows = await session.execute(
                    select(BindingRow.aor, func.count()).where(
                        BindingRow.aor.in_(aors[start : start + 500]),
                        BindingRow.expires_at > now).group_by(BindingRow.aor)
                )  # fmt: skip
                found.update((aor, int(count)) for aor, count in rows.all())
        return found

    async def live_bindings_of(self, aor: str, now: datetime) -> list[BindingRecord]:
        """The live bindings of ``aor``, latest registered first."""
        query = (select(BindingRow).where(BindingRow.aor == aor, BindingRow.expires_at > now)
                 .order_by(BindingRow.registered_at.desc()))  # fmt: skip
        async with self.store.sessions() as session:
            rows = (await session.execute(query)).scalars().all()
        return [BindingRecord(**{f: getattr(r, f) for f in _BINDING_FIELDS}) for r in rows]

    async def recent_calls(self, limit: int) -> list[CdrRecord]:
        """The latest calls, newest first."""
        query = select(CallRecordRow).order_by(CallRecordRow.started_at.desc(),
                                               CallRecordRow.id.desc()).limit(limit)  # fmt: skip
        async with self.store.sessions() as session:
            rows = (await session.execute(query)).scalars().all()
        return [CdrRecord(**{f: getattr(r, f) for f in CDR_FIELDS}) for r in rows]

    async def call_times(self, since: datetime) -> list[datetime]:
        """When the calls started since ``since`` started."""
        query = select(CallRecordRow.started_at).where(CallRecordRow.started_at >= since)
        async with self.store.sessions() as session:
            return list((await session.execute(query)).scalars().all())

    async def registration_times(self, since: datetime) -> list[datetime]:
        """When the successful registrations since ``since`` happened."""
        query = select(RegistrationEventRow.at).where(
            RegistrationEventRow.at >= since, RegistrationEventRow.outcome == "registered")
        async with self.store.sessions() as session:
            return list((await session.execute(query)).scalars().all())

    async def audit(
        self, where: AuditFilter, *, limit: int, offset: int = 0
    ) -> tuple[int, list[AuditRecord]]:
        """(how many events match, the newest ``limit`` of them after ``offset``)."""
        conditions: list[ColumnElement[bool]] = []
        if where.actor:
            conditions.append(AuditEventRow.actor.contains(where.actor, autoescape=True))
        if where.action:
            conditions.append(AuditEventRow.action.startswith(where.action, autoescape=True))
        if where.source:
            conditions.append(AuditEventRow.source.startswith(where.source, autoescape=True))
        if where.text:
            conditions.append(or_(
                AuditEventRow.target.contains(where.text, autoescape=True),
                AuditEventRow.detail.contains(where.text, autoescape=True),
            ))  # fmt: skip
        if where.since is not None:
            conditions.append(AuditEventRow.at >= where.since)
        if where.until is not None:
            conditions.append(AuditEventRow.at < where.until)
        async with self.store.sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(AuditEventRow).where(*conditions))
            rows = (await session.execute(
                select(AuditEventRow).where(*conditions).order_by(AuditEventRow.id.desc())
                .limit(limit).offset(offset)
            )).scalars().all()  # fmt: skip
        return int(count or 0), [
            AuditRecord(r.at, r.actor, r.source, r.action, r.target, r.detail) for r in rows
        ]
