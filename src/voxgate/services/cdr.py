"""Call records (CDR) for the CLI and the web: pages of records by filter, and the CSV
export (the record's columns, then the media counters of its call when the edge relayed it),
streamed page by page so that a year of calls need not fit in memory."""

from __future__ import annotations

import csv
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from voxgate.storage.engine import Store
from voxgate.storage.repos.cdr import CDR_FIELDS, PAGE, CdrFilter, CdrRecord, CdrRepo
from voxgate.storage.repos.media import MEDIA_CDR_FIELDS, MediaRepo, cdr_columns

#: Columns of the CSV export.
EXPORT_COLUMNS = CDR_FIELDS + MEDIA_CDR_FIELDS


class TextSink(Protocol):
    """Where CSV text goes (a file, stdout, a buffer)."""

    def write(self, text: str, /) -> object:
        """Write ``text``."""
        ...


class CdrService:
    """Reading and exporting call records."""

    def __init__(self, store: Store) -> None:
        self.repo = CdrRepo(store)
        self.media = MediaRepo(store)

    async def page(self, which: CdrFilter, *, offset: int = 0, limit: int = 100
                   ) -> tuple[int, list[CdrRecord]]:  # fmt: skip
        """``(total, a page of the records, newest first)``."""
        return (await self.repo.count(which),
                await self.repo.matching(which, offset=offset, limit=limit))  # fmt: skip

    async def write_csv(self, out: TextSink, which: CdrFilter, *,
                        drain: Callable[[], Awaitable[None]] | None = None) -> None:  # fmt: skip
        """The records ``which`` selects, oldest first, as CSV into ``out``; ``drain`` is
        awaited after each page (a web answer sends what ``out`` holds)."""
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)

        async def flush(page: list[CdrRecord]) -> None:
            # a call through the edge's relay: its media record, by either leg's Call-ID
            found = await self.media.for_calls(
                i for r in page for i in (r.call_id, r.callee_call_id))
            for record in page:
                row: list[object] = []
                for name in CDR_FIELDS:
                    value = getattr(record, name)
                    row.append(value.isoformat() if isinstance(value, datetime) else
                               "" if value is None else value)  # fmt: skip
                row += cdr_columns(found.get(record.call_id) or found.get(record.callee_call_id))
                writer.writerow(row)
            if drain is not None:
                await drain()

        page: list[CdrRecord] = []
        async for record in self.repo.iter_matching(which):
            page.append(record)
            if len(page) >= PAGE:
                await flush(page)
                page = []
        await flush(page)
