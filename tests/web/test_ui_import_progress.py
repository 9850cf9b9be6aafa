"""The progress bar of a CSV import, in real headless Chromium against a real node: a file of
20,000 devices shows the lines being checked or the rows being written while the node works,
then the page that says the import is done; a file with a bad row still gets the
line-numbered refusal through the same script."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from browser import chromium, first_login, needs_chromium, ui_node
from playwright.async_api import expect

from voxgate.config.load import load_settings
from voxgate.services.devices import DeviceService
from voxgate.storage.engine import Store

pytestmark = needs_chromium
ROWS = 20_000
#: What the bar says while the node checks or writes (the script's own words).
WORKING = re.compile(r"Checking line [\d,]+ of about [\d,]+…|Importing row [\d,]+ of [\d,]+…")


def test_a_large_import_shows_its_progress(tmp_path: Path) -> None:
    big = tmp_path / "fleet.csv"
    big.write_text("mac,description,enabled\n" + "".join(
        f"0004f2{i:06x},Desk {i},{'yes' if i % 2 else 'no'}\n" for i in range(ROWS)))
    bad = tmp_path / "bad.csv"
    bad.write_text("mac,description\n0004f3000001,ok\n0004f3zz0002,bad\n")
    with ui_node(tmp_path) as ui:
        async def main() -> None:
            async with chromium(ui.base) as page:
                await first_login(page, ui)
                await page.goto("/devices")
                form = page.locator("form[data-progress]")
                await form.get_by_label("CSV file").set_input_files(str(big))
                await form.get_by_role("button", name="Import").click()
                bar = form.locator(".progress")
                await expect(bar).to_be_visible()
                await expect(form.get_by_role("button", name="Import")).to_be_disabled()
                await expect(bar.get_by_role("status")).to_have_text(WORKING, timeout=30_000)
                await expect(page.get_by_role("status")).to_have_text(
                    f"Import done: {ROWS} added, 0 changed.", timeout=60_000)

                await page.locator("form[data-progress]").get_by_label("CSV file") \
                    .set_input_files(str(bad))  # fmt: skip
                await page.get_by_role("button", name="Import").click()
                problems = page.get_by_role("alert", name="Import errors")
                await expect(problems).to_contain_text("nothing was imported")
                assert await problems.locator("li").all_inner_texts() == [
                    "line 3: not a MAC address: '0004f3zz0002'"]

            store = await Store.open(load_settings(ui.config).store_url)
            try:
                assert await DeviceService(store).count() == ROWS
            finally:
                await store.close()

        asyncio.run(main())
