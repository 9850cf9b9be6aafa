"""One transaction per repository call, or the caller's when it passes a session or a
connection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from voxgate.storage.engine import Store

#: What a caller may hand a repository to run in its transaction.
Within = AsyncSession | AsyncConnection


@contextlib.asynccontextmanager
async def core_connection(store: Store, within: Within | None) -> AsyncIterator[AsyncConnection]:
    """The connection to run Core statements on: the caller's (the caller commits), or one
    in a transaction of its own that commits on success (no ORM session: its bookkeeping
    cost a batch writer ~200 µs a commit)."""
    if isinstance(within, AsyncConnection):
        yield within
    elif within is not None:
        yield await within.connection()
    else:
        async with store.engine.begin() as own:
            yield own
