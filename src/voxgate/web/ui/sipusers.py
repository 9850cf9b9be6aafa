"""The SIP users page (AUTH-4): the edge's SIP users searched and paged; one added for an
extension of this node's call control (the extension gets a new registration secret, which
nobody needs to see; or the extension is created too) or for another PBX (its credentials
typed, or the upstream secret generated to be set there), with a device password typed or
generated (a generated secret is shown once); a user tied to a device or to none, enabled,
disabled, moved to another extension, given a new device password or upstream secret,
deleted after a confirmation page; the table imported from CSV (every bad row reported with
its line number, nothing imported unless every row is good) and exported as ``voxgate
sipuser export`` writes it without ``--include-secrets``.

Every change goes through :class:`~voxgate.services.sipusers.SipUserService`, the CLI's,
which checks it and writes the audit event (never a secret).  Without it (no readable key
file) the pages say why.

Form ``sipusers``, with the rule of the API (:mod:`voxgate.web.api.sipusers`): a user is in an
account's scope when its extension is.  A group administrator sees the users of its scope
only (filtered in the query), opens one only in its read scope, and changes, deletes (the
confirmation page too) or adds one only with write on the form and on its extension — on
both extensions when a user moves; else the refusal page, audited.  Adding a user for this
node's call control changes the extension's secret (or creates the extension), so it needs
write on the ``extensions`` form too.  The import needs write, and a row outside the write
scope is a bad row; the export needs write and holds the write scope only.  End users have no
SIP users page."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from voxgate.policy.devices import format_mac
from voxgate.services.extensions import ExtensionError
from voxgate.services.secrets_policy import generate_secret
from voxgate.services.sipusers import (
    KEEP,
    SipUserAdded,
    SipUserError,
    SipUserImportError,
    SipUserService,
    check_device,
    check_extension,
    missing,
)
from voxgate.storage.repos.extensions import ExtensionRecord
from voxgate.storage.repos.sip_users import SipUserRecord
from voxgate.web.context import actor_of
from voxgate.web.grants import Access, Grants, HiddenError, grants_of
from voxgate.web.ui.common import (
    PAGE_SIZE,
    FormError,
    ShownOnce,
    audit_refusal,
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
    typed_or_generated,
    with_sipusers,
)
from voxgate.web.ui.common import field as form_field

FORM: Final = "sipusers"
SECTION: Final = "/sipusers"
NOUN: Final = "SIP users"
#: Where a new user reaches the call control (the form's ``upstream`` choice).
UPSTREAMS: Final = ("embedded", "create", "foreign")
UPSTREAM_NOTE: Final = ("Copy it now and set it as the secret of {user} in the PBX: it is shown "
                        "this once (voxgate keeps it encrypted, for the edge only).")  # fmt: skip
#: The request key saying that a hidden user's refusal was audited (typed from aiohttp 3.14
#: on, as web.grants's).
_HIDDEN: Final[Any] = (web.RequestKey("voxgate_sipuser_hidden", bool)
                       if hasattr(web, "RequestKey") else "voxgate_sipuser_hidden")  # fmt: skip


async def users_page(
    request: web.Request, users: SipUserService, *, status: int = 200, error: str = "",
    problems: list[str] | None = None, shown: list[ShownOnce] | None = None,
    refill: dict[str, str] | None = None,
) -> web.Response:  # fmt: skip
    """``GET /sipusers``: the table (of the caller's scope); ``q`` searches username,
    extension, upstream username."""
    grants = await grants_of(request)
    scope = grants.in_scope("extension")
    search = request.query.get("q", "").strip()[:64] or None
    page = page_number(request)
    total = await users.count(search=search, scope=scope)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    rows = await users.list(search=search, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                            scope=scope)  # fmt: skip
    may_write = grants.allows_form(FORM, "write")
    writable = {r.username for r in rows if may_write and _writes(grants, r.extension)}
    return render(
        request, "sipusers.html", status, section=SECTION, users=rows, total=total, page=page,
        pages=pages, search=search or "", format_mac=format_mac, error=error,
        problems=problems or [], shown_all=shown or [], form=refill or {"upstream": "embedded"},
        import_id=new_import_id(), writable=writable, may_write=may_write,
        scoped=scope is not None,
    )  # fmt: skip


def _writes(grants: Grants, extension: str) -> bool:
    return grants.allows("extension", extension, "write")


def _allow(grants: Grants, access: Access, extension: str, form: str = FORM) -> None:
    """:class:`~voxgate.web.grants.ForbiddenError` (the refusal page) unless ``extension`` —
    a user's — is in the caller's scope with ``access`` on ``form`` (as the API says it)."""
    grants.require(form, access, "extension", extension, f"{extension} (its extension)")


async def _allowed(request: web.Request, users: SipUserService, username: str,
                   access: Access = "write") -> SipUserRecord:  # fmt: skip
    """The user ``username`` once the caller may use it with ``access``;
    :class:`SipUserError` when there is none, or when the caller may not even read it (the
    same page, so that it cannot tell which user names exist outside its scope; the refusal
    is audited)."""
    record = await users.get(username)
    try:
        (await grants_of(request)).require_visible(
            FORM, access, "extension", record.extension, f"{record.extension} (its extension)",
            missing=missing(username),
        )  # fmt: skip
    except HiddenError as err:
        if not request.get(_HIDDEN):  # once: a refused change shows the user's page after
            request[_HIDDEN] = True
            await audit_refusal(request, err)
        raise SipUserError(err.missing) from None
    return record


def _shown(added: SipUserAdded) -> list[ShownOnce]:
    """The secrets an add generated, to show once."""
    record = added.record
    shown = []
    if added.password is not None:
        shown.append(ShownOnce(f"SIP user {record.username} added. Its device password:",
                               [("Password", added.password)]))  # fmt: skip
    if added.upstream_secret is not None:
        shown.append(ShownOnce(
            f"Its upstream secret (user {record.upstream_username} of the PBX):",
            [("Upstream secret", added.upstream_secret)],
            UPSTREAM_NOTE.format(user=record.upstream_username),
        ))  # fmt: skip
    return shown


async def add(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /sipusers/add``: see the module's docstring for the three ways."""
    form = await request.post()
    username = form_field(form, "username", 80)
    extension = form_field(form, "extension", 32)
    device = form_field(form, "device_mac", 64) or None
    upstream = form_field(form, "upstream", 16)
    upstream_username = form_field(form, "upstream_username", 80)
    upstream_secret = str(form.get("upstream_secret", ""))[:256]
    name = form_field(form, "display_name", 128)
    enabled = form.get("enabled") == "1"
    refill = {"username": username, "extension": extension, "device_mac": device or "",
              "upstream": upstream, "upstream_username": upstream_username,
              "display_name": name, "enabled": "1" if enabled else ""}  # fmt: skip
    actor = actor_of(request)
    grants = await grants_of(request)
    try:
        if upstream not in UPSTREAMS:
            raise FormError("Choose where the user reaches the call control.")
        checked = check_extension(extension)
        _allow(grants, "write", checked)
        if upstream != "foreign":  # the extension's secret changes, or it is created
            _allow(grants, "write", checked, "extensions")
        password = typed_or_generated(form, "password", "password")
        if upstream == "foreign":
            added = await users.add(
                username, actor, extension=extension, password=password,
                upstream_username=upstream_username or None,
                upstream_secret=upstream_secret or None, device_mac=device, enabled=enabled,
            )  # fmt: skip
        else:
            if upstream_username or upstream_secret:
                raise FormError("The upstream user name and secret are for another PBX: for "
                                "this node's call control they are made for you.")  # fmt: skip
            added = await users.add_embedded(
                username, actor, extension=extension, password=password, device_mac=device,
                enabled=enabled, create_extension=upstream == "create", display_name=name,
            )  # fmt: skip
    except (FormError, SipUserError) as err:
        return await users_page(request, users, status=400, error=for_page(str(err)),
                                refill=refill)  # fmt: skip
    shown = _shown(added)
    if shown:
        return await users_page(request, users, shown=shown)
    raise done(SECTION, "sipuser.add", added.record.username)


async def _switch(request: web.Request, users: SipUserService, enabled: bool
                  ) -> web.StreamResponse:  # fmt: skip
    form = await request.post()
    username = form_field(form, "username", 80)
    try:
        await _allowed(request, users, username)
        await users.change(username, actor_of(request), enabled=enabled)
    except SipUserError as err:
        return await users_page(request, users, status=400, error=for_page(str(err)))
    action = "sipuser.enable" if enabled else "sipuser.disable"
    raise done_back(form, SECTION, action, "username", username)


async def enable(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /sipusers/enable``."""
    return await _switch(request, users, True)


async def disable(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /sipusers/disable``."""
    return await _switch(request, users, False)


async def edit_page(
    request: web.Request, users: SipUserService, *, username: str | None = None,
    status: int = 200, error: str = "", shown: list[ShownOnce] | None = None,
) -> web.Response:  # fmt: skip
    """``GET /sipusers/edit?username=U``: one user and the forms that change it."""
    username = username if username is not None else request.query.get("username", "")[:80]
    grants = await grants_of(request)
    try:
        record = await _allowed(request, users, username, "read")
    except SipUserError as err:
        return await users_page(request, users, status=404, error=for_page(str(err)))
    try:
        embedded: ExtensionRecord | None = await users.extensions.get(record.extension)
    except ExtensionError:  # another PBX's extension, or not created yet
        embedded = None
    return render(
        request, "sipuser.html", status, section=SECTION, user=record, error=error,
        shown_all=shown or [], embedded=embedded, format_mac=format_mac,
        other_realm=record.realm != users.realm,
        may_write=grants.allows_form(FORM, "write") and _writes(grants, record.extension),
        extensions_readable=grants.allows_form("extensions", "read"),
    )  # fmt: skip


async def change(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /sipusers/edit``: extension, upstream user name, device (only what differs is
    changed, and named in the audit event)."""
    form = await request.post()
    username = form_field(form, "username", 80)
    try:
        record = await _allowed(request, users, username)
        extension = form_field(form, "extension", 32)
        if extension != record.extension:  # moved: the new extension must be writable too
            _allow(await grants_of(request), "write", check_extension(extension))
        upstream = form_field(form, "upstream_username", 80) or extension
        device = check_device(form_field(form, "device_mac", 64) or None)
        changes: dict[str, Any] = {}
        if extension != record.extension:
            changes["extension"] = extension
        if upstream != record.upstream_username:
            changes["upstream_username"] = upstream
        changed = device != record.device_mac
        if changes or changed:
            await users.change(username, actor_of(request), device_mac=device if changed else KEEP,
                               **changes)  # fmt: skip
    except SipUserError as err:
        return await edit_page(request, users, username=username, status=400,
                               error=for_page(str(err)))  # fmt: skip
    raise done(f"{SECTION}/edit", "sipuser.set" if changes or changed else "sipuser.same",
               username, username=username)  # fmt: skip


async def new_password(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /sipusers/password``: a new device password, typed (strength feedback when
    refused) or generated (shown once)."""
    form = await request.post()
    username = form_field(form, "username", 80)
    try:
        await _allowed(request, users, username)
        typed = typed_or_generated(form, "password", "password")
        password = generate_secret() if typed is None else typed
        await users.change(username, actor_of(request), password=password)
    except (FormError, SipUserError) as err:
        return await edit_page(request, users, username=username, status=400,
                               error=for_page(str(err)))  # fmt: skip
    if typed is None:
        shown = ShownOnce(f"New device password of SIP user {username} set:",
                          [("Password", password)])  # fmt: skip
        return await edit_page(request, users, username=username, shown=[shown])
    raise done(f"{SECTION}/edit", "sipuser.password", username, username=username)


async def new_upstream(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /sipusers/upstream``: the secret the PBX knows for the upstream user name."""
    form = await request.post()
    username = form_field(form, "username", 80)
    secret = str(form.get("upstream_secret", ""))[:256]
    try:
        await _allowed(request, users, username)
        if not secret:
            raise FormError("Type the upstream secret the PBX has for this user.")
        await users.change(username, actor_of(request), upstream_secret=secret)
    except (FormError, SipUserError) as err:
        return await edit_page(request, users, username=username, status=400,
                               error=for_page(str(err)))  # fmt: skip
    raise done(f"{SECTION}/edit", "sipuser.upstream", username, username=username)


async def delete_page(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``GET /sipusers/delete?username=U``: what deleting it means, and the button."""
    username = request.query.get("username", "")[:80]
    try:
        record = await _allowed(request, users, username)
    except SipUserError as err:
        return await users_page(request, users, status=404, error=for_page(str(err)))
    device = format_mac(record.device_mac) if record.device_mac else ""
    facts = [f"It reaches the call control as extension {record.extension} (user "
             f"{record.upstream_username}).",
             f"Device {device} can no longer register with it." if device else
             "Devices that register with it can no longer do so.",
             "The extension itself stays; the audit log keeps who deleted the user."]  # fmt: skip
    return render(
        request, "confirm.html", section=SECTION, action=f"{SECTION}/delete",
        title=f"Delete SIP user {username}?", field="username", value=username, facts=facts,
        cancel=f"{SECTION}/edit?username={username}", button=f"Delete SIP user {username}",
    )  # fmt: skip


async def delete(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /sipusers/delete``: delete it (after the confirmation page)."""
    form = await request.post()
    username = form_field(form, "username", 80)
    try:
        await _allowed(request, users, username)
        await users.delete(username, actor_of(request))
    except SipUserError as err:
        return await users_page(request, users, status=400, error=for_page(str(err)))
    raise done(SECTION, "sipuser.delete", username)


async def import_csv(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``POST /sipusers/import``: a CSV file (``file``) or pasted text (``text``); ``update``
    lets rows change existing users; a row whose extension (or an existing user's present
    one) is outside the caller's write scope is a bad row."""
    form = await request.post()
    refuse = (await grants_of(request)).write_refusal("extension")
    try:
        text = csv_upload(form)
        with import_progress(request, form) as progress:
            result = await users.import_csv(text, actor_of(request),
                                            update=form.get("update") == "1", refuse=refuse,
                                            progress=progress)  # fmt: skip
    except SipUserImportError as err:
        count = len(err.problems)
        return await users_page(
            request, users, status=400, problems=[page_hints(p, NOUN) for p in err.problems],
            error=f"{count} bad row{'s' if count > 1 else ''} in the file: nothing was "
                  "imported.",
        )  # fmt: skip
    except (FormError, SipUserError) as err:
        return await users_page(request, users, status=400, error=for_page(str(err)))
    raise done(SECTION, "sipuser.import", f"{result.added} added, {result.updated} changed")


async def export_csv(request: web.Request, users: SipUserService) -> web.StreamResponse:
    """``GET /sipusers.csv``: every user (whose extension is in the caller's write scope) with
    its HA1 values, the upstream secrets left out (``voxgate sipuser export`` without
    ``--include-secrets``)."""
    grants = await grants_of(request)
    records = None if grants.is_system else [
        r for r in await users.list(scope=grants.in_scope("extension"))
        if _writes(grants, r.extension)
    ]  # fmt: skip
    return csv_download(await users.export_csv(actor_of(request), records=records), "sipusers")


def routes() -> list[web.RouteDef]:
    """The SIP users page's routes."""
    return [
        web.get(SECTION, needs(FORM)(with_sipusers(users_page))),
        web.get(f"{SECTION}.csv", needs(FORM, "write")(with_sipusers(export_csv))),
        web.post(f"{SECTION}/add", needs(FORM)(with_sipusers(add))),
        web.post(f"{SECTION}/enable", needs(FORM)(with_sipusers(enable))),
        web.post(f"{SECTION}/disable", needs(FORM)(with_sipusers(disable))),
        web.get(f"{SECTION}/edit", needs(FORM)(with_sipusers(edit_page))),
        web.post(f"{SECTION}/edit", needs(FORM)(with_sipusers(change))),
        web.post(f"{SECTION}/password", needs(FORM)(with_sipusers(new_password))),
        web.post(f"{SECTION}/upstream", needs(FORM)(with_sipusers(new_upstream))),
        web.get(f"{SECTION}/delete", needs(FORM, "write")(with_sipusers(delete_page))),
        web.post(f"{SECTION}/delete", needs(FORM)(with_sipusers(delete))),
        web.post(f"{SECTION}/import", needs(FORM)(with_sipusers(import_csv))),
    ]  # fmt: skip
