"""Persisted registrations: the location service writes behind, and reads them back at start."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxgate.storage.engine import Store
from voxgate.storage.repos._session import transaction
from voxgate.storage.tables import BindingRow


@dataclass(frozen=True, slots=True)
class BindingRecord:
    """One binding row (see :class:`~voxgate.storage.tables.BindingRow`)."""

    aor: str
    contact: str
    instance: str | None
    reg_id: int | None
    expires_at: datetime
    call_id: str
    cseq: int
    q: float | None
    transport: str
    source_ip: str
    source_port: int
    local: str
    user_agent: str | None
    registered_at: datetime


_FIELDS = tuple(BindingRecord.__dataclass_fields__)


def _row(record: BindingRecord) -> dict[str, object]:
    """Column values of a record (shallow: ``asdict`` deep-copies, which costs)."""
    return {name: getattr(record, name) for name in _FIELDS}


class BindingRepo:
    """The ``bindings`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def load_all(self) -> list[BindingRecord]:
        """Every binding."""
        async with self.store.sessions() as session:
            rows = (await session.execute(select(BindingRow))).scalars().all()
        return [BindingRecord(**{f: getattr(row, f) for f in _FIELDS}) for row in rows]

    async def apply(
        self,
        upserts: Sequence[BindingRecord],
        deletes: Sequence[tuple[str, str]],
        *,
        session: AsyncSession | None = None,
    ) -> None:
        """Delete ``deletes`` (aor, contact) and write ``upserts``, in one transaction.

        An upsert is a delete and an insert of its key, so that one statement of each kind
        serves any batch on both backends; either list may be empty (an unregister batch
        has only deletes).
        """
        keys = [*deletes, *((b.aor, b.contact) for b in upserts)]
        async with transaction(self.store, session) as s:
            if keys:  # executemany of one DELETE: Core level (the ORM has no bulk DELETE)
                connection = await s.connection()
                await connection.execute(
                    delete(BindingRow)
                    .where(BindingRow.aor == bindparam("k_aor"))
                    .where(BindingRow.contact == bindparam("k_contact")),
                    [{"k_aor": aor, "k_contact": contact} for aor, contact in dict.fromkeys(keys)],
                )
            latest = {(b.aor, b.contact): b for b in upserts}  # the last change of a key wins
            if latest:  # an empty parameter list would INSERT one row of defaults
                connection = await s.connection()  # Core executemany: no ORM bookkeeping
                await connection.execute(insert(BindingRow), [_row(b) for b in latest.values()])

    async def purge_expired(self, now: datetime) -> int:
        """Delete bindings expired at ``now``; returns how many."""
        async with self.store.sessions.begin() as session:
            result = await session.execute(delete(BindingRow).where(BindingRow.expires_at <= now))
        return int(getattr(result, "rowcount", 0) or 0)

    async def count(self) -> int:
        """How many bindings are stored."""
        async with self.store.sessions() as session:
            rows = (await session.execute(select(BindingRow.id))).all()
        return len(rows)
