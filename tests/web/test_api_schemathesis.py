"""Schemathesis against the OpenAPI document of a live admin server, as a logged-in system
administrator with the CSRF header: whatever the generated requests, no server error (5xx).

Only ``/api/v1/`` is exercised (the pages' login, logout and password forms would end or
change the session the run needs); a bounded number of examples per operation keeps it
short, and no deadline (the server is real, over TLS)."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from adminweb import GOOD, ME, running
from hypothesis import HealthCheck, settings

from voxgate.services.devices import DeviceService
from voxgate.web.api.openapi import document

EXAMPLES = 25
schema = schemathesis.openapi.from_dict(document()).include(path_regex=r"^/api/v1/")
# the session cookie and the CSRF header are the logged-in administrator's, not generated
schema.config.generation.update(with_security_parameters=False)


@dataclass
class Live:
    base: str
    http: requests.Session
    headers: dict[str, str]
    cafile: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp_path: Path = tmp_path_factory.mktemp("schemathesis")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="admin-server", daemon=True)
    thread.start()
    server = running(tmp_path)

    def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(60)

    try:
        admin = run(server.__aenter__())

        async def prepare() -> None:
            await admin.admins.add("root", GOOD, "system", ME)
            devices = DeviceService(admin.server.store)
            for n in range(3):
                await devices.add(f"00:04:f2:00:01:0{n}", ME, description=f"phone {n}")

        run(prepare())
        http = requests.Session()
        http.trust_env = False  # REQUESTS_CA_BUNDLE would win over verify (and proxies)
        http.verify = str(admin.cafile)
        page = http.get(f"{admin.base}/login", timeout=30)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        answer = http.post(f"{admin.base}/login", timeout=30, allow_redirects=False, data={
            "username": "root", "password": GOOD, "csrf_token": token.group(1)})
        assert answer.status_code == 303, answer.text
        session = http.get(f"{admin.base}/api/v1/session", timeout=30).json()
        yield Live(admin.base, http, {"X-CSRF-Token": session["csrf_token"]}, str(admin.cafile))
        http.close()
    finally:
        run(server.__aexit__(None, None, None))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_no_server_error(case: schemathesis.Case, live: Live) -> None:
    response = case.call(base_url=live.base, session=live.http, headers=live.headers,
                         timeout=30, verify=live.cafile)
    assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
