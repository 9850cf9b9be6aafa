"""The allow and block lists (NET-1).  Every write bumps a change counter in the same
transaction, so that a running node swaps in the new lists at its next poll."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxgate.storage.engine import Store
from voxgate.storage.repos.meta import bump, read_counter
from voxgate.storage.tables import NetblockRow

GENERATION_KEY = "netlists_generation"


@dataclass(frozen=True, slots=True)
class NetblockRecord:
    """One netblock of a named netlist."""

    kind: str  # "allow" | "block"
    title: str
    network: str
    comment: str = ""


@dataclass(frozen=True, slots=True)
class NetlistSummary:
    """One named netlist: its kind, title and size."""

    kind: str
    title: str
    size: int


class NetblockRepo:
    """The ``netblocks`` table and its change counter."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def generation(self) -> int:
        """The change counter (0 before the first write)."""
        async with self.store.sessions() as session:
            return await read_counter(session, GENERATION_KEY)

    async def snapshot(self) -> tuple[list[NetblockRecord], int]:
        """Every netblock and the change counter they were read at (one transaction)."""
        async with self.store.sessions() as session:
            generation = await read_counter(session, GENERATION_KEY)
            rows = await session.execute(
                select(NetblockRow.kind, NetblockRow.title, NetblockRow.network,
                       NetblockRow.comment).order_by(NetblockRow.id)
            )  # fmt: skip
            return [NetblockRecord(*row) for row in rows.tuples()], generation

    async def entries(
        self, kind: str | None = None, title: str | None = None
    ) -> list[NetblockRecord]:
        """The netblocks of one kind and/or one netlist, in the order they were added."""
        query = select(NetblockRow.kind, NetblockRow.title, NetblockRow.network,
                       NetblockRow.comment).order_by(NetblockRow.id)  # fmt: skip
        if kind is not None:
            query = query.where(NetblockRow.kind == kind)
        if title is not None:
            query = query.where(NetblockRow.title == title)
        async with self.store.sessions() as session:
            rows = await session.execute(query)
            return [NetblockRecord(*row) for row in rows.tuples()]

    async def summaries(self) -> list[NetlistSummary]:
        """Every named netlist with its size, by kind then title."""
        query = (
            select(NetblockRow.kind, NetblockRow.title, func.count())
            .group_by(NetblockRow.kind, NetblockRow.title)
            .order_by(NetblockRow.kind, NetblockRow.title)
        )
        async with self.store.sessions() as session:
            rows = await session.execute(query)
            return [NetlistSummary(kind, title, int(size)) for kind, title, size in rows.tuples()]

    async def replace_list(self, kind: str, title: str, records: Sequence[NetblockRecord]) -> int:
        """Make netlist ``(kind, title)`` exactly ``records`` in one transaction; how many
        netblocks it held before."""
        async with self.store.sessions.begin() as session:
            connection = await session.connection()
            result = await connection.execute(
                delete(NetblockRow).where(NetblockRow.kind == kind, NetblockRow.title == title)
            )
            before = int(getattr(result, "rowcount", 0) or 0)
            await _insert(session, records)
            await bump(session, GENERATION_KEY)
        return before

    async def add(self, records: Sequence[NetblockRecord]) -> list[NetblockRecord]:
        """Insert the records not already in their netlist; the ones that were new."""
        async with self.store.sessions.begin() as session:
            fresh = []
            for record in records:
                exists = await session.scalar(select(NetblockRow.id).where(
                    NetblockRow.kind == record.kind, NetblockRow.title == record.title,
                    NetblockRow.network == record.network,
                ))  # fmt: skip
                if exists is None:
                    fresh.append(record)
            if fresh:
                await _insert(session, fresh)
                await bump(session, GENERATION_KEY)
            return fresh

    async def delete(self, kind: str, network: str, title: str | None = None) -> int:
        """Delete ``network`` from the ``kind`` list (every netlist, or only ``title``); how
        many rows went."""
        query = delete(NetblockRow).where(NetblockRow.kind == kind, NetblockRow.network == network)
        if title is not None:
            query = query.where(NetblockRow.title == title)
        return await self._delete(query)

    async def delete_list(self, kind: str, title: str) -> int:
        """Delete a whole netlist; how many netblocks it held."""
        return await self._delete(
            delete(NetblockRow).where(NetblockRow.kind == kind, NetblockRow.title == title)
        )

    async def _delete(self, query: object) -> int:
        async with self.store.sessions.begin() as session:
            connection = await session.connection()
            result = await connection.execute(query)  # type: ignore[call-overload]
            count = int(getattr(result, "rowcount", 0) or 0)
            if count:
                await bump(session, GENERATION_KEY)
        return count


async def _insert(session: AsyncSession, records: Sequence[NetblockRecord]) -> None:
    if not records:
        return
    now = datetime.now(UTC)
    connection = await session.connection()
    await connection.execute(insert(NetblockRow), [
        {"kind": r.kind, "title": r.title, "network": r.network, "comment": r.comment,
         "added_at": now}
        for r in records
    ])  # fmt: skip
