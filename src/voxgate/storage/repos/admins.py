"""Accounts of the web administration and their grants (ADMIN-2, ADMIN-5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxgate.storage.engine import Store
from voxgate.storage.tables import AdminAccountRow, AdminGrantRow


@dataclass(frozen=True, slots=True)
class AdminAccountRecord:
    """One account as stored (the password only as its argon2 hash)."""

    username: str
    role: str
    password_hash: str
    must_change: bool
    password_changed_at: datetime
    password_max_age_days: int | None
    enabled: bool
    last_login_at: datetime | None
    last_login_from: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AdminGrantRecord:
    """One grant: ``kind`` form/extension/device, its ``name``, ``access`` read/write."""

    kind: str
    name: str
    access: str


class LastSystemAdminError(Exception):
    """The change would leave no enabled system administrator."""


def _record(row: AdminAccountRow) -> AdminAccountRecord:
    return AdminAccountRecord(
        row.username, row.role, row.password_hash, row.must_change, row.password_changed_at,
        row.password_max_age_days, row.enabled, row.last_login_at, row.last_login_from,
        row.created_at, row.updated_at,
    )  # fmt: skip


class AdminAccountRepo:
    """The ``admin_accounts`` and ``admin_grants`` tables."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, username: str) -> AdminAccountRecord | None:
        """The account ``username``, or ``None``."""
        async with self.store.sessions() as session:
            row = await session.scalar(
                select(AdminAccountRow).where(AdminAccountRow.username == username)
            )
            return None if row is None else _record(row)

    async def all(self) -> list[AdminAccountRecord]:
        """Every account, by user name."""
        async with self.store.sessions() as session:
            rows = await session.scalars(select(AdminAccountRow).order_by(AdminAccountRow.username))
            return [_record(row) for row in rows.all()]

    async def count(self) -> int:
        """How many accounts there are."""
        async with self.store.sessions() as session:
            return int(await session.scalar(select(func.count(AdminAccountRow.id))) or 0)

    async def add(self, record: AdminAccountRecord) -> bool:
        """Insert ``record``; ``False`` when the user name is taken."""
        async with self.store.sessions.begin() as session:
            taken = await session.scalar(
                select(AdminAccountRow.id).where(AdminAccountRow.username == record.username)
            )
            if taken is not None:
                return False
            await session.execute(insert(AdminAccountRow).values(
                username=record.username, role=record.role, password_hash=record.password_hash,
                must_change=record.must_change, password_changed_at=record.password_changed_at,
                password_max_age_days=record.password_max_age_days, enabled=record.enabled,
                last_login_at=record.last_login_at, last_login_from=record.last_login_from,
                created_at=record.created_at, updated_at=record.updated_at,
            ))  # fmt: skip
        return True

    async def update(self, username: str, **fields: object) -> bool:
        """Change ``fields`` of ``username``; ``False`` when there is no such account.

        A change that would leave no enabled system administrator (a role or ``enabled``
        change) raises :class:`LastSystemAdminError` and changes nothing: the check and the
        change run in one transaction, the system administrators' rows locked (PostgreSQL;
        SQLite runs one writer at a time)."""
        async with self.store.sessions.begin() as session:
            if "role" in fields or "enabled" in fields:
                await _keep_a_system_admin(session, username, fields)
            result = await session.execute(
                update(AdminAccountRow).where(AdminAccountRow.username == username).values(**fields)
            )
            return bool(getattr(result, "rowcount", 0))

    async def delete(self, username: str) -> bool:
        """Delete ``username`` and its grants; :class:`LastSystemAdminError` for the last
        enabled system administrator."""
        async with self.store.sessions.begin() as session:
            await _keep_a_system_admin(session, username, {"enabled": False})
            account = await session.scalar(
                select(AdminAccountRow.id).where(AdminAccountRow.username == username)
            )
            if account is None:
                return False
            await session.execute(delete(AdminGrantRow).where(AdminGrantRow.account_id == account))
            await session.execute(delete(AdminAccountRow).where(AdminAccountRow.id == account))
            return True

    # -- grants -----------------------------------------------------------------------------
    async def grants(self, username: str) -> list[AdminGrantRecord]:
        """The grants of ``username`` (kind, then name)."""
        query = (
            select(AdminGrantRow)
            .join(AdminAccountRow, AdminAccountRow.id == AdminGrantRow.account_id)
            .where(AdminAccountRow.username == username)
            .order_by(AdminGrantRow.kind, AdminGrantRow.name)
        )
        async with self.store.sessions() as session:
            rows = await session.scalars(query)
            return [AdminGrantRecord(r.kind, r.name, r.access) for r in rows.all()]

    async def put_grant(self, username: str, grant: AdminGrantRecord) -> bool | None:
        """Add or replace one grant; ``None`` without such an account, else whether
        anything changed."""
        async with self.store.sessions.begin() as session:
            account = await session.scalar(
                select(AdminAccountRow.id).where(AdminAccountRow.username == username)
            )
            if account is None:
                return None
            row = await session.scalar(select(AdminGrantRow).where(
                AdminGrantRow.account_id == account, AdminGrantRow.kind == grant.kind,
                AdminGrantRow.name == grant.name,
            ))  # fmt: skip
            if row is None:
                session.add(AdminGrantRow(account_id=account, kind=grant.kind, name=grant.name,
                                          access=grant.access))  # fmt: skip
                return True
            if row.access == grant.access:
                return False
            row.access = grant.access
            return True

    async def delete_grant(self, username: str, kind: str, name: str) -> bool:
        """Remove one grant; whether there was one."""
        async with self.store.sessions.begin() as session:
            account = select(AdminAccountRow.id).where(AdminAccountRow.username == username)
            result = await session.execute(delete(AdminGrantRow).where(
                AdminGrantRow.account_id.in_(account.scalar_subquery()),
                AdminGrantRow.kind == kind, AdminGrantRow.name == name,
            ))  # fmt: skip
            return bool(getattr(result, "rowcount", 0))


async def _keep_a_system_admin(
    session: AsyncSession, username: str, fields: dict[str, object]
) -> None:
    """Raise :class:`LastSystemAdminError` when changing ``username`` by ``fields`` leaves no
    enabled system administrator."""
    rows = (await session.execute(
        select(AdminAccountRow.username)
        .where(AdminAccountRow.role == "system", AdminAccountRow.enabled.is_(True))
        .with_for_update()
    )).scalars().all()  # fmt: skip
    if username not in rows:
        return  # not an enabled system administrator now: the others stay
    stays = fields.get("role", "system") == "system" and fields.get("enabled", True) is True
    if not stays and len(rows) == 1:
        raise LastSystemAdminError(
            f"{username} is the last enabled system administrator: add or enable another one first"
        )
