"""The pages of the web administration: login, logout, password change; the routes of the
other pages (dashboard, devices, extensions, SIP users, netlists, call records, TLS, audit
log) are added from their modules.

Login (``POST /login``) is guarded three ways: a locked-out address is refused before any
password is checked (``429``); the form carries a login token that must match the
``__Host-voxgate-login`` cookie set with the form (login CSRF, ``403``); a wrong user name
or password is one answer for every case (unknown, wrong, disabled: ``401``), counted
toward the lockout and audited.  A session that passes a limit is refused with the limit
named (``503``).  After a login with a password that must change, every page leads to
``/password``.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from voxgate.services.admins import ROLE_NAMES, AdminError, WeakPasswordError
from voxgate.services.audit import Actor
from voxgate.web.context import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    actor_of,
    context_of,
    session_of,
    source_of,
)
from voxgate.web.sessions import TOKEN_BYTES, SessionLimitError
from voxgate.web.ui import (
    accounts,
    auditlog,
    calls,
    dashboard,
    devices,
    extensions,
    imports,
    netlists,
    sipusers,
    tls,
)
from voxgate.web.ui.common import navigation_of

#: Longest user name or password read from the form (longer is simply wrong).
MAX_FIELD: Final = 256
#: What a login token looks like (``secrets.token_urlsafe(TOKEN_BYTES)``).
LOGIN_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{43}")


def routes() -> list[web.RouteDef]:
    """The pages' routes."""
    return [
        web.get("/login", login_page), web.post("/login", login),
        web.post("/logout", logout),
        web.get("/password", password_page), web.post("/password", change_password),
        *dashboard.routes(), *devices.routes(), *extensions.routes(), *sipusers.routes(),
        *netlists.routes(), *calls.routes(), *tls.routes(), *auditlog.routes(), *imports.routes(),
        *accounts.routes(),
    ]  # fmt: skip


def _next(raw: object) -> str:
    """Where to go after the login: a path on this server only (no open redirect)."""
    if isinstance(raw, str) and raw.startswith("/") and not raw.startswith("//") and \
            "\\" not in raw:  # fmt: skip
        return raw
    return "/"


def _login_token(request: web.Request) -> str:
    """The login token: the browser's current one if it has one (another tab's form, or a
    request the browser made on its own such as an icon, must not invalidate the form on
    screen), else a fresh one."""
    current = request.cookies.get(LOGIN_COOKIE, "")
    if LOGIN_TOKEN.fullmatch(current):
        return current
    return secrets.token_urlsafe(TOKEN_BYTES)


def _login_form(request: web.Request, status: int, *, message: str = "", next_path: str = "/",
                username: str = "") -> web.Response:  # fmt: skip
    context = context_of(request)
    token = _login_token(request)
    response = context.render("login.html", status, csrf_token=token, message=message,
                              next_path=next_path, username=username)  # fmt: skip
    response.set_cookie(LOGIN_COOKIE, token, secure=True, httponly=True, samesite="Strict",
                        path="/")  # fmt: skip
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    """``GET /login``: the form (with a fresh login token)."""
    return _login_form(request, 200, next_path=_next(request.query.get("next")))


async def login(request: web.Request) -> web.StreamResponse:
    """``POST /login``: lockout, login token, password, session limits (module docstring)."""
    context = context_of(request)
    source = source_of(request)
    form = await request.post()
    next_path = _next(form.get("next"))
    username = str(form.get("username", ""))[:MAX_FIELD]
    password = str(form.get("password", ""))[:MAX_FIELD]
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    token = form.get(CSRF_FIELD)
    if not cookie or not isinstance(token, str) or not secrets.compare_digest(cookie, token):
        return _login_form(request, 403, next_path=next_path, username=username,
                           message="The login form had expired: please try again.")  # fmt: skip
    locked = context.guard.locked_for(source, context.clock())
    if locked is not None:
        minutes = max(1, round(locked / 60))
        return _login_form(request, 429, next_path=next_path, username=username,
                           message=f"Too many failed logins from your address: try again in "
                                   f"{minutes} minute{'s' if minutes > 1 else ''}.")  # fmt: skip
    account = await context.admins.authenticate(username, password, source)
    if account is None:
        if await context.guard.failed(source, username, context.clock()):
            _, _, duration = context.settings.lockout_rule
            minutes = max(1, round(duration / 60))
            message = (f"Wrong user name or password. Too many failed logins from your "
                       f"address: try again in {minutes} minutes.")  # fmt: skip
            return _login_form(request, 429, message=message, next_path=next_path)
        return _login_form(request, 401, message="Wrong user name or password.",
                           next_path=next_path, username=username)  # fmt: skip
    context.guard.succeeded(source)
    actor = Actor(f"admin:{account.username}", source)
    must_change = account.must_change_now(datetime.now(UTC),
                                          context.settings.password_max_age_days)  # fmt: skip
    try:
        session = context.sessions.open(
            account.username, account.role, source, context.clock(), must_change=must_change,
            password_changed_at=account.password_changed_at,
        )  # fmt: skip
    except SessionLimitError as err:
        await context.audit.record(actor, "admin.session_refused", account.username, str(err))
        return _login_form(request, 503, message=f"Login refused: {err}.", next_path=next_path)
    await context.audit.record(actor, "admin.login", account.username,
                               ROLE_NAMES[account.role] + (", must change its password"
                                                           if must_change else ""))  # fmt: skip
    response = web.HTTPSeeOther("/password" if must_change else next_path)
    response.set_cookie(SESSION_COOKIE, session.id, secure=True, httponly=True,
                        samesite="Strict", path="/")  # fmt: skip
    response.del_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """``POST /logout``: end the session."""
    context = context_of(request)
    session = session_of(request)
    actor = actor_of(request)
    context.sessions.close(session.id)
    await context.audit.record(actor, "admin.logout", session.username)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    raise response


async def _password_form(request: web.Request, status: int = 200,
                         message: str = "") -> web.Response:  # fmt: skip
    session = session_of(request)
    return context_of(request).render(
        "password.html", status, session=session, csrf_token=session.csrf_token,
        message=message, role_name=ROLE_NAMES[session.role],
        navigation=await navigation_of(request), section="/password",
    )  # fmt: skip


async def password_page(request: web.Request) -> web.StreamResponse:
    """``GET /password``: the change form (the only page while the password must change)."""
    return await _password_form(request)


async def change_password(request: web.Request) -> web.StreamResponse:
    """``POST /password``: current, new and again; strength feedback when refused."""
    context = context_of(request)
    session = session_of(request)
    form = await request.post()
    current = str(form.get("current", ""))[:MAX_FIELD]
    new = str(form.get("new", ""))
    if new != str(form.get("again", "")):
        return await _password_form(request, 400, "The two new passwords differ.")
    try:
        await context.admins.change_own_password(session.username, current, new,
                                                 source_of(request))  # fmt: skip
    except WeakPasswordError as err:
        return await _password_form(request, 400,
                                    err.feedback[:1].upper() + err.feedback[1:] + ".")  # fmt: skip
    except AdminError as err:
        text = str(err)
        return await _password_form(request, 400, text[:1].upper() + text[1:] + ".")
    account = await context.admins.get(session.username)
    session.password_changed_at = account.password_changed_at  # other sessions end
    session.must_change = False
    raise web.HTTPSeeOther("/")
