"""The administrators page (ADMIN-2, ADMIN-5), for system administrators only: the accounts
(role, state, last login, password age and expiry), an account added (its password given and
checked for strength, or generated and shown once), one account's role, state and password
age limit changed, its password reset (generated, shown once), the account deleted (after a
confirmation page), and its grants: the forms (none, read or write each) and the scope (a
device or an extension, read or write).

Everything goes through :class:`~voxgate.services.admins.AdminService` — the CLI's service,
which checks, refuses what the rules refuse (the last enabled system administrator; one's
own account), writes the audit event and ends the sessions of an account that loses access.
A generated password is in the answer to the form, never in a link (it would stay in the
browser's history)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from voxgate.policy.devices import format_mac
from voxgate.services.admins import (
    FORMS,
    ROLE_NAMES,
    ROLES,
    AdminAccount,
    AdminError,
    AdminService,
    UnknownAccountError,
    WeakPasswordError,
    check_grant,
)
from voxgate.services.secrets_policy import generate_secret
from voxgate.web.context import actor_of, context_of, session_of
from voxgate.web.ui.common import capitalized, done, field, render, system_only

BASE: Final = "/admins"
#: The labels of the forms on the grants form (the navigation's where there is one).
FORM_LABELS: Final = {"dashboard": "Dashboard", "devices": "Devices", "extensions": "Extensions",
                      "sipusers": "SIP users", "netlists": "Netlists", "cdr": "Call records",
                      "audit": "Audit log"}  # fmt: skip
SCOPE_KINDS: Final = ("device", "extension")


def _admins(request: web.Request) -> AdminService:
    return context_of(request).admins


def _default_days(request: web.Request) -> int:
    return context_of(request).settings.password_max_age_days


def password_state(account: AdminAccount, default_days: int, now: datetime) -> str:
    """The password's age and expiry, said shortly."""
    age = (now - account.password_changed_at).days
    changed = "today" if age < 1 else f"{age} day{'s' if age != 1 else ''} ago"
    if account.must_change:
        return f"set {changed}; must be changed at the next login"
    expires = account.password_expires_at(default_days)
    if expires is None:
        return f"changed {changed}; no expiry"
    if expires <= now:
        return f"changed {changed}; expired {expires:%Y-%m-%d}"
    return f"changed {changed}; expires {expires:%Y-%m-%d}"


async def accounts_page(request: web.Request, *, status: int = 200, error: str = "",
                        kept: dict[str, str] | None = None) -> web.Response:  # fmt: skip
    """``GET /admins``: the accounts and the form to add one."""
    accounts = await _admins(request).accounts()
    return render(
        request, "admins.html", status, section=BASE, accounts=accounts, error=error,
        roles=ROLES, role_names=ROLE_NAMES, kept=kept or {"username": "", "role": "group"},
        state=lambda a: password_state(a, _default_days(request), datetime.now(UTC)),
    )  # fmt: skip


async def add(request: web.Request) -> web.StreamResponse:
    """``POST /admins/add``: user name, role, a password or none (generated, shown once)."""
    form = await request.post()
    username, role = field(form, "username", 64), field(form, "role", 16)
    given = form.get("password")
    given = given if isinstance(given, str) and given else None
    password = generate_secret() if given is None else given
    try:
        await _admins(request).add(username, password, role, actor_of(request),
                                   must_change=True)  # fmt: skip
    except WeakPasswordError as err:
        return await accounts_page(
            request, status=400, kept={"username": username, "role": role},
            error=capitalized(err.feedback) + " Or leave the password empty to generate one.",
        )  # fmt: skip
    except AdminError as err:
        return await accounts_page(request, status=400, error=capitalized(str(err)),
                                   kept={"username": username, "role": role})  # fmt: skip
    if given is None:
        return await account_page(request, username, generated=password,
                                  notice=f"Account {username} added.")  # fmt: skip
    raise done(_path(username), "admin.add", username)


def _path(username: str) -> str:
    return f"{BASE}/{username}"


async def account_page(request: web.Request, username: str | None = None, *, status: int = 200,
                       error: str = "", generated: str = "", notice: str = "",
                       confirm_delete: bool = False) -> web.Response:  # fmt: skip
    """``GET /admins/{username}``: the account, its forms and its grants."""
    username = username or request.match_info["username"]
    admins = _admins(request)
    try:
        account = await admins.get(username)
    except UnknownAccountError as err:
        return await accounts_page(request, status=404, error=capitalized(str(err)))
    grants = await admins.grants(username)
    forms = {g.name: g.access for g in grants if g.kind == "form"}
    scope = [(g.kind, format_mac(g.name) if g.kind == "device" else g.name, g.access)
             for g in grants if g.kind in SCOPE_KINDS]  # fmt: skip
    values: dict[str, Any] = {"notice": notice} if notice else {}
    return render(
        request, "admin.html", status, section=BASE, account=account, error=error,
        generated=generated, roles=ROLES, role_names=ROLE_NAMES, forms=FORMS,
        form_labels=FORM_LABELS, form_access=forms, scope=scope,
        own=account.username == session_of(request).username, confirm_delete=confirm_delete,
        default_days=_default_days(request),
        state=password_state(account, _default_days(request), datetime.now(UTC)), **values,
    )  # fmt: skip


async def show(request: web.Request) -> web.StreamResponse:
    """``GET /admins/{username}``."""
    return await account_page(request)


async def change(request: web.Request) -> web.StreamResponse:
    """``POST /admins/{username}/change``: role, enabled, password age limit (days; empty:
    the configured one)."""
    username = request.match_info["username"]
    form = await request.post()
    days_text = field(form, "max_age", 8)
    if days_text and not days_text.isdigit():
        return await account_page(request, status=400, error="Password valid for: a number of "
                                  "days (0: never expires), or empty for the configured limit.")
    admins = _admins(request)
    try:
        account = await admins.get(username)
        role = field(form, "role", 16) or account.role  # the own account's form has neither
        enabled = form.get("enabled") == "1" if form.get("state") == "1" else account.enabled
        max_age = int(days_text) if days_text else None
        if (role, enabled, max_age) == (account.role, account.enabled,
                                        account.password_max_age_days):  # fmt: skip
            raise done(_path(username), "admin.unchanged", username)
        await admins.change(
            username, actor_of(request), role=role if role != account.role else None,
            enabled=enabled if enabled != account.enabled else None,
            max_age_days=max_age if max_age != account.password_max_age_days else "keep",
        )  # fmt: skip
    except AdminError as err:
        return await account_page(request, status=400, error=capitalized(str(err)))
    raise done(_path(username), "admin.change", username)


async def reset_password(request: web.Request) -> web.StreamResponse:
    """``POST /admins/{username}/password``: a generated password, shown once, to be changed
    at the next login."""
    username = request.match_info["username"]
    password = generate_secret()
    try:
        await _admins(request).set_password(username, password, actor_of(request),
                                            must_change=True)  # fmt: skip
    except AdminError as err:
        return await account_page(request, status=400, error=capitalized(str(err)))
    return await account_page(request, generated=password,
                              notice=f"New password of {username} set.")  # fmt: skip


async def confirm_delete(request: web.Request) -> web.StreamResponse:
    """``GET /admins/{username}/delete``: the confirmation step."""
    return await account_page(request, confirm_delete=True)


async def delete(request: web.Request) -> web.StreamResponse:
    """``POST /admins/{username}/delete``: the account and its grants go."""
    username = request.match_info["username"]
    try:
        await _admins(request).delete(username, actor_of(request))
    except AdminError as err:
        return await account_page(request, status=400, error=capitalized(str(err)))
    raise done(BASE, "admin.delete", username)


async def set_forms(request: web.Request) -> web.StreamResponse:
    """``POST /admins/{username}/forms``: each form's access (``none``, ``read``, ``write``);
    only the differences are written (each an audit event)."""
    username = request.match_info["username"]
    form = await request.post()
    admins, actor = _admins(request), actor_of(request)
    wanted = {name: field(form, f"form.{name}", 8) or "none" for name in FORMS}
    bad = [name for name, access in wanted.items() if access not in ("none", "read", "write")]
    if bad:
        return await account_page(request, status=400,
                                  error=f"Unknown access for {', '.join(bad)}.")  # fmt: skip
    try:
        current = {g.name: g.access for g in await admins.grants(username) if g.kind == "form"}
        for name, access in wanted.items():
            if access == "none" and name in current:
                await admins.revoke(username, "form", name, actor)
            elif access != "none" and current.get(name) != access:
                await admins.grant(username, "form", name, access, actor)
    except AdminError as err:
        return await account_page(request, status=400, error=capitalized(str(err)))
    raise done(_path(username), "admin.forms", username)


async def add_scope(request: web.Request) -> web.StreamResponse:
    """``POST /admins/{username}/scope``: a device (MAC) or an extension (number), read or
    write."""
    username = request.match_info["username"]
    form = await request.post()
    kind, name, access = field(form, "kind", 16), field(form, "name", 64), field(form, "access", 8)
    if kind not in SCOPE_KINDS:
        return await account_page(request, status=400, error="Choose a device or an extension.")
    try:
        grant = check_grant(kind, name, access)
        await _admins(request).grant(username, kind, grant.name, access, actor_of(request))
    except AdminError as err:
        return await account_page(request, status=400, error=capitalized(str(err)))
    shown = format_mac(grant.name) if kind == "device" else grant.name
    raise done(_path(username), "admin.scope", f"{kind} {shown}: {access}")


async def revoke(request: web.Request) -> web.StreamResponse:
    """``POST /admins/{username}/revoke``: one scope grant goes."""
    username = request.match_info["username"]
    form = await request.post()
    kind, name = field(form, "kind", 16), field(form, "name", 64)
    try:
        removed = await _admins(request).revoke(username, kind, name, actor_of(request))
    except AdminError as err:
        return await account_page(request, status=400, error=capitalized(str(err)))
    if not removed:
        return await account_page(request, status=400,
                                  error=f"{username} has no {kind} grant for {name}.")  # fmt: skip
    raise done(_path(username), "admin.revoke", f"{kind} {name}")


def routes() -> list[web.RouteDef]:
    """The administrators page's routes (system administrators only)."""
    one = BASE + "/{username}"
    return [
        web.get(BASE, system_only(accounts_page)),
        web.post(BASE + "/add", system_only(add)),
        web.get(one, system_only(show)),
        web.post(one + "/change", system_only(change)),
        web.post(one + "/password", system_only(reset_password)),
        web.get(one + "/delete", system_only(confirm_delete)),
        web.post(one + "/delete", system_only(delete)),
        web.post(one + "/forms", system_only(set_forms)),
        web.post(one + "/scope", system_only(add_scope)),
        web.post(one + "/revoke", system_only(revoke)),
    ]
