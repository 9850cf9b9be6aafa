"""The admin HTTPS server end to end on 127.0.0.1: login and logout, lockout per address
with audit rows, CSRF, idle timeout, session limits, the forced password change, security
headers, and connections from outside admin.allowed_networks closed before TLS."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from adminweb import GOOD, ME, NEW, Admin, csrf, login, running

from voxgate.config.schema import AdminSettings
from voxgate.storage.engine import Store


def run(tmp_path: Path, body: Callable[[Admin], Awaitable[None]], **settings: object) -> None:
    async def main() -> None:
        async with running(tmp_path, AdminSettings(address="127.0.0.1", port=0,
                                                   **settings)) as admin:  # type: ignore[arg-type]
            await body(admin)

    asyncio.run(main())


def test_login_dashboard_session_and_logout(tmp_path: Path) -> None:
    async def body(admin: Admin) -> None:
        await admin.admins.add("alice", GOOD, "system", ME)
        browser = admin.client()
        async with browser.get("/", allow_redirects=False) as answer:
            assert answer.status == 303 and answer.headers["Location"] == "/login"
        status, location, _ = await login(browser, "alice", GOOD)
        assert (status, location) == (303, "/")
        cookie = next(c for c in browser.cookie_jar if c.key == "__Host-voxgate-session")
        assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"
        assert cookie["path"] == "/"
        async with browser.get("/") as answer:
            assert answer.status == 200
            page = await answer.text()
        assert "Dashboard" in page and "alice, system administrator, from 127.0.0.1" in page
        async with browser.get("/api/v1/session") as answer:
            session = await answer.json()
        assert (session["username"], session["role"], session["must_change_password"]) == (
            "alice", "system", False)
        async with browser.post("/logout", data={"csrf_token": session["csrf_token"]},
                                allow_redirects=False) as answer:  # fmt: skip
            assert answer.status == 303 and answer.headers["Location"] == "/login"
        async with browser.get("/api/v1/session") as answer:
            assert answer.status == 401
            assert (await answer.json())["error"] == "not logged in, or the session has expired"
        assert await admin.audit_actions() == ["admin.add", "admin.login", "admin.logout"]
        [logout] = await admin.audit.recent(action_prefix="admin.logout")
        assert (logout.actor, logout.source) == ("admin:alice", "127.0.0.1")

    run(tmp_path, body)


def test_next_page_after_login_stays_on_this_server(tmp_path: Path) -> None:
    async def body(admin: Admin) -> None:
        await admin.admins.add("alice", GOOD, "system", ME)
        browser = admin.client()
        async with browser.get("/api/v1/openapi.json?x=1", allow_redirects=False) as answer:
            assert answer.status == 200  # public
        async with browser.get("/password", allow_redirects=False) as answer:
            assert answer.headers["Location"] == "/login?next=/password"
        assert (await login(browser, "alice", GOOD, "/password"))[1] == "/password"
        other = admin.client()
        assert (await login(other, "alice", GOOD, "//evil.example/"))[1] == "/"

    run(tmp_path, body)


def test_wrong_passwords_lock_the_address_out_with_audit_rows(tmp_path: Path) -> None:
    async def body(admin: Admin) -> None:
        await admin.admins.add("alice", GOOD, "system", ME)
        browser = admin.client()
        for user in ("alice", "nobody"):
            status, _, page = await login(browser, user, "Wrong-password-1")
            assert status == 401 and "Wrong user name or password." in page
        status, _, page = await login(browser, "alice", "Wrong-password-2")
        assert status == 429 and "try again in 15 minutes" in page
        status, _, page = await login(browser, "alice", GOOD)  # the right one: still refused
        assert status == 429 and "Too many failed logins from your address" in page
        assert await admin.audit_actions() == ["admin.add", "admin.login_failed",
                                               "admin.login_failed", "admin.login_failed",
                                               "admin.lockout"]  # fmt: skip
        [lockout] = await admin.audit.recent(action_prefix="admin.lockout")
        assert (lockout.target, lockout.source) == ("127.0.0.1", "127.0.0.1")
        assert lockout.detail == "3 failed logins: locked out for 900 s"
        admin.clock[0] += 900
        assert (await login(browser, "alice", GOOD))[0] == 303

    run(tmp_path, body, lockout="call-control")


def test_a_lockout_outlives_a_restart_of_the_server(tmp_path: Path) -> None:
    settings = AdminSettings(address="127.0.0.1", port=0, lockout="call-control")

    async def main() -> None:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}")
        await store.upgrade()
        try:
            async with running(tmp_path, settings, store=store) as admin:
                await admin.admins.add("alice", GOOD, "system", ME)
                browser = admin.client()
                for _ in range(3):
                    await login(browser, "alice", "Wrong-password-1")
                assert (await login(browser, "alice", GOOD))[0] == 429
            async with running(tmp_path, settings, store=store) as admin:  # a new process
                browser = admin.client()
                status, _, page = await login(browser, "alice", GOOD)
                assert status == 429 and "try again in 15 minutes" in page
                admin.clock[0] += 870  # (the restart took real seconds too: a margin)
                assert (await login(browser, "alice", GOOD))[0] == 429
                admin.clock[0] += 30  # 900 s after the lockout
                assert (await login(browser, "alice", GOOD))[0] == 303
        finally:
            await store.close()

    asyncio.run(main())


def test_the_edge_preset_counts_six_failures_within_ten_minutes(tmp_path: Path) -> None:
    async def body(admin: Admin) -> None:
        await admin.admins.add("alice", GOOD, "system", ME)
        browser = admin.client()
        for _ in range(5):
            assert (await login(browser, "alice", "Wrong-password-1"))[0] == 401
        admin.clock[0] += 600  # the window is over: counting starts again
        for _ in range(5):
            assert (await login(browser, "alice", "Wrong-password-1"))[0] == 401
        status, _, page = await login(browser, "alice", "Wrong-password-1")
        assert status == 429 and "try again in 30 minutes" in page
        admin.clock[0] += 1799
        assert (await login(browser, "alice", GOOD))[0] == 429
        admin.clock[0] += 1
        assert (await login(browser, "alice", GOOD))[0] == 303

    run(tmp_path, body)


def test_state_changes_need_the_csrf_token(tmp_path: Path) -> None:
    async def body(admin: Admin) -> None:
        await admin.admins.add("alice", GOOD, "system", ME)
        browser = admin.client()
        async with browser.post("/login", data={"username": "alice", "password": GOOD},
                                allow_redirects=False) as answer:  # fmt: skip
            assert answer.status == 403  # no login token
            assert "The login form had expired" in await answer.text()
        await login(browser, "alice", GOOD)
        token = await csrf(browser)
        for data, headers in (({}, {}), ({"csrf_token": "forged"}, {}), ({}, {"X-CSRF-Token": "x"})):
            async with browser.post("/logout", data=data, headers=headers,
                                    allow_redirects=False) as answer:  # fmt: skip
                assert answer.status == 403
                assert "CSRF token missing or wrong" in await answer.text()
        for method in ("PUT", "PATCH", "DELETE"):
            async with browser.request(method, "/api/v1/session") as answer:
                assert answer.status == 403
                assert "CSRF" in (await answer.json())["error"]
        async with browser.post("/logout", headers={"X-CSRF-Token": token},
                                allow_redirects=False) as answer:  # fmt: skip
            assert answer.status == 303
        assert await admin.audit_actions() == ["admin.add", "admin.login", "admin.logout"]

    run(tmp_path, body)


def test_an_idle_session_expires(tmp_path: Path) -> None:
    async def body(admin: Admin) -> None:
        await admin.admins.add("alice", GOOD, "system", ME)
        browser = admin.client()
        await login(browser, "alice", GOOD)
        admin.clock[0] += 119  # activity keeps it alive
        async with browser.get("/") as answer:
            assert answer.status == 200
        admin.clock[0] += 120
        async with browser.get("/", allow_redirects=False) as answer:
            assert answer.status == 303 and answer.headers["Location"] == "/login"
        async with browser.get("/api/v1/session") as answer:
            assert answer.status == 401
        assert admin.server.context.sessions.count() == 0

    run(tmp_path, body, session_idle_timeout=120)


def test_session_limits_refuse_the_next_login_clearly(tmp_path: Path) -> None:
    async def body(admin: Admin) -> None:
        await admin.admins.add("alice", GOOD, "system", ME)
        await admin.admins.add("gina", GOOD, "group", ME)
        await admin.admins.add("ulla", GOOD, "user", ME)
        for _ in range(2):
            assert (await login(admin.client(), "alice", GOOD))[0] == 303
        status, _, page = await login(admin.client(), "alice", GOOD)
        assert status == 503
        assert ("Login refused: the limit of 2 system administrator sessions open at once is "
                "reached (admin.max_system_sessions)") in page
        assert (await login(admin.client(), "gina", GOOD))[0] == 303
        status, _, page = await login(admin.client(), "ulla", GOOD)
        assert status == 503 and "the limit of 3 sessions open at once" in page
        refused = await admin.audit.recent(action_prefix="admin.session_refused")
        assert [e.target for e in refused] == ["ulla", "alice"]
        admin.clock[0] += 900  # idle sessions free their seats
        assert (await login(admin.client(), "ulla", GOOD))[0] == 303

    run(tmp_path, body, max_sessions=3, max_system_sessions=2)


def test_a_password_that_must_change_leads_to_the_password_page(tmp_path: Path) -> None:
    async def body(admin: Admin) -> None:
        await admin.admins.add("alice", GOOD, "system", ME, must_change=True)
        browser = admin.client()
        status, location, _ = await login(browser, "alice", GOOD)
        assert (status, location) == (303, "/password")
        async with browser.get("/", allow_redirects=False) as answer:
            assert answer.status == 303 and answer.headers["Location"] == "/password"
        async with browser.get("/api/v1/session") as answer:
            assert (await answer.json())["must_change_password"] is True
        token = await csrf(browser)

        async def change(current: str, new: str, again: str) -> tuple[int, str]:
            async with browser.post("/password", allow_redirects=False, data={
                    "csrf_token": token, "current": current, "new": new, "again": again,
            }) as answer:  # fmt: skip
                return answer.status, await answer.text()

        status, page = await change(GOOD, "password123", "password123")
        assert status == 400 and "Password is too weak" in page and "--generate" not in page
        assert (await change(GOOD, NEW, NEW + "x"))[1].count("The two new passwords differ.") == 1
        assert "The current password is wrong." in (await change(NEW, NEW, NEW))[1]
        assert (await change(GOOD, NEW, NEW))[0] == 303
        async with browser.get("/") as answer:
            assert answer.status == 200
        assert not (await admin.admins.get("alice")).must_change
        assert (await login(admin.client(), "alice", GOOD))[0] == 401
        assert (await login(admin.client(), "alice", NEW))[0] == 303

    run(tmp_path, body)


def test_an_account_changed_elsewhere_ends_its_sessions(tmp_path: Path) -> None:
    async def body(admin: Admin) -> None:
        await admin.admins.add("root", NEW, "system", ME)
        await admin.admins.add("alice", GOOD, "system", ME)
        browser = admin.client()
        await login(browser, "alice", GOOD)
        await admin.admins.change("alice", ME, role="group")  # voxgate admin set, say
        async with browser.get("/api/v1/session") as answer:
            assert answer.status == 401

    run(tmp_path, body)


def test_security_headers_on_every_answer(tmp_path: Path) -> None:
    async def body(admin: Admin) -> None:
        await admin.admins.add("alice", GOOD, "system", ME)
        browser = admin.client()
        await login(browser, "alice", GOOD)
        for path in ("/login", "/", "/api/v1/session", "/no-such-page", "/static/admin.css"):
            async with browser.get(path) as answer:
                headers = answer.headers
                csp = headers["Content-Security-Policy"]
                assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
                assert headers["Strict-Transport-Security"] == "max-age=31536000"
                assert headers["X-Content-Type-Options"] == "nosniff"
                assert headers["Referrer-Policy"] == "no-referrer"
                assert headers["X-Frame-Options"] == "DENY"
                if path.startswith("/static/"):
                    assert answer.status == 200 and "no-store" not in headers.get("Cache-Control", "")
                else:
                    assert headers["Cache-Control"] == "no-store", path
        async with admin.client().get("/no-such-page", allow_redirects=False) as answer:
            assert answer.status == 303  # nothing is told before login

    run(tmp_path, body)


def test_a_source_outside_the_allowed_networks_is_closed_before_tls(tmp_path: Path) -> None:
    async def body(admin: Admin) -> None:
        assert admin.server.bound is not None
        loop = asyncio.get_running_loop()

        def connect() -> bytes:
            with socket.create_connection(admin.server.bound, timeout=10) as raw:
                return raw.recv(1)  # closed without a byte: no ServerHello

        assert await loop.run_in_executor(None, connect) == b""
        with pytest.raises((OSError, ssl.SSLError)):
            async with admin.client().get("/login"):
                pass
        assert admin.server.stats["denied_connections"] == 2
        assert admin.server.stats["handshake_failures"] == 0

    run(tmp_path, body, allowed_networks=("10.0.0.0/8", "::1/128"))
