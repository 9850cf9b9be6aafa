"""The device table (AUTH-1, AUTH-2).  Every administrative write bumps a change counter in
the same transaction, so that running nodes rebuild their device snapshot at the next poll;
:meth:`DeviceRepo.seen` (the edge noting where a known device was last seen) does not."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from voxgate.storage.among import among
from voxgate.storage.engine import Store
from voxgate.storage.repos.meta import bump, read_counter
from voxgate.storage.tables import DeviceRow

GENERATION_KEY = "devices_generation"
#: Rows per statement of a bulk write (one transaction whatever the number of statements).
WRITE_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """One device."""

    mac: str  # 12 lower-case hex digits
    enabled: bool
    description: str
    identity: str  # "certificate" | "instance" | "user-agent" | "provisioning" | "admin"
    last_source: str | None
    user_agent: str | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    created_at: datetime
    updated_at: datetime


_FIELDS = tuple(f.name for f in fields(DeviceRecord))
#: Fields ``update`` and ``write(replace=…)`` may change.
CHANGEABLE = frozenset({"enabled", "description", "updated_at"})


def _record(row: DeviceRow) -> DeviceRecord:
    return DeviceRecord(**{f: getattr(row, f) for f in _FIELDS})


def _row(record: DeviceRecord, names: Iterable[str] = _FIELDS) -> dict[str, object]:
    return {name: getattr(record, name) for name in names}


def _conditions(
    search: str | None, disabled_only: bool, macs: Collection[str] | None
) -> builtins.list[ColumnElement[bool]]:
    conditions: builtins.list[ColumnElement[bool]] = []
    if macs is not None:
        conditions.append(among(DeviceRow.mac, macs))
    if disabled_only:
        conditions.append(DeviceRow.enabled.is_(False))
    if search:
        hexdigits = "".join(c for c in search.lower() if c not in ":-.")
        matches = [DeviceRow.description.icontains(search, autoescape=True)]
        if hexdigits and all(c in "0123456789abcdef" for c in hexdigits):
            matches.append(DeviceRow.mac.contains(hexdigits, autoescape=True))
        conditions.append(or_(*matches))
    return conditions


class DeviceRepo:
    """The ``devices`` table and its change counter."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def generation(self) -> int:
        """The change counter (0 before the first write)."""
        async with self.store.sessions() as session:
            return await read_counter(session, GENERATION_KEY)

    async def snapshot(self) -> tuple[builtins.list[tuple[str, bool]], int]:
        """Every device's MAC and enabled flag, and the change counter they were read at (one
        transaction: what the edge's device table is built from)."""
        async with self.store.sessions() as session:
            generation = await read_counter(session, GENERATION_KEY)
            rows = await session.execute(select(DeviceRow.mac, DeviceRow.enabled))
            return [(mac, bool(enabled)) for mac, enabled in rows.tuples()], generation

    async def get(self, mac: str) -> DeviceRecord | None:
        """One device by normalized MAC."""
        async with self.store.sessions() as session:
            row = await session.scalar(select(DeviceRow).where(DeviceRow.mac == mac))
            return None if row is None else _record(row)

    async def list(
        self, *, search: str | None = None, disabled_only: bool = False, offset: int = 0,
        limit: int | None = None, macs: Collection[str] | None = None,
    ) -> builtins.list[DeviceRecord]:  # fmt: skip
        """Devices by MAC; ``search`` matches a part of the MAC (with or without separators)
        or of the description, case-insensitively; only those among ``macs`` (normalized)
        when given; a page of them when ``limit`` is given."""
        query = (select(DeviceRow).where(*_conditions(search, disabled_only, macs))
                 .order_by(DeviceRow.mac).offset(offset).limit(limit))  # fmt: skip
        async with self.store.sessions() as session:
            rows = await session.scalars(query)
            return [_record(r) for r in rows.all()]

    async def count(
        self, *, search: str | None = None, disabled_only: bool = False,
        macs: Collection[str] | None = None,
    ) -> int:  # fmt: skip
        """How many devices :meth:`list` would give without paging."""
        query = select(func.count(DeviceRow.id)).where(*_conditions(search, disabled_only, macs))
        async with self.store.sessions() as session:
            return int(await session.scalar(query) or 0)

    async def existing(self, macs: Sequence[str]) -> dict[str, DeviceRecord]:
        """The devices among ``macs`` that exist, by MAC."""
        found: dict[str, DeviceRecord] = {}
        async with self.store.sessions() as session:
            for start in range(0, len(macs), 500):
                rows = await session.scalars(
                    select(DeviceRow).where(DeviceRow.mac.in_(macs[start : start + 500]))
                )
                found.update((r.mac, _record(r)) for r in rows.all())
        return found

    async def write(
        self, add: Sequence[DeviceRecord] = (), replace: Sequence[DeviceRecord] = (),
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Insert ``add`` and overwrite the changeable fields of ``replace`` (by MAC) in one
        transaction (a taken MAC raises IntegrityError and writes nothing); ``progress``
        hears the rows written so far after every :data:`WRITE_CHUNK`."""
        if not add and not replace:
            return
        done = 0
        async with self.store.sessions.begin() as session:
            connection = await session.connection()  # Core executemany: no ORM bookkeeping
            for start in range(0, len(add), WRITE_CHUNK):
                chunk = add[start : start + WRITE_CHUNK]
                await connection.execute(insert(DeviceRow), [_row(r) for r in chunk])
                done += len(chunk)
                if progress is not None:
                    progress(done)
            changed = update(DeviceRow).where(DeviceRow.mac == bindparam("k_mac"))
            for start in range(0, len(replace), WRITE_CHUNK):
                chunk = replace[start : start + WRITE_CHUNK]
                await connection.execute(
                    changed, [{"k_mac": r.mac, **_row(r, CHANGEABLE)} for r in chunk]
                )
                done += len(chunk)
                if progress is not None:
                    progress(done)
            await bump(session, GENERATION_KEY)

    async def update(self, mac: str, **values: object) -> bool:
        """Change fields of one device; whether it exists."""
        unknown = set(values) - CHANGEABLE
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        async with self.store.sessions.begin() as session:
            result = await session.execute(
                update(DeviceRow).where(DeviceRow.mac == mac).values(values)
            )
            if not getattr(result, "rowcount", 0):
                return False
            await bump(session, GENERATION_KEY)
        return True

    async def delete(self, mac: str) -> bool:
        """Delete one device; whether it existed."""
        async with self.store.sessions.begin() as session:
            result = await session.execute(delete(DeviceRow).where(DeviceRow.mac == mac))
            if not getattr(result, "rowcount", 0):
                return False
            await bump(session, GENERATION_KEY)
        return True

    async def seen(
        self, mac: str, source: str, user_agent: str | None, now: datetime
    ) -> bool:
        """Note that a known device was seen (one UPDATE, no change counter: nodes need not
        reload for it); whether the device exists."""
        async with self.store.sessions.begin() as session:
            connection = await session.connection()
            result = await connection.execute(
                update(DeviceRow).where(DeviceRow.mac == mac).values(
                    last_source=source, user_agent=user_agent, last_seen_at=now,
                    first_seen_at=func.coalesce(DeviceRow.first_seen_at, now),
                )
            )  # fmt: skip
            return bool(getattr(result, "rowcount", 0))

    async def seen_many(
        self, sightings: Sequence[tuple[str, str, str | None, datetime]]
    ) -> set[str]:
        """:meth:`seen` for many ``(mac, source, user_agent, now)`` at once: one transaction,
        one executemany UPDATE; the MACs that exist (the others are left to :meth:`learn`)."""
        if not sightings:
            return set()
        macs = list({mac for mac, _, _, _ in sightings})
        async with self.store.sessions.begin() as session:
            connection = await session.connection()
            known: set[str] = set()
            for start in range(0, len(macs), 500):
                rows = await connection.execute(
                    select(DeviceRow.mac).where(DeviceRow.mac.in_(macs[start : start + 500]))
                )
                known.update(rows.scalars().all())
            updates = [
                {"k_mac": mac, "last_source": source, "user_agent": agent, "last_seen_at": now}
                for mac, source, agent, now in sightings if mac in known
            ]  # fmt: skip
            if updates:
                await connection.execute(
                    update(DeviceRow).where(DeviceRow.mac == bindparam("k_mac")).values(
                        last_source=bindparam("last_source"), user_agent=bindparam("user_agent"),
                        last_seen_at=bindparam("last_seen_at"),
                        first_seen_at=func.coalesce(DeviceRow.first_seen_at,
                                                    bindparam("last_seen_at")),
                    ),
                    updates,
                )  # fmt: skip
        return known

    async def learn(self, record: DeviceRecord) -> bool:
        """Insert a device seen for the first time, or — when it exists (also when another
        node inserted it a moment ago) — note that it was seen.  Whether it was inserted."""
        assert record.last_source is not None
        assert record.last_seen_at is not None
        if await self.seen(record.mac, record.last_source, record.user_agent,
                           record.last_seen_at):  # fmt: skip
            return False
        try:
            async with self.store.sessions.begin() as session:
                connection = await session.connection()
                await connection.execute(insert(DeviceRow), [_row(record)])
                await bump(session, GENERATION_KEY)
        except IntegrityError:  # another node learned it between the two statements
            await self.seen(record.mac, record.last_source, record.user_agent,
                            record.last_seen_at)  # fmt: skip
            return False
        return True

    async def enable_untouched(self, mac: str, now: datetime, *, admin: str) -> bool:
        """Enable a disabled device that no administrator has ever changed: learned (its
        ``identity`` is not ``admin``) and never updated since (``updated_at`` still equals
        ``created_at``).  One conditional UPDATE, so an administrator's change made a moment
        earlier wins; whether the device was enabled."""
        async with self.store.sessions.begin() as session:
            result = await session.execute(
                update(DeviceRow).where(
                    DeviceRow.mac == mac, DeviceRow.enabled.is_(False),
                    DeviceRow.identity != admin,
                    DeviceRow.updated_at == DeviceRow.created_at,
                ).values(enabled=True, updated_at=now)
            )  # fmt: skip
            if not getattr(result, "rowcount", 0):
                return False
            await bump(session, GENERATION_KEY)
        return True
