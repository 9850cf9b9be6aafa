"""Call records (SMDR/CDR): written in batches, exported by time range."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import and_, insert, or_, select

from voxgate.storage.engine import Store
from voxgate.storage.repos._session import Within, core_connection
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
    callee_call_id: str = ""


#: Column order of the CSV export.
CDR_FIELDS = tuple(CdrRecord.__dataclass_fields__)
#: Rows read per query by :meth:`CdrRepo.iter_range`.
PAGE: Final = 1000


def _row(record: CdrRecord) -> dict[str, object]:
    """Column values of a record (shallow: ``asdict`` deep-copies, which costs)."""
    return {name: getattr(record, name) for name in CDR_FIELDS}


class CdrRepo:
    """The ``call_records`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add_many(
        self, records: Sequence[CdrRecord], *, session: Within | None = None
    ) -> None:
        """Append records (in ``session``'s transaction if given)."""
        if not records:
            return
        async with core_connection(self.store, session) as connection:  # Core executemany
            await connection.execute(insert(CallRecordRow), [_row(r) for r in records])

    async def in_range(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[CdrRecord]:
        """Records of calls started in [since, until), oldest first."""
        return [record async for record in self.iter_range(since, until)]

    async def iter_range(
        self, since: datetime | None = None, until: datetime | None = None, *, page: int = PAGE
    ) -> AsyncIterator[CdrRecord]:
        """Records of calls started in [since, until), oldest first, read ``page`` rows at a
        time.

        Keyset pagination on (started_at, id): an export of millions of rows holds neither
        the whole table in memory nor a read transaction (SQLite: a WAL snapshot that stops
        checkpoints) open while the caller writes the file.
        """
        base = select(CallRecordRow).order_by(CallRecordRow.started_at, CallRecordRow.id)
        if since is not None:
            base = base.where(CallRecordRow.started_at >= since)
        if until is not None:
            base = base.where(CallRecordRow.started_at < until)
        after: tuple[datetime, int] | None = None
        while True:
            query = base if after is None else base.where(or_(
                CallRecordRow.started_at > after[0],
                and_(CallRecordRow.started_at == after[0], CallRecordRow.id > after[1]),
            ))  # fmt: skip
            async with self.store.sessions() as session:
                rows = (await session.execute(query.limit(page))).scalars().all()
            for row in rows:
                yield CdrRecord(**{f: getattr(row, f) for f in CDR_FIELDS})
            if len(rows) < page:
                return
            after = (rows[-1].started_at, rows[-1].id)
