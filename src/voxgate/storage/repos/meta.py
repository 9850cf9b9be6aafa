"""Change counters in the ``meta`` table: a running node polls one to learn that a snapshot
(extensions, netlists, devices) must be rebuilt."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxgate.storage.tables import MetaRow


async def read_counter(session: AsyncSession, key: str) -> int:
    """The counter ``key`` (0 before its first bump)."""
    value = await session.scalar(select(MetaRow.value).where(MetaRow.key == key))
    return int(value) if value is not None else 0


async def bump(session: AsyncSession, key: str) -> None:
    """Add one to counter ``key`` inside the caller's transaction."""
    row = await session.get(MetaRow, key)
    if row is None:
        session.add(MetaRow(key=key, value="1"))
    else:
        row.value = str(int(row.value) + 1)
    await session.flush()
