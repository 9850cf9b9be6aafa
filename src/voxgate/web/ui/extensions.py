"""The extensions page (PBX-1): the embedded call control's extensions searched and paged,
with the contacts registered now; an extension added with a typed or a generated secret (a
generated one is shown once), enabled, disabled, renamed, given another contact limit or a
new secret, deleted after a confirmation page; the table imported from CSV (every bad row
reported with its line number, nothing imported unless every row is good) and exported in
the format of ``voxgate ext export``.

Every change goes through :class:`~voxgate.services.extensions.ExtensionService` — the
CLI's, held by the SIP user service with the call control's realm — which checks it and
writes the audit event.  Without that service (no readable key file) the pages say why.

Form ``extensions``, with the rule of the API (:mod:`voxgate.web.api.extensions`): a group
administrator or an end user sees the extensions in its scope only (filtered in the query) and
opens one only when it is in its read scope; it changes, deletes (the confirmation page too)
or adds one only with write on the form and on that number (a number not added yet needs its
scope grant first); else the refusal page, audited.  The import needs write on the form, and a
row outside the write scope is a bad row (nothing imported); the export (HA1 values, which
register as well as the secrets do) needs write too and holds the write scope only.  End users
read their own extensions, without a form."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from voxgate.services.extensions import (
    CsvImportError,
    ExtensionError,
    check_number,
)
from voxgate.services.overview import OverviewService
from voxgate.services.secrets_policy import generate_secret
from voxgate.services.sipusers import SipUserService
from voxgate.web.context import actor_of
from voxgate.web.grants import Access, grants_of
from voxgate.web.ui.common import (
    PAGE_SIZE,
    FormError,
    ShownOnce,
    csv_download,
    csv_upload,
    done,
    done_back,
    for_page,
    import_progress,
    needs,
    new_import_id,
    page_hints,
    page_number,
    render,
    store_of,
    typed_or_generated,
    with_sipusers,
)
from voxgate.web.ui.common import field as form_field

FORM: Final = "extensions"
SECTION: Final = "/extensions"
#: What an import's problems call the rows it changes.
NOUN: Final = "extensions"


async def extensions_page(
    request: web.Request, users: SipUserService, *, status: int = 200, error: str = "",
    problems: list[str] | None = None, shown: ShownOnce | None = None,
    refill: dict[str, str] | None = None,
) -> web.Response:  # fmt: skip
    """``GET /extensions``: the table (of the caller's scope); ``q`` searches number and
    display name."""
    service = users.extensions
    grants = await grants_of(request)
    scope = grants.in_scope("extension")
    search = request.query.get("q", "").strip()[:64] or None
    page = page_number(request)
    total = await service.count(search=search, scope=scope)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    rows = await service.list(search=search, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                              scope=scope)  # fmt: skip
    contacts = await OverviewService(store_of(request)).live_contacts([r.number for r in rows])
    may_write = grants.allows_form(FORM, "write")
    writable = {r.number for r in rows if may_write and grants.allows("extension", r.number,
                                                                       "write")}  # fmt: skip
    return render(
        request, "extensions.html", status, section=SECTION, extensions=rows, total=total,
        page=page, pages=pages, search=search or "", contacts=contacts, error=error,
        problems=problems or [], shown_all=[shown] if shown else [], form=refill or {},
        import_id=new_import_id(), writable=writable, may_write=may_write,
        scoped=scope is not None, sipusers_readable=grants.allows_form("sipusers", "read"),
    )  # fmt: skip


async def _allowed(request: web.Request, text: str, access: Access = "write") -> str:
    """The extension number ``text``, once the caller may use it with ``access`` (else
    :class:`~voxgate.web.grants.ForbiddenError`: the refusal page); :class:`ExtensionError`
    for a malformed number."""
    number = check_number(text)
    (await grants_of(request)).require(FORM, access, "extension", number, number)
    return number


def _max_contacts(text: str) -> int | None:
    """An empty field: the configured default; else a number (the service checks 1..100)."""
    if not text:
        return None
    if not text.isdigit() or len(text) > 3:
        raise FormError("Max contacts must be a number from 1 to 100, or empty for the "
                        "default.")  # fmt: skip
    return int(text)


async def add(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /extensions/add``: number, display name, secret typed or generated (then shown
    once), contact limit, enabled or not."""
    form = await request.post()
    number = form_field(form, "number", 32)
    name = form_field(form, "display_name", 128)
    limit = form_field(form, "max_contacts", 8)
    enabled = form.get("enabled") == "1"
    refill = {"number": number, "display_name": name, "max_contacts": limit,
              "enabled": "1" if enabled else ""}  # fmt: skip
    try:
        number = await _allowed(request, number)
        typed = typed_or_generated(form, "secret", "secret")
        secret = generate_secret() if typed is None else typed
        record = await users.extensions.add(
            number, secret, display_name=name, enabled=enabled,
            max_contacts=_max_contacts(limit), actor=actor_of(request),
        )  # fmt: skip
    except (FormError, ExtensionError) as err:
        return await extensions_page(request, users, status=400, error=for_page(str(err)),
                                     refill=refill)  # fmt: skip
    if typed is None:
        return await extensions_page(request, users, shown=ShownOnce(
            f"Extension {record.number} added. Its secret:", [("Secret", secret)]))  # fmt: skip
    raise done(SECTION, "extension.add", record.number)


async def _switch(request: web.Request, users: SipUserService, enabled: bool
                  ) -> web.StreamResponse:  # fmt: skip
    form = await request.post()
    number = form_field(form, "number", 32)
    try:
        number = await _allowed(request, number)
        await users.extensions.change(number, enabled=enabled, actor=actor_of(request))
    except ExtensionError as err:
        return await extensions_page(request, users, status=400, error=for_page(str(err)))
    action = "extension.enable" if enabled else "extension.disable"
    raise done_back(form, SECTION, action, "number", number)


async def enable(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /extensions/enable``."""
    return await _switch(request, users, True)


async def disable(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /extensions/disable``."""
    return await _switch(request, users, False)


async def edit_page(
    request: web.Request, users: SipUserService, *, number: str | None = None,
    status: int = 200, error: str = "", shown: ShownOnce | None = None,
) -> web.Response:  # fmt: skip
    """``GET /extensions/edit?number=N``: one extension, its registered contacts and SIP users,
    and the forms that change it."""
    number = number if number is not None else request.query.get("number", "")[:32]
    grants = await grants_of(request)
    try:
        number = await _allowed(request, number, "read")
        record = await users.extensions.get(number)
    except ExtensionError as err:
        return await extensions_page(request, users, status=404, error=for_page(str(err)))
    bindings = await OverviewService(store_of(request)).live_bindings_of(number)
    may_write = grants.allows_form(FORM, "write") and grants.allows("extension", number, "write")
    # its SIP users: for those who may read the SIP users page (same scope: this extension)
    remote = (await users.for_extension(number) if grants.allows_form("sipusers", "read")
              else None)  # fmt: skip
    return render(
        request, "extension.html", status, section=SECTION, ext=record, error=error,
        shown_all=[shown] if shown else [], bindings=bindings, remote=remote,
        may_write=may_write,
    )  # fmt: skip


async def change(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /extensions/edit``: display name and contact limit (only what differs is
    changed, and named in the audit event)."""
    form = await request.post()
    number = form_field(form, "number", 32)
    service = users.extensions
    try:
        number = await _allowed(request, number)
        record = await service.get(number)
        name = form_field(form, "display_name", 128)
        limit = _max_contacts(form_field(form, "max_contacts", 8))
        changes: dict[str, Any] = {}
        if name != record.display_name:
            changes["display_name"] = name
        if limit != record.max_contacts:
            changes["max_contacts"] = limit
        if changes:
            await service.change(number, actor=actor_of(request), **changes)
    except (FormError, ExtensionError) as err:
        return await edit_page(request, users, number=number, status=400,
                               error=for_page(str(err)))  # fmt: skip
    raise done(f"{SECTION}/edit", "extension.set" if changes else "extension.same", number,
               number=number)  # fmt: skip


async def new_secret(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /extensions/secret``: a new secret, typed (strength feedback when refused) or
    generated (shown once)."""
    form = await request.post()
    number = form_field(form, "number", 32)
    try:
        number = await _allowed(request, number)
        typed = typed_or_generated(form, "secret", "secret")
        secret = generate_secret() if typed is None else typed
        await users.extensions.change(number, secret=secret, actor=actor_of(request))
    except (FormError, ExtensionError) as err:
        return await edit_page(request, users, number=number, status=400,
                               error=for_page(str(err)))  # fmt: skip
    if typed is None:
        return await edit_page(request, users, number=number, shown=ShownOnce(
            f"New secret of extension {number} set:", [("Secret", secret)]))  # fmt: skip
    raise done(f"{SECTION}/edit", "extension.secret", number, number=number)


async def delete_page(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``GET /extensions/delete?number=N``: what deleting it means, and the button that
    does it."""
    number = request.query.get("number", "")[:32]
    try:
        number = await _allowed(request, number)
        record = await users.extensions.get(number)
    except ExtensionError as err:
        return await extensions_page(request, users, status=404, error=for_page(str(err)))
    contacts = await OverviewService(store_of(request)).live_contacts([number])
    return render(
        request, "confirm.html", section=SECTION, action=f"{SECTION}/delete",
        title=f"Delete extension {number}?", field="number", value=number,
        cancel=f"{SECTION}/edit?number={number}", button=f"Delete extension {number}",
        facts=_delete_facts(record.display_name, contacts.get(number, 0),
                            [u.username for u in await users.for_extension(number)]),
    )  # fmt: skip


def _delete_facts(name: str, contacts: int, remote: list[str]) -> list[str]:
    facts = [f"Display name: {name}." if name else "No display name."]
    if contacts:
        facts.append(f"{contacts} contact{'s' if contacts != 1 else ''} registered now: they "
                     "can no longer call or be called once it is deleted (the call control "
                     "notices within seconds).")  # fmt: skip
    if remote:
        facts.append(f"SIP users reaching the call control as this extension: "
                     f"{', '.join(remote)} — they stay, but can no longer register.")  # fmt: skip
    facts.append("Its secret is gone with it; the audit log keeps who deleted it.")
    return facts


async def delete(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /extensions/delete``: delete it (after the confirmation page)."""
    form = await request.post()
    number = form_field(form, "number", 32)
    try:
        number = await _allowed(request, number)
        await users.extensions.delete(number, actor=actor_of(request))
    except ExtensionError as err:
        return await extensions_page(request, users, status=400, error=for_page(str(err)))
    raise done(SECTION, "extension.delete", number)


async def import_csv(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /extensions/import``: a CSV file (``file``) or pasted text (``text``);
    ``update`` lets rows change existing extensions; a row outside the caller's write scope
    is a bad row."""
    form = await request.post()
    refuse = (await grants_of(request)).write_refusal("extension")
    try:
        text = csv_upload(form)
        with import_progress(request, form) as progress:
            result = await users.extensions.import_csv(
                text, update=form.get("update") == "1", actor=actor_of(request),
                refuse=refuse, progress=progress,
            )  # fmt: skip
    except CsvImportError as err:
        count = len(err.problems)
        return await extensions_page(
            request, users, status=400, problems=[page_hints(p, NOUN) for p in err.problems],
            error=f"{count} bad row{'s' if count > 1 else ''} in the file: nothing was "
                  "imported.",
        )  # fmt: skip
    except (FormError, ExtensionError) as err:
        return await extensions_page(request, users, status=400, error=for_page(str(err)))
    raise done(SECTION, "extension.import", f"{result.added} added, {result.updated} changed")


async def export_csv(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``GET /extensions.csv``: every extension (of the caller's write scope) as ``voxgate
    ext export`` writes it (HA1 values: the file registers as well as the secrets do)."""
    grants = await grants_of(request)
    records = [r for r in await users.extensions.all()
               if grants.allows("extension", r.number, "write")]  # fmt: skip
    return csv_download(await users.extensions.export(records, actor_of(request)), NOUN)


def routes() -> list[web.RouteDef]:
    """The extensions page's routes."""
    return [
        web.get(SECTION, needs(FORM)(with_sipusers(extensions_page))),
        web.get(f"{SECTION}.csv", needs(FORM, "write")(with_sipusers(export_csv))),
        web.post(f"{SECTION}/add", needs(FORM)(with_sipusers(add))),
        web.post(f"{SECTION}/enable", needs(FORM)(with_sipusers(enable))),
        web.post(f"{SECTION}/disable", needs(FORM)(with_sipusers(disable))),
        web.get(f"{SECTION}/edit", needs(FORM)(with_sipusers(edit_page))),
        web.post(f"{SECTION}/edit", needs(FORM)(with_sipusers(change))),
        web.post(f"{SECTION}/secret", needs(FORM)(with_sipusers(new_secret))),
        web.get(f"{SECTION}/delete", needs(FORM, "write")(with_sipusers(delete_page))),
        web.post(f"{SECTION}/delete", needs(FORM)(with_sipusers(delete))),
        web.post(f"{SECTION}/import", needs(FORM)(with_sipusers(import_csv))),
    ]  # fmt: skip
