"""The pages over HTTPS without a browser (tests/web/adminweb.py): CSRF on every change,
escaping of what devices and attackers put in the store, fixed texts in the messages after a
change, the audit filters, the export, and the dashboard's hourly counts and chart scale."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from adminweb import GOOD, ME, Admin, csrf, login, running

from voxgate.policy.devices import IdentitySource
from voxgate.services.devices import DeviceService
from voxgate.services.livecalls import MAX_SHOWN, LiveCall, LiveMedia
from voxgate.services.overview import per_hour
from voxgate.web.security import MAX_IMPORT
from voxgate.web.ui.dashboard import _scale_top, chart

PHONE = "00:04:13:5a:7b:01"


def run(tmp_path: Path, body: Callable[[Admin, aiohttp.ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        async with running(tmp_path) as admin:
            await admin.admins.add("alice", GOOD, "system", ME)
            browser = admin.client()
            assert (await login(browser, "alice", GOOD))[:2] == (303, "/")
            await body(admin, browser)

    asyncio.run(main())


def devices_of(admin: Admin) -> DeviceService:
    return DeviceService(admin.audit.repo.store)


def test_every_change_needs_the_csrf_token(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession) -> None:
        await devices_of(admin).learn(PHONE, "192.0.2.7", IdentitySource.USER_AGENT, None)
        for path, form in (("/devices/enable", {"mac": PHONE}), ("/devices/add", {"mac": "1"}),
                           ("/devices/describe", {"mac": PHONE, "description": "x"}),
                           ("/netlists/add", {"kind": "block", "network": "192.0.2.0/24"}),
                           ("/netlists/delete", {"kind": "block", "network": "192.0.2.0/24"}),
                           ("/netlists/import", {"kind": "block", "text": "192.0.2.0/24"})):
            async with browser.post(path, data=form, allow_redirects=False) as answer:
                assert answer.status == 403, path
        form = aiohttp.FormData({"csrf_token": "forged"})
        form.add_field("file", b"mac\n00:04:13:5a:7b:09\n", filename="a.csv")
        async with browser.post("/devices/import", data=form) as answer:
            assert answer.status == 403
        assert not (await devices_of(admin).get(PHONE)).enabled
        assert await devices_of(admin).count() == 1
        token = await csrf(browser)
        async with browser.post("/devices/enable", data={"mac": PHONE, "csrf_token": token},
                                allow_redirects=False) as answer:  # fmt: skip
            assert answer.status == 303
            assert answer.headers["Location"].startswith("/devices?done=device.enable")
        [event] = await admin.audit.recent(action_prefix="device.enable")
        assert (event.actor, event.source, event.target) == ("admin:alice", "127.0.0.1", PHONE)

    run(tmp_path, body)


def test_what_devices_and_links_bring_is_escaped(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession) -> None:
        agent = '<script>alert(1)</script>"'
        await devices_of(admin).learn(PHONE, "192.0.2.7", IdentitySource.USER_AGENT, agent)
        async with browser.get("/devices") as answer:
            page = await answer.text()
        assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        async with browser.get("/devices?done=evil&subject=Call+us") as answer:
            assert "Call us" not in await answer.text()  # unknown message: nothing said
        async with browser.get("/devices?done=device.add&subject=<b>x</b>") as answer:
            assert "Device &lt;b&gt;x&lt;/b&gt; added." in await answer.text()
        async with browser.get("/") as answer:
            page = await answer.text()
        assert "<script>alert" not in page and "device.learned" in page

    run(tmp_path, body)


def test_bad_input_is_explained_and_nothing_changes(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession) -> None:
        token = await csrf(browser)
        async with browser.post("/devices/add", data={"mac": "nope", "csrf_token": token}) as a:
            assert a.status == 400
            assert "Not a MAC address" in await a.text()
        form = aiohttp.FormData({"csrf_token": token})
        form.add_field("file", b"mac,enabled\n00:04:13:5a:7b:09,maybe\n00:04:13:5a:7b:0a,1\n"
                       b"00:04:13:5a:7b:0a,0\n", filename="a.csv")  # fmt: skip
        async with browser.post("/devices/import", data=form) as answer:
            assert answer.status == 400
            page = await answer.text()
        assert "2 bad rows in the file: nothing was imported." in page
        assert "line 2: enabled &#39;maybe&#39; is not true or false" in page
        assert "line 4: device 00:04:13:5a:7b:0a already on line 3" in page
        assert await devices_of(admin).count() == 0
        big = aiohttp.FormData({"csrf_token": token})
        rows = "".join(f"00:04:13:{i >> 16:02x}:{(i >> 8) & 255:02x}:{i & 255:02x},Desk\n"
                       for i in range(MAX_IMPORT // 20))  # fmt: skip
        big.add_field("file", ("mac,description\n" + rows).encode(), filename="big.csv")
        async with browser.post("/devices/import", data=big) as answer:
            assert answer.status == 413  # over the limit of an import
        assert await devices_of(admin).count() == 0
        async with browser.post("/netlists/add", data={"kind": "block", "network": "300.1.2.3",
                                                       "csrf_token": token}) as answer:  # fmt: skip
            assert answer.status == 400
            assert "Bad netblock" in await answer.text()

    run(tmp_path, body)


def test_export_and_audit_filters(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession) -> None:
        token = await csrf(browser)
        for mac in ("00:04:13:5a:7b:01", "00:04:13:5a:7b:02"):
            async with browser.post("/devices/add", data={"mac": mac, "csrf_token": token,
                                                          "description": "Desk"}) as answer:
                assert answer.status == 200
        async with browser.get("/devices.csv") as answer:
            assert answer.headers["Content-Disposition"].startswith("attachment;")
            text = await answer.text()
        assert text.splitlines()[1].startswith("00:04:13:5a:7b:01,Desk,false,admin")
        async with browser.get("/audit?action=device.&actor=alice") as answer:
            page = await answer.text()
        assert page.count(">device.add<") == 2 and "admin.login" not in page
        async with browser.get("/audit?action=admin.&source=127.0.0.") as answer:
            page = await answer.text()
        assert ">admin.login<" in page and ">admin.add<" not in page  # added from "local"
        today = datetime.now(UTC).date()
        async with browser.get(f"/audit?until={today - timedelta(days=1)}") as answer:
            assert "No event matches." in await answer.text()
        async with browser.get("/audit?since=yesterday") as answer:
            assert "Not a date (YYYY-MM-DD): since" in await answer.text()

    run(tmp_path, body)


def test_a_group_administrator_without_grants_reaches_no_page(tmp_path: Path) -> None:
    async def body(admin: Admin, _: aiohttp.ClientSession) -> None:
        await admin.admins.add("bob", GOOD, "group", ME)
        await devices_of(admin).learn(PHONE, "192.0.2.7", IdentitySource.USER_AGENT, None)
        browser = admin.client()
        assert (await login(browser, "bob", GOOD))[:2] == (303, "/")
        for path, form in (("/", "dashboard"), ("/devices", "devices"),
                           ("/devices.csv", "devices"), ("/netlists", "netlists"),
                           ("/audit", "audit")):  # fmt: skip
            async with browser.get(path) as answer:
                assert answer.status == 403, path
                text = await answer.text()
            assert (f"bob has no read grant for the {form} form." in text
                    or "bob may read no section yet" in text), path  # fmt: skip
        token = await csrf(browser)
        async with browser.post("/devices/enable", data={"mac": PHONE, "csrf_token": token}) as a:
            assert a.status == 403
        assert not (await devices_of(admin).get(PHONE)).enabled

    run(tmp_path, body)


def test_hourly_counts_and_the_chart_scale() -> None:
    now = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    calls = [now, now - timedelta(minutes=31), now - timedelta(hours=2),
             now - timedelta(hours=12)]  # fmt: skip
    hours = per_hour(now, 3, calls, [now.replace(tzinfo=None)])
    assert [(h.start.hour, h.calls, h.registrations) for h in hours] == [
        (10, 1, 0), (11, 1, 0), (12, 1, 1)]
    assert [_scale_top(n) for n in (0, 1, 2, 3, 6, 10, 11, 140)] == [1, 1, 2, 5, 10, 10, 20, 200]
    drawn = chart(hours)
    assert [value for _, value in drawn.grid] == [0, 1]
    assert len(drawn.bars) == 6 and not drawn.empty


def test_the_dashboard_lists_the_calls_under_way_with_their_media(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    wan = LiveMedia("wan", "198.51.100.7:40122", 12_345, 123, 4.4, 7)
    lan = LiveMedia("lan", "10.0.0.20:16384", 12_400, 0, 1.2, 0)
    calls = [
        LiveCall("edge", "alice", "202", "connected", now - timedelta(minutes=3, seconds=5),
                 now - timedelta(minutes=2, seconds=5), "198.51.100.7:5061", "b-1", (wan, lan)),
        LiveCall("call control", "201", "203", "ringing", now - timedelta(seconds=9), None,
                 "10.0.0.21:5060"),
        *[LiveCall("call control", "210", f"{300 + n}", "connected", now, now, "10.0.0.22:5060")
          for n in range(MAX_SHOWN)],
    ]  # fmt: skip

    async def body(admin: Admin, browser: aiohttp.ClientSession) -> None:
        async def live() -> list[LiveCall]:
            return calls

        admin.server.context.live_calls = live
        async with browser.get("/") as answer:
            page = await answer.text()
        assert f"Active calls ({MAX_SHOWN + 2})" in page
        assert f"The {MAX_SHOWN} oldest of {MAX_SHOWN + 2}." in page
        edge = page[page.index("<td>edge</td>"):]
        edge = edge[:edge.index("</tr>")]
        assert "alice" in edge and "202" in edge
        assert re.search(r">2:(0[5-9]|[1-5]\d)<", edge)  # since the answer (and the test's time)
        assert "198.51.100.7:5061" in edge
        assert "12,345 · 1.0 % · 4 ms · <span class=\"bad\">7 dropped</span>" in edge
        assert "12,400 · 0.0 % · 1 ms</div>" in edge
        ringing = page[page.index("<td class=\"mono\">203</td>"):]
        assert "ringing" in ringing[:400] and re.search(r">0:(09|[1-5]\d)<", ringing[:400])

    run(tmp_path, body)
