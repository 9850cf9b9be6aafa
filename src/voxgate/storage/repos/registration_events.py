"""The registration log (AUTH-6): device identity, source, extension and credential."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import insert, select

from voxgate.storage.engine import Store
from voxgate.storage.repos._session import Within, core_connection
from voxgate.storage.repos.bindings import sqlite_time
from voxgate.storage.tables import RegistrationEventRow


@dataclass(frozen=True, slots=True)
class RegistrationEventRecord:
    """One row of ``registration_events``."""

    at: datetime
    extension: str
    source_ip: str
    source_port: int
    transport: str
    instance: str | None
    user_agent: str | None
    credential: str
    algorithm: str
    outcome: str
    reason: str | None
    device: str | None = None
    recorded_by: str = "pbx"


_FIELDS = tuple(RegistrationEventRecord.__dataclass_fields__)


def _row(record: RegistrationEventRecord) -> dict[str, object]:
    """Column values of a record (shallow: ``asdict`` deep-copies, which costs)."""
    return {name: getattr(record, name) for name in _FIELDS}


class RegistrationEventRepo:
    """The ``registration_events`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add_many(
        self, events: Sequence[RegistrationEventRecord], *, session: Within | None = None
    ) -> None:
        """Append events (in ``session``'s transaction if given)."""
        if not events:
            return
        async with core_connection(self.store, session) as connection:  # Core executemany
            await connection.execute(insert(RegistrationEventRow), [_row(e) for e in events])

    async def recent(
        self, extension: str | None = None, limit: int = 100, *, device: str | None = None
    ) -> list[RegistrationEventRecord]:
        """The latest events, newest first (of one extension and/or one device)."""
        query = select(RegistrationEventRow).order_by(RegistrationEventRow.id.desc()).limit(limit)
        if extension is not None:
            query = query.where(RegistrationEventRow.extension == extension)
        if device is not None:
            query = query.where(RegistrationEventRow.device == device)
        async with self.store.sessions() as session:
            rows = (await session.execute(query)).scalars().all()
        return [RegistrationEventRecord(**{f: getattr(r, f) for f in _FIELDS}) for r in rows]


def _sqlite_insert() -> str:
    names = ", ".join(f'"{name}"' for name in _FIELDS)
    marks = ", ".join("?" for _ in _FIELDS)
    return f"INSERT INTO registration_events ({names}) VALUES ({marks})"  # noqa: S608


#: One event a row, for the DB-API of SQLite (:func:`sqlite_rows`).
SQLITE_INSERT: Final = _sqlite_insert()


def sqlite_rows(events: Sequence[RegistrationEventRecord]) -> list[tuple[object, ...]]:
    """The DB-API rows of :data:`SQLITE_INSERT`."""
    return [tuple(sqlite_time(e.at) if name == "at" else getattr(e, name) for name in _FIELDS)
            for e in events]  # fmt: skip

