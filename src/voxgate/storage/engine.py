"""The database engine: one :class:`Store` per process, made by the composition root or a CLI
command, never at import.

SQLite (the default, in the data directory) runs in WAL mode with
``synchronous=FULL`` so that a commit survives a power cut, not only a crash;
PostgreSQL is reached through asyncpg by changing the URL.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = Path(__file__).parent / "migrations"


#: Set on every SQLite connection, the engine's and the call control's own DB-API one.
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=10000")


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _create_private(database: str | None) -> None:
    """Create a new SQLite file with mode 0600 before SQLite does (it would use 0644): it
    holds HA1 digests, which are as good as the secrets for registering.  SQLite gives its
    -wal and -shm files the database file's mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    # FileNotFoundError (no such directory): SQLite reports it when it connects, as before.
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class Store:
    """An engine and its session factory."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    async def open(cls, url: str) -> Store:
        """Create the engine for ``url`` (sqlite+aiosqlite:///… or postgresql+asyncpg://…)."""
        engine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            _create_private(engine.url.database)
        return cls(engine)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    async def upgrade(self, revision: str = "head") -> None:
        """Run the Alembic migrations up to ``revision``."""
        async with self.engine.begin() as connection:
            await connection.run_sync(_upgrade, revision)

    async def current_revision(self) -> str | None:
        """The migration the database is at (``None``: empty database)."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(_current)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

    return MigrationContext.configure(connection).get_current_revision()
