"""What the pages share: who may open them (:func:`needs`, :func:`system_only`), rendering
with the session and the navigation the account may see, the store behind the services,
messages after a change (post/redirect/get), form fields, CSV uploads, secrets typed or
generated, and paging.

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

import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any, Final

from aiohttp import web
from multidict import MultiDictProxy
from yarl import URL

from voxgate.services.admins import ROLE_NAMES
from voxgate.services.csvrows import Progress
from voxgate.services.sipusers import SipUserService
from voxgate.storage.engine import Store
from voxgate.web.context import actor_of, context_of, session_of
from voxgate.web.grants import Access, ForbiddenError, Grants, grants_of, known_grants
from voxgate.web.security import MAX_IMPORT, SAFE_METHODS

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
    "netlist.import": "Netlist imported: {subject}.",
    "admin.add": "Account {subject} added: its password must be changed at the first login.",
    "admin.change": "Account {subject} changed.",
    "admin.unchanged": "Nothing to change for {subject}.",
    "admin.delete": "Account {subject} deleted.",
    "admin.forms": "Form grants of {subject} saved.",
    "admin.scope": "Granted {subject}.",
    "admin.revoke": "Grant of {subject} removed.",
    "tls.install": "Certificate {subject} installed: new connections to every TLS listener "
                   "(SIP over TLS, this administration) use it.",
    "extension.add": "Extension {subject} added.",
    "extension.enable": "Extension {subject} enabled.",
    "extension.disable": "Extension {subject} disabled: it can no longer register or call.",
    "extension.set": "Extension {subject} changed.",
    "extension.same": "Nothing to change for extension {subject}.",
    "extension.secret": "New secret of extension {subject} set: its phones register with it "
                        "from now on.",
    "extension.delete": "Extension {subject} deleted.",
    "extension.import": "Import done: {subject}.",
    "sipuser.add": "SIP user {subject} added.",
    "sipuser.enable": "SIP user {subject} enabled.",
    "sipuser.disable": "SIP user {subject} disabled: its devices can no longer register.",
    "sipuser.set": "SIP user {subject} changed.",
    "sipuser.same": "Nothing to change for SIP user {subject}.",
    "sipuser.password": "New device password of SIP user {subject} set.",
    "sipuser.upstream": "New upstream secret of SIP user {subject} set.",
    "sipuser.delete": "SIP user {subject} deleted.",
    "sipuser.import": "Import done: {subject}.",
}  # fmt: skip
#: The sections: path, label, and the form whose read grant shows it (voxgate.services.admins
#: FORMS; SYSTEM_FORMS for the system administrators' own; ``None``: a page still behind
#: ``system_only`` — give it its form when its routes move to ``needs``).
NAVIGATION: Final[tuple[tuple[str, str, str | None], ...]] = (
    ("/", "Dashboard", "dashboard"), ("/devices", "Devices", "devices"),
    ("/extensions", "Extensions", "extensions"), ("/sipusers", "SIP users", "sipusers"),
    ("/netlists", "Netlists", "netlists"), ("/calls", "Call records", "cdr"),
    ("/tls", "TLS", "tls"),
    ("/audit", "Audit log", "audit"), ("/admins", "Administrators", "admins"),
)  # fmt: skip
#: Longest secret or password read from a form (longer ones are refused by the services).
MAX_SECRET: Final = 256


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UsersHandler = Callable[[web.Request, SipUserService], Awaitable[web.StreamResponse]]


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


async def audit_refusal(request: web.Request, err: ForbiddenError) -> None:
    """The ``admin.denied`` audit event of a refusal."""
    audit = context_of(request).audit
    await audit.record(actor_of(request), "admin.denied", f"{request.method} {request.path}",
                       str(err))  # fmt: skip


async def refused(request: web.Request, err: ForbiddenError) -> web.Response:
    """The ``403`` page saying what is missing; an ``admin.denied`` audit event."""
    await audit_refusal(request, err)
    # as said (it may start with a user name, whose case matters)
    return render(request, "refused.html", 403, section="", reason=str(err).rstrip(".") + ".")


def sections(grants: Grants | None, role: str) -> list[tuple[str, str]]:
    """The navigation an account sees: the sections it may read (``grants`` not read yet:
    all of them for a system administrator, none for the others)."""
    if grants is None:
        return [(path, label) for path, label, _ in NAVIGATION] if role == "system" else []
    return [(path, label) for path, label, form in NAVIGATION
            if grants.is_system or (form is not None and grants.allows_form(form, "read"))]


async def navigation_of(request: web.Request) -> list[tuple[str, str]]:
    """The navigation of the caller of ``request``."""
    return sections(await grants_of(request), session_of(request).role)


@dataclass(frozen=True, slots=True)
class ShownOnce:
    """Secrets just generated, shown in this answer only (never stored in clear, never put in
    a link): a title, labelled values, and why they cannot be shown again."""

    title: str
    values: list[tuple[str, str]]
    note: str = ("Copy it now, into the phone or a password manager: it is shown this once. "
                 "voxgate keeps only a hash of it and cannot show it again.")  # fmt: skip


class FormError(Exception):
    """A form that cannot be used as sent; the message is the sentence to show."""


def with_sipusers(handler: UsersHandler) -> Handler:
    """``handler`` with the SIP user service; without one (the node's key file could not be
    read at start) a page that says so instead (``503``), as the API leaves its routes out."""

    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        users = context_of(request).sipusers
        if users is None:
            return render(request, "unavailable.html", 503, section=_section(request.path))
        return await handler(request, users)

    return guarded


def _section(path: str) -> str:
    return next((p for p, _, _ in NAVIGATION if p != "/" and path.startswith(p)), "")


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


def done_back(form: MultiDictProxy[Any], section: str, action: str, key: str, subject: str
              ) -> web.HTTPSeeOther:  # fmt: skip
    """:func:`done` after a change made from a list or from one object's page: back to the
    object's page (``<section>/edit?<key>=<subject>``) if the form came from there
    (``back=edit``), else to the list with its search and page."""
    if form.get("back") == "edit":
        return done(f"{section}/edit", action, subject, **{key: subject})
    kept = {name: field(form, name, 64) for name in ("q", "page") if field(form, name)}
    return done(section, action, subject, **kept)


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


def page_hints(message: str, noun: str = "") -> str:
    """A service's message with the CLI's options it suggests named as the page's boxes to
    tick (``noun``: what an import's rows are)."""
    return (message.replace("--generate-secret", "tick “Generate a strong secret”")
            .replace("--generate-password", "tick “Generate a strong password”")
            .replace("(use --update to change it)",
                     f"(tick “Rows may change existing {noun}” to change it)"))  # fmt: skip


def for_page(message: str) -> str:
    """A service's refusal as a sentence of a page (see :func:`page_hints`)."""
    return capitalized(page_hints(message))


def csv_upload(form: MultiDictProxy[Any], what: str = "a CSV file") -> str:
    """The CSV text of an import form: the file ``file`` (UTF-8; the byte-order mark a
    spreadsheet writes is dropped) or pasted ``text``; :class:`FormError` saying what is
    wrong (``what`` names the file asked for)."""
    upload = form.get("file")
    text = ""
    if isinstance(upload, web.FileField):
        data = upload.file.read(MAX_IMPORT + 1)
        if len(data) > MAX_IMPORT:
            raise FormError("The file is too large.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FormError("The file is not UTF-8 text.") from None
    if not text.strip():
        pasted = form.get("text")
        text = pasted if isinstance(pasted, str) else ""
    if not text.strip():
        raise FormError(f"Choose {what} to import.")
    return text


def typed_or_generated(form: MultiDictProxy[Any], name: str, what: str) -> str | None:
    """The secret typed in field ``name``, or ``None`` when box ``generate_<name>`` is ticked
    (the caller generates one, to show once); :class:`FormError` for neither or both.
    ``what`` names it (``secret``, ``password``).  Not stripped: a space is refused by the
    strength rule with its reason."""
    value = form.get(name, "")
    typed = value[:MAX_SECRET] if isinstance(value, str) else ""
    if form.get(f"generate_{name}") == "1":
        if typed:
            raise FormError(f"Type a {what} or tick “Generate a strong {what}”, not both.")
        return None
    if not typed:
        raise FormError(f"Type a {what}, or tick “Generate a strong {what}”.")
    return typed


def csv_download(text: str, what: str) -> web.Response:
    """An export as a file to save: ``voxgate-<what>-<UTC time>.csv``."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    disposition = f'attachment; filename="voxgate-{what}-{stamp}.csv"'
    return web.Response(text=text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": disposition})  # fmt: skip


@contextmanager
def import_progress(request: web.Request, form: MultiDictProxy[Any]) -> Iterator[Progress | None]:
    """The progress callback of the import the form ``import_id`` names, for its progress bar
    (:mod:`voxgate.web.progress`); the import is marked ended when the block ends."""
    tracker = context_of(request).imports
    session_id = session_of(request).id
    import_id = field(form, "import_id", 64)
    try:
        yield tracker.start(session_id, import_id)
    finally:
        tracker.end(session_id, import_id)


def new_import_id() -> str:
    """A fresh id for an import form (its progress is asked for by it)."""
    return secrets.token_urlsafe(12)
