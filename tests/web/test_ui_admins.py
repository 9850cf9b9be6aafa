"""Accounts and grants in a real browser (headless Debian Chromium) against a real `voxgate
serve`: the system administrator adds a group administrator (generated password, shown once)
with the devices form read+write and one device in its scope, and an end user (a weak password
refused with the reason first) with another device; the group administrator logs in, changes
its password, sees only its device, enables it, and is refused another device (a tampered
form) and the netlists; the end user sees only its own device, read-only.  Screenshots of the
administrators page and an account's grants (into docs/screenshots/ with
VOXGATE_SCREENSHOTS=1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from browser import UiNode, chromium, first_login, login, needs_chromium, screenshot, ui_node
from playwright.async_api import Page, expect

from voxgate.config.load import load_settings
from voxgate.policy.devices import IdentitySource
from voxgate.services.devices import DeviceService
from voxgate.storage.engine import Store
from voxgate.storage.repos.audit import AuditRepo

pytestmark = needs_chromium

MINE = "00:04:13:5a:7b:01"
OTHER = "00:04:13:5a:7b:02"
STRONG = "Hc5-tRw2-Qm8v-Usr"
GROUP_PASSWORD = "Wd4-kPz9-Nr2f-Grp"
USER_PASSWORD = "Jx6-bTq3-Ls8m-Eve"


@asynccontextmanager
async def node_store(ui: UiNode) -> AsyncIterator[Store]:
    """The node's own database."""
    store = await Store.open(load_settings(ui.config).store_url)
    try:
        yield store
    finally:
        await store.close()


async def change_first_password(page: Page, ui: UiNode, current: str, new: str) -> None:
    """On the password page the server insists on after a login with a set password."""
    assert page.url.endswith("/password"), page.url
    await page.get_by_label("Current password").fill(current)
    await page.get_by_label("New password", exact=True).fill(new)
    await page.get_by_label("New password again").fill(new)
    await page.get_by_role("button", name="Change password").click()
    await page.wait_for_url(ui.base + "/devices")  # no dashboard grant: its first section


async def sections(page: Page) -> list[str]:
    return await page.locator("nav.sections a").all_inner_texts()


def test_a_group_administrator_and_an_end_user_made_and_used_in_the_browser(
    tmp_path: Path,
) -> None:
    with ui_node(tmp_path) as ui:
        async def main() -> None:
            async with node_store(ui) as store, chromium(ui.base) as page:
                devices = DeviceService(store)
                for n, mac in enumerate((MINE, OTHER)):
                    await devices.learn(mac, f"192.168.10.{31 + n}", IdentitySource.USER_AGENT,
                                        "snom D785/10.1.184.14")  # fmt: skip
                await first_login(page, ui)
                assert await sections(page) == [
                    "Dashboard", "Devices", "Extensions", "SIP users", "Netlists",
                    "Call records", "TLS", "Audit log", "Administrators"]  # fmt: skip

                # the group administrator: a generated password, shown once
                await page.get_by_role("link", name="Administrators").click()
                await page.get_by_label("User name").fill("grp")
                await page.get_by_label("Role").select_option("group")
                await page.get_by_role("button", name="Add account").click()
                await expect(page.get_by_role("status").first).to_have_text("Account grp added.")
                generated = await page.locator("#generated-password").inner_text()
                assert len(generated) == 20
                await page.get_by_label("Devices: write").check()
                await page.get_by_role("button", name="Save form grants").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "Form grants of grp saved.")
                await page.get_by_label("Kind").select_option("device")
                await page.get_by_label("MAC or extension number").fill(MINE.upper())
                await page.get_by_label("Access").select_option("write")
                await page.get_by_role("button", name="Grant", exact=True).click()
                await expect(page.get_by_role("status")).to_have_text(
                    f"Granted device {MINE}: write.")
                await expect(page.locator(f'tr[data-grant="device:{MINE}"]')).to_contain_text(
                    "write")
                await expect(page.locator("#generated-password")).to_have_count(0)  # once
                await screenshot(page, "admins-grants", tmp_path)

                # the end user: a weak password is refused with the reason
                await page.get_by_role("link", name="Administrators").click()
                await page.get_by_label("User name").fill("eve")
                await page.get_by_label("Role").select_option("user")
                await page.get_by_label("Password", exact=True).fill("password123")
                await page.get_by_role("button", name="Add account").click()
                await expect(page.get_by_role("alert")).to_have_text(
                    "Password is too weak: this is a very common password; use at least 10 "
                    "characters that are hard to guess. Or leave the password empty to "
                    "generate one.")
                await expect(page.get_by_label("User name")).to_have_value("eve")
                await page.get_by_label("Password", exact=True).fill(STRONG)
                await page.get_by_role("button", name="Add account").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "Account eve added: its password must be changed at the first login.")
                await page.get_by_label("MAC or extension number").fill(OTHER)
                await page.get_by_role("button", name="Grant", exact=True).click()
                await expect(page.get_by_role("status")).to_have_text(
                    f"Granted device {OTHER}: read.")
                await page.get_by_role("link", name="All accounts").click()
                rows = page.locator("table.accounts tbody tr")
                assert await rows.count() == 4  # with admin, made by voxgate init
                await expect(page.locator('tr[data-username="grp"]')).to_contain_text(
                    "group administrator")
                await screenshot(page, "admins", tmp_path)
                await page.get_by_role("button", name="Log out").click()

                # the group administrator: its device only
                await login(page, "grp", generated)
                await change_first_password(page, ui, generated, GROUP_PASSWORD)
                assert await sections(page) == ["Devices"]
                assert await page.locator("table.devices tbody tr").count() == 1
                await page.get_by_role("button", name=f"Enable {MINE}").click()
                await expect(page.get_by_role("status")).to_have_text(
                    f"Device {MINE} enabled: it may now reach the call control.")
                assert (await devices.get(MINE)).enabled
                # another device, through a tampered form: refused, named, audited
                mac_field = page.locator(f'tr[data-mac="{MINE}"] form.inline input[name="mac"]')
                await mac_field.evaluate("(field, mac) => { field.value = mac; }", OTHER)
                await page.get_by_role("button", name=f"Disable {MINE}").click()
                await expect(page.get_by_role("heading", name="Not available to your account")
                             ).to_be_visible()  # fmt: skip
                await expect(page.get_by_role("alert")).to_have_text(
                    f"device {OTHER} is not in the write scope of grp.")
                assert not (await devices.get(OTHER)).enabled
                assert (await devices.get(MINE)).enabled
                await page.goto("/netlists")
                await expect(page.get_by_role("alert")).to_have_text(
                    "grp has no read grant for the netlists form.")
                await page.goto("/admins")
                await expect(page.get_by_role("alert")).to_have_text(
                    "this page is for system administrators only.")
                await page.get_by_role("button", name="Log out").click()

                # the end user: its own device, read-only
                await login(page, "eve", STRONG)
                await change_first_password(page, ui, STRONG, USER_PASSWORD)
                assert await sections(page) == ["Devices", "Extensions"]  # its own, read-only
                rows = page.locator("table.devices tbody tr")
                assert await rows.count() == 1
                await expect(rows).to_contain_text(OTHER)
                assert await page.locator("main form[method=post]").count() == 0
                assert await page.locator("table.devices button").count() == 0
                await expect(page.get_by_text("Shown: the devices granted to your account, "
                                              "read-only.")).to_be_visible()  # fmt: skip

                denied = [(e.actor, e.target, e.detail)
                          for e in await AuditRepo(store).recent(action_prefix="admin.denied")]
                assert set(denied) == {
                    ("admin:grp", "POST /devices/disable",
                     f"device {OTHER} is not in the write scope of grp"),
                    ("admin:grp", "GET /netlists", "grp has no read grant for the netlists form"),
                    ("admin:grp", "GET /admins", "this page is for system administrators only"),
                }

        asyncio.run(main())
