"""CSV files sent while they are written (the call records of a year need not fit in memory):
one way for the API's exports and the pages' download links."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

#: Writes CSV text into the buffer it is given and awaits the drain after each part.
Writer = Callable[[io.StringIO, Callable[[], Awaitable[None]]], Awaitable[None]]


def stamped(name: str, now: datetime | None = None) -> str:
    """``<name>-YYYYmmdd-HHMMSS.csv`` (UTC): downloads of different moments do not collide."""
    return f"{name}-{(now or datetime.now(UTC)).astimezone(UTC):%Y%m%d-%H%M%S}.csv"


async def csv_download(request: web.Request, filename: str, write: Writer
                       ) -> web.StreamResponse:  # fmt: skip
    """Answer ``request`` with the CSV file ``write`` produces, as an attachment named
    ``filename``; each part is sent when ``write`` drains, so the memory held is one part."""
    answer = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip
    await answer.prepare(request)
    buffer = io.StringIO()

    async def drain() -> None:
        if buffer.tell():
            await answer.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()

    await write(buffer, drain)
    await drain()
    await answer.write_eof()
    return answer
