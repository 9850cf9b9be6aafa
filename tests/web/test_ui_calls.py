"""The call records page over HTTPS without a browser (tests/web/adminweb.py): the table, its
filters and count, paging that keeps the filters, a bad filter named and left off, the media
counters, escaping, the CSV export of exactly the filtered set (the API's and the CLI's file),
and who sees what: a group administrator the calls of its extensions (form ``cdr``), no one
without the form's grant, not logged in or without the CSRF token (a POST)."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from adminweb import GOOD, ME, Admin, csrf, login, running

from voxgate.services.cdr import CdrService, read_filter
from voxgate.storage.repos.cdr import CdrRecord, CdrRepo
from voxgate.storage.repos.media import MediaRecord, MediaRepo, SideCounters

T0 = datetime(2026, 11, 3, 7, 0, tzinfo=UTC)
ROWS = re.compile(r'<tr data-call-id="([^"]+)">')


def record(n: int, caller: str, callee: str, disposition: str, talked: float = 0.0,
           name: str = "", reason: str = "") -> CdrRecord:  # fmt: skip
    start = T0 + timedelta(minutes=n)
    answered = start + timedelta(seconds=4) if disposition == "answered" else None
    return CdrRecord(f"call-{n}", caller, name, callee, start, answered,
                     start + timedelta(seconds=4 + talked), talked, disposition,
                     {"answered": 200, "busy": 486, "no-answer": 480}.get(disposition, 503),
                     reason, "192.168.10.20:5061", callee_call_id=f"call-{n}-b")  # fmt: skip


def run(tmp_path: Path, body: Callable[[Admin, aiohttp.ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        async with running(tmp_path) as admin:
            await admin.admins.add("alice", GOOD, "system", ME)
            browser = admin.client()
            assert (await login(browser, "alice", GOOD))[:2] == (303, "/")
            await body(admin, browser)

    asyncio.run(main())


async def account(admin: Admin, username: str, role: str, *grants: tuple[str, str, str]
                  ) -> aiohttp.ClientSession:  # fmt: skip
    """A browser logged in as a new account with ``grants``."""
    await admin.admins.add(username, GOOD, role, ME)
    for kind, name, access in grants:
        await admin.admins.grant(username, kind, name, access, ME)
    browser = admin.client()
    assert (await login(browser, username, GOOD))[:2] == (303, "/")
    return browser


async def page(browser: aiohttp.ClientSession, query: str = "") -> tuple[int, str]:
    async with browser.get("/calls" + query) as answer:
        return answer.status, await answer.text()


def shown(text: str) -> list[str]:
    return ROWS.findall(text)


def test_table_filters_count_paging_and_media(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession) -> None:
        store = admin.server.store
        calls = [record(n, f"2{n % 3:02d}", "301" if n % 2 else "+4930555", ("answered", "busy",
                        "no-answer")[n % 3], 61.0 * (n % 3 == 0), f"Desk {n}")
                 for n in range(120)]  # fmt: skip
        calls.append(record(200, "+4989123", "201", "unknown-number", reason="Not Found"))
        await CdrRepo(store).add_many(calls)
        await MediaRepo(store).add_many([MediaRecord(
            "edge-leg", "call-117-b", T0, SideCounters(packets=3050, lost=50, dropped_auth=4,
                                                       jitter_ms=3.25, source="203.0.113.8:41000"),
            SideCounters(packets=3100, jitter_ms=0.5, source="192.168.10.5:20000"))])  # fmt: skip

        status, text = await page(browser)
        assert status == 200
        assert '<a href="/calls" aria-current="page">Call records</a>' in text
        assert shown(text) == ["call-200"] + [f"call-{n}" for n in range(119, 70, -1)]
        assert "121 calls." in text and "Page 1 of 3 · 121 calls" in text
        assert "No call" not in text
        row = text[text.index('data-call-id="call-200"'):text.index('data-call-id="call-119"')]  # fmt: skip
        assert '<span class="state bad">unknown number</span> <span class="code">503</span>' in row
        assert "Not Found" in row and "+4989123" in row
        assert '<td class="mono">\N{EN DASH}</td>' in row  # not answered: no talk time
        answered = text[text.index('data-call-id="call-117"'):text.index('data-call-id="call-116"')]  # fmt: skip
        assert '<span class="state on">answered</span>' in answered
        assert '<td class="mono">1:01</td>' in answered and "Desk 117" in answered
        # the media relay's counters, a line per side, as the dashboard shows a live call's
        assert ('<div title="from 203.0.113.8:41000"><span class="tag">WAN</span> 3,050 · 1.6 % · '
                '3 ms · <span class="bad">4 dropped</span></div><div title="from 192.168.10.5:20000">'
                '<span class="tag">LAN</span> 3,100 · 0.0 % · 0 ms</div>') in answered  # fmt: skip
        assert text.count('<span class="tag">WAN</span>') == 1
        # a disposition and a caller prefix: the rows, the count, the fields kept
        status, text = await page(browser, "?disposition=no-answer&caller=20")
        expected = [f"call-{n}" for n in range(119, -1, -1) if n % 3 == 2]
        assert shown(text) == expected[:50] and len(expected) == 40
        assert "40 calls match the filters." in text
        assert '<option value="no-answer" selected>no answer</option>' in text
        assert 'name="caller" value="20"' in text
        # paging keeps the filters, and so does the export link; a page past the end is the last
        status, text = await page(browser, "?callee=301&page=2")
        odd = [f"call-{n}" for n in range(119, -1, -1) if n % 2]
        assert shown(text) == odd[50:] and "Page 2 of 2 · 60 calls" in text
        assert 'href="?callee=301&amp;page=1">← Newer</a>' in text
        assert 'href="/calls.csv?callee=301" download>Export CSV</a>' in text
        assert shown((await page(browser, "?callee=301&page=9"))[1]) == odd[50:]
        # times: the datetime-local fields, UTC
        status, text = await page(browser, "?since=2026-11-03T08:50&until=2026-11-03T09:00:30"
                                           "&min_duration=1:00")  # fmt: skip
        assert shown(text) == ["call-117", "call-114", "call-111"]
        assert 'name="since" type="datetime-local" value="2026-11-03T08:50"' in text
        assert 'value="2026-11-03T09:00:30"' in text and 'name="min_duration" value="1:00"' in text
        status, text = await page(browser, "?caller=999")
        assert "No call matches." in text and "0 calls match the filters." in text

    run(tmp_path, body)


def test_a_bad_filter_is_named_and_left_off_and_the_export_refuses_it(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession) -> None:
        await CdrRepo(admin.server.store).add_many(
            [record(n, "201" if n % 2 else "202", "301", "busy") for n in range(6)])  # fmt: skip
        status, text = await page(browser, "?caller=201&disposition=lost&min_duration=abc")
        assert status == 200
        alert = re.search(r'<p class="message" role="alert">(.*?)</p>', text, re.S)
        assert alert is not None
        assert html.unescape(alert.group(1)) == (
            "Result: not one of answered, busy, no-answer, cancelled, rejected, failed, "
            "unavailable, unknown-number; Talked at least: not a number of seconds (90) or "
            "minutes and seconds (1:30). Those filters are off.")  # fmt: skip
        assert shown(text) == ["call-5", "call-3", "call-1"]  # the caller filter still applies
        assert 'href="/calls.csv?caller=201" download>' in text  # exactly the set shown
        async with browser.get("/calls.csv?caller=201&disposition=lost") as answer:
            assert answer.status == 400
            assert await answer.text() == ("Nothing exported: Result: not one of answered, busy, "
                                           "no-answer, cancelled, rejected, failed, unavailable, "
                                           "unknown-number.\n")  # fmt: skip
        status, text = await page(browser, "?since=tomorrow")
        assert "Started from: not an ISO 8601 time" in text and "That filter is off." in text
        assert len(shown(text)) == 6

    run(tmp_path, body)


def test_the_export_is_the_filtered_set_in_the_clis_format(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession) -> None:
        store = admin.server.store
        # more rows than one part of the stream (1,000)
        await CdrRepo(store).add_many([
            record(n, "201" if n % 2 else "202", "301", "answered" if n % 3 else "busy",
                   30.0 + n, 'Desk "A", 1' if n == 1 else "")
            for n in range(2500)])  # fmt: skip
        await MediaRepo(store).add_many([MediaRecord(
            "edge", "call-1-b", T0, SideCounters(packets=10, lost=1), SideCounters(packets=9))])  # fmt: skip
        query = "caller=201&disposition=answered&min_duration=35"
        async with browser.get(f"/calls.csv?{query}") as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
            assert re.fullmatch(r'attachment; filename="voxgate-cdr-\d{8}-\d{6}\.csv"',
                                answer.headers["Content-Disposition"])  # fmt: skip
            exported = await answer.text()
        cli = io.StringIO()
        filters = {"caller": "201", "disposition": "answered", "min_duration": "35"}
        await CdrService(store).write_csv(cli, read_filter(filters)[0])
        assert exported == cli.getvalue()
        rows = list(csv.DictReader(io.StringIO(exported)))
        assert [r["call_id"] for r in rows] == [
            f"call-{n}" for n in range(2500) if n % 2 and n % 3 and n >= 5]  # fmt: skip
        async with browser.get(f"/api/v1/cdr/export?{query}") as answer:
            assert await answer.text() == exported
        async with browser.get("/calls.csv?caller=201") as answer:
            first = next(csv.DictReader(io.StringIO(await answer.text())))
        assert (first["caller_name"], first["wan_packets"], first["wan_lost"]) == (
            'Desk "A", 1', "10", "1")  # fmt: skip

    run(tmp_path, body)


def test_escaping_grants_and_refusals(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession) -> None:
        await CdrRepo(admin.server.store).add_many([record(
            1, "<img src=x onerror=alert(1)>", "301", "failed", name="<script>alert(1)</script>",
            reason='"><b>Server Error</b>')])  # fmt: skip
        status, text = await page(browser, '?callee="><script>')
        assert status == 200 and "<script>" not in text.split("</header>", 1)[1]
        assert "&#34;&gt;&lt;script&gt;" in text  # the filter, echoed escaped
        status, text = await page(browser)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "&lt;img src=x onerror=alert(1)&gt;" in text and "<b>Server" not in text
        # read-only: a POST without the CSRF token is refused first, with it there is no such form
        async with browser.post("/calls", data={"caller": "2"}) as answer:
            assert answer.status == 403
        async with browser.post("/calls", data={"csrf_token": await csrf(browser)}) as answer:
            assert answer.status == 405

        # by grant, as the API: a group administrator sees the calls of its extensions
        await CdrRepo(admin.server.store).add_many([
            record(2, "201", "302", "answered", 30.0), record(3, "303", "201", "busy"),
            record(4, "304", "305", "busy")])  # fmt: skip
        group = await account(admin, "grp", "group", ("form", "cdr", "read"),
                              ("extension", "201", "read"))  # fmt: skip
        status, text = await page(group)
        assert status == 200 and shown(text) == ["call-3", "call-2"]
        assert '<a href="/calls" aria-current="page">Call records</a>' in text
        assert shown((await page(group, "?disposition=busy"))[1]) == ["call-3"]
        async with group.get("/calls.csv") as answer:
            exported = list(csv.DictReader(io.StringIO(await answer.text())))
        assert [r["call_id"] for r in exported] == ["call-2", "call-3"]
        # without the form's grant, or as an end user (its forms: its devices, extensions)
        for who, role, grants in [
            ("nogrant", "group", [("extension", "201", "read")]),
            ("enduser", "user", [("form", "cdr", "read"), ("extension", "201", "read")]),
        ]:
            other = await account(admin, who, role, *grants)
            for path in ("/calls", "/calls.csv"):
                async with other.get(path) as answer:
                    assert answer.status == 403, (who, path)
                    assert f"{who} has no read grant for the cdr form." in await answer.text()
        stranger = admin.client()
        async with stranger.get("/calls?caller=2", allow_redirects=False) as answer:
            assert answer.status in (302, 303)
            assert answer.headers["Location"].startswith("/login")
        async with stranger.get("/calls.csv", allow_redirects=False) as answer:
            assert answer.status in (302, 303)

    run(tmp_path, body)
