"""The provisioning handler with aiohttp's test client, on SQLite: 404 while no installer
password is set, 401 with a Basic challenge without or with wrong credentials (each wrong one
a failed authentication in the source gate, so the source is locked out and loses its
connection), the device enabled and configured with the right one, audit rows."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from voxgate.policy.admission import GatePolicy, SourceGate
from voxgate.policy.devices import IdentitySource
from voxgate.policy.netblocks import NetblockSet
from voxgate.policy.throttle import LockoutPolicy
from voxgate.provisioning.server import ProvisioningServer, SipTarget, basic_credentials
from voxgate.services.audit import Actor, AuditLog
from voxgate.services.devices import DeviceService
from voxgate.services.installer import InstallerService
from voxgate.storage.engine import Store
from voxgate.storage.repos.sip_users import SipUserRecord, SipUserRepo

PASSWORD = "Tq7-vLp2-Wz9k-Inst"
ADMIN = Actor("cli:tester")
SOURCE = "127.0.0.1"  # the test client's address; the gate here trusts nothing


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


RIGHT = basic("installer", PASSWORD)


@dataclass
class Harness:
    client: TestClient[aiohttp.web.Request, aiohttp.web.Application]
    server: ProvisioningServer
    gate: SourceGate
    installer: InstallerService
    devices: DeviceService
    audit: AuditLog
    store: Store
    clock: list[float]


@asynccontextmanager
async def harness(tmp_path: Path, *, host: str | None = "edge.example.net") -> AsyncIterator[Harness]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}")
    await store.upgrade()
    clock = [1000.0]
    gate = SourceGate(GatePolicy(lockout=LockoutPolicy(max_failures=3, window=600, lockout=900)))
    installer = InstallerService(store)
    server = ProvisioningServer(gate, installer, SipUserRepo(store), SipTarget(host, 5061, "tls"),
                                clock=lambda: clock[0])  # fmt: skip
    try:
        async with TestClient(TestServer(server.application())) as client:
            yield Harness(client, server, gate, installer, DeviceService(store), AuditLog(store),
                          store, clock)  # fmt: skip
    finally:
        await store.close()


def run(tmp_path: Path, body: Callable[[Harness], Awaitable[None]], **options: str | None) -> None:
    async def main() -> None:
        async with harness(tmp_path, **options) as h:
            await body(h)

    asyncio.run(main())


async def get(h: Harness, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, Mapping[str, str]]:
    async with h.client.get(path, headers=headers) as response:
        return response.status, await response.text(), response.headers


def test_without_an_installer_password_nothing_is_handed_out_and_nobody_is_prompted(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        await h.devices.add("0004f2a1b2c4", ADMIN, enabled=True)
        for path in ("/0004f2a1b2c3.cfg", "/0004f2a1b2c4.cfg", "/index.html"):
            for headers in (None, RIGHT):
                status, _, response_headers = await get(h, path, headers)
                assert status == 404, path
                assert "WWW-Authenticate" not in response_headers
        assert [d.mac for d in await h.devices.list()] == ["0004f2a1b2c4"]
        assert h.gate.failures.locked_until(SOURCE, h.clock[0]) is None

    run(tmp_path, body)


def test_the_right_password_enables_an_unknown_device_and_hands_it_its_configuration(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        await h.installer.set(PASSWORD, ADMIN)
        status, text, headers = await get(h, "/0004F2A1B2C3.cfg")
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Basic realm="voxgate provisioning", charset="UTF-8"'
        assert await h.devices.list() == []  # a prompt changes nothing
        status, text, headers = await get(h, "/0004F2A1B2C3.cfg", RIGHT)
        assert status == 200, text
        assert headers["Content-Type"].startswith("text/plain") and headers["Cache-Control"] == "no-store"
        assert "sip.server = edge.example.net\nsip.port = 5061\nsip.transport = tls\n" in text
        assert PASSWORD not in text
        device = await h.devices.get("0004f2a1b2c3")
        assert (device.enabled, device.identity, device.last_source) == (True, "provisioning", SOURCE)
        [event] = await h.audit.recent(action_prefix="device.enabled_by_installer")
        assert (event.actor, event.source, event.target) == ("installer", SOURCE, "00:04:f2:a1:b2:c3")
        # the phone fetches again at every boot: still served, no new audit row
        assert (await get(h, "/prov/0004f2a1b2c3", RIGHT))[0] == 200
        assert len(await h.audit.recent(action_prefix="device.")) == 2  # learned + enabled_by_installer
        assert h.server.stats["enabled"] == 1

    run(tmp_path, body)


def test_vendor_paths_and_xml_and_the_sip_users_tied_to_the_device(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        await h.installer.set(PASSWORD, ADMIN)
        now = datetime.now(UTC)
        await SipUserRepo(h.store).write([SipUserRecord(
            "alice", "voxgate-edge", "0" * 32, "0" * 64, "201", "201", "sealed", "0004f2a1b2c3",
            True, now, now)])  # fmt: skip
        for path in ("/cfg0004f2a1b2c3.xml", "/SEP0004F2A1B2C3.cnf.xml", "/phones/0004f2a1b2c3.xml"):
            status, text, headers = await get(h, path, RIGHT)
            assert status == 200, path
            assert headers["Content-Type"].startswith("application/xml")
            assert '<setting name="line.1.username">alice</setting>' in text
            assert "sealed" not in text
        for path in ("/0004f2a1b2c3.boot", "/00-04-F2-A1-B2-C3.cfg"):
            status, text, _ = await get(h, path, RIGHT)
            assert status == 200 and "line.1.username = alice" in text, path
        for path in ("/000000000000.cfg", "/0004f2a1b2c3.exe", "/0004f2a1b2c.cfg", "/"):
            status, _, headers = await get(h, path, RIGHT)
            assert status == 404 and "WWW-Authenticate" not in headers, path
        async with h.client.post("/0004f2a1b2c3.cfg", headers=RIGHT) as response:
            assert response.status == 405

    run(tmp_path, body)


def test_the_host_the_phone_used_is_the_sip_server_when_none_is_configured(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        await h.installer.set(PASSWORD, ADMIN)
        _, text, _ = await get(h, "/0004f2a1b2c3.cfg", {**RIGHT, "Host": "pbx.example.org:8443"})
        assert "sip.server = pbx.example.org\n" in text
        _, text, _ = await get(h, "/0004f2a1b2c3.cfg", {**RIGHT, "Host": "[2001:db8::5]:8443"})
        assert "sip.server = 2001:db8::5\n" in text
        _, text, _ = await get(h, "/0004f2a1b2c3.cfg", {**RIGHT, "Host": "evil\"><x>"})
        assert "sip.server = 127.0.0.1\n" in text  # not a host name: the local address

    run(tmp_path, body, host=None)


def test_wrong_passwords_count_as_failed_authentications_and_lock_the_source_out(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        await h.installer.set(PASSWORD, ADMIN)
        assert (await get(h, "/0004f2a1b2c3.cfg", basic("installer", "not-it")))[0] == 401
        assert (await get(h, "/0004f2a1b2c3.cfg", basic("admin", PASSWORD)))[0] == 401  # wrong user
        assert h.gate.failures.locked_until(SOURCE, h.clock[0]) is None
        assert (await get(h, "/0004f2a1b2c3.cfg", {"Authorization": "Basic !!notbase64"}))[0] == 401
        # three failures: locked out; the next request loses its connection unanswered
        assert h.gate.failures.locked_until(SOURCE, h.clock[0]) == 1900.0
        [lockout] = [e for e in h.gate.take_events() if e.kind == "lockout"]
        assert lockout.source == SOURCE and "provisioning: wrong installer credentials" in lockout.detail
        with pytest.raises(aiohttp.ClientConnectionError):
            await get(h, "/0004f2a1b2c3.cfg", RIGHT)  # even with the right password
        assert await h.devices.list() == []
        assert h.server.stats["auth_failures"] == 3 and h.server.stats["denied_requests"] == 1
        h.clock[0] += 901  # the lockout ends
        assert (await get(h, "/0004f2a1b2c3.cfg", RIGHT))[0] == 200

    run(tmp_path, body)


def test_no_credentials_or_digest_answers_are_prompts_not_failures(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        await h.installer.set(PASSWORD, ADMIN)
        digest = {"Authorization": 'Digest username="installer", realm="x", nonce="n", uri="/", response="r"'}
        for _ in range(5):
            assert (await get(h, "/0004f2a1b2c3.cfg"))[0] == 401
            assert (await get(h, "/0004f2a1b2c3.cfg", digest))[0] == 401
        assert h.gate.failures.locked_until(SOURCE, h.clock[0]) is None
        assert h.server.stats["auth_failures"] == 0

    run(tmp_path, body)


def test_a_device_an_administrator_disabled_stays_disabled(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        await h.installer.set(PASSWORD, ADMIN)
        await h.devices.learn("0004f2a1b2c3", "192.0.2.7", IdentitySource.INSTANCE, None)
        await h.devices.disable("0004f2a1b2c3", ADMIN)
        status, text, _ = await get(h, "/0004f2a1b2c3.cfg", RIGHT)
        assert status == 403 and "disabled by an administrator" in text
        assert not (await h.devices.get("0004f2a1b2c3")).enabled
        [refused] = await h.audit.recent(action_prefix="device.installer_refused")
        assert (refused.actor, refused.source) == ("installer", SOURCE)
        await h.devices.learn("0004f2a1b2c4", "192.0.2.8", IdentitySource.INSTANCE, None)  # only learned
        assert (await get(h, "/0004f2a1b2c4.cfg", RIGHT))[0] == 200
        assert (await h.devices.get("0004f2a1b2c4")).enabled

    run(tmp_path, body)


def test_a_blocked_source_loses_its_connection(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        await h.installer.set(PASSWORD, ADMIN)
        h.gate.set_netlists(NetblockSet(), NetblockSet([(ipaddress.ip_network("127.0.0.1/32"), "test")]))
        with pytest.raises(aiohttp.ClientConnectionError):
            await get(h, "/0004f2a1b2c3.cfg", RIGHT)
        assert await h.devices.list() == []

    run(tmp_path, body)


def test_basic_credentials() -> None:
    assert basic_credentials(None) is None
    assert basic_credentials("Digest username=x") is None
    assert basic_credentials("Basic " + base64.b64encode(b"installer:pa:ss").decode()) == ("installer", "pa:ss")
    assert basic_credentials("basic " + base64.b64encode("installer:pässwörd".encode()).decode()) == ("installer", "pässwörd")
    assert basic_credentials("Basic " + base64.b64encode(b"no-colon").decode()) == ("", "")
    assert basic_credentials("Basic " + base64.b64encode(b"\xff\xfe:x").decode()) == ("", "")
    assert basic_credentials("Basic ***") == ("", "")
