"""One transaction per repository call, or the caller's when it passes a session."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from voxgate.storage.engine import Store


@contextlib.asynccontextmanager
async def transaction(store: Store, session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
    """Use ``session`` (the caller commits) or open one that commits on success."""
    if session is not None:
        yield session
        return
    async with store.sessions.begin() as own:
        yield own
