"""The call records page (issue 6 "call records"): every call attempt the call control wrote,
newest first, paged, filtered by start time, caller and callee prefix, how the call ended and
talk time, with the media counters of calls whose voice went through the edge's relay; and
the CSV export of exactly the filtered records.

The filters are read by :func:`~voxgate.services.cdr.read_filter`, as ``GET /api/v1/cdr``
and ``voxgate cdr export`` read theirs, and the file is the one those write
(:meth:`~voxgate.services.cdr.CdrService.write_csv`): one rule for the three.  Read-only,
by the read grant of form ``cdr``, as the API: a group administrator sees the calls from or
to the extensions in its scope (:meth:`~voxgate.web.grants.Grants.in_scope`), an end user
none (its forms are its devices and extensions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from aiohttp import web

from voxgate.services.cdr import DISPOSITIONS, FILTERS, CdrService, FilterProblem, read_filter
from voxgate.services.livecalls import LiveMedia
from voxgate.storage.repos.cdr import CdrFilter, CdrRecord
from voxgate.storage.repos.media import MediaRecord
from voxgate.web.downloads import csv_download, stamped
from voxgate.web.grants import grants_of
from voxgate.web.ui.common import PAGE_SIZE, needs, page_number, render, store_of

#: The filters as the form names them (the problems say which field).
LABELS: Final = {"since": "Started from", "until": "Started before",
                 "caller": "Caller starts with", "callee": "Callee starts with",
                 "disposition": "Result", "min_duration": "Talked at least"}  # fmt: skip
#: The badge of each disposition: answered (green), not reached but nothing wrong (amber),
#: the caller gave up (grey), refused or broken (red).
TONES: Final = {"answered": "on", "busy": "off", "no-answer": "off", "cancelled": "muted",
                "rejected": "bad", "failed": "bad", "unavailable": "bad",
                "unknown-number": "bad"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CallRow:
    """A call record and its media, as the table shows them."""

    record: CdrRecord
    #: The relay's counters of each side (none: the voice did not go through the edge).
    media: tuple[LiveMedia, ...]

    @property
    def talked(self) -> str:
        """The talk time as m:ss; empty when the call was not answered."""
        if self.record.answered_at is None:
            return ""
        seconds = round(self.record.duration)
        return f"{seconds // 60}:{seconds % 60:02d}"

    @property
    def result(self) -> str:
        """The disposition in words."""
        return self.record.disposition.replace("-", " ")

    @property
    def tone(self) -> str:
        """The badge's colour class."""
        return TONES.get(self.record.disposition, "muted")


def _row(record: CdrRecord, media: MediaRecord | None) -> CallRow:
    """The row of ``record``; its media counters shown as the dashboard shows a live call's."""
    if media is None:
        return CallRow(record, ())
    return CallRow(record, tuple(
        LiveMedia(side, counters.source or None, counters.packets, counters.lost,
                  counters.jitter_ms, counters.dropped_auth + counters.dropped_source)
        for side, counters in (("wan", media.wan), ("lan", media.lan))))  # fmt: skip


def _shown(name: str, which: CdrFilter, raw: str) -> str:
    """A filter's value in its form field: a time as the datetime-local field writes it."""
    value = getattr(which, name, None)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S" if value.second else "%Y-%m-%dT%H:%M")
    return raw


def _said(problems: list[FilterProblem]) -> str:
    """The problems, each with its field's label."""
    return "; ".join(f"{LABELS[p.name]}: {p.reason}" for p in problems)


def _filters(request: web.Request, scope: frozenset[str] | None
             ) -> tuple[CdrFilter, list[FilterProblem], dict[str, str]]:  # fmt: skip
    """The query's filter, its problems, and the query of the filters applied (for the pages'
    links and the export: exactly the set shown)."""
    which, problems = read_filter(request.query, scope)
    bad = {p.name for p in problems}
    applied = {name: text for name in FILTERS
               if name not in bad and (text := request.query.get(name, "").strip())}  # fmt: skip
    return which, problems, applied


async def calls_page(request: web.Request) -> web.StreamResponse:
    """``GET /calls``: the filtered records, newest first, :data:`PAGE_SIZE` a page."""
    scope = (await grants_of(request)).in_scope("extension")
    which, problems, applied = _filters(request, scope)
    service = CdrService(store_of(request))
    total = await service.count(which)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page_number(request), pages)
    records = await service.newest(which, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    rows = [_row(r, m) for r, m in zip(records, await service.media_of(records), strict=True)]
    values: Mapping[str, str] = {name: _shown(name, which, request.query.get(name, "").strip())
                                 for name in FILTERS}  # fmt: skip
    error = ""
    if problems:
        error = f"{_said(problems)}. " + ("That filter is off." if len(problems) == 1 else
                                          "Those filters are off.")  # fmt: skip
    return render(request, "calls.html", section="/calls", rows=rows, total=total, page=page,
                  pages=pages, values=values, applied=applied, error=error,
                  dispositions=[(d, d.replace("-", " ")) for d in DISPOSITIONS])  # fmt: skip


async def export_csv(request: web.Request) -> web.StreamResponse:
    """``GET /calls.csv``: the records the same filters select, oldest first, in the CSV of
    ``voxgate cdr export`` (sent while written); a bad filter is refused (``400``), never
    dropped, so that the file never holds more than asked."""
    scope = (await grants_of(request)).in_scope("extension")
    which, problems, _ = _filters(request, scope)
    if problems:
        return web.Response(status=400, text=f"Nothing exported: {_said(problems)}.\n")
    service = CdrService(store_of(request))
    return await csv_download(request, stamped("voxgate-cdr"), lambda out, drain:
                              service.write_csv(out, which, drain=drain))  # fmt: skip


def routes() -> list[web.RouteDef]:
    """The call records page's routes."""
    return [web.get("/calls", needs("cdr")(calls_page)),
            web.get("/calls.csv", needs("cdr")(export_csv))]  # fmt: skip
