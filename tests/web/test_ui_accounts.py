"""The pages over HTTPS without a browser (tests/web/adminweb.py): grants on the pages — a group
administrator sees and changes only what its form and scope grants allow, an end user reads its
own devices, a refusal is a 403 page naming the missing grant and an admin.denied audit event,
the navigation shows only the sections an account may read — and the administrators page:
accounts added (strength feedback; a generated password shown once), changed, reset, deleted
after a confirmation, form and scope grants edited; the own account protected; CSRF on every
change; system administrators only."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from adminweb import GOOD, ME, Admin, csrf, login, running

from voxgate.policy.devices import IdentitySource
from voxgate.services.devices import DeviceService

MINE = "00:04:13:5a:7b:01"
OTHER = "00:04:13:5a:7b:02"
THIRD = "00:04:13:5a:7b:03"
STRONG = "Hc5-tRw2-Qm8v-Usr"
NAV = re.compile(r'<nav class="sections".*?</nav>', re.S)
GENERATED = re.compile(r'id="generated-password">([^<]+)<')


def run(tmp_path: Path, body: Callable[[Admin, aiohttp.ClientSession], Awaitable[None]]) -> None:
    """``body`` with system administrator alice logged in, and three learned devices."""

    async def main() -> None:
        async with running(tmp_path) as admin:
            devices = DeviceService(admin.server.store)
            for n, mac in enumerate((MINE, OTHER, THIRD)):
                await devices.learn(mac, f"192.0.2.{n + 1}", IdentitySource.USER_AGENT, None)
            await admin.admins.add("alice", GOOD, "system", ME)
            browser = admin.client()
            assert (await login(browser, "alice", GOOD))[:2] == (303, "/")
            await body(admin, browser)

    asyncio.run(main())


async def account(admin: Admin, username: str, role: str,
                  grants: tuple[tuple[str, str, str], ...] = ()) -> aiohttp.ClientSession:  # fmt: skip
    await admin.admins.add(username, GOOD, role, ME)
    for kind, name, access in grants:
        await admin.admins.grant(username, kind, name, access, ME)
    browser = admin.client()
    assert (await login(browser, username, GOOD))[0] == 303
    return browser


async def get(browser: aiohttp.ClientSession, path: str) -> tuple[int, str]:
    async with browser.get(path, allow_redirects=False) as answer:
        return answer.status, await answer.text()


async def post(browser: aiohttp.ClientSession, path: str, form: dict[str, str], *,
               token: bool = True) -> tuple[int, str, str]:  # fmt: skip
    data = {**form, "csrf_token": await csrf(browser)} if token else form
    async with browser.post(path, data=data, allow_redirects=False) as answer:
        return answer.status, answer.headers.get("Location", ""), await answer.text()


def sections(page: str) -> list[str]:
    found = NAV.search(page)
    return re.findall(r'<a href="([^"]+)"', found.group(0)) if found else []


def devices_of(admin: Admin) -> DeviceService:
    return DeviceService(admin.server.store)


def test_a_group_administrator_sees_and_changes_its_scope_only(tmp_path: Path) -> None:
    async def body(admin: Admin, _: aiohttp.ClientSession) -> None:
        gina = await account(admin, "gina", "group", (
            ("form", "devices", "write"), ("device", MINE, "write"), ("device", THIRD, "read")))
        status, page = await get(gina, "/")
        assert status == 303  # no dashboard grant: to the first section it may read
        async with gina.get("/", allow_redirects=False) as answer:
            assert answer.headers["Location"] == "/devices"
        status, page = await get(gina, "/devices")
        assert status == 200
        assert sections(page) == ["/devices"]
        assert MINE in page and THIRD in page and OTHER not in page
        assert f'aria-label="Enable {MINE}"' in page and f'aria-label="Enable {THIRD}"' not in page
        assert f'aria-label="Description of {THIRD}"' not in page  # read only: no form
        assert "Add a device" in page and "Import from CSV" not in page
        assert "2 devices disabled" in page  # of its scope, not 3
        status, csv = await get(gina, "/devices.csv")
        assert MINE in csv and THIRD in csv and OTHER not in csv
        status, page = await get(gina, f"/devices?q={OTHER[-5:]}")
        assert "No device matches." in page

        status, where, _ = await post(gina, "/devices/enable", {"mac": MINE})
        assert (status, where.split("?")[0]) == (303, "/devices")
        assert (await devices_of(admin).get(MINE)).enabled
        for mac in (OTHER, THIRD):
            status, _, page = await post(gina, "/devices/enable", {"mac": mac})
            assert status == 403
            assert f"device {mac} is not in the write scope of gina." in page
            assert sections(page) == ["/devices"]
            assert not (await devices_of(admin).get(mac)).enabled
        status, _, page = await post(gina, "/devices/describe", {"mac": OTHER, "description": "x"})
        assert status == 403
        status, _, page = await post(gina, "/devices/add", {"mac": "00:04:13:5a:7b:09"})
        assert (status, "device 00:04:13:5a:7b:09 is not in the write scope of gina.") == (
            403, re.search(r'role="alert">([^<]+)<', page).group(1))  # type: ignore[union-attr]
        status, _, page = await post(gina, "/devices/enable", {"mac": "nope"})
        assert status == 400 and "Not a MAC address" in page
        form = aiohttp.FormData({"csrf_token": await csrf(gina)})
        form.add_field("file", b"mac\n00:04:13:5a:7b:09\n", filename="a.csv")
        async with gina.post("/devices/import", data=form) as answer:
            assert answer.status == 403
            assert "this page is for system administrators only." in await answer.text()
        assert await devices_of(admin).count() == 3

        for path, missing in (("/netlists", "gina has no read grant for the netlists form."),
                              ("/audit", "gina has no read grant for the audit form."),
                              ("/admins", "this page is for system administrators only."),
                              ("/admins/alice", "this page is for system administrators only.")):
            status, page = await get(gina, path)
            assert status == 403 and missing in page, path
        status, _, page = await post(gina, "/netlists/add", {"kind": "block",
                                                             "network": "192.0.2.0/24"})
        assert status == 403 and "gina has no write grant for the netlists form." in page
        denied = list(reversed(await admin.audit.recent(action_prefix="admin.denied")))
        assert [(e.actor, e.source, e.target) for e in denied[:2]] == [
            ("admin:gina", "127.0.0.1", "POST /devices/enable")] * 2
        assert denied[0].detail == f"device {OTHER} is not in the write scope of gina"
        assert len(denied) == 10

        # the grants are read at each request: a new one applies at once
        await admin.admins.grant("gina", "form", "netlists", "read", ME)
        status, page = await get(gina, "/netlists")
        assert status == 200 and sections(page) == ["/devices", "/netlists"]
        assert 'action="/netlists/add"' in page  # the form is shown; posting it is refused

    run(tmp_path, body)


def test_read_grants_show_no_forms_and_end_users_read_their_own(tmp_path: Path) -> None:
    async def body(admin: Admin, _: aiohttp.ClientSession) -> None:
        reader = await account(admin, "rita", "group", (
            ("form", "devices", "read"), ("form", "dashboard", "read"), ("device", MINE, "write")))
        status, page = await get(reader, "/")
        assert status == 200 and sections(page) == ["/", "/devices"]
        status, page = await get(reader, "/devices")
        assert MINE in page and "<form method=\"post\" action=\"/devices/" not in page
        status, _, page = await post(reader, "/devices/enable", {"mac": MINE})
        assert status == 403 and "rita has no write grant for the devices form." in page

        eve = await account(admin, "eve", "user", (
            ("device", OTHER, "write"), ("form", "netlists", "write")))
        async with eve.get("/", allow_redirects=False) as answer:
            assert answer.headers["Location"] == "/devices"
        status, page = await get(eve, "/devices")
        assert status == 200 and sections(page) == ["/devices", "/extensions"]  # its own
        assert OTHER in page and MINE not in page and THIRD not in page
        assert 'method="post" action="/devices/' not in page and "Add a device" not in page
        assert "Shown: the devices granted to your account, read-only." in page
        for path, form in (("/devices/enable", {"mac": OTHER}),
                           ("/devices/add", {"mac": "00:04:13:5a:7b:09"})):
            status, _, page = await post(eve, path, form)
            assert status == 403 and "eve has no write grant for the devices form." in page
        status, page = await get(eve, "/netlists")  # a form grant gives an end user nothing
        assert status == 403
        assert not (await devices_of(admin).get(OTHER)).enabled

        nobody = await account(admin, "ned", "group")
        status, page = await get(nobody, "/")
        assert status == 403 and "ned may read no section yet" in page
        assert sections(page) == []

        status, page = await get(admin.clients[0], "/")  # alice, system: everything
        assert sections(page) == ["/", "/devices", "/extensions", "/sipusers", "/netlists",
                                  "/calls", "/tls", "/audit", "/admins"]

    run(tmp_path, body)


def test_accounts_added_changed_reset_and_deleted_through_the_page(tmp_path: Path) -> None:
    async def body(admin: Admin, alice: aiohttp.ClientSession) -> None:
        status, page = await get(alice, "/admins")
        assert status == 200 and 'data-username="alice"' in page

        status, _, page = await post(alice, "/admins/add", {
            "username": "gina", "role": "group", "password": "password123"})
        assert status == 400
        assert ("Password is too weak: this is a very common password; use at least 10 "
                "characters that are hard to guess. Or leave the password empty to generate "
                "one.") in page
        assert 'value="gina"' in page and "password123" not in page
        assert await admin.admins.find("gina") is None

        status, _, page = await post(alice, "/admins/add", {"username": "gina", "role": "group",
                                                            "password": ""})
        assert status == 200 and "Account gina added." in page
        generated = GENERATED.search(page)
        assert generated is not None
        assert (await login(admin.client(), "gina", generated.group(1)))[:2] == (303, "/password")
        status, page = await get(alice, "/admins/gina")
        assert generated.group(1) not in page  # shown once

        status, where, _ = await post(alice, "/admins/add", {
            "username": "hugo", "role": "user", "password": STRONG})
        assert (status, where) == (303, "/admins/hugo?done=admin.add&subject=hugo")
        assert (await admin.admins.get("hugo")).must_change
        status, _, page = await post(alice, "/admins/add", {"username": "hugo", "role": "user"})
        assert status == 400 and "Account &#39;hugo&#39; exists." in page

        sessions = admin.server.context.sessions
        assert sessions.count("group") == 1  # gina's, on the password page
        status, where, _ = await post(alice, "/admins/gina/change", {
            "state": "1", "role": "group", "max_age": "30"})  # enabled left unchecked
        assert status == 303
        assert sessions.count("group") == 0  # disabled: its session ended at once
        gina = await admin.admins.get("gina")
        assert (gina.enabled, gina.password_max_age_days) == (False, 30)
        status, where, _ = await post(alice, "/admins/gina/change", {
            "state": "1", "role": "group", "max_age": "30"})
        assert "done=admin.unchanged" in where
        status, _, page = await post(alice, "/admins/gina/change", {"state": "1",
                                                                    "max_age": "soon"})
        assert status == 400 and "a number of days" in page
        status, _, page = await post(alice, "/admins/alice/change", {"max_age": "365"})
        assert status == 303 and (await admin.admins.get("alice")).password_max_age_days == 365
        status, _, page = await post(alice, "/admins/alice/change", {"state": "1",
                                                                     "role": "user"})
        assert status == 400 and "You cannot change the role of your own account" in page

        status, _, page = await post(alice, "/admins/hugo/password", {})
        assert status == 200 and "New password of hugo set." in page
        reset = GENERATED.search(page)
        assert reset is not None and await admin.admins.check_password("hugo", reset.group(1))

        status, page = await get(alice, "/admins/hugo/delete")
        assert status == 200 and 'aria-label="Confirm deletion"' in page
        assert await admin.admins.find("hugo") is not None  # asking deletes nothing
        status, where, _ = await post(alice, "/admins/hugo/delete", {})
        assert (status, where) == (303, "/admins?done=admin.delete&subject=hugo")
        assert await admin.admins.find("hugo") is None
        status, page = await get(alice, "/admins/alice")
        assert "Delete…" not in page and "Reset password" not in page and 'name="role"' not in page
        status, _, page = await post(alice, "/admins/alice/delete", {})
        assert status == 400 and "You cannot delete your own account" in page
        status, page = await get(alice, "/admins/hugo")
        assert status == 404 and "No account &#39;hugo&#39;." in page

        events = [(e.actor, e.action, e.target)
                  for e in reversed(await admin.audit.recent(action_prefix="admin."))
                  if e.actor == "admin:alice" and e.action != "admin.login"]
        assert events == [("admin:alice", action, target) for action, target in (
            ("admin.add", "gina"), ("admin.add", "hugo"), ("admin.change", "gina"),
            ("admin.change", "alice"), ("admin.password", "hugo"), ("admin.delete", "hugo"))]

    run(tmp_path, body)


def test_grants_edited_through_the_page(tmp_path: Path) -> None:
    async def body(admin: Admin, alice: aiohttp.ClientSession) -> None:
        await admin.admins.add("gina", GOOD, "group", ME)
        status, where, _ = await post(alice, "/admins/gina/forms", {
            "form.devices": "write", "form.cdr": "read", "form.audit": "none"})
        assert (status, where) == (303, "/admins/gina?done=admin.forms&subject=gina")
        status, where, _ = await post(alice, "/admins/gina/scope", {
            "kind": "device", "name": "00-04-13-5A-7B-01", "access": "write"})
        assert where == ("/admins/gina?done=admin.scope&subject=device+00:04:13:5a:7b:01:+write")
        await post(alice, "/admins/gina/scope", {"kind": "extension", "name": "201",
                                                 "access": "read"})
        status, page = await get(alice, "/admins/gina")
        assert 'name="form.devices" value="write" checked' in page
        assert 'name="form.cdr" value="read" checked' in page
        assert 'name="form.netlists" value="none" checked' in page
        assert f'data-grant="device:{MINE}"' in page and 'data-grant="extension:201"' in page
        for form, message in (({"kind": "device", "name": "zz", "access": "read"},
                               "Not a MAC address: &#39;zz&#39;."),
                              ({"kind": "form", "name": "admins", "access": "read"},
                               "Choose a device or an extension."),
                              ({"kind": "extension", "name": "201", "access": "all"},
                               "Unknown access &#39;all&#39;: use read or write.")):
            status, _, page = await post(alice, "/admins/gina/scope", form)
            assert status == 400 and message in page, form
        status, _, page = await post(alice, "/admins/gina/forms", {"form.devices": "admin"})
        assert status == 400 and "Unknown access for devices." in page

        await post(alice, "/admins/gina/forms", {"form.devices": "read"})  # cdr: none now
        await post(alice, "/admins/gina/revoke", {"kind": "device", "name": MINE})
        status, _, page = await post(alice, "/admins/gina/revoke", {"kind": "device",
                                                                    "name": MINE})
        assert status == 400 and f"gina has no device grant for {MINE}." in page
        assert [(g.kind, g.name, g.access) for g in await admin.admins.grants("gina")] == [
            ("extension", "201", "read"), ("form", "devices", "read")]
        details = [(e.action, e.detail)
                   for e in reversed(await admin.audit.recent(action_prefix="admin."))
                   if e.actor == "admin:alice" and e.action != "admin.login"]
        assert details == [
            ("admin.grant", "form devices: write"), ("admin.grant", "form cdr: read"),
            ("admin.grant", f"device {MINE}: write"), ("admin.grant", "extension 201: read"),
            ("admin.grant", "form devices: read"), ("admin.revoke", "form cdr"),
            ("admin.revoke", f"device {MINE}")]

    run(tmp_path, body)


def test_the_administrators_page_needs_csrf_and_a_system_administrator(tmp_path: Path) -> None:
    async def body(admin: Admin, alice: aiohttp.ClientSession) -> None:
        await admin.admins.add("gina", GOOD, "group", ME)
        changes = (("/admins/add", {"username": "x", "role": "system"}),
                   ("/admins/gina/change", {"state": "1", "role": "system"}),
                   ("/admins/gina/password", {}), ("/admins/gina/delete", {}),
                   ("/admins/gina/forms", {"form.devices": "write"}),
                   ("/admins/gina/scope", {"kind": "device", "name": MINE, "access": "write"}),
                   ("/admins/gina/revoke", {"kind": "device", "name": MINE}))
        for path, form in changes:
            status, _, _ = await post(alice, path, form, token=False)
            assert status == 403, path
        hugo = await account(admin, "hugo", "group", (("form", "devices", "write"),
                                                      ("form", "audit", "write")))
        for path in ("/admins", "/admins/gina", "/admins/gina/delete"):
            status, page = await get(hugo, path)
            assert status == 403 and "this page is for system administrators only." in page
        for path, form in changes:
            status, _, page = await post(hugo, path, form)
            assert status == 403, path
        gina = await admin.admins.get("gina")
        assert (gina.role, gina.enabled) == ("group", True)
        assert await admin.admins.grants("gina") == []
        assert [a.username for a in await admin.admins.accounts()] == ["alice", "gina", "hugo"]

    run(tmp_path, body)
