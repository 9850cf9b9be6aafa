"""The first administrator end to end: `voxgate init` prints its password once, and that
password logs in to the web administration of `voxgate serve` — straight to the password
change, since nobody but its holder may know the final one."""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from adminweb import NEW, csrf, login, running
from peers import running_node

from voxgate.config.load import load_settings
from voxgate.config.schema import AdminSettings
from voxgate.storage.engine import Store

PASSWORD_LINE = re.compile(r"created  administrator 'admin' \(system\) with password: (\S{20})\n")


def test_the_password_voxgate_init_prints_logs_in_and_must_be_changed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = subprocess.run([sys.executable, "-m", "voxgate", "init", "--data", str(data)],
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    [password] = PASSWORD_LINE.findall(done.stdout)
    settings = load_settings(data / "voxgate.toml")
    assert settings.admin.enabled and settings.admin.port == 8444

    async def main() -> None:
        store = await Store.open(settings.store_url)
        try:
            async with running(tmp_path, AdminSettings(address="127.0.0.1", port=0), store=store,
                               cert=(settings.tls.certificate, settings.tls.private_key)) as admin:
                browser = admin.client()
                assert (await login(browser, "admin", password))[:2] == (303, "/password")
                token = await csrf(browser)
                form = {"csrf_token": token, "current": password, "new": NEW, "again": NEW}
                async with browser.post("/password", data=form, allow_redirects=False) as answer:
                    assert answer.status == 303
                async with browser.get("/") as answer:
                    assert answer.status == 200
                assert await admin.audit_actions() == ["admin.add", "admin.login", "admin.password"]
        finally:
            await store.close()

    asyncio.run(main())


def test_serve_runs_the_web_administration(tmp_path: Path) -> None:
    with running_node(tmp_path) as node:
        text = ""
        deadline = time.monotonic() + 30
        while (found := re.search(r"admin: listening on https 127\.0\.0\.1:(\d+)", text)) is None:
            assert node.alive() and time.monotonic() < deadline, node.log_text()[-2000:]
            time.sleep(0.05)
            text = node.log_text()
        port = int(found.group(1))
        assert "no SIP users or extensions in the web API" not in text  # the key file was read
        listing = subprocess.run([sys.executable, "-m", "voxgate", "admin", "list", "--config",
                               str(node.data_dir / "voxgate.toml")],
                              capture_output=True, text=True, check=True)  # fmt: skip
        assert re.search(r"^admin\s+system\s+enabled\s+must change", listing.stdout, re.M)

        async def main() -> None:
            context = ssl.create_default_context(cafile=str(node.data_dir / "tls" / "cert.pem"))
            connector = aiohttp.TCPConnector(ssl=context)
            async with aiohttp.ClientSession(connector=connector) as client, \
                    client.get(f"https://127.0.0.1:{port}/login") as answer:
                assert answer.status == 200
                assert answer.headers["X-Frame-Options"] == "DENY"

        asyncio.run(main())
