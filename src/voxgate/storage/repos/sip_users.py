"""SIP users of the edge (AUTH-4).  Every write bumps a change counter in the same
transaction, so that running nodes rebuild their credential table at the next poll.

The repository stores what it is given: the level-1 credential as HA1 values and the
level-2 secret as a sealed token; :mod:`voxgate.services.sipusers` does the hashing and
the sealing."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxgate.storage.among import among
from voxgate.storage.engine import Store
from voxgate.storage.repos.meta import bump, read_counter
from voxgate.storage.tables import SipUserRow

GENERATION_KEY = "sip_users_generation"


@dataclass(frozen=True, slots=True)
class SipUserRecord:
    """One SIP user as stored (``upstream_secret`` is a secretbox token)."""

    username: str
    realm: str
    ha1_md5: str
    ha1_sha256: str
    extension: str
    upstream_username: str
    upstream_secret: str
    device_mac: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


_FIELDS = tuple(f.name for f in fields(SipUserRecord))
#: Fields ``update`` and ``write(replace=…)`` may change.
CHANGEABLE = frozenset(set(_FIELDS) - {"username", "created_at"})


def _record(row: SipUserRow) -> SipUserRecord:
    return SipUserRecord(**{f: getattr(row, f) for f in _FIELDS})


def _row(record: SipUserRecord, names: Iterable[str] = _FIELDS) -> dict[str, object]:
    return {name: getattr(record, name) for name in names}


def _matching(search: str | None, extensions: Collection[str] | None = None
              ) -> builtins.list[ColumnElement[bool]]:  # fmt: skip
    """``search``: a part of the username, extension or upstream username; ``extensions``:
    only users of these extensions."""
    conditions: builtins.list[ColumnElement[bool]] = []
    if extensions is not None:
        conditions.append(among(SipUserRow.extension, extensions))
    if search:
        conditions.append(or_(
            SipUserRow.username.icontains(search, autoescape=True),
            SipUserRow.extension.contains(search, autoescape=True),
            SipUserRow.upstream_username.icontains(search, autoescape=True),
        ))  # fmt: skip
    return conditions


class SipUserRepo:
    """The ``sip_users`` table and its change counter."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def generation(self) -> int:
        """The change counter (0 before the first write)."""
        async with self.store.sessions() as session:
            return await read_counter(session, GENERATION_KEY)

    async def snapshot(self) -> tuple[builtins.list[SipUserRecord], int]:
        """Every user and the change counter they were read at (one transaction)."""
        async with self.store.sessions() as session:
            generation = await read_counter(session, GENERATION_KEY)
            rows = await session.scalars(select(SipUserRow).order_by(SipUserRow.username))
            return [_record(r) for r in rows.all()], generation

    async def list(
        self, *, search: str | None = None, offset: int = 0, limit: int | None = None,
        extensions: Collection[str] | None = None,
    ) -> builtins.list[SipUserRecord]:  # fmt: skip
        """Users by name; ``search`` matches a part of the username, extension or upstream
        username; only the users of ``extensions`` when given; a page of them when ``limit``
        is given."""
        query = (select(SipUserRow).where(*_matching(search, extensions))
                 .order_by(SipUserRow.username).offset(offset).limit(limit))  # fmt: skip
        async with self.store.sessions() as session:
            rows = await session.scalars(query)
            return [_record(r) for r in rows.all()]

    async def count(
        self, *, search: str | None = None, extensions: Collection[str] | None = None
    ) -> int:
        """How many users :meth:`list` would give without paging."""
        query = select(func.count(SipUserRow.username)).where(*_matching(search, extensions))
        async with self.store.sessions() as session:
            return int(await session.scalar(query) or 0)

    async def get(self, username: str) -> SipUserRecord | None:
        """One user."""
        async with self.store.sessions() as session:
            row = await session.scalar(select(SipUserRow).where(SipUserRow.username == username))
            return None if row is None else _record(row)

    async def for_extension(self, extension: str) -> builtins.list[SipUserRecord]:
        """The users that reach the call control as ``extension``."""
        async with self.store.sessions() as session:
            rows = await session.scalars(
                select(SipUserRow).where(SipUserRow.extension == extension)
                .order_by(SipUserRow.username)
            )  # fmt: skip
            return [_record(r) for r in rows.all()]

    async def for_device(self, mac: str) -> builtins.list[SipUserRecord]:
        """The users tied to device ``mac`` (normalized), by name."""
        async with self.store.sessions() as session:
            rows = await session.scalars(
                select(SipUserRow).where(SipUserRow.device_mac == mac)
                .order_by(SipUserRow.username)
            )  # fmt: skip
            return [_record(r) for r in rows.all()]

    async def existing(self, usernames: Sequence[str]) -> dict[str, SipUserRecord]:
        """The users among ``usernames`` that exist, by name."""
        found: dict[str, SipUserRecord] = {}
        async with self.store.sessions() as session:
            for start in range(0, len(usernames), 500):
                rows = await session.scalars(select(SipUserRow).where(
                    SipUserRow.username.in_(usernames[start : start + 500])
                ))  # fmt: skip
                found.update((r.username, _record(r)) for r in rows.all())
        return found

    async def write(
        self, add: Sequence[SipUserRecord] = (), replace: Sequence[SipUserRecord] = ()
    ) -> None:
        """Insert ``add`` and overwrite ``replace`` (by username) in one transaction (a taken
        username raises IntegrityError and writes nothing)."""
        if not add and not replace:
            return
        async with self.store.sessions.begin() as session:
            await _write(session, add, replace)

    async def update(self, username: str, **values: object) -> bool:
        """Change fields of one user; whether it exists."""
        unknown = set(values) - CHANGEABLE
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        async with self.store.sessions.begin() as session:
            result = await session.execute(
                update(SipUserRow).where(SipUserRow.username == username).values(values)
            )
            if not getattr(result, "rowcount", 0):
                return False
            await bump(session, GENERATION_KEY)
        return True

    async def delete(self, username: str) -> bool:
        """Delete one user; whether it existed."""
        async with self.store.sessions.begin() as session:
            result = await session.execute(
                delete(SipUserRow).where(SipUserRow.username == username)
            )
            if not getattr(result, "rowcount", 0):
                return False
            await bump(session, GENERATION_KEY)
        return True


async def _write(
    session: AsyncSession, add: Sequence[SipUserRecord], replace: Sequence[SipUserRecord]
) -> None:
    connection = await session.connection()  # Core executemany: no ORM bookkeeping
    if add:
        await connection.execute(insert(SipUserRow), [_row(r) for r in add])
    if replace:
        await connection.execute(
            update(SipUserRow).where(SipUserRow.username == bindparam("k_username")),
            [{"k_username": r.username, **_row(r, CHANGEABLE)} for r in replace],
        )
    await bump(session, GENERATION_KEY)
