"""The login's defences as a browser meets them (headless Debian Chromium): locked out
after the configured failed logins (a real `voxgate serve`), and logged out after the
configured inactivity (an in-process server whose clock the test moves: no waiting)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adminweb import GOOD, ME, running
from browser import chromium, login, needs_chromium, ui_node
from playwright.async_api import expect

from voxgate.config.load import load_settings
from voxgate.config.schema import AdminSettings
from voxgate.services.audit import AuditLog
from voxgate.storage.engine import Store

pytestmark = needs_chromium


def test_failed_logins_lock_the_address_out(tmp_path: Path) -> None:
    settings = "lockout_max_failures = 3\nlockout_duration = 600\n"
    with ui_node(tmp_path, settings) as ui:
        async def main() -> None:
            async with chromium(ui.base) as page:
                for attempt in range(1, 4):
                    await login(page, ui.username, f"Wrong-password-{attempt}")
                    alert = page.get_by_role("alert")
                    if attempt < 3:
                        await expect(alert).to_have_text("Wrong user name or password.")
                await expect(page.get_by_role("alert")).to_have_text(
                    "Wrong user name or password. Too many failed logins from your address: "
                    "try again in 10 minutes.")
                await login(page, ui.username, ui.password)  # the right one: still refused
                await expect(page.get_by_role("alert")).to_have_text(
                    "Too many failed logins from your address: try again in 10 minutes.")
                assert page.url.endswith("/login")
            store = await Store.open(load_settings(ui.config).store_url)
            try:
                actions = [e.action for e in await AuditLog(store).recent(action_prefix="admin.")]
            finally:
                await store.close()
            assert actions[:4] == ["admin.lockout"] + ["admin.login_failed"] * 3

        asyncio.run(main())


def test_an_idle_session_ends_and_the_login_leads_back(tmp_path: Path) -> None:
    async def main() -> None:
        settings = AdminSettings(address="127.0.0.1", port=0, session_idle_timeout=60)
        async with running(tmp_path, settings) as admin, chromium(admin.base) as page:
            await admin.admins.add("alice", GOOD, "system", ME)
            await login(page, "alice", GOOD)
            await page.get_by_role("link", name="Devices").click()
            await expect(page.get_by_role("heading", name="Devices")).to_be_visible()
            admin.clock[0] += 59  # still within the idle timeout: the session lives on
            await page.reload()
            await expect(page.get_by_role("heading", name="Devices")).to_be_visible()
            admin.clock[0] += 60  # a minute without a request: the session is over
            await page.get_by_role("link", name="Netlists").click()
            await page.wait_for_url("**/login?next=/netlists")
            await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
            await page.get_by_label("User name").fill("alice")
            await page.get_by_label("Password", exact=True).fill(GOOD)
            await page.get_by_role("button", name="Log in").click()
            await page.wait_for_url(admin.base + "/netlists")

    asyncio.run(main())

