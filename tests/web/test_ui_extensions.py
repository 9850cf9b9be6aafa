"""The extensions and SIP users pages in a real browser (headless Debian Chromium) against a
real `voxgate serve`: an extension added with a generated secret shows it once, the CLI sees
the extension, and SIPp registers with that secret (the page then counts the contact); a
CSV import with one bad row names the line and imports nothing; one extension is disabled,
one deleted after the confirmation page; SIP users added for this node's extension and for
another PBX (their secrets shown once), imported, disabled and deleted; screenshots of both
pages (into docs/screenshots/ with VOXGATE_SCREENSHOTS=1)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from browser import UiNode, chromium, first_login, needs_chromium, screenshot, ui_node
from peers import auth_csv, auth_field, run_sipp
from playwright.async_api import Page, expect

from voxgate.config.load import load_settings
from voxgate.storage.engine import Store
from voxgate.storage.repos.bindings import BindingRecord, BindingRepo

pytestmark = needs_chromium

DESKS = [("202", "Sales, desk 1"), ("203", "Sales, desk 2"), ("204", "Meeting room"),
         ("205", "Warehouse"), ("206", "Support, Anna Berg"), ("207", "Support, Tom Okafor"),
         ("210", "Lobby"), ("220", "Fax gateway")]  # fmt: skip
SECRETS = [
    "Kx7-pWm2-Rt9v-Q",
    "Ly4-qNs8-Bd3z-R",
    "Mz9-rTk5-Cf2w-S",
    "Nw3-sVb7-Dg6x-T",
    "Pv8-tXc4-Fh1y-U",
    "Qu2-vYd9-Gj5z-V",
    "Rt6-wZf3-Hk8a-W",
    "Ss1-xAg7-Jm4b-X",
]
PHONE = "00:04:13:5a:7b:01"


@asynccontextmanager
async def node_store(ui: UiNode) -> AsyncIterator[Store]:
    store = await Store.open(load_settings(ui.config).store_url)
    try:
        yield store
    finally:
        await store.close()


def reload_extensions(ui: UiNode) -> None:
    """SIGHUP: the call control reads the extensions now (it would within 2 s anyway)."""
    before = ui.node.log_text().count("extensions reloaded")
    ui.node.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while ui.node.log_text().count("extensions reloaded") <= before:
        assert time.monotonic() < deadline, "the node did not reload its extensions"
        time.sleep(0.05)


def register(ui: UiNode, tmp_path: Path, number: str, secret: str) -> None:
    """SIPp registers a contact for ``number`` with digest (MD5, the node's default)."""
    inf = auth_csv(tmp_path / f"reg-{number}.csv",
                   [(number, auth_field(number, secret), "127.0.0.1:5999")])  # fmt: skip
    result = run_sipp(tmp_path, "register_auth", ui.node.udp, calls=1, rate=1,
                      extra=["-inf", str(inf)], timeout=20)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]


async def seed_registrations(store: Store) -> None:
    """Desk phones registered (as the call control writes them), for a realistic picture."""
    now = datetime.now(UTC)
    await BindingRepo(store).apply([BindingRecord(
        number, f"sip:{number}@192.168.10.{i + 30}:5060", None, None,
        now + timedelta(minutes=40), f"desk-{number}", 1, None, "tls", f"192.168.10.{i + 30}",
        5061, "tls:127.0.0.1:5061", "Yealink SIP-T54W 96.86.0.70", now - timedelta(minutes=i),
    ) for i, number in enumerate(("202", "203", "206", "207", "210"))], [])  # fmt: skip


async def row_of(page: Page, number: str) -> str:
    return await page.locator(f'tr[data-number="{number}"]').inner_text()


def test_extensions_page_end_to_end(tmp_path: Path) -> None:
    with ui_node(tmp_path) as ui:

        async def main() -> None:
            async with node_store(ui) as store, chromium(ui.base) as page:
                await first_login(page, ui)
                await page.get_by_role("link", name="Extensions", exact=True).click()
                await expect(page.get_by_role("heading", name="Extensions")).to_be_visible()

                # a new extension with a generated secret: shown once, clearly
                await page.get_by_label("Number").fill("201")
                await page.get_by_label("Display name").fill("Reception")
                await page.get_by_label("Generate a strong secret").check()
                await page.get_by_role("button", name="Add extension").click()
                once = page.get_by_role("status", name="Shown once")
                await expect(once).to_contain_text("Extension 201 added. Its secret:")
                await expect(once).to_contain_text("it is shown this once")
                secret = await once.locator("code.secret").inner_text()
                assert len(secret) == 20
                shown = ui.voxgate("ext", "show", "201")
                assert "name:         Reception" in shown and "enabled:      yes" in shown
                assert "max contacts: default (5)" in shown
                await page.goto("/extensions")
                assert secret not in await page.content()  # never shown again

                # a real phone (SIPp) registers with it; the page counts the contact
                reload_extensions(ui)
                register(ui, tmp_path, "201", secret)
                for _ in range(50):
                    await page.reload()
                    if await page.locator('tr[data-number="201"] .count.live').count():
                        break
                    await asyncio.sleep(0.2)
                await expect(page.locator('tr[data-number="201"] td.registered')).to_have_text("1")
                await page.get_by_role("link", name="201", exact=True).click()
                await expect(page.get_by_role("heading", name="Extension 201 · Reception")
                             ).to_be_visible()  # fmt: skip
                await expect(page.locator("table").first).to_contain_text("sipp-register")

                # a weak secret is refused with the reason
                await page.get_by_label("Secret", exact=True).fill("qwertyuiop")
                await page.get_by_role("button", name="Set secret").click()
                await expect(page.get_by_role("alert")).to_contain_text(
                    "Secret is too weak: this is a top-100 common password"
                )

                # an import with one bad row: the line named, nothing imported
                await page.get_by_role("link", name="Extensions", exact=True).click()
                header = "number,display_name,secret,enabled,max_contacts\n"
                rows = [
                    f'{n},"{name}",{s},true,\n' for (n, name), s in zip(DESKS, SECRETS, strict=True)
                ]
                bad = tmp_path / "desks-bad.csv"
                bad.write_text(header + rows[0] + "2o3,Sales desk 2,Ly4-qNs8-Bd3z-R,true,\n"
                               + "".join(rows[2:]))  # fmt: skip
                await page.get_by_label("CSV file").set_input_files(str(bad))
                await page.get_by_role("button", name="Import").click()
                problems = page.get_by_role("alert", name="Import errors")
                await expect(problems).to_contain_text(
                    "1 bad row in the file: nothing was imported."
                )
                assert await problems.locator("li").all_inner_texts() == [
                    "line 3: bad extension number '2o3': use 2 to 15 digits"
                ]
                assert "202" not in ui.voxgate("ext", "list")
                good = tmp_path / "desks.csv"
                good.write_text(header + "".join(rows))
                await page.get_by_label("CSV file").set_input_files(str(good))
                await page.get_by_role("button", name="Import").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "Import done: 8 added, 0 changed."
                )
                assert "9 extension(s)" in ui.voxgate("ext", "list")

                # disable one
                await page.get_by_role("button", name="Disable 220").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "Extension 220 disabled: it can no longer register or call."
                )
                await expect(page.locator('tr[data-number="220"] .state')).to_have_text("disabled")
                assert "enabled:      no" in ui.voxgate("ext", "show", "220")

                # delete one, after the confirmation page
                await page.get_by_role("link", name="Delete 205").click()
                await expect(page.get_by_role("heading", name="Delete extension 205?")
                             ).to_be_visible()  # fmt: skip
                await page.get_by_role("link", name="Cancel").click()
                await expect(page.get_by_role("heading", name="Extension 205 · Warehouse")
                             ).to_be_visible()  # fmt: skip
                assert "205" in ui.voxgate("ext", "list")
                await page.get_by_role("link", name="Delete…").click()
                await page.get_by_role("button", name="Delete extension 205").click()
                await expect(page.get_by_role("status")).to_have_text("Extension 205 deleted.")
                assert "205" not in ui.voxgate("ext", "list")

                # search, and the picture
                await page.get_by_label("Search extensions").fill("sales")
                await page.get_by_role("button", name="Search").click()
                assert await page.locator("tbody tr").count() == 2
                await seed_registrations(store)
                await page.goto("/extensions")
                assert "Reception" in await row_of(page, "201")
                await screenshot(page, "extensions", tmp_path)

        asyncio.run(main())


def test_sipusers_page_end_to_end(tmp_path: Path) -> None:
    with ui_node(tmp_path) as ui:

        async def main() -> None:
            async with chromium(ui.base) as page:
                await first_login(page, ui)
                ui.voxgate("ext", "add", "201", "--name", "Reception", "--generate-secret")
                await page.get_by_role("link", name="SIP users", exact=True).click()
                await expect(page.get_by_role("heading", name="SIP users")).to_be_visible()

                # for an extension of this node: the device password shown once
                await page.get_by_label("User name", exact=True).fill("alice")
                await page.get_by_label("Extension", exact=True).fill("201")
                await page.get_by_label("Device MAC").fill(PHONE)
                await page.get_by_role("button", name="Add SIP user").click()
                once = page.get_by_role("status", name="Shown once")
                await expect(once).to_contain_text("SIP user alice added. Its device password:")
                password = await once.locator("code.secret").inner_text()
                shown = ui.voxgate("sipuser", "show", "alice")
                assert "extension:         201" in shown and f"device:            {PHONE}" in shown
                await page.goto("/sipusers")
                assert password not in await page.content()

                # a new extension of this node in the same step, with a typed password
                await page.get_by_label("User name", exact=True).fill("carol")
                await page.get_by_label("Extension", exact=True).fill("301")
                await page.get_by_label("Generate a strong password").uncheck()
                await page.get_by_label("Device password").fill("Hv6-kWq2-Zn8c-Car")
                await page.get_by_label("This node's, and create the extension").check()
                await page.get_by_label("Display name of a created extension").fill("Carol Diaz")
                await page.get_by_role("button", name="Add SIP user").click()
                await expect(page.get_by_role("status")).to_have_text("SIP user carol added.")
                assert "name:         Carol Diaz" in ui.voxgate("ext", "show", "301")

                # another PBX: the upstream secret generated, shown once with where it goes
                await page.get_by_label("User name", exact=True).fill("bob")
                await page.get_by_label("Extension", exact=True).fill("401")
                await page.get_by_label("Another PBX, with the credentials below").check()
                await page.get_by_label("Upstream user name").fill("401-bob")
                await page.get_by_role("button", name="Add SIP user").click()
                shown_once = page.get_by_role("status", name="Shown once")
                await expect(shown_once).to_have_count(2)
                await expect(shown_once.nth(1)).to_contain_text(
                    "set it as the secret of 401-bob in the PBX"
                )

                # a refusal says why and keeps the form
                await page.get_by_label("User name", exact=True).fill("dave")
                await page.get_by_label("Extension", exact=True).fill("209")
                await page.get_by_role("button", name="Add SIP user").click()
                await expect(page.get_by_role("alert")).to_have_text(
                    "No extension 209 in the embedded call control."
                )
                await expect(page.get_by_label("User name", exact=True)).to_have_value("dave")

                # an import with one bad row, then a good one
                header = ("username,password,extension,upstream_username,upstream_secret,"
                          "device_mac,enabled\n")  # fmt: skip
                rows = [f"desk-{n},Pw{n}-Kx8vQ2z-Lm,{n},,Up{n}-Lm4pR7t-Qz,00:04:13:5a:7c:{n[1:]},\n"
                        for n in ("202", "203", "204", "206")]  # fmt: skip
                bad = tmp_path / "users-bad.csv"
                bad.write_text(
                    header
                    + rows[0]
                    + rows[1].replace("Up203-Lm4pR7t-Qz", "Pw203-Kx8vQ2z-Lm")
                    + rows[2]
                )
                await page.get_by_label("CSV file").set_input_files(str(bad))
                await page.get_by_role("button", name="Import").click()
                problems = page.get_by_role("alert", name="Import errors")
                await expect(problems).to_contain_text(
                    "1 bad row in the file: nothing was imported."
                )
                assert await problems.locator("li").all_inner_texts() == [
                    "line 3: the upstream (level-2) secret must differ from the device "
                    "(level-1) password"
                ]
                assert "3 SIP user(s)" in ui.voxgate("sipuser", "list")
                good = tmp_path / "users.csv"
                good.write_text(header + "".join(rows))
                await page.get_by_label("CSV file").set_input_files(str(good))
                await page.get_by_role("button", name="Import").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "Import done: 4 added, 0 changed."
                )

                # disable one; delete one after the confirmation page
                await page.get_by_role("button", name="Disable desk-204").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "SIP user desk-204 disabled: its devices can no longer register."
                )
                assert "enabled:           no" in ui.voxgate("sipuser", "show", "desk-204")
                await page.get_by_role("link", name="Delete desk-206").click()
                await expect(page.get_by_role("heading", name="Delete SIP user desk-206?")
                             ).to_be_visible()  # fmt: skip
                await page.get_by_role("button", name="Delete SIP user desk-206").click()
                await expect(page.get_by_role("status")).to_have_text("SIP user desk-206 deleted.")
                assert "desk-206" not in ui.voxgate("sipuser", "list")

                # its own page: a new device password, generated and shown once
                await page.get_by_role("link", name="bob", exact=True).click()
                await page.get_by_label("Generate a strong password").check()
                await page.get_by_role("button", name="Set password").click()
                await expect(page.get_by_role("status", name="Shown once")).to_contain_text(
                    "New device password of SIP user bob set:"
                )
                await page.goto("/sipusers")
                await screenshot(page, "sipusers", tmp_path)

        asyncio.run(main())
