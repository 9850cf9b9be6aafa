"""The installer password on SQLite and PostgreSQL: a slow salted hash only, set/clear with
audit events, strength rules, and which devices the right password may enable (unknown ones
and ones the edge only learned, never one an administrator has touched)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from voxgate.policy.devices import IdentitySource
from voxgate.services.audit import Actor, AuditLog
from voxgate.services.devices import DeviceService
from voxgate.services.installer import (
    DeviceOutcome,
    InstallerError,
    InstallerService,
    check_password,
    hash_password,
)
from voxgate.storage.engine import Store
from voxgate.storage.repos.installer import InstallerRepo

ME = Actor("cli:tester")
GOOD = "Tq7-vLp2-Wz9k-Inst"


def run(url: str, body: Callable[[InstallerService, DeviceService, AuditLog], Awaitable[None]]) -> None:
    async def main() -> None:
        store = await Store.open(url)
        try:
            await body(InstallerService(store), DeviceService(store), AuditLog(store))
        finally:
            await store.close()

    asyncio.run(main())


def test_the_hash_is_salted_scrypt_and_checks_only_the_password() -> None:
    stored = hash_password(GOOD)
    scheme, log_n, r, p, salt, digest = stored.split("$")
    assert (scheme, log_n, r, p) == ("scrypt", "15", "8", "1")
    assert len(salt) == 24 and len(digest) == 44  # 16 and 32 bytes, base64
    assert GOOD not in stored
    assert hash_password(GOOD) != stored  # a new salt each time
    assert check_password(GOOD, stored)
    assert not check_password(GOOD + "x", stored)
    assert not check_password("", stored)
    for broken in ("", "scrypt$15$8$1$!!$!!", "md5$" + stored[7:], "scrypt$40$8$1$AAAA$AAAA",
                   stored.rsplit("$", 1)[0]):  # fmt: skip
        assert not check_password(GOOD, broken)


def test_set_show_clear_with_audit_events_and_no_password_in_the_database(store_url: str) -> None:
    async def body(installer: InstallerService, devices: DeviceService, audit: AuditLog) -> None:
        del devices
        assert await installer.status() is None
        assert not await installer.verify(GOOD)
        with pytest.raises(InstallerError, match=r"too short.*--generate-password"):
            await installer.set("short", ME)
        with pytest.raises(InstallerError, match="too weak"):
            await installer.set("installer1234", ME)
        await installer.set(GOOD, ME)
        status = await installer.status()
        assert status is not None and status.set_by == "cli:tester"
        record = await InstallerRepo(installer.repo.store).get()
        assert record is not None and record.hash.startswith("scrypt$") and GOOD not in record.hash
        assert await installer.verify(GOOD)
        assert await installer.verify(GOOD)  # remembered: no second scrypt, same answer
        assert not await installer.verify(GOOD.lower())
        generated = await installer.generate(ME)
        assert len(generated) == 20
        assert not await installer.verify(GOOD)  # the remembered one was for the old hash
        assert await installer.verify(generated)
        assert await installer.clear(ME)
        assert not await installer.verify(generated)
        assert not await installer.clear(ME)
        events = [(e.action, e.actor, e.detail) for e in await audit.recent()]
        assert events == [
            ("installer.clear", "cli:tester", ""),
            ("installer.set", "cli:tester", "replaced the previous one"),
            ("installer.set", "cli:tester", ""),
        ]
        assert not any(GOOD in e.detail or generated in e.detail for e in await audit.recent())

    run(store_url, body)


def test_which_devices_the_installer_may_enable(store_url: str) -> None:
    async def body(installer: InstallerService, devices: DeviceService, audit: AuditLog) -> None:
        # unknown: added, enabled, learned from provisioning
        assert await installer.enable_device("00:04:F2:A1:B2:C3", "192.0.2.7", "Phone/1") is DeviceOutcome.CREATED
        new = await devices.get("0004f2a1b2c3")
        assert (new.enabled, new.identity, new.last_source) == (True, "provisioning", "192.0.2.7")
        # enabled already: nothing changes, no audit event
        before = len(await audit.recent())
        assert await installer.enable_device("0004f2a1b2c3", "192.0.2.8", None) is DeviceOutcome.ALREADY_ENABLED
        assert len(await audit.recent()) == before
        # learned by the edge (disabled) and untouched: enabled
        await devices.learn("0004f2a1b2c4", "192.0.2.9", IdentitySource.INSTANCE, "Phone/1")
        generation = await devices.generation()
        assert await installer.enable_device("0004f2a1b2c4", "192.0.2.9", None) is DeviceOutcome.ENABLED
        assert (await devices.get("0004f2a1b2c4")).enabled
        assert await devices.generation() == generation + 1  # running edges reload
        # an administrator's devices are never enabled by the installer
        await devices.add("0004f2a1b2c5", ME)  # added by hand, disabled
        await devices.learn("0004f2a1b2c6", "192.0.2.10", IdentitySource.USER_AGENT, None)
        await devices.disable("0004f2a1b2c6", ME)  # learned, then disabled explicitly
        await devices.learn("0004f2a1b2c7", "192.0.2.11", IdentitySource.CERTIFICATE, None)
        await devices.set_description("0004f2a1b2c7", "looked at", ME)  # touched by an admin
        await devices.learn("0004f2a1b2c8", "192.0.2.12", IdentitySource.INSTANCE, None)
        await devices.enable("0004f2a1b2c8", ME)
        await devices.disable("0004f2a1b2c8", ME)  # enabled once, disabled again
        for mac in ("0004f2a1b2c5", "0004f2a1b2c6", "0004f2a1b2c7", "0004f2a1b2c8"):
            assert await installer.enable_device(mac, "198.51.100.1", None) is DeviceOutcome.REFUSED, mac
            assert not (await devices.get(mac)).enabled, mac
        rows = [(e.action, e.actor, e.source, e.target, e.detail) for e in await audit.recent(limit=200)
                if e.actor == "installer"]  # fmt: skip
        assert rows[-2:] == [  # newest first: the two enables came before the refusals
            ("device.enabled_by_installer", "installer", "192.0.2.9", "00:04:f2:a1:b2:c4",
             "learned instance device, from 192.0.2.9"),
            ("device.enabled_by_installer", "installer", "192.0.2.7", "00:04:f2:a1:b2:c3",
             "new device, from 192.0.2.7"),
        ]
        refused = [r for r in rows if r[0] == "device.installer_refused"]
        assert len(refused) == 4 and all(r[2] == "198.51.100.1" for r in refused)
        learned = [e for e in await audit.recent(limit=200, action_prefix="device.learned")
                   if e.target == "00:04:f2:a1:b2:c3"]  # fmt: skip
        assert len(learned) == 1 and "by provisioning, enabled by the installer password" in learned[0].detail

    run(store_url, body)
