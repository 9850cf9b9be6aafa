"""Store fixtures shared by the storage and service tests: a migrated database on SQLite and
on a real PostgreSQL server (``postgres_url``, started once per session by tests/storage/postgres.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from postgres import postgres_url

from voxgate.storage.engine import Store
from voxgate.storage.tables import Base

__all__ = ["postgres_url", "store_url"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty, migrated database on each backend (PostgreSQL: the session's
    database, emptied first, so tests stay independent without a server per test)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        asyncio.run(_drop_everything(url))
    asyncio.run(_migrate(url))
    return url


async def _migrate(url: str) -> None:
    store = await Store.open(url)
    try:
        await store.upgrade()
    finally:
        await store.close()


async def _drop_everything(url: str) -> None:
    from sqlalchemy import text  # noqa: PLC0415

    store = await Store.open(url)
    try:
        async with store.engine.begin() as connection:
            await connection.run_sync(Base.metadata.drop_all)
            await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        await store.close()
