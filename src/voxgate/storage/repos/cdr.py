"""Call records (SMDR/CDR): written in batches, read by filter (a page newest first, or every
match oldest first for an export)."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, and_, func, insert, or_, select

from voxgate.storage.among import among
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


@dataclass(frozen=True, slots=True)
class CdrFilter:
    """Which records: calls started in [since, until); whose caller (callee) starts with
    ``caller`` (``callee``) — case-sensitive, as SIP user parts compare; that ended with
    ``disposition``; that talked at least ``min_duration`` seconds; and with ``parties`` (if
    given) among their caller or callee (exactly).  ``None``: no condition."""

    since: datetime | None = None
    until: datetime | None = None
    caller: str | None = None
    callee: str | None = None
    disposition: str | None = None
    min_duration: float | None = None
    parties: Collection[str] | None = None

    def conditions(self) -> builtins.list[ColumnElement[bool]]:
        """The WHERE clauses.

        A prefix is compared with ``substr`` rather than ``LIKE``: the same case-sensitive
        answer on SQLite (whose ``LIKE`` ignores ASCII case) and PostgreSQL, and no escaping
        of ``%`` and ``_``.  No filter has an index of its own: a page reads the start-time
        index newest first until it has its rows, a count reads each row once — measured
        with 100,000 records in bench/admin_pages.py (docs/benchmarks.md).  An index on the
        disposition made its count faster but a disposition with a prefix slower (SQLite,
        without statistics, then looks up most rows through it).
        """
        row = CallRecordRow
        found: builtins.list[ColumnElement[bool]] = []
        if self.since is not None:
            found.append(row.started_at >= self.since)
        if self.until is not None:
            found.append(row.started_at < self.until)
        for column, prefix in ((row.caller, self.caller), (row.callee, self.callee)):
            if prefix:
                found.append(func.substr(column, 1, len(prefix)) == prefix)
        if self.disposition is not None:
            found.append(row.disposition == self.disposition)
        if self.min_duration is not None:
            found.append(row.duration >= self.min_duration)
        if self.parties is not None:
            found.append(or_(among(row.caller, self.parties), among(row.callee, self.parties)))
        return found


def _record(row: CallRecordRow) -> CdrRecord:
    return CdrRecord(**{f: getattr(row, f) for f in CDR_FIELDS})


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
        async for record in self.iter_matching(CdrFilter(since, until), page=page):
            yield record

    async def iter_matching(self, which: CdrFilter, *, page: int = PAGE
                            ) -> AsyncIterator[CdrRecord]:  # fmt: skip
        """:meth:`iter_range` for the records ``which`` selects."""
        base = (select(CallRecordRow).where(*which.conditions())
                .order_by(CallRecordRow.started_at, CallRecordRow.id))  # fmt: skip
        after: tuple[datetime, int] | None = None
        while True:
            query = base if after is None else base.where(or_(
                CallRecordRow.started_at > after[0],
                and_(CallRecordRow.started_at == after[0], CallRecordRow.id > after[1]),
            ))  # fmt: skip
            async with self.store.sessions() as session:
                rows = (await session.execute(query.limit(page))).scalars().all()
            for row in rows:
                yield _record(row)
            if len(rows) < page:
                return
            after = (rows[-1].started_at, rows[-1].id)

    async def matching(self, which: CdrFilter, *, offset: int = 0, limit: int = 100
                       ) -> builtins.list[CdrRecord]:  # fmt: skip
        """A page of the records ``which`` selects, newest first."""
        query = (select(CallRecordRow).where(*which.conditions())
                 .order_by(CallRecordRow.started_at.desc(), CallRecordRow.id.desc())
                 .offset(offset).limit(limit))  # fmt: skip
        async with self.store.sessions() as session:
            return [_record(row) for row in (await session.scalars(query)).all()]

    async def count(self, which: CdrFilter) -> int:
        """How many records ``which`` selects."""
        query = select(func.count(CallRecordRow.id)).where(*which.conditions())
        async with self.store.sessions() as session:
            return int(await session.scalar(query) or 0)
