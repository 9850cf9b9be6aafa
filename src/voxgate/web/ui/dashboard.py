"""The dashboard (ADMIN-5): active calls with their media counters, live registrations, recent
calls, security events, and an SVG chart of calls and registrations per hour drawn on the
server (no script, no chart library: the page is plain HTML under ``default-src 'self'``).

It shows the whole node (form ``dashboard``).  An account without that grant is sent from
``/`` to the first section it may read (where a login or a password change lands)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from voxgate.services.livecalls import MAX_SHOWN
from voxgate.services.overview import HourCount, OverviewService
from voxgate.web.context import context_of
from voxgate.web.grants import ForbiddenError, grants_of
from voxgate.web.ui.common import navigation_of, needs, refused, render, store_of

HOURS: Final = 12
#: Chart geometry (SVG user units).
WIDTH: Final = 1000
HEIGHT: Final = 240
LEFT: Final = 44
BOTTOM: Final = 28
TOP: Final = 12


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    """What the template draws: bars, horizontal grid lines with their values, hour labels."""

    width: int
    height: int
    left: int
    plot_bottom: float
    bars: list[Bar]
    grid: list[tuple[float, int]]
    labels: list[tuple[float, str]]
    empty: bool


def _scale_top(largest: int) -> int:
    """A round axis maximum at or above ``largest`` (1, 2, 5, 10, 20, 50…)."""
    if largest <= 1:
        return 1
    magnitude = int(10 ** math.floor(math.log10(largest)))
    for step in (1, 2, 5, 10):
        if step * magnitude >= largest:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def chart(hours: list[HourCount]) -> Chart:
    """The geometry of grouped bars (calls, registrations) for each hour."""
    top = _scale_top(max([h.calls for h in hours] + [h.registrations for h in hours] + [0]))
    plot_height = HEIGHT - BOTTOM - TOP
    plot_bottom = float(HEIGHT - BOTTOM)
    slot = (WIDTH - LEFT) / max(1, len(hours))
    bar = slot * 0.36
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    for index, hour in enumerate(hours):
        x = LEFT + index * slot + slot * 0.14
        label = hour.start.strftime("%H:00")
        for offset, kind, value in ((0.0, "calls", hour.calls),
                                    (bar, "registrations", hour.registrations)):  # fmt: skip
            height = plot_height * value / top
            bars.append(Bar(round(x + offset, 1), round(plot_bottom - height, 1), round(bar, 1),
                            round(height, 1), kind, f"{label} UTC: {value} {kind}"))  # fmt: skip
        labels.append((round(LEFT + index * slot + slot / 2, 1), label))
    steps = 5 if top % 5 == 0 else top  # top is 1, 2 or a multiple of 5
    grid = [(round(plot_bottom - plot_height * i / steps, 1), top * i // steps)
            for i in range(steps + 1)]  # fmt: skip
    empty = all(h.calls == 0 and h.registrations == 0 for h in hours)
    return Chart(WIDTH, HEIGHT, LEFT, plot_bottom, bars, grid, labels, empty)


async def dashboard(request: web.Request) -> web.StreamResponse:
    """``GET /``: the node at a glance."""
    context = context_of(request)
    overview = await OverviewService(store_of(request)).overview(hours=HOURS)
    return render(
        request, "dashboard.html", section="/", overview=overview, chart=chart(overview.hours),
        hours=HOURS, sessions_open=context.sessions.count(),
        idle_minutes=context.settings.session_idle_timeout // 60,
        live=await context.live_calls(), max_shown=MAX_SHOWN, now=datetime.now(UTC),
        minutes=minutes,
    )  # fmt: skip


def minutes(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


_guarded_dashboard = needs("dashboard")(dashboard)


async def home(request: web.Request) -> web.StreamResponse:
    """``GET /``: the dashboard, or the first section the account may read instead (none:
    the refusal page)."""
    grants = await grants_of(request)
    if not grants.allows_form("dashboard", "read"):
        readable = await navigation_of(request)
        if not readable:
            return await refused(request, ForbiddenError(
                f"{grants.username} may read no section yet: a system administrator grants "
                "them"))  # fmt: skip
        raise web.HTTPSeeOther(readable[0][0])
    return await _guarded_dashboard(request)


def routes() -> list[web.RouteDef]:
    """The dashboard's route."""
    return [web.get("/", home)]
