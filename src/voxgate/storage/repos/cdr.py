"""Call records (SMDR/CDR): written in batches, exported by time range."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxgate.storage.engine import Store
from voxgate.storage.repos._session import transaction
from voxgate.storage.tables import CallRecordRow


@dataclass(frozen=True, slots=True)
class CdrRecord:
    """One row of ``call_records``."""

    call_id: str
    caller: str
    caller_name: str
    callee: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    duration: float
    disposition: str
    status: int
    reason: str
    caller_source: str


#: Column order of the CSV export.
CDR_FIELDS = tuple(CdrRecord.__dataclass_fields__)


def _row(record: CdrRecord) -> dict[str, object]:
    """Column values of a record (shallow: ``asdict`` deep-copies, which costs)."""
    return {name: getattr(record, name) for name in CDR_FIELDS}


class CdrRepo:
    """The ``call_records`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add_many(
        self, records: Sequence[CdrRecord], *, session: AsyncSession | None = None
    ) -> None:
        """Append records."""
        if not records:
            return
        async with transaction(self.store, session) as s:
            connection = await s.connection()  # Core executemany: no ORM bookkeeping
            await connection.execute(insert(CallRecordRow), [_row(r) for r in records])

    async def in_range(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[CdrRecord]:
        """Records of calls started in [since, until), oldest first."""
        query = select(CallRecordRow).order_by(CallRecordRow.started_at, CallRecordRow.id)
        if since is not None:
            query = query.where(CallRecordRow.started_at >= since)
        if until is not None:
            query = query.where(CallRecordRow.started_at < until)
        async with self.store.sessions() as session:
            rows = (await session.execute(query)).scalars().all()
        return [CdrRecord(**{f: getattr(r, f) for f in CDR_FIELDS}) for r in rows]
