"""Extensions of the embedded call control.  Every write bumps a change counter in the same
transaction, so that a running node sees the change at its next poll."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, delete, func, insert, or_, select, update

from voxgate.storage.among import among
from voxgate.storage.engine import Store
from voxgate.storage.repos.meta import bump, read_counter
from voxgate.storage.tables import ExtensionRow

GENERATION_KEY = "extensions_generation"


@dataclass(frozen=True, slots=True)
class ExtensionRecord:
    """One extension (HA1 values only, never a clear secret)."""

    number: str
    display_name: str
    realm: str
    ha1_md5: str
    ha1_sha256: str
    enabled: bool
    max_contacts: int | None
    created_at: datetime
    updated_at: datetime


_FIELDS = tuple(f.name for f in fields(ExtensionRecord))
#: Fields ``update`` may change.
CHANGEABLE = frozenset({"display_name", "realm", "ha1_md5", "ha1_sha256", "enabled",
                        "max_contacts", "updated_at"})  # fmt: skip


def _record(row: ExtensionRow) -> ExtensionRecord:
    return ExtensionRecord(**{f: getattr(row, f) for f in _FIELDS})


def _row(record: ExtensionRecord, names: Iterable[str] = _FIELDS) -> dict[str, object]:
    """Column values of a record (shallow: ``asdict`` deep-copies, which costs)."""
    return {name: getattr(record, name) for name in names}


def _matching(search: str | None, numbers: Collection[str] | None = None
              ) -> builtins.list[ColumnElement[bool]]:  # fmt: skip
    conditions: builtins.list[ColumnElement[bool]] = []
    if numbers is not None:
        conditions.append(among(ExtensionRow.number, numbers))
    if search:
        conditions.append(or_(ExtensionRow.number.contains(search, autoescape=True),
                              ExtensionRow.display_name.icontains(search, autoescape=True)))
    return conditions


class ExtensionRepo:
    """The ``extensions`` table and its change counter."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ``builtins.list`` below: inside this class, ``list`` names the method.
    async def snapshot(self) -> builtins.list[ExtensionRecord]:
        """Every extension, by number (what the call control's directory is built from)."""
        return await self.list()

    async def list(
        self, *, search: str | None = None, offset: int = 0, limit: int | None = None,
        numbers: Collection[str] | None = None,
    ) -> builtins.list[ExtensionRecord]:  # fmt: skip
        """Extensions by number, a page of them when ``limit`` is given (listings in the UI);
        ``search`` matches a part of the number or of the display name (any case); only those
        among ``numbers`` when given."""
        query = (select(ExtensionRow).where(*_matching(search, numbers))
                 .order_by(ExtensionRow.number).offset(offset).limit(limit))  # fmt: skip
        async with self.store.sessions() as session:
            rows = await session.execute(query)
            return [_record(r) for r in rows.scalars().all()]

    async def count(
        self, *, search: str | None = None, numbers: Collection[str] | None = None
    ) -> int:
        """How many extensions :meth:`list` would give without paging."""
        query = select(func.count(ExtensionRow.number)).where(*_matching(search, numbers))
        async with self.store.sessions() as session:
            return int(await session.scalar(query) or 0)

    async def get(self, number: str) -> ExtensionRecord | None:
        """One extension."""
        async with self.store.sessions() as session:
            row = await session.scalar(select(ExtensionRow).where(ExtensionRow.number == number))
            return None if row is None else _record(row)

    async def existing(self, numbers: Sequence[str]) -> set[str]:
        """Which of ``numbers`` exist."""
        found: set[str] = set()
        async with self.store.sessions() as session:
            for start in range(0, len(numbers), 500):
                chunk = list(numbers[start : start + 500])
                rows = await session.scalars(
                    select(ExtensionRow.number).where(ExtensionRow.number.in_(chunk))
                )
                found.update(rows.all())
        return found

    async def generation(self) -> int:
        """The change counter (0 before the first write)."""
        async with self.store.sessions() as session:
            return await read_counter(session, GENERATION_KEY)

    async def add(self, records: Sequence[ExtensionRecord]) -> None:
        """Insert new extensions in one transaction (a taken number raises IntegrityError and
        writes nothing)."""
        await self.write(add=records)

    async def write(
        self, add: Sequence[ExtensionRecord] = (), replace: Sequence[ExtensionRecord] = ()
    ) -> None:
        """Insert ``add`` and overwrite ``replace`` (by number) in one transaction."""
        if not add and not replace:
            return  # nothing changed: running nodes need not reload
        async with self.store.sessions.begin() as session:
            connection = await session.connection()  # Core executemany: no ORM bookkeeping
            if add:
                await connection.execute(insert(ExtensionRow), [_row(r) for r in add])
            if replace:
                await connection.execute(  # SET takes the columns named by the parameters
                    update(ExtensionRow).where(ExtensionRow.number == bindparam("k_number")),
                    [{"k_number": r.number, **_row(r, CHANGEABLE)} for r in replace],
                )
            await bump(session, GENERATION_KEY)

    async def update(self, number: str, **values: object) -> bool:
        """Change fields of one extension; whether it exists."""
        unknown = set(values) - CHANGEABLE
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        async with self.store.sessions.begin() as session:
            result = await session.execute(
                update(ExtensionRow).where(ExtensionRow.number == number).values(values)
            )
            if not getattr(result, "rowcount", 0):
                return False
            await bump(session, GENERATION_KEY)
        return True

    async def delete(self, number: str) -> bool:
        """Delete one extension; whether it existed."""
        async with self.store.sessions.begin() as session:
            result = await session.execute(
                delete(ExtensionRow).where(ExtensionRow.number == number)
            )
            if not getattr(result, "rowcount", 0):
                return False
            await bump(session, GENERATION_KEY)
        return True

