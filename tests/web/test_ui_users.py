"""The extensions and SIP users pages over HTTPS without a browser (tests/web/adminweb.py): a
generated secret shown once and never again, strength feedback, changes only of what differs
(the audit says what), the delete confirmation, line-numbered import errors with nothing
imported, the exports, the registered contacts from the bindings; CSRF on every change,
grants (tests/web/test_ui_grants_users.py in full), and a clear page when the node has no key
file."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from adminweb import GOOD, ME, Admin, csrf, login, running

from voxgate.services.sipusers import SipUserService
from voxgate.sip.digest import ha1
from voxgate.storage.repos.bindings import BindingRecord, BindingRepo

SECRET = "Tq7-vWx2-Kp9m-Ext"
PASSWORD = "Rb4-nYc8-Zf3h-Dev"
UPSTREAM = "Lm6-pQs1-Jd5w-Up2"
SHOWN = re.compile(r'<code class="secret">([^<]+)</code>')


def run(tmp_path: Path, body: Callable[[Admin, aiohttp.ClientSession, str], Awaitable[None]],
        *, with_key: bool = True) -> None:  # fmt: skip
    async def main() -> None:
        async with running(tmp_path, with_key=with_key) as admin:
            await admin.admins.add("alice", GOOD, "system", ME)
            browser = admin.client()
            assert (await login(browser, "alice", GOOD))[:2] == (303, "/")
            await body(admin, browser, await csrf(browser))

    asyncio.run(main())


def users_of(admin: Admin) -> SipUserService:
    assert admin.server.sipusers is not None
    return admin.server.sipusers


async def post(browser: aiohttp.ClientSession, path: str, form: dict[str, str],
               token: str) -> tuple[int, str, str]:  # fmt: skip
    """(status, Location, page) of a form sent without following the redirect."""
    async with browser.post(path, data={**form, "csrf_token": token},
                            allow_redirects=False) as answer:  # fmt: skip
        return answer.status, answer.headers.get("Location", ""), await answer.text()


def test_a_generated_secret_is_shown_once_and_a_weak_one_is_explained(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession, token: str) -> None:
        extensions = users_of(admin).extensions
        status, _, page = await post(
            browser,
            "/extensions/add",
            {
                "number": "201",
                "display_name": "Front desk",
                "generate_secret": "1",
                "enabled": "1",
                "max_contacts": "",
            },
            token,
        )
        assert status == 200 and "Extension 201 added. Its secret:" in page
        [secret] = SHOWN.findall(page)
        assert "it is shown this once" in page
        record = await extensions.get("201")
        assert record.ha1_md5 == ha1("MD5", "201", "pbx.test", secret)
        assert (record.display_name, record.enabled, record.max_contacts) == (
            "Front desk",
            True,
            None,
        )
        async with browser.get("/extensions") as answer:
            assert secret not in await answer.text()  # never again
        async with browser.get("/extensions/edit?number=201") as answer:
            assert secret not in await answer.text()

        status, _, page = await post(
            browser,
            "/extensions/add",
            {"number": "202", "display_name": "Back office", "secret": "qwertyuiop"},
            token,
        )
        assert status == 400
        assert (
            "Secret is too weak: this is a top-100 common password; use at least 10 "
            "characters that are hard to guess, or tick “Generate a strong secret”."
        ) in page
        assert 'value="Back office"' in page  # the form keeps what was typed (not the secret)
        status, _, page = await post(browser, "/extensions/add", {"number": "202"}, token)
        assert status == 400 and "Type a secret, or tick “Generate a strong secret”." in page
        status, _, page = await post(
            browser,
            "/extensions/add",
            {"number": "202", "secret": SECRET, "generate_secret": "1"},
            token,
        )
        assert status == 400 and "not both" in page
        status, _, page = await post(
            browser,
            "/extensions/add",
            {"number": "202", "secret": SECRET, "max_contacts": "lots"},
            token,
        )
        assert status == 400 and "Max contacts must be a number from 1 to 100" in page
        assert await extensions.count() == 1
        status, where, _ = await post(
            browser,
            "/extensions/add",
            {"number": "202", "secret": SECRET, "max_contacts": "2"},
            token,
        )
        assert (status, where) == (303, "/extensions?done=extension.add&subject=202")
        assert not (await extensions.get("202")).enabled  # the box was not ticked
        async with browser.get(where) as answer:
            assert "Extension 202 added." in await answer.text()

        # a new secret: typed (refused when weak), then generated and shown once
        status, _, page = await post(
            browser, "/extensions/secret", {"number": "202", "secret": "short"}, token
        )
        assert status == 400 and "Secret is too short" in page
        status, where, _ = await post(
            browser, "/extensions/secret", {"number": "202", "secret": SECRET + "2"}, token
        )
        assert where == "/extensions/edit?number=202&done=extension.secret&subject=202"
        status, _, page = await post(
            browser, "/extensions/secret", {"number": "202", "generate_secret": "1"}, token
        )
        [new] = SHOWN.findall(page)
        assert (await extensions.get("202")).ha1_sha256 == ha1("SHA-256", "202", "pbx.test", new)
        events = [
            (e.action, e.target, e.detail)
            for e in reversed(await admin.audit.recent(action_prefix="extension."))
        ]
        assert events == [
            ("extension.add", "201", "enabled, display name 'Front desk'"),
            ("extension.add", "202", "disabled, display name ''"),
            ("extension.set", "202", "new secret"),
            ("extension.set", "202", "new secret"),
        ]
        assert all(secret not in d and new not in d for _, _, d in events)

    run(tmp_path, body)


def test_change_enable_and_delete_after_confirmation(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession, token: str) -> None:
        users = users_of(admin)
        await users.extensions.add("201", SECRET, display_name="Alice")
        await users.add("alice", ME, extension="201", password=PASSWORD, upstream_secret=UPSTREAM)
        status, where, _ = await post(
            browser,
            "/extensions/edit",
            {"number": "201", "display_name": "Alice", "max_contacts": "3"},
            token,
        )
        assert where == "/extensions/edit?number=201&done=extension.set&subject=201"
        status, where, _ = await post(
            browser,
            "/extensions/edit",
            {"number": "201", "display_name": "Alice", "max_contacts": "3"},
            token,
        )
        assert "done=extension.same" in where
        status, where, _ = await post(
            browser, "/extensions/disable", {"number": "201", "q": "ali", "page": "1"}, token
        )
        assert where == "/extensions?q=ali&page=1&done=extension.disable&subject=201"
        status, where, _ = await post(
            browser, "/extensions/enable", {"number": "201", "back": "edit"}, token
        )
        assert where.startswith("/extensions/edit?number=201&done=extension.enable")
        record = await users.extensions.get("201")
        assert (record.max_contacts, record.enabled) == (3, True)

        async with browser.get("/extensions/delete?number=201") as answer:
            page = await answer.text()
        assert answer.status == 200 and "Delete extension 201?" in page
        assert "SIP users reaching the call control as this extension: alice" in page
        assert await users.extensions.count() == 1  # a GET deletes nothing
        status, where, _ = await post(browser, "/extensions/delete", {"number": "201"}, token)
        assert where == "/extensions?done=extension.delete&subject=201"
        assert await users.extensions.count() == 0
        status, _, page = await post(browser, "/extensions/delete", {"number": "201"}, token)
        assert status == 400 and "No extension 201." in page
        async with browser.get("/extensions/edit?number=999") as answer:
            assert answer.status == 404 and "No extension 999." in await answer.text()
        events = [
            (e.action, e.detail)
            for e in reversed(await admin.audit.recent(action_prefix="extension."))
        ]
        assert events == [
            ("extension.set", "max_contacts"),
            ("extension.set", "enabled"),
            ("extension.set", "enabled"),
            ("extension.delete", ""),
        ]

    run(tmp_path, body)


def test_list_search_paging_registered_contacts_import_and_export(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession, token: str) -> None:
        extensions = users_of(admin).extensions
        rows = "".join(f"{n},Desk {n},{SECRET}{n},true,\n" for n in range(300, 360))
        async with browser.get("/extensions") as answer:
            import_id = re.search(r'name="import_id" value="([^"]+)"', await answer.text())
        assert import_id is not None
        form = aiohttp.FormData({"csrf_token": token, "import_id": import_id.group(1)})
        form.add_field("file", ("number,display_name,secret,enabled,max_contacts\n" + rows)
                       .encode(), filename="desks.csv")  # fmt: skip
        async with browser.post("/extensions/import", data=form) as answer:
            assert "Import done: 60 added, 0 changed." in await answer.text()
        async with browser.get(f"/imports/progress?id={import_id.group(1)}") as answer:
            assert await answer.json() == {"phase": "done", "done": 60, "total": 60}
        now = datetime.now(UTC)
        await BindingRepo(admin.server.store).apply(
            [
                BindingRecord(
                    "301",
                    f"sip:301@192.0.2.{i}:5060",
                    None,
                    None,
                    now + timedelta(minutes=30 - 20 * i),
                    f"c{i}",
                    1,
                    None,
                    "tls",
                    f"192.0.2.{i}",
                    5061,
                    "tls:127.0.0.1:5061",
                    "snom D785",
                    now,
                )
                for i in range(3)
            ],
            [],
        )  # two live, one expired
        async with browser.get("/extensions") as answer:
            page = await answer.text()
        assert page.count('<tr id="extension-') == 50 and "Page 1 of 2 · 60 extensions" in page
        assert re.search(r'data-number="301".*?<td class="registered"><span class="count live">2<',
                         page, re.DOTALL)  # fmt: skip
        async with browser.get("/extensions?q=desk+35&page=1") as answer:
            page = await answer.text()
        assert page.count('<tr id="extension-') == 10 and "10 extensions." in page
        async with browser.get("/extensions/edit?number=301") as answer:
            page = await answer.text()
        assert 'Registered now <span class="count">2</span>' in page and "snom D785" in page

        bad = aiohttp.FormData({"csrf_token": token})
        bad.add_field("file", (f"number,secret\n400,{SECRET}\n301,{SECRET}\n40x,{SECRET}\n"
                               "401,letmein\n").encode(), filename="bad.csv")  # fmt: skip
        async with browser.post("/extensions/import", data=bad) as answer:
            assert answer.status == 400
            page = await answer.text()
        assert "3 bad rows in the file: nothing was imported." in page
        assert (
            "line 3: extension 301 exists already (tick “Rows may change existing "
            "extensions” to change it)"
        ) in page
        assert "line 4: bad extension number &#39;40x&#39;" in page
        assert "line 5: secret is too short" in page
        assert await extensions.count() == 60

        async with browser.get("/extensions.csv") as answer:
            assert answer.headers["Content-Disposition"].startswith(
                'attachment; filename="voxgate-extensions-'
            )
            exported = await answer.text()
        first = next(csv.DictReader(io.StringIO(exported)))
        assert first["number"] == "300" and first["ha1_md5"] == ha1("MD5", "300", "pbx.test",
                                                                    SECRET + "300")  # fmt: skip
        again = aiohttp.FormData({"csrf_token": token, "update": "1"})
        again.add_field("file", exported.replace("Desk 300", "Lobby").encode(), filename="x.csv")
        async with browser.post("/extensions/import", data=again) as answer:
            assert "Import done: 0 added, 60 changed." in await answer.text()
        assert (await extensions.get("300")).display_name == "Lobby"

    run(tmp_path, body)


def test_sipusers_added_three_ways_changed_and_deleted(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession, token: str) -> None:
        users = users_of(admin)
        await users.extensions.add("201", SECRET, display_name="Alice")
        # an extension of this node: its new registration secret is never shown
        status, _, page = await post(
            browser,
            "/sipusers/add",
            {
                "username": "alice",
                "extension": "201",
                "device_mac": "00-04-f2-a1-b2-c3",
                "generate_password": "1",
                "upstream": "embedded",
                "enabled": "1",
            },
            token,
        )
        assert status == 200 and "SIP user alice added. Its device password:" in page
        [password] = SHOWN.findall(page)
        alice = await users.get("alice")
        assert alice.ha1_md5 == ha1("MD5", "alice", "edge.test", password)
        assert alice.device_mac == "0004f2a1b2c3"
        assert (await users.extensions.get("201")).ha1_md5 == ha1(
            "MD5", "201", "pbx.test", users.unseal(alice)
        )  # the extension took the new secret
        # a new extension of this node, with a typed password
        status, where, _ = await post(
            browser,
            "/sipusers/add",
            {
                "username": "carol",
                "extension": "301",
                "password": PASSWORD,
                "upstream": "create",
                "display_name": "Carol",
                "enabled": "1",
            },
            token,
        )
        assert where == "/sipusers?done=sipuser.add&subject=carol"
        assert (await users.extensions.get("301")).display_name == "Carol"
        # another PBX: the upstream secret generated and shown once, with where to set it
        status, _, page = await post(
            browser,
            "/sipusers/add",
            {
                "username": "bob",
                "extension": "401",
                "generate_password": "1",
                "upstream": "foreign",
                "upstream_username": "401-bob",
                "enabled": "1",
            },
            token,
        )
        shown = SHOWN.findall(page)
        assert len(shown) == 2 and "set it as the secret of 401-bob in the PBX" in page
        assert users.unseal(await users.get("bob")) == shown[1]
        # refusals keep the form, say why, and add nothing
        for form, why in [
            ({"username": "dave", "extension": "201", "upstream": "embedded",
              "upstream_secret": UPSTREAM, "generate_password": "1"}, "are for another PBX"),
            ({"username": "dave", "extension": "201", "upstream": "embedded",
              "password": "password123"}, "Password is too weak"),
            ({"username": "dave", "extension": "209", "upstream": "embedded",
              "generate_password": "1"}, "No extension 209 in the embedded call control."),
            ({"username": "dave", "extension": "201", "upstream": "somewhere",
              "generate_password": "1"}, "Choose where the user reaches the call control."),
            ({"username": "da ve", "extension": "201", "upstream": "embedded",
              "generate_password": "1"}, "Bad username"),
        ]:  # fmt: skip
            status, _, page = await post(browser, "/sipusers/add", form, token)
            assert status == 400 and why in page, (form, page[-3000:])
            assert 'value="2' in page  # the extension typed is still there
        assert await users.count() == 3

        status, where, _ = await post(
            browser,
            "/sipusers/edit",
            {
                "username": "bob",
                "extension": "402",
                "upstream_username": "402-bob",
                "device_mac": "",
            },
            token,
        )
        assert where == "/sipusers/edit?username=bob&done=sipuser.set&subject=bob"
        status, where, _ = await post(
            browser,
            "/sipusers/edit",
            {"username": "alice", "extension": "201", "upstream_username": "201", "device_mac": ""},
            token,
        )  # only the device changes: unbound
        assert (await users.get("alice")).device_mac is None
        status, _, page = await post(
            browser,
            "/sipusers/edit",
            {"username": "alice", "extension": "201", "device_mac": "nope"},
            token,
        )
        assert status == 400 and "Not a MAC address" in page
        status, _, page = await post(
            browser, "/sipusers/password", {"username": "bob", "generate_password": "1"}, token
        )
        [new] = SHOWN.findall(page)
        assert (await users.get("bob")).ha1_md5 == ha1("MD5", "bob", "edge.test", new)
        status, _, page = await post(
            browser, "/sipusers/upstream", {"username": "bob", "upstream_secret": new}, token
        )
        assert status == 400 and "must differ" in page
        status, where, _ = await post(
            browser, "/sipusers/upstream", {"username": "bob", "upstream_secret": UPSTREAM}, token
        )
        assert "done=sipuser.upstream" in where
        status, where, _ = await post(browser, "/sipusers/disable", {"username": "carol"}, token)
        assert not (await users.get("carol")).enabled
        async with browser.get("/sipusers/delete?username=carol") as answer:
            page = await answer.text()
        assert "Delete SIP user carol?" in page and "as extension 301" in page
        status, where, _ = await post(browser, "/sipusers/delete", {"username": "carol"}, token)
        assert where == "/sipusers?done=sipuser.delete&subject=carol"
        assert [u.username for u in await users.list()] == ["alice", "bob"]
        async with browser.get("/sipusers?q=40") as answer:
            page = await answer.text()
        assert 'data-username="bob"' in page and 'data-username="alice"' not in page
        assert "as 402-bob" in page
        events = [
            (e.action, e.target, e.detail)
            for e in reversed(await admin.audit.recent(action_prefix="sipuser.set"))
        ]
        assert events == [
            ("sipuser.set", "bob", "extension 402, upstream username 402-bob"),
            ("sipuser.set", "alice", "device none"),
            ("sipuser.set", "bob", "new password"),
            ("sipuser.set", "bob", "new upstream secret"),
            ("sipuser.set", "carol", "disabled"),
        ]

    run(tmp_path, body)


def test_sipusers_import_and_export(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession, token: str) -> None:
        users = users_of(admin)
        header = (
            "username,password,extension,upstream_username,upstream_secret,device_mac,enabled\n"
        )
        bad = aiohttp.FormData({"csrf_token": token})
        bad.add_field("file", (header + f"a1,{PASSWORD},201,,{UPSTREAM},,\n"
                               f"a2,{PASSWORD},202,,{PASSWORD},,\n"
                               f"a3,{PASSWORD},203,,{UPSTREAM},00:11,\n").encode(),
                      filename="bad.csv")  # fmt: skip
        async with browser.post("/sipusers/import", data=bad) as answer:
            page = await answer.text()
        assert answer.status == 400 and "2 bad rows in the file: nothing was imported." in page
        assert "line 3: the upstream (level-2) secret must differ" in page
        assert "line 4: " in page and await users.count() == 0
        good = aiohttp.FormData({"csrf_token": token})
        good.add_field("file", (header + f"a1,{PASSWORD},201,,{UPSTREAM},,\n").encode(),
                       filename="good.csv")  # fmt: skip
        async with browser.post("/sipusers/import", data=good) as answer:
            assert "Import done: 1 added, 0 changed." in await answer.text()
        async with browser.get("/sipusers.csv") as answer:
            exported = await answer.text()
        assert UPSTREAM not in exported and PASSWORD not in exported
        assert next(csv.DictReader(io.StringIO(exported)))["upstream_secret"] == ""
        again = aiohttp.FormData({"csrf_token": token})
        again.add_field("file", exported.encode(), filename="again.csv")
        async with browser.post("/sipusers/import", data=again) as answer:
            page = await answer.text()
        assert (
            "SIP user a1 exists already (tick “Rows may change existing SIP users” to change it)"
        ) in page

    run(tmp_path, body)


def test_every_change_needs_the_csrf_token_and_a_grant(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession, token: str) -> None:
        users = users_of(admin)
        await users.extensions.add("201", SECRET)
        await users.add("alice", ME, extension="201", password=PASSWORD, upstream_secret=UPSTREAM)
        changes = [("/extensions/add", {"number": "202", "secret": SECRET}),
                   ("/extensions/disable", {"number": "201"}),
                   ("/extensions/edit", {"number": "201", "display_name": "x"}),
                   ("/extensions/secret", {"number": "201", "generate_secret": "1"}),
                   ("/extensions/delete", {"number": "201"}),
                   ("/sipusers/add", {"username": "bob", "extension": "201",
                                      "generate_password": "1", "upstream": "embedded"}),
                   ("/sipusers/disable", {"username": "alice"}),
                   ("/sipusers/edit", {"username": "alice", "extension": "202"}),
                   ("/sipusers/password", {"username": "alice", "generate_password": "1"}),
                   ("/sipusers/upstream", {"username": "alice", "upstream_secret": "x1"}),
                   ("/sipusers/delete", {"username": "alice"})]  # fmt: skip
        for path, form in changes:
            async with browser.post(path, data=form, allow_redirects=False) as answer:
                assert answer.status == 403, path
        for path in ("/extensions/import", "/sipusers/import"):
            upload = aiohttp.FormData({"csrf_token": "forged"})
            upload.add_field("file", b"number,secret\n", filename="a.csv")
            async with browser.post(path, data=upload) as answer:
                assert answer.status == 403, path

        # a group administrator with the extensions form but no extension in its scope, and
        # no grant for the SIP users form (tests/web/test_ui_grants_users.py: scopes in full)
        await admin.admins.add("bob", GOOD, "group", ME)
        await admin.admins.grant("bob", "form", "extensions", "write", ME)
        group = admin.client()
        assert (await login(group, "bob", GOOD))[0] == 303
        async with group.get("/extensions") as answer:
            assert answer.status == 200
            assert "No extension yet." in await answer.text()  # 201 is not in its scope
        for path, missing in (
            ("/extensions/edit?number=201", "extension 201 is not in the read scope of bob."),
            ("/extensions/delete?number=201", "extension 201 is not in the write scope of bob."),
            ("/sipusers", "bob has no read grant for the sipusers form."),
            ("/sipusers.csv", "bob has no write grant for the sipusers form."),
            ("/sipusers/edit?username=alice", "bob has no read grant for the sipusers form."),
        ):
            async with group.get(path) as answer:
                assert answer.status == 403, path
                assert missing in await answer.text(), path
        async with group.get("/extensions.csv") as answer:
            assert answer.status == 200 and (await answer.text()).count("\n") == 1  # header
        group_token = await csrf(group)
        for path, form in changes:
            status, _, page = await post(group, path, form, group_token)
            assert status == 403, path
            number = form.get("number", "")
            assert (f"extension {number} is not in the write scope of bob." if number else
                    "bob has no write grant for the sipusers form.") in page, path  # fmt: skip
        record = await users.extensions.get("201")
        assert record.enabled and record.ha1_md5 == ha1("MD5", "201", "pbx.test", SECRET)
        assert [u.username for u in await users.list()] == ["alice"]
        assert await users.extensions.count() == 1
        assert await admin.audit.recent(action_prefix="extension.set") == []

    run(tmp_path, body)


def test_without_the_key_file_the_pages_say_why(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession, token: str) -> None:
        del admin
        for path in ("/extensions", "/sipusers/edit?username=alice", "/extensions.csv"):
            async with browser.get(path) as answer:
                assert answer.status == 503, path
                page = await answer.text()
            assert "Extensions and SIP users are not available" in page
            assert "store.secret_key" in page
        status, _, page = await post(browser, "/extensions/add", {"number": "201"}, token)
        assert status == 503 and "voxgate init" in page
        async with browser.get("/api/v1/extensions") as answer:
            assert answer.status == 404  # the API leaves its routes out

    run(tmp_path, body, with_key=False)
