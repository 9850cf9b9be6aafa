"""Grants on the extensions and SIP users pages over HTTPS without a browser
(tests/web/adminweb.py), with the rule of the API: a group administrator sees only the
extensions (and the SIP users of the extensions) in its scope, filtered in the query, and no
form without write; a write grant changes one in scope, and a form tampered to name one
outside it gets the 403 page and an admin.denied audit event; imports refuse rows outside the
write scope, exports hold the write scope only; an end user reads its own extensions; the
navigation shows the sections by grant."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from adminweb import GOOD, ME, Admin, csrf, login, running

from voxgate.services.sipusers import SipUserService
from voxgate.sip.digest import ha1

SECRET = "Tq7-vWx2-Kp9m-Ext"
NEW_SECRET = "Wd3-hJk8-Rq5n-Sec"
PASSWORD = "Rb4-nYc8-Zf3h-Dev"
UPSTREAM = "Lm6-pQs1-Jd5w-Up2"
#: Extensions and their SIP users: 201 and 202 are granted below, 203 is not.
NUMBERS = ("201", "202", "203")


def run(tmp_path: Path, body: Callable[[Admin, SipUserService], Awaitable[None]]) -> None:
    """``body`` with extensions 201..203, SIP users ann (201), bob (202), cid (203)."""

    async def main() -> None:
        async with running(tmp_path) as admin:
            users = admin.server.sipusers
            assert users is not None
            for number, name in zip(NUMBERS, ("ann", "bob", "cid"), strict=True):
                await users.extensions.add(number, SECRET, display_name=f"Desk {number}")
                await users.add(name, ME, extension=number, password=PASSWORD,
                                upstream_secret=UPSTREAM)  # fmt: skip
            await body(admin, users)

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


async def upload(browser: aiohttp.ClientSession, path: str, text: str) -> tuple[int, str]:
    form = aiohttp.FormData({"csrf_token": await csrf(browser)})
    form.add_field("file", text.encode(), filename="rows.csv")
    async with browser.post(path, data=form, allow_redirects=False) as answer:
        return answer.status, await answer.text()


def sections(page: str) -> list[str]:
    start = page.find('<nav class="sections"')
    nav = page[start : page.find("</nav>", start)] if start >= 0 else ""
    return [part.split('"', 1)[0] for part in nav.split('<a href="')[1:]]


def rows_of(page: str, kind: str) -> list[str]:
    """The ids of the table's rows (``extension-201``, ``sipuser-ann``) as numbers/names."""
    return [part.split('"', 1)[0] for part in page.split(f'<tr id="{kind}-')[1:]]


def _fixed(page: str) -> str:
    """``page`` without what differs on every load (the import form's id)."""
    return re.sub(r'name="import_id" value="[^"]*"', 'name="import_id"', page)


async def denied(admin: Admin) -> list[tuple[str, str, str]]:
    """The admin.denied events, oldest first: (actor, target, detail)."""
    events = reversed(await admin.audit.recent(action_prefix="admin.denied"))
    return [(e.actor, e.target, e.detail) for e in events]


def test_group_reader_sees_its_scope_without_forms_and_is_refused_changes(tmp_path: Path) -> None:
    async def body(admin: Admin, users: SipUserService) -> None:
        rita = await account(admin, "rita", "group", (
            ("form", "extensions", "read"), ("form", "sipusers", "read"),
            ("extension", "201", "write"), ("extension", "202", "read")))  # fmt: skip
        status, page = await get(rita, "/extensions")
        assert status == 200 and sections(page) == ["/extensions", "/sipusers"]
        assert rows_of(page, "extension") == ["201", "202"]
        assert "2 extensions." in page and "Desk 203" not in page
        assert 'method="post"' not in page.split("<main>", 1)[1]  # no form (logout: in the bar)
        assert "Add an extension" not in page and "Import from CSV" not in page
        assert "/extensions.csv" not in page and 'aria-label="View 201"' in page
        assert "Shown: the extensions granted to your account, read-only." in page
        status, page = await get(rita, "/extensions?q=203")  # the search stays in the scope
        assert rows_of(page, "extension") == [] and "No extension matches." in page

        status, page = await get(rita, "/extensions/edit?number=202")
        assert status == 200 and "Desk 202" in page and 'action="/extensions/' not in page
        assert "Read-only: your account may not change this extension." in page
        assert "SIP users of the edge" in page and "bob" in page
        status, page = await get(rita, "/extensions/edit?number=203")
        assert status == 403 and "extension 203 is not in the read scope of rita." in page
        status, page = await get(rita, "/extensions/delete?number=201")
        assert status == 403 and "rita has no write grant for the extensions form." in page
        status, page = await get(rita, "/extensions.csv")  # HA1 values: write only, as the API
        assert status == 403 and "rita has no write grant for the extensions form." in page
        status, _, page = await post(rita, "/extensions/disable", {"number": "201"})
        assert status == 403 and "rita has no write grant for the extensions form." in page

        status, page = await get(rita, "/sipusers")
        assert status == 200 and rows_of(page, "sipuser") == ["ann", "bob"]
        assert "Add a SIP user" not in page and 'aria-label="View ann"' in page
        status, page = await get(rita, "/sipusers/edit?username=bob")
        assert status == 200 and "Read-only: your account may not change this SIP user." in page
        assert 'href="/extensions/edit?number=202"' in page
        # cid's extension is outside everything rita may read: the page of a user that does
        # not exist, word for word (she cannot probe which user names exist); audited below
        status, page = await get(rita, "/sipusers/edit?username=cid")
        assert status == 404 and "No SIP user" in page
        absent = await get(rita, "/sipusers/edit?username=nobody")
        assert (status, _fixed(page.replace("cid", "nobody"))) == (absent[0], _fixed(absent[1]))
        status, _, page = await post(rita, "/sipusers/disable", {"username": "ann"})
        assert status == 403 and "rita has no write grant for the sipusers form." in page

        assert all(r.enabled for r in await users.extensions.all())
        assert all(u.enabled for u in await users.list())
        assert await denied(admin) == [
            ("admin:rita", "GET /extensions/edit", "extension 203 is not in the read scope of rita"),
            ("admin:rita", "GET /extensions/delete", "rita has no write grant for the extensions form"),
            ("admin:rita", "GET /extensions.csv", "rita has no write grant for the extensions form"),
            ("admin:rita", "POST /extensions/disable", "rita has no write grant for the extensions form"),
            ("admin:rita", "GET /sipusers/edit",
             "extension 203 (its extension) is not in the read scope of rita"),
            ("admin:rita", "POST /sipusers/disable", "rita has no write grant for the sipusers form"),
        ]  # fmt: skip

    run(tmp_path, body)


def test_group_writer_changes_its_scope_and_a_tampered_form_is_refused(tmp_path: Path) -> None:
    async def body(admin: Admin, users: SipUserService) -> None:
        before = {r.number: r.ha1_md5 for r in await users.extensions.all()}
        gina = await account(admin, "gina", "group", (
            ("form", "extensions", "write"), ("extension", "201", "write"),
            ("extension", "202", "read"), ("extension", "209", "write")))  # fmt: skip
        status, page = await get(gina, "/extensions")
        assert status == 200 and sections(page) == ["/extensions"]
        assert rows_of(page, "extension") == ["201", "202"]
        assert 'aria-label="Disable 201"' in page and 'aria-label="Disable 202"' not in page
        assert 'aria-label="Delete 201"' in page and 'aria-label="View 202"' in page
        assert "Add an extension" in page and "Import from CSV" in page
        assert 'href="/sipusers"' not in page  # no grant for the SIP users page: no link
        status, page = await get(gina, "/extensions/edit?number=201")
        assert status == 200 and 'action="/extensions/secret"' in page
        assert "SIP users of the edge" not in page  # that is the sipusers form's
        status, page = await get(gina, "/extensions/edit?number=202")
        assert status == 200 and 'action="/extensions/' not in page

        status, where, _ = await post(gina, "/extensions/disable", {"number": "201"})
        assert (status, where.split("?")[0]) == (303, "/extensions")
        status, where, _ = await post(
            gina, "/extensions/edit", {"number": "201", "display_name": "Gina's desk"}
        )
        assert (status, where.split("?")[0]) == (303, "/extensions/edit")
        record = await users.extensions.get("201")
        assert not record.enabled and record.display_name == "Gina's desk"
        status, where, _ = await post(
            gina, "/extensions/add", {"number": "209", "secret": SECRET, "enabled": "1"}
        )
        assert status == 303 and (await users.extensions.get("209")).enabled

        # forms tampered to name an extension outside the write scope: the refusal page
        for path, form in (
            ("/extensions/disable", {"number": "202"}),
            ("/extensions/edit", {"number": "203", "display_name": "x"}),
            ("/extensions/secret", {"number": "203", "secret": NEW_SECRET}),
            ("/extensions/delete", {"number": "202"}),
            ("/extensions/add", {"number": "210", "secret": SECRET}),
        ):
            status, _, page = await post(gina, path, form)
            assert status == 403, path
            number = form["number"]
            assert f"extension {number} is not in the write scope of gina." in page, path
            assert sections(page) == ["/extensions"]
        status, page = await get(gina, "/extensions/delete?number=202")
        assert status == 403 and "extension 202 is not in the write scope of gina." in page
        status, _, page = await post(gina, "/extensions/disable", {"number": "x1"})
        assert status == 400  # not a number: the form's error, not a refusal
        for number in ("202", "203"):
            record = await users.extensions.get(number)
            assert record.enabled and record.display_name == f"Desk {number}"
            assert record.ha1_md5 == before[number]
        assert {r.number for r in await users.extensions.all()} == {"201", "202", "203", "209"}
        targets = [target for _, target, _ in await denied(admin)]
        assert targets == ["POST /extensions/disable", "POST /extensions/edit",
                           "POST /extensions/secret", "POST /extensions/delete",
                           "POST /extensions/add", "GET /extensions/delete"]  # fmt: skip

        # the import: a row outside the write scope is a bad row, nothing imported
        status, page = await upload(
            gina, "/extensions/import", f"number,secret\n201,{NEW_SECRET}\n203,{NEW_SECRET}\n"
        )
        assert status == 400 and "2 bad rows in the file: nothing was imported." in page
        assert "line 2: extension 201 exists already" in page  # (no update ticked)
        assert "line 3: extension 203 is not in the write scope of gina" in page
        assert "extension 203 exists" not in page  # not said outside the scope
        assert (await users.extensions.get("201")).ha1_md5 == before["201"]
        status, page = await upload(
            gina, "/extensions/import", f"number,secret\n201,{NEW_SECRET}\n"
        )
        assert status == 400 and "exists already" in page
        form = aiohttp.FormData({"csrf_token": await csrf(gina), "update": "1"})
        form.add_field("file", f"number,secret\n201,{NEW_SECRET}\n".encode(), filename="a.csv")
        async with gina.post("/extensions/import", data=form, allow_redirects=False) as answer:
            assert answer.status == 303
        realm = users.extensions.realm  # the call control's
        assert (await users.extensions.get("201")).ha1_md5 == ha1("MD5", "201", realm, NEW_SECRET)
        # the export: the write scope only (202 is readable, not writable)
        status, text = await get(gina, "/extensions.csv")
        assert status == 200
        assert [line.split(",")[0] for line in text.splitlines()[1:]] == ["201", "209"]

        # the SIP users page needs its own grant
        status, page = await get(gina, "/sipusers")
        assert status == 403 and "gina has no read grant for the sipusers form." in page

    run(tmp_path, body)


def test_sipusers_write_in_scope_and_refusals(tmp_path: Path) -> None:
    async def body(admin: Admin, users: SipUserService) -> None:
        before = {r.number: r.ha1_md5 for r in await users.extensions.all()}
        sam = await account(admin, "sam", "group", (
            ("form", "sipusers", "write"), ("extension", "201", "write"),
            ("extension", "202", "read"), ("extension", "204", "write")))  # fmt: skip
        status, page = await get(sam, "/sipusers")
        assert status == 200 and sections(page) == ["/sipusers"]
        assert rows_of(page, "sipuser") == ["ann", "bob"]
        assert 'aria-label="Disable ann"' in page and 'aria-label="Disable bob"' not in page
        assert "Add a SIP user" in page and "Import from CSV" in page
        status, page = await get(sam, "/sipusers/edit?username=ann")
        assert status == 200 and 'action="/sipusers/password"' in page
        assert 'href="/extensions/edit' not in page  # no grant for the extensions page

        status, where, _ = await post(sam, "/sipusers/disable", {"username": "ann"})
        assert (status, where.split("?")[0]) == (303, "/sipusers")
        assert not (await users.get("ann")).enabled
        status, where, _ = await post(
            sam,
            "/sipusers/add",
            {
                "username": "dan",
                "extension": "201",
                "password": PASSWORD,
                "upstream": "foreign",
                "upstream_username": "201",
                "upstream_secret": UPSTREAM,
                "enabled": "1",
            },
        )
        assert status == 303 and (await users.get("dan")).extension == "201"

        # cid's extension (203) is outside everything sam may read: as a user that does not exist
        for path, form in (("/sipusers/delete", {}), ("/sipusers/disable", {}),
                           ("/sipusers/upstream", {"upstream_secret": UPSTREAM})):  # fmt: skip
            hidden = await post(sam, path, {"username": "cid", **form})
            absent = await post(sam, path, {"username": "nobody", **form})
            assert hidden[0] != 403 and "No SIP user" in hidden[2], path
            assert hidden[0] == absent[0], path
            assert _fixed(hidden[2].replace("cid", "nobody")) == _fixed(absent[2]), path
        status, page = await get(sam, "/sipusers/delete?username=cid")
        assert status == 404 and "No SIP user" in page
        refusals = [
            ("/sipusers/disable", {"username": "bob"}, "202"),
            ("/sipusers/password", {"username": "bob", "password": PASSWORD}, "202"),
            ("/sipusers/edit", {"username": "ann", "extension": "203"}, "203"),  # moved out
            ("/sipusers/add", {"username": "eve", "extension": "203", "password": PASSWORD,
                               "upstream": "foreign", "upstream_secret": UPSTREAM}, "203"),
        ]  # fmt: skip
        for path, form, number in refusals:
            status, _, page = await post(sam, path, form)
            assert status == 403, path
            assert f"extension {number} (its extension) is not in the write scope of sam." in page
        # this node's extension gets a new secret (or is created): the extensions form's too
        for upstream, number in (("embedded", "201"), ("create", "204")):
            status, _, page = await post(sam, "/sipusers/add", {
                "username": "fay", "extension": number, "generate_password": "1",
                "upstream": upstream})  # fmt: skip
            assert status == 403 and "sam has no write grant for the extensions form." in page
        assert (await users.get("ann")).extension == "201"
        assert (await users.get("bob")).enabled
        assert sorted(u.username for u in await users.list()) == ["ann", "bob", "cid", "dan"]
        assert (await users.extensions.get("201")).ha1_md5 == before["201"]
        hidden_ones = [d for d in await denied(admin) if "203 (its extension) is not in the read" in d[2]]
        assert [target for _, target, _ in hidden_ones] == [
            "POST /sipusers/delete", "POST /sipusers/disable", "POST /sipusers/upstream",
            "GET /sipusers/delete"]  # fmt: skip
        assert len(await denied(admin)) == len(refusals) + 2 + len(hidden_ones)

        status, page = await upload(
            sam,
            "/sipusers/import",
            (
                "username,password,extension,upstream_username,upstream_secret,device_mac,enabled\n"
                f"gus,{PASSWORD},201,,{UPSTREAM},,\nhal,{PASSWORD},203,,{UPSTREAM},,\n"
                f"cid,{PASSWORD},201,,{UPSTREAM},,\n"  # moved here from outside the scope
            ),
        )
        assert status == 400 and "2 bad rows in the file: nothing was imported." in page
        assert "line 3: extension 203 is not in the write scope of sam" in page
        assert "line 4: extension 203 is not in the write scope of sam" in page
        assert "SIP user cid exists" not in page  # not said outside the scope
        assert "gus" not in {u.username for u in await users.list()}
        status, text = await get(sam, "/sipusers.csv")
        assert status == 200
        assert [line.split(",")[0] for line in text.splitlines()[1:]] == ["ann", "dan"]

        status, page = await get(sam, "/sipusers/delete?username=bob")
        assert status == 403
        status, page = await get(sam, "/sipusers/delete?username=ann")
        assert status == 200 and "Delete SIP user ann?" in page
        status, where, _ = await post(sam, "/sipusers/delete", {"username": "ann"})
        assert status == 303 and "ann" not in {u.username for u in await users.list()}

        # CSRF: a change without the token is refused before any grant is looked at
        status, _, _ = await post(sam, "/sipusers/disable", {"username": "dan"}, token=False)
        assert status == 403 and (await users.get("dan")).enabled

    run(tmp_path, body)


def test_end_users_read_their_own_extensions_only(tmp_path: Path) -> None:
    async def body(admin: Admin, users: SipUserService) -> None:
        before = {r.number: r.ha1_md5 for r in await users.extensions.all()}
        eve = await account(admin, "eve", "user", (
            ("extension", "202", "write"), ("form", "extensions", "write"),
            ("form", "sipusers", "write")))  # fmt: skip
        status, page = await get(eve, "/extensions")
        assert status == 200 and sections(page) == ["/devices", "/extensions"]
        assert rows_of(page, "extension") == ["202"]
        assert "Add an extension" not in page and 'aria-label="Disable 202"' not in page
        status, page = await get(eve, "/extensions/edit?number=202")
        assert status == 200 and 'action="/extensions/' not in page
        assert "SIP users of the edge" not in page
        status, page = await get(eve, "/extensions/edit?number=201")
        assert status == 403
        for path, form in (
            ("/extensions/disable", {"number": "202"}),
            ("/extensions/secret", {"number": "202", "secret": NEW_SECRET}),
        ):
            status, _, page = await post(eve, path, form)
            assert status == 403 and "eve has no write grant for the extensions form." in page
        status, page = await get(eve, "/sipusers")  # a form grant gives an end user nothing
        assert status == 403 and "eve has no read grant for the sipusers form." in page
        record = await users.extensions.get("202")
        assert record.enabled and record.ha1_md5 == before["202"]

        # a system administrator sees everything, with every form
        alice = await account(admin, "alice", "system")
        status, page = await get(alice, "/extensions")
        assert rows_of(page, "extension") == list(NUMBERS) and "Shown:" not in page
        assert 'aria-label="Disable 203"' in page and "/extensions.csv" in page
        status, page = await get(alice, "/sipusers")
        assert rows_of(page, "sipuser") == ["ann", "bob", "cid"]

    run(tmp_path, body)
