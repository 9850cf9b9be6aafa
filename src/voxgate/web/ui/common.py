"""What the pages share: who may open them (:func:`needs`, :func:`system_only`), rendering
with the session and the navigation the account may see, the store behind the services,
messages after a change (post/redirect/get), form fields and paging.

**Guarding a page.**  Every route of a page is wrapped, in its module's ``routes()``:

- ``needs("cdr")(handler)``: the account needs the form's grant — read for ``GET``, write
  for ``POST`` (:mod:`voxgate.web.grants`; system administrators pass, end users only read
  :data:`~voxgate.web.grants.USER_FORMS`).  Inside, ``await grants_of(request)`` gives the
  grants for the per-object checks (``grants.require(form, access, kind, name, shown)``) and
  the scope of the lists (``grants.in_scope("device")``); a :class:`ForbiddenError` raised
  there becomes the same refusal.
- ``system_only(handler)``: system administrators only (accounts, TLS).

A refusal is the ``403`` page naming what is missing, and an ``admin.denied`` audit event,
as in the API.  A new section also goes into :data:`NAVIGATION` with its form: the
navigation shows an account only the sections it may read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, Final

from aiohttp import web
from multidict import MultiDictProxy
from yarl import URL

from voxgate.services.admins import ROLE_NAMES
from voxgate.storage.engine import Store
from voxgate.web.context import actor_of, context_of, session_of
from voxgate.web.grants import Access, ForbiddenError, Grants, grants_of, known_grants
from voxgate.web.security import SAFE_METHODS

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
    "admin.add": "Account {subject} added: its password must be changed at the first login.",
    "admin.change": "Account {subject} changed.",
    "admin.unchanged": "Nothing to change for {subject}.",
    "admin.delete": "Account {subject} deleted.",
    "admin.forms": "Form grants of {subject} saved.",
    "admin.scope": "Granted {subject}.",
    "admin.revoke": "Grant of {subject} removed.",
    "tls.install": "Certificate {subject} installed: new connections to every TLS listener "
                   "(SIP over TLS, this administration) use it.",
}
#: The sections: path, label, and the form (voxgate.services.admins.FORMS, or SYSTEM_FORMS
#: for the system administrators' own) whose read grant shows it.
NAVIGATION: Final = (
    ("/", "Dashboard", "dashboard"), ("/devices", "Devices", "devices"),
    ("/netlists", "Netlists", "netlists"), ("/tls", "TLS", "tls"),
    ("/audit", "Audit log", "audit"), ("/admins", "Administrators", "admins"),
)  # fmt: skip


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def needs(form: str, access: Access | None = None) -> Callable[[Handler], Handler]:
    """Guard a page's route by the grant of ``form``: ``access``, by default read for
    ``GET`` and ``HEAD``, write for ``POST`` (see the module's docstring)."""

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            wanted: Access = access or ("read" if request.method in SAFE_METHODS else "write")
            try:
                (await grants_of(request)).require_form(form, wanted)
                return await handler(request)
            except ForbiddenError as err:
                return await refused(request, err)

        return guarded

    return wrap


def system_only(handler: Handler) -> Handler:
    """Only system administrators reach ``handler`` (the others get the refusal page)."""

    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            (await grants_of(request)).require_system("this page")
            return await handler(request)
        except ForbiddenError as err:
            return await refused(request, err)

    return guarded


async def refused(request: web.Request, err: ForbiddenError) -> web.Response:
    """The ``403`` page saying what is missing; an ``admin.denied`` audit event."""
    audit = context_of(request).audit
    await audit.record(actor_of(request), "admin.denied", f"{request.method} {request.path}",
                       str(err))  # fmt: skip
    # as said (it may start with a user name, whose case matters)
    return render(request, "refused.html", 403, section="", reason=str(err).rstrip(".") + ".")


def sections(grants: Grants | None, role: str) -> list[tuple[str, str]]:
    """The navigation an account sees: the sections it may read (``grants`` not read yet:
    all of them for a system administrator, none for the others)."""
    if grants is None:
        return [(path, label) for path, label, _ in NAVIGATION] if role == "system" else []
    return [(path, label) for path, label, form in NAVIGATION
            if grants.allows_form(form, "read")]  # fmt: skip


async def navigation_of(request: web.Request) -> list[tuple[str, str]]:
    """The navigation of the caller of ``request``."""
    return sections(await grants_of(request), session_of(request).role)


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
    values.setdefault("navigation", sections(known_grants(request), session.role))
    return context_of(request).render(
        template, status, session=session, csrf_token=session.csrf_token,
        role_name=ROLE_NAMES[session.role], **values,
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
