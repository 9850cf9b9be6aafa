"""What the pages share: rendering with the session and the navigation, the store behind the
services, messages after a change (post/redirect/get), form fields and paging."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, Final

from aiohttp import web
from multidict import MultiDictProxy
from yarl import URL

from voxgate.services.admins import ROLE_NAMES
from voxgate.storage.engine import Store
from voxgate.web.context import context_of, session_of

#: Rows on one page of a table.
PAGE_SIZE: Final = 50
#: The messages a change can leave on the page it redirects to (``?done=<key>``): fixed texts,
#: so a link cannot make the page say something else.
DONE: Final = {
    "device.add": "Device {subject} added.",
    "device.enable": "Device {subject} enabled: it may now reach the call control.",
    "device.disable": "Device {subject} disabled: it can no longer reach the call control.",
    "device.set": "Description of device {subject} changed.",
    "device.import": "Import done: {subject}.",
    "netlist.add": "Netblock {subject} added.",
    "netlist.exists": "Netblock {subject} was already in that netlist: nothing changed.",
    "netlist.delete": "Netblock {subject} deleted.",
}
NAVIGATION: Final = (("/", "Dashboard"), ("/devices", "Devices"), ("/netlists", "Netlists"),
                     ("/calls", "Call records"), ("/audit", "Audit log"))  # fmt: skip


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def system_only(handler: Handler) -> Handler:
    """Only system administrators reach ``handler`` — for now: the grants of group
    administrators and end users (voxgate.web.grants, ADMIN-5) do not apply to these pages
    yet, so the pages refuse them rather than let them do everything."""

    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        if session_of(request).role != "system":
            return render(request, "refused.html", 403, section="")
        return await handler(request)

    return guarded


def store_of(request: web.Request) -> Store:
    """The store the services work on (the one the server's audit log writes to)."""
    return context_of(request).audit.repo.store


def render(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    """A page of the administration: ``template`` with the session, its CSRF token, the
    navigation (``section`` marks the current entry) and the message of the last change."""
    session = session_of(request)
    done = DONE.get(request.query.get("done", ""))
    notice = done.format(subject=request.query.get("subject", "")[:200]) if done else ""
    values.setdefault("notice", notice)
    values.setdefault("error", "")
    return context_of(request).render(
        template, status, session=session, csrf_token=session.csrf_token,
        role_name=ROLE_NAMES[session.role], navigation=NAVIGATION, **values,
    )  # fmt: skip


def done(path: str, key: str, subject: str = "", **query: str) -> web.HTTPSeeOther:
    """The redirect after a change: back to ``path`` saying what was done."""
    assert key in DONE, key
    return web.HTTPSeeOther(str(URL(path).with_query({**query, "done": key, "subject": subject})))


def field(form: MultiDictProxy[Any], name: str, limit: int = 256) -> str:
    """A text field of a form (stripped, at most ``limit`` characters)."""
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def page_number(request: web.Request) -> int:
    """The ``page`` query parameter (1 when absent or wrong)."""
    text = request.query.get("page", "1")
    return max(1, int(text)) if text.isdigit() and len(text) < 7 else 1


def capitalized(text: str) -> str:
    """An error message as a sentence."""
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else text
