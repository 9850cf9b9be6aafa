"""API callers for the tests of /api/v1: accounts with a role and grants, logged in, with
their CSRF token; one helper to run a test body against a live admin server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from adminweb import GOOD, ME, Admin, csrf, login, running

from voxgate.services.devices import DeviceService


@dataclass
class Caller:
    """A logged-in API client and its session's CSRF token."""

    http: aiohttp.ClientSession
    token: str

    async def call(self, method: str, path: str, *, csrf_header: bool = True,
                   **kwargs: Any) -> tuple[int, Any]:  # fmt: skip
        """``(status, JSON body or text)``."""
        headers = dict(kwargs.pop("headers", {}))
        if csrf_header:
            headers["X-CSRF-Token"] = self.token
        async with self.http.request(method, path, headers=headers, **kwargs) as answer:
            if answer.content_type == "application/json":
                return answer.status, await answer.json()
            return answer.status, await answer.text()


async def caller(admin: Admin, username: str, role: str = "system",
                 grants: tuple[tuple[str, str, str], ...] = ()) -> Caller:  # fmt: skip
    """A new account ``username`` with ``role`` and ``grants``, logged in."""
    await admin.admins.add(username, GOOD, role, ME)
    for kind, name, access in grants:
        await admin.admins.grant(username, kind, name, access, ME)
    http = admin.client()
    status, _, _ = await login(http, username, GOOD)
    assert status == 303
    return Caller(http, await csrf(http))


def run(tmp_path: Path, body: Callable[[Admin, DeviceService], Awaitable[None]]) -> None:
    """``body`` against a live admin server and the device service of its store."""

    async def main() -> None:
        async with running(tmp_path) as admin:
            await body(admin, DeviceService(admin.server.store))

    asyncio.run(main())
