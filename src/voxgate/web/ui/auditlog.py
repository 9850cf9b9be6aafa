"""The audit log page (ADMIN-7): who did what, when and from where — every change made
through the CLI, the web administration or the API, and the node's security events —
filtered by actor, action, source address, text and time, newest first, paged.  Form
``audit``: its read grant reads the whole log (it is the node's, as in the API)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from voxgate.services.overview import OverviewService
from voxgate.storage.repos.views import AuditFilter
from voxgate.web.ui.common import PAGE_SIZE, needs, page_number, render, store_of


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


async def audit_page(request: web.Request) -> web.StreamResponse:
    """``GET /audit``: ``actor``, ``action`` (a prefix: ``device.``), ``source`` (an address
    or its start), ``text`` (in the target or the detail), ``since``/``until`` (days, UTC,
    both included)."""
    query = request.query
    since, until = _day(query.get("since", "")), _day(query.get("until", ""))
    where = AuditFilter(
        actor=query.get("actor", "").strip()[:64], action=query.get("action", "").strip()[:64],
        source=query.get("source", "").strip()[:64], text=query.get("text", "").strip()[:128],
        since=None if since is None else datetime(since.year, since.month, since.day, tzinfo=UTC),
        until=None if until is None else datetime(until.year, until.month, until.day,
                                                  tzinfo=UTC) + timedelta(days=1),
    )  # fmt: skip
    page = page_number(request)
    service = OverviewService(store_of(request))
    total, events = await service.audit(where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    filters = {"actor": where.actor, "action": where.action, "source": where.source,
               "text": where.text, "since": since.isoformat() if since else "",
               "until": until.isoformat() if until else ""}  # fmt: skip
    bad_dates = [name for name, raw, parsed in (("since", query.get("since", ""), since),
                                                ("until", query.get("until", ""), until))
                 if raw.strip() and parsed is None]  # fmt: skip
    error = (f"Not a date (YYYY-MM-DD): {', '.join(bad_dates)}; that filter is off."
             if bad_dates else "")  # fmt: skip
    return render(request, "audit.html", section="/audit", events=events, total=total,
                  page=page, pages=pages, filters=filters, error=error,
                  query_without_page={k: v for k, v in filters.items() if v})  # fmt: skip


def routes() -> list[web.RouteDef]:
    """The audit log page's route."""
    return [web.get("/audit", needs("audit")(audit_page))]
