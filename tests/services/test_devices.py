"""The device table on SQLite and PostgreSQL: hand edits with audit events, learning on first
contact (disabled, the source address as description, no reload when seen again), search and
paging, CSV import all-or-nothing with line numbers, export → import round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from voxgate.policy.devices import DeviceTable, IdentitySource
from voxgate.services.audit import Actor, AuditLog
from voxgate.services.devices import DeviceError, DeviceImportError, DeviceService
from voxgate.storage.engine import Store

ME = Actor("cli:tester")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def run(url: str, body: Callable[[DeviceService, AuditLog], Awaitable[None]]) -> None:
    async def main() -> None:
        store = await Store.open(url)
        try:
            await body(DeviceService(store), AuditLog(store))
        finally:
            await store.close()

    asyncio.run(main())


def test_add_enable_describe_delete_with_an_audit_event_each(store_url: str) -> None:
    async def body(service: DeviceService, audit: AuditLog) -> None:
        added = await service.add("00:04:F2:A1:B2:C3", ME, description="Reception")
        assert (added.mac, added.enabled, added.identity) == ("0004f2a1b2c3", False, "admin")
        with pytest.raises(DeviceError, match="00:04:f2:a1:b2:c3 exists already"):
            await service.add("0004.f2a1.b2c3", ME)
        with pytest.raises(DeviceError, match="not a MAC address"):
            await service.add("00:04:f2:a1:b2", ME)
        with pytest.raises(DeviceError, match="too long"):
            await service.add("0004f2a1b2c4", ME, description="x" * 129)
        assert (await service.enable("0004F2A1B2C3", ME)).enabled
        assert not (await service.disable("00-04-f2-a1-b2-c3", ME)).enabled
        assert (await service.set_description("0004f2a1b2c3", "Desk 2", ME)).description == "Desk 2"
        await service.delete("0004f2a1b2c3", ME)
        with pytest.raises(DeviceError, match="no device 00:04:f2:a1:b2:c3"):
            await service.enable("0004f2a1b2c3", ME)
        actions = [e.action for e in await audit.recent()]
        assert actions == ["device.delete", "device.set", "device.disable", "device.enable", "device.add"]
        assert await service.generation() == 5

    run(store_url, body)


def test_learn_creates_a_disabled_device_described_by_its_address_once(store_url: str) -> None:
    async def body(service: DeviceService, audit: AuditLog) -> None:
        created = await service.learn("0004f2a1b2c3", "192.0.2.7", IdentitySource.INSTANCE, "Phone/1.0", now=T0)
        assert created
        device = await service.get("0004f2a1b2c3")
        assert (device.enabled, device.description, device.identity) == (False, "192.0.2.7", "instance")
        assert (device.last_source, device.first_seen_at, device.last_seen_at) == ("192.0.2.7", T0, T0)
        [event] = await audit.recent()
        assert (event.action, event.actor, event.target) == ("device.learned", "node", "00:04:f2:a1:b2:c3")
        assert "192.0.2.7" in event.detail and "disabled" in event.detail
        generation = await service.generation()
        later = T0 + timedelta(minutes=5)
        again = await service.learn("0004f2a1b2c3", "198.51.100.9", IdentitySource.INSTANCE, "Phone/1.1", now=later)
        assert not again
        assert await service.generation() == generation  # nodes need not reload
        assert len(await audit.recent()) == 1
        seen = await service.get("0004f2a1b2c3")
        assert (seen.last_source, seen.user_agent, seen.last_seen_at) == ("198.51.100.9", "Phone/1.1", later)
        assert (seen.first_seen_at, seen.description, seen.enabled) == (T0, "192.0.2.7", False)
        table = DeviceTable(*await service.snapshot())
        assert table.admission("0004f2a1b2c3").value == "disabled"
        assert table.generation == generation

    run(store_url, body)


def test_a_device_added_by_hand_keeps_its_settings_when_first_seen(store_url: str) -> None:
    async def body(service: DeviceService, audit: AuditLog) -> None:
        await service.add("0004f2a1b2c3", ME, description="Alice", enabled=True)
        assert not await service.learn("0004f2a1b2c3", "2001:db8::7", IdentitySource.CERTIFICATE, None, now=T0)
        device = await service.get("0004f2a1b2c3")
        assert (device.enabled, device.description, device.identity) == (True, "Alice", "admin")
        assert (device.first_seen_at, device.last_source) == (T0, "2001:db8::7")
        installer = await service.learn("0004f2a1b2c4", "192.0.2.8", IdentitySource.USER_AGENT, None, enabled=True)
        assert installer
        assert (await service.get("0004f2a1b2c4")).enabled
        assert "installer password" in (await audit.recent())[0].detail
        with pytest.raises(DeviceError, match="not an IP address"):
            await service.learn("0004f2a1b2c5", "192.0.2", IdentitySource.INSTANCE, None)

    run(store_url, body)


def test_search_disabled_only_and_paging(store_url: str) -> None:
    async def body(service: DeviceService, audit: AuditLog) -> None:
        del audit
        for i in range(12):
            await service.add(f"0004f2a1b2{i:02x}", ME, description=f"Room {i}", enabled=i % 2 == 0)
        assert await service.count() == 12
        assert [d.mac for d in await service.list(limit=5, offset=10)] == ["0004f2a1b20a", "0004f2a1b20b"]
        assert {d.description for d in await service.list(search="room 1")} == {"Room 1", "Room 10", "Room 11"}
        assert [d.mac for d in await service.list(search="B2:0B")] == ["0004f2a1b20b"]
        disabled = await service.list(disabled_only=True)
        assert len(disabled) == 6 and not any(d.enabled for d in disabled)
        assert await service.count(search="room 1", disabled_only=True) == 2
        assert await service.list(search="100%") == []

    run(store_url, body)


def test_import_of_500_devices_then_export_round_trip(store_url: str) -> None:
    rows = [f"00:04:f2:00:{i // 256:02x}:{i % 256:02x},Phone {i},{'true' if i % 3 else 'false'}" for i in range(500)]
    text = "mac,description,enabled\n" + "\n".join(rows) + "\n"

    async def body(service: DeviceService, audit: AuditLog) -> None:
        report = await service.import_csv(text, ME)
        assert (report.added, report.updated) == (500, 0)
        assert await service.count() == 500
        assert await service.count(disabled_only=True) == 167
        assert await service.generation() == 1  # one transaction
        [event] = await audit.recent()
        assert (event.action, event.detail) == ("device.import", "500 added, 0 changed")
        exported = await service.export_csv()
        assert exported.splitlines()[0].startswith("mac,description,enabled,identity")
        assert "00:04:f2:00:01:f3,Phone 499,true,admin" in exported
        with pytest.raises(DeviceImportError) as refused:
            await service.import_csv(exported, ME)
        assert len(refused.value.problems) == 500
        assert "line 2: device 00:04:f2:00:00:00 exists already" in refused.value.problems[0]
        changed = await service.import_csv("mac,enabled\n00:04:f2:00:00:00,yes\n", ME, update=True)
        assert (changed.added, changed.updated) == (0, 1)
        device = await service.get("0004f2000000")
        assert (device.enabled, device.description) == (True, "Phone 0")  # description kept

    run(store_url, body)


def test_a_file_with_bad_rows_names_each_line_and_imports_nothing(store_url: str) -> None:
    text = "\ufeffmac,description,enabled\n" + "\n".join([
        "00:04:f2:a1:b2:c1,Good,true",      # line 2
        "00:04:f2:a1:b2,Short MAC,true",    # line 3: bad MAC
        "0004f2a1b2c1,Same again,false",    # line 4: duplicate of line 2
        "00:04:f2:a1:b2:c5,Bad flag,maybe",  # line 5: bad enabled
        f"00:04:f2:a1:b2:c6,{'d' * 129},",  # line 6: description too long
        "00:04:f2:a1:b2:c7,Two,fields,more",  # line 7: wrong field count
        "01:00:5e:00:00:01,Multicast,true",  # line 8: not a device MAC
        "00:04:f2:a1:b2:c9,Existing,true",  # line 9: exists already
    ]) + "\n"

    async def body(service: DeviceService, audit: AuditLog) -> None:
        await service.add("0004f2a1b2c9", ME)
        generation = await service.generation()
        with pytest.raises(DeviceImportError) as refused:
            await service.import_csv(text, ME)
        problems = refused.value.problems
        assert [p.split(":", 1)[0] for p in problems] == [f"line {n}" for n in range(3, 10)]
        assert "not a MAC address" in problems[0]
        assert "already on line 2" in problems[1]
        assert "'maybe' is not true or false" in problems[2]
        assert "description is too long" in problems[3]
        assert "4 fields, the header has 3" in problems[4]
        assert "multicast" in problems[5]
        assert "exists already" in problems[6]
        assert str(refused.value).startswith("7 bad row(s), nothing imported:")
        assert await service.count() == 1
        assert await service.generation() == generation
        assert [e.action for e in await audit.recent()] == ["device.add"]

    run(store_url, body)


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty file"),
    ("description,enabled\nx,true\n", r"needs column\(s\) mac"),
    ("mac,colour\n0004f2a1b2c3,red\n", r"unknown column\(s\) colour"),
])
def test_bad_headers(store_url: str, text: str, why: str) -> None:
    async def body(service: DeviceService, audit: AuditLog) -> None:
        del audit
        with pytest.raises(DeviceImportError, match=why):
            await service.import_csv(text, ME)

    run(store_url, body)


def test_seen_many_notes_known_devices_in_one_go_and_names_them(store_url: str) -> None:
    async def body(service: DeviceService, audit: AuditLog) -> None:
        del audit
        await service.add("0004f2a1b2c3", Actor("cli:t"))
        await service.add("0004f2a1b2c4", Actor("cli:t"))
        generation = await service.generation()
        when = datetime(2026, 12, 2, 1, 2, 3, tzinfo=UTC)
        known = await service.repo.seen_many([
            ("0004f2a1b2c3", "203.0.113.7", "Phone A", when),
            ("0004f2a1b2c4", "203.0.113.8", None, when),
            ("0004f2a1b2c5", "203.0.113.9", "unknown", when),
        ])  # fmt: skip
        assert known == {"0004f2a1b2c3", "0004f2a1b2c4"}
        first = await service.get("0004f2a1b2c3")
        assert (first.last_source, first.user_agent, first.last_seen_at) == ("203.0.113.7", "Phone A", when)
        assert first.first_seen_at == when
        assert await service.generation() == generation  # nodes need not reload for sightings
        with pytest.raises(DeviceError):
            await service.get("0004f2a1b2c5")  # unknown ones are left to learn()

    run(store_url, body)
