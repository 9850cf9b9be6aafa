"""The administration's pages in a real browser (headless Debian Chromium) against a real
`voxgate serve`: a device the edge learned appears disabled and is enabled, a CSV import with
one bad row names the line and imports nothing, a netblock goes on the block list, the audit
log shows who did it; the call records filtered by result and caller and exported through
the page's link; screenshots of the main pages (into docs/screenshots/ with
VOXGATE_SCREENSHOTS=1)."""

from __future__ import annotations

import asyncio
import csv
import random
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from browser import UiNode, chromium, first_login, needs_chromium, screenshot, ui_node
from playwright.async_api import Page, expect

from voxgate.config.load import load_settings
from voxgate.policy.devices import IdentitySource
from voxgate.services.devices import DeviceService
from voxgate.storage.engine import Store
from voxgate.storage.repos.bindings import BindingRecord, BindingRepo
from voxgate.storage.repos.cdr import CdrRecord, CdrRepo
from voxgate.storage.repos.media import MediaRecord, MediaRepo, SideCounters
from voxgate.storage.repos.registration_events import (
    RegistrationEventRecord,
    RegistrationEventRepo,
)

pytestmark = needs_chromium

PHONE = "00:04:13:5a:7b:01"
USER_AGENT = "snom D785/10.1.184.14"


@asynccontextmanager
async def node_store(ui: UiNode) -> AsyncIterator[Store]:
    """The node's own database (what the edge writes to)."""
    store = await Store.open(load_settings(ui.config).store_url)
    try:
        yield store
    finally:
        await store.close()


async def seed_activity(store: Store, now: datetime) -> None:
    """Registrations and calls of the last hours, as the call control writes them."""
    bindings, events, calls = [], [], []
    for i in range(6):
        extension = f"{201 + i}"
        registered = now - timedelta(minutes=7 * i + 1)
        bindings.append(BindingRecord(
            extension, f"sip:{extension}@192.168.10.{20 + i}:5060", None, None,
            now + timedelta(minutes=50), f"call-{i}", 1, None, "tls", f"192.168.10.{20 + i}",
            5061, "tls:127.0.0.1:5061", USER_AGENT, registered,
        ))  # fmt: skip
    for hour in range(10):
        for n in range((hour * 3) % 7 + 2):
            at = now - timedelta(hours=hour, minutes=5 * n)
            events.append(RegistrationEventRecord(
                at, f"{201 + n % 6}", f"192.168.10.{20 + n % 6}", 5061, "tls", None, USER_AGENT,
                f"{201 + n % 6}", "SHA-256", "registered", None,
            ))  # fmt: skip
        for n in range((hour * 5) % 4 + hour % 3):
            start = now - timedelta(hours=hour, minutes=9 * n + 2)
            answered = n % 3 != 2
            calls.append(CdrRecord(
                f"c{hour}-{n}", f"{201 + n % 6}", f"Desk {201 + n % 6}", f"{202 + (n + 1) % 5}",
                start, start + timedelta(seconds=4) if answered else None,
                start + timedelta(seconds=4 + 37 * (n + 1) if answered else 20),
                float(37 * (n + 1)) if answered else 0.0,
                "answered" if answered else "no-answer", 200 if answered else 480,
                "" if answered else "Temporarily Unavailable", "192.168.10.20",
            ))  # fmt: skip
    await BindingRepo(store).apply(bindings, [])
    await RegistrationEventRepo(store).add_many(events)
    await CdrRepo(store).add_many(calls)


async def row_of(page: Page, mac: str) -> str:
    return await page.locator(f'tr[data-mac="{mac}"]').inner_text()


def test_devices_netlists_audit_and_screenshots(tmp_path: Path) -> None:
    with ui_node(tmp_path) as ui:
        async def main() -> None:
            async with node_store(ui) as store, chromium(ui.base) as page:
                await page.goto("/login")
                await screenshot(page, "login", tmp_path)
                await first_login(page, ui)

                # the edge meets an unknown phone: a disabled row, its address as description
                devices = DeviceService(store)
                assert await devices.learn(PHONE, "192.168.10.31", IdentitySource.USER_AGENT,
                                           USER_AGENT)  # fmt: skip
                await page.get_by_role("link", name="Devices").click()
                await expect(page.locator(f'tr[data-mac="{PHONE}"] .state')).to_have_text(
                    "disabled")
                assert "192.168.10.31" in await row_of(page, PHONE)
                await page.get_by_role("button", name=f"Enable {PHONE}").click()
                await expect(page.get_by_role("status")).to_have_text(
                    f"Device {PHONE} enabled: it may now reach the call control.")
                await expect(page.locator(f'tr[data-mac="{PHONE}"] .state')).to_have_text(
                    "enabled")
                assert (await devices.get(PHONE)).enabled

                # a description, and a device added by hand
                await page.get_by_label(f"Description of {PHONE}").fill("Reception, desk 1")
                await page.locator(f'tr[data-mac="{PHONE}"]').get_by_role(
                    "button", name="Save").click()
                await expect(page.get_by_role("status")).to_contain_text("Description of device")
                await page.get_by_label("MAC address").fill("00-04-13-5a-7b-02")
                await page.get_by_label("Description", exact=True).fill("Meeting room")
                await page.get_by_role("button", name="Add device").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "Device 00:04:13:5a:7b:02 added.")

                # an import with one bad row: the line named, nothing imported
                before = await devices.count()
                bad = tmp_path / "phones.csv"
                bad.write_text("mac,description,enabled\n00:04:13:5a:7b:10,Desk 10,true\n"
                               "00:04:13:zz:7b:11,Desk 11,true\n00:04:13:5a:7b:12,Desk 12,no\n")
                await page.get_by_label("CSV file").set_input_files(str(bad))
                await page.get_by_role("button", name="Import").click()
                problems = page.get_by_role("alert", name="Import errors")
                await expect(problems).to_contain_text(
                    "1 bad row in the file: nothing was imported.")
                assert await problems.locator("li").all_inner_texts() == [
                    "line 3: not a MAC address: '00:04:13:zz:7b:11'"]
                assert await devices.count() == before

                good = tmp_path / "good.csv"
                good.write_text("mac,description,enabled\n00:04:13:5a:7b:10,Desk 10,true\n"
                                "00:04:13:5a:7b:12,Desk 12,no\n")
                await page.get_by_label("CSV file").set_input_files(str(good))
                await page.get_by_role("button", name="Import").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "Import done: 2 added, 0 changed.")
                assert await devices.count() == before + 2
                await devices.learn("00:04:13:5a:7b:20", "192.168.10.44",
                                    IdentitySource.INSTANCE, "Yealink SIP-T54W 96.86.0.70")
                await page.reload()

                # search, then the export
                await page.get_by_label("Search devices").fill("desk 1")
                await page.get_by_role("button", name="Search").click()
                assert await page.locator("tbody tr").count() == 3  # desk 1, Desk 10, Desk 12
                async with page.expect_download() as download_info:
                    await page.get_by_role("link", name="Export CSV").click()
                download = await download_info.value
                exported = Path(await download.path()).read_text()
                assert exported.startswith("mac,description,enabled,")
                assert f"{PHONE},\"Reception, desk 1\",true" in exported
                await page.goto("/devices")
                await screenshot(page, "devices", tmp_path)

                # the block list
                await page.get_by_role("link", name="Netlists").click()
                await page.get_by_label("Netblock").fill("203.0.113.0/24")
                await page.get_by_label("Comment").fill("SIP scanner")
                await page.get_by_role("button", name="Add netblock").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "Netblock 203.0.113.0/24 added.")
                await expect(page.locator("table")).to_contain_text("203.0.113.0/24")
                await page.get_by_label("Netblock").fill("198.51.100.7")
                await page.get_by_role("button", name="Add netblock").click()
                await page.get_by_label("Netblock").fill("not-a-network")
                await page.get_by_role("button", name="Add netblock").click()
                await expect(page.get_by_role("alert")).to_contain_text(
                    "Bad netblock 'not-a-network'")
                await page.goto("/netlists")
                await screenshot(page, "netlists", tmp_path)
                await page.get_by_role("button", name="Delete 198.51.100.7/32").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "Netblock 198.51.100.7/32 deleted.")

                # a netlist file: one bad line named, nothing imported; then the good file
                netlist = tmp_path / "scanners.txt"
                netlist.write_text("# Scanners 2026\n192.0.2.0/25  # probe farm\n"
                                   "192.0.2.300\n2001:db8:5::/48\n")
                importer = page.locator("form[action='/netlists/import']")
                await importer.get_by_label("Netlist file").set_input_files(str(netlist))
                await importer.get_by_role("button", name="Import netlist").click()
                problems = page.get_by_role("alert", name="Import errors")
                await expect(problems).to_contain_text("1 bad line in the file: nothing was "
                                                       "imported.")  # fmt: skip
                assert await problems.locator("li").all_inner_texts() == [
                    "line 3: '192.0.2.300' does not appear to be an IPv4 or IPv6 network"]
                await expect(page.locator("ul.lists")).not_to_contain_text("Scanners 2026")
                netlist.write_text("# Scanners 2026\n192.0.2.0/25  # probe farm\n"
                                   "192.0.2.200\n2001:db8:5::/48\n")
                await importer.get_by_label("Netlist file").set_input_files(str(netlist))
                await importer.get_by_role("button", name="Import netlist").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "Netlist imported: block list 'Scanners 2026', 3 netblocks (replacing 0).")
                await expect(page.locator("table")).to_contain_text("192.0.2.200/32")

                # the audit log: who, from where, what; filtered
                await page.get_by_role("link", name="Audit log").click()
                table = page.locator("table.audit")
                await expect(table).to_contain_text("device.enable")
                await expect(table).to_contain_text("admin:ops")
                await page.get_by_label("Action").fill("device.")
                await page.get_by_role("button", name="Filter").click()
                actions = await page.locator("table.audit td .tag").all_inner_texts()
                assert set(actions) == {"device.learned", "device.enable", "device.set",
                                        "device.add", "device.import"}  # fmt: skip
                enable = page.locator("tr", has_text="device.enable")
                assert "127.0.0.1" in await enable.inner_text()
                await page.goto("/audit")
                await screenshot(page, "audit", tmp_path)

                # the dashboard, with some hours of activity
                await seed_activity(store, datetime.now(UTC))
                await page.get_by_role("link", name="Dashboard").click()
                await expect(page.locator(".stat .value").first).to_have_text("6")
                assert await page.locator("svg.chart rect.bar-calls").count() == 12
                await expect(page.locator("section.card", has_text="Security events")).to_contain_text(
                    "device.learned")
                await screenshot(page, "dashboard", tmp_path)

        asyncio.run(main())


#: The desks of a small office, and how their calls end (with the call control's status and
#: reason: voxgate.pbx.calls).
DESKS = {"201": "Reception", "202": "Anna Berger", "203": "Jonas Weber", "204": "Sales",
         "205": "Lena Fischer", "206": "Support", "207": "Meeting room", "211": "Tom Keller"}
ENDINGS = [("answered", 200, "callee hung up")] * 9 + [("answered", 200, "caller hung up")] * 6 + [
    ("busy", 486, "Busy Here"), ("busy", 486, "Busy Here"), ("no-answer", 480, "No Answer"),
    ("no-answer", 480, "No Answer"), ("cancelled", 487, "Request Terminated"),
    ("cancelled", 487, "Request Terminated"), ("rejected", 603, "Decline"),
    ("unavailable", 480, "Temporarily Unavailable"), ("failed", 503, "Service Unavailable")]


def office_calls(now: datetime, count: int = 90) -> tuple[list[CdrRecord], list[MediaRecord]]:
    """Two days of an office's calls, as the call control writes them; the remote desks'
    (211, 205) voice went through the edge's relay, which stored its counters."""
    pick = random.Random(6)
    records, media = [], []
    gaps = [timedelta(minutes=pick.randint(8, 45), seconds=pick.randint(0, 59))
            for _ in range(count)]  # fmt: skip
    start = now - timedelta(minutes=4) - sum(gaps, timedelta())  # the last call: 4 minutes ago
    for n, gap in enumerate(gaps):
        start += gap
        caller, callee = pick.sample(sorted(DESKS), 2)
        disposition, status, reason = pick.choice(ENDINGS)
        if n % 17 == 5:
            callee, disposition, status, reason = "299", "unknown-number", 404, "Not Found"
        talked = float(pick.randint(8, 900)) if disposition == "answered" else 0.0
        answered = start + timedelta(seconds=pick.randint(2, 12)) if talked else None
        ended = (answered or start) + timedelta(seconds=talked or pick.randint(3, 30))
        remote = caller in ("211", "205")
        host = f"203.0.113.{40 + int(caller) % 7}" if remote else f"192.168.10.{caller[1:]}"
        source = f"{host}:5061"
        records.append(CdrRecord(
            f"{n:04x}-{pick.getrandbits(48):012x}@voxgate", caller, DESKS[caller], callee, start,
            answered, ended, talked, disposition, status, reason, source,
            callee_call_id=f"b-{n:04x}@voxgate",
        ))  # fmt: skip
        if remote and talked:
            packets = int(talked * 50)
            lost = pick.choice([0, 0, 0, 2, 7, 31])
            media.append(MediaRecord(
                f"edge-{n:04x}", f"b-{n:04x}@voxgate", ended,
                SideCounters(packets=packets - lost, lost=lost, jitter_ms=pick.uniform(0.8, 9.5),
                             dropped_auth=pick.choice([0, 0, 3]), source=source[:-5] + ":40002"),
                SideCounters(packets=packets, jitter_ms=pick.uniform(0.1, 0.6),
                             source="192.168.10.2:30000"),
            ))  # fmt: skip
    return records, media


async def call_ids(page: Page) -> list[str | None]:
    return [await row.get_attribute("data-call-id")
            for row in await page.locator("table.calls tbody tr[data-call-id]").all()]  # fmt: skip


def test_call_records_filtered_and_exported(tmp_path: Path) -> None:
    with ui_node(tmp_path) as ui:
        async def main() -> None:
            async with node_store(ui) as store, chromium(ui.base) as page:
                await first_login(page, ui)
                calls, media = office_calls(datetime.now(UTC).replace(microsecond=0))
                await CdrRepo(store).add_many(calls)
                await MediaRepo(store).add_many(media)
                newest = sorted(calls, key=lambda c: c.started_at, reverse=True)

                await page.get_by_role("link", name="Call records").click()
                await expect(page.locator("#calls-total")).to_have_text(f"{len(calls)} calls.")
                assert await call_ids(page) == [c.call_id for c in newest[:50]]

                # busy calls from the 20x desks: the rows, their badges, the count
                await page.get_by_label("Result").select_option("busy")
                await page.get_by_label("Caller starts with").fill("20")
                await page.get_by_role("button", name="Filter").click()
                busy = [c for c in newest if c.disposition == "busy" and c.caller.startswith("20")]
                assert 2 <= len(busy) < 50
                await expect(page.locator("#calls-total")).to_have_text(
                    f"{len(busy)} calls match the filters.")
                assert await call_ids(page) == [c.call_id for c in busy]
                assert set(await page.locator("table.calls .state").all_inner_texts()) == {"busy"}
                await expect(page.get_by_label("Caller starts with")).to_have_value("20")

                # the export through the page's link: exactly these calls, oldest first
                async with page.expect_download() as download_info:
                    await page.get_by_role("link", name="Export CSV").click()
                download = await download_info.value
                assert re.fullmatch(r"voxgate-cdr-\d{8}-\d{6}\.csv", download.suggested_filename)
                with Path(await download.path()).open(newline="") as exported:
                    rows = list(csv.DictReader(exported))
                assert [r["call_id"] for r in rows] == [c.call_id for c in reversed(busy)]
                assert {(r["disposition"], r["status"], r["reason"]) for r in rows} == {
                    ("busy", "486", "Busy Here")}  # fmt: skip

                # answered calls of a remote desk since yesterday this time: their media
                since = datetime.now(UTC) - timedelta(days=1)
                await page.get_by_role("link", name="Clear").click()
                await expect(page.locator("#calls-total")).to_have_text(f"{len(calls)} calls.")
                await page.get_by_label("Started from").fill(since.strftime("%Y-%m-%dT%H:%M"))
                await page.get_by_label("Result").select_option("answered")
                await page.get_by_label("Caller starts with").fill("211")
                await page.get_by_role("button", name="Filter").click()
                cutoff = since.replace(second=0, microsecond=0)
                remote = [c for c in newest if c.caller == "211" and c.disposition == "answered"
                          and c.started_at >= cutoff]  # fmt: skip
                assert remote
                await expect(page.locator("#calls-total")).to_have_text(
                    f"{len(remote)} call{'s' if len(remote) != 1 else ''} match the filters.")
                assert await call_ids(page) == [c.call_id for c in remote]
                media_of = {m.other_call_id: m for m in media}
                wan = media_of[remote[0].callee_call_id].wan
                first = page.locator("table.calls tbody tr").first.locator("td.media div").first
                await expect(first).to_have_text(
                    f"WAN {wan.packets:,} · {100 * wan.lost / (wan.packets + wan.lost):.1f} % · "
                    f"{wan.jitter_ms:.0f} ms" + (f" · {wan.dropped_auth} dropped"
                                                 if wan.dropped_auth else ""))  # fmt: skip
                await expect(first).to_have_attribute("title", f"from {wan.source}")

                await page.goto("/calls")
                await screenshot(page, "calls", tmp_path)

        asyncio.run(main())
