"""The web administration in a real browser (headless Debian Chromium) against a real
`voxgate serve`: the first login changes the generated password."""

from __future__ import annotations

import asyncio
from pathlib import Path

from browser import chromium, first_login, login, needs_chromium, ui_node
from playwright.async_api import expect

pytestmark = needs_chromium


def test_first_login_changes_the_generated_password(tmp_path: Path) -> None:
    with ui_node(tmp_path) as ui:
        async def main() -> None:
            async with chromium(ui.base) as page:
                await page.goto("/devices")
                assert "/login" in page.url
                await first_login(page, ui)
                assert await page.locator("h1").first.inner_text() == "Dashboard"
                for section in ("Devices", "Netlists", "Audit log", "Dashboard"):
                    await page.get_by_role("link", name=section).click()
                    await expect(page.get_by_role("heading", level=1)).to_have_text(section)
                await page.get_by_role("button", name="Log out").click()
                await page.wait_for_url("**/login")
                await login(page, ui.username, ui.password)
                assert page.url == ui.base + "/"

        asyncio.run(main())
