"""Call records (CDR) for the CLI and the web: the filters as typed in a page, a query string
or on the command line (one reading for all three), pages of the records they select, and the
CSV export (the record's columns, then the media counters of its call when the edge relayed
it), streamed page by page so that a year of calls need not fit in memory."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol, TypeVar

from voxgate.services.times import utc_time
from voxgate.storage.engine import Store
from voxgate.storage.repos.cdr import CDR_FIELDS, PAGE, CdrFilter, CdrRecord, CdrRepo
from voxgate.storage.repos.media import MEDIA_CDR_FIELDS, MediaRecord, MediaRepo, cdr_columns

#: Columns of the CSV export.
EXPORT_COLUMNS = CDR_FIELDS + MEDIA_CDR_FIELDS
#: How a call attempt can end: the call control's ``Disposition`` values (a test keeps the two
#: equal; this layer may not import the call control).
DISPOSITIONS: Final = ("answered", "busy", "no-answer", "cancelled", "rejected", "failed",
                       "unavailable", "unknown-number")  # fmt: skip
#: The filters' names: the page's form fields, the API's query parameters.
FILTERS: Final = ("since", "until", "caller", "callee", "disposition", "min_duration")
#: Longest caller or callee prefix (the columns' length).
MAX_PARTY: Final = 64
#: Longest minimum duration, in seconds (115 days).
MAX_DURATION: Final = 10_000_000
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_MINUTES: Final = re.compile(r"(\d{1,6}):([0-5]\d)")
_T = TypeVar("_T")


class TextSink(Protocol):
    """Where CSV text goes (a file, stdout, a buffer)."""

    def write(self, text: str, /) -> object:
        """Write ``text``."""
        ...


@dataclass(frozen=True, slots=True)
class FilterProblem:
    """A filter value that could not be read: which filter, and why."""

    name: str
    reason: str


def _duration(text: str) -> float:
    """Seconds, as ``90``, ``90.5`` or ``1:30`` (minutes and seconds)."""
    minutes = _MINUTES.fullmatch(text)
    if minutes is not None:
        value = int(minutes.group(1)) * 60.0 + int(minutes.group(2))
    else:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("not a number of seconds (90) or minutes and seconds (1:30)"
                             ) from None  # fmt: skip
    if not (math.isfinite(value) and 0 <= value <= MAX_DURATION):
        raise ValueError(f"not a number of seconds from 0 to {MAX_DURATION}")
    return value


def _prefix(text: str) -> str:
    if len(text) > MAX_PARTY:
        raise ValueError(f"longer than {MAX_PARTY} characters")
    if _CONTROL.search(text):
        raise ValueError("holds a control character")
    return text


def _disposition(text: str) -> str:
    if text not in DISPOSITIONS:
        raise ValueError(f"not one of {', '.join(DISPOSITIONS)}")
    return text


def read_filter(values: Mapping[str, str], parties: Collection[str] | None = None
                ) -> tuple[CdrFilter, list[FilterProblem]]:  # fmt: skip
    """The filter that ``values`` (text by the :data:`FILTERS` names; empty or absent: no
    condition) ask for, restricted to calls from or to ``parties`` if given, and the values
    that could not be read — each left out of the filter, so that the caller can refuse (the
    API, the CLI) or say so and show the rest (a page).

    ``since`` and ``until`` are ISO 8601 times (UTC without a zone; a date alone is its
    midnight), calls started in [since, until); ``caller`` and ``callee`` are prefixes
    (case-sensitive); ``disposition`` one of :data:`DISPOSITIONS`; ``min_duration`` the
    shortest talk time, in seconds or m:ss.
    """
    problems: list[FilterProblem] = []

    def read(name: str, parse: Callable[[str], _T]) -> _T | None:
        text = values.get(name, "")
        text = text.strip() if isinstance(text, str) else ""
        if not text:
            return None
        try:
            return parse(text)
        except ValueError as err:
            problems.append(FilterProblem(name, str(err)))
            return None

    which = CdrFilter(
        since=read("since", utc_time), until=read("until", utc_time),
        caller=read("caller", _prefix), callee=read("callee", _prefix),
        disposition=read("disposition", _disposition),
        min_duration=read("min_duration", _duration), parties=parties,
    )  # fmt: skip
    return which, problems


class CdrService:
    """Reading and exporting call records."""

    def __init__(self, store: Store) -> None:
        self.repo = CdrRepo(store)
        self.media = MediaRepo(store)

    async def count(self, which: CdrFilter) -> int:
        """How many records ``which`` selects."""
        return await self.repo.count(which)

    async def newest(self, which: CdrFilter, *, offset: int = 0, limit: int = 100
                     ) -> list[CdrRecord]:  # fmt: skip
        """A page of the records ``which`` selects, newest first."""
        return await self.repo.matching(which, offset=offset, limit=limit)

    async def page(self, which: CdrFilter, *, offset: int = 0, limit: int = 100
                   ) -> tuple[int, list[CdrRecord]]:  # fmt: skip
        """``(total, a page of the records, newest first)``."""
        return (await self.count(which),
                await self.newest(which, offset=offset, limit=limit))  # fmt: skip

    async def media_of(self, records: Sequence[CdrRecord]) -> list[MediaRecord | None]:
        """The media record of each record's call (``None``: its voice did not go through
        the edge's relay), found by either leg's Call-ID."""
        found = await self.media.for_calls(
            i for r in records for i in (r.call_id, r.callee_call_id))  # fmt: skip
        return [found.get(r.call_id) or found.get(r.callee_call_id) for r in records]

    async def write_csv(self, out: TextSink, which: CdrFilter, *,
                        drain: Callable[[], Awaitable[None]] | None = None) -> None:  # fmt: skip
        """The records ``which`` selects, oldest first, as CSV into ``out``; ``drain`` is
        awaited after each page (a web answer sends what ``out`` holds)."""
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)

        async def flush(page: list[CdrRecord]) -> None:
            for record, media in zip(page, await self.media_of(page), strict=True):
                row: list[object] = []
                for name in CDR_FIELDS:
                    value = getattr(record, name)
                    row.append(value.isoformat() if isinstance(value, datetime) else
                               "" if value is None else value)  # fmt: skip
                row += cdr_columns(media)
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
