"""A real browser against the web administration: headless Debian Chromium driven by
Playwright (never a downloaded browser), and a real `voxgate serve` node to point it at.

- :func:`ui_node` starts `voxgate serve` (tests/interop/peers.py) with the admin server on a
  free 127.0.0.1 port, learns that port from the node's log, and adds a system administrator
  with a generated password that must change at the first login (`voxgate admin add
  --generate-password`), as an installer would.
- :func:`chromium` opens a browser page that accepts the node's self-signed certificate.
- :func:`first_login` logs in and changes the initial password through the pages.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
from peers import Node, running_node
from playwright.async_api import Page, async_playwright

CHROMIUM: Final = "/usr/bin/chromium"
FLAGS: Final = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run")  # fmt: skip
LISTENING: Final = re.compile(r"admin: listening on https 127\.0\.0\.1:(\d+)")
GENERATED: Final = re.compile(r"^password: (\S+)", re.M)
#: The password the tests change the generated one to.
NEW_PASSWORD: Final = "Tq7-vWm3-Rb8k-Ops"
#: Console errors a test provokes on purpose: refusals (wrong password 401, lockout 429,
#: refused page 403, bad form 400) are logged by Chromium as failed resources.
EXPECTED_CONSOLE: Final = re.compile(r"status of (400|401|403|429) ")
SCREENSHOTS: Final = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="Debian chromium is not installed")  # fmt: skip


@dataclass
class UiNode:
    """A running node, the URL of its web administration and a fresh system administrator."""

    node: Node
    base: str
    username: str
    password: str

    @property
    def config(self) -> Path:
        return self.node.data_dir / "voxgate.toml"

    def voxgate(self, *args: str) -> str:
        """Run a `voxgate` command on this node's config; its standard output."""
        done = subprocess.run([sys.executable, "-m", "voxgate", *args, "--config",
                               str(self.config)], capture_output=True, text=True, check=True,
                              timeout=60)  # fmt: skip
        return done.stdout


def admin_port(node: Node, timeout: float = 30.0) -> int:
    """The admin port the node bound (``port = 0``), from its log."""
    deadline = time.monotonic() + timeout
    while (found := LISTENING.search(node.log_text())) is None:
        assert node.alive(), node.log_text()[-2000:]
        assert time.monotonic() < deadline, "the admin server did not start"
        time.sleep(0.05)
    return int(found.group(1))


@contextlib.contextmanager
def ui_node(tmp_path: Path, admin: str = "") -> Iterator[UiNode]:
    """`voxgate serve` with ``[admin]`` on a free port (plus ``admin`` settings lines) and a
    system administrator ``ops`` whose generated password must change at the first login."""
    table = f'\n[admin]\naddress = "127.0.0.1"\nport = 0\n{admin}\n'
    with running_node(tmp_path, table) as node:
        running = UiNode(node, f"https://127.0.0.1:{admin_port(node)}", "ops", "")
        out = running.voxgate("admin", "add", "ops", "--role", "system", "--generate-password")
        found = GENERATED.search(out)
        assert found is not None, out
        running.password = found.group(1)
        yield running


@contextlib.asynccontextmanager
async def chromium(base: str) -> AsyncIterator[Page]:
    """A page of headless Debian Chromium on ``base`` (self-signed certificate accepted)."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian chromium is not installed")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=list(FLAGS))  # fmt: skip
        try:
            context = await browser.new_context(base_url=base, ignore_https_errors=True,
                                                viewport={"width": 1366, "height": 860})  # fmt: skip
            context.set_default_timeout(15_000)
            page = await context.new_page()
            problems: list[str] = []  # CSP violations, script errors, failed resources
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            yield page
            assert not [p for p in problems if not EXPECTED_CONSOLE.search(p)], problems
        finally:
            await browser.close()


async def login(page: Page, username: str, password: str) -> None:
    """Fill in and send the login form."""
    await page.goto("/login")
    await page.get_by_label("User name").fill(username)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_load_state()


async def first_login(page: Page, ui: UiNode) -> None:
    """Log in with the generated password and change it (the server insists)."""
    await login(page, ui.username, ui.password)
    assert page.url.endswith("/password"), (page.url, await page.content())
    await page.get_by_label("Current password").fill(ui.password)
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("New password again").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Change password").click()
    await page.wait_for_url(ui.base + "/")
    ui.password = NEW_PASSWORD


async def screenshot(page: Page, name: str, scratch: Path) -> Path:
    """Save the whole page as ``name``.png: into docs/screenshots/ when
    ``VOXGATE_SCREENSHOTS=1`` (to refresh the documentation's pictures), else into
    ``scratch`` (the test still renders it, and the worktree stays clean)."""
    directory = SCREENSHOTS if os.environ.get("VOXGATE_SCREENSHOTS") == "1" else scratch
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path
