"""SIP users on SQLite and PostgreSQL: two credential levels (HA1 only for the device password,
the upstream secret encrypted at rest), strong-password and different-secret rules, the one-step
flow for an extension of the embedded call control, CSV import all-or-nothing, export with and
without secrets, and the edge's snapshot."""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from voxgate.services.audit import Actor, AuditLog
from voxgate.services.extensions import ExtensionService
from voxgate.services.sipusers import SipUserError, SipUserImportError, SipUserService
from voxgate.sip.digest import ha1
from voxgate.storage.engine import Store

ME = Actor("cli:tester")
DEVICE_PW = "Tq7-vLp2-Wz9k"
UPSTREAM = "Up-Stream-8xKq4"
KEY = secrets.token_bytes(32)


def run(url: str, body: Callable[[SipUserService, AuditLog], Awaitable[None]], key: bytes = KEY) -> None:
    async def main() -> None:
        store = await Store.open(url)
        try:
            await body(SipUserService(store, "voxgate", key), AuditLog(store))
        finally:
            await store.close()

    asyncio.run(main())


def database_files(url: str) -> list[Path]:
    return list(Path(url.split(":///", 1)[1]).parent.iterdir())


def test_add_keeps_ha1_and_an_encrypted_upstream_secret(store_url: str) -> None:
    async def body(service: SipUserService, audit: AuditLog) -> None:
        added = await service.add("alice", ME, extension="201", password=DEVICE_PW, upstream_secret=UPSTREAM,
                                  device_mac="00:04:f2:a1:b2:c3")
        assert (added.password, added.upstream_secret) == (None, None)  # given, not generated
        record = added.record
        assert record.ha1_md5 == ha1("MD5", "alice", "voxgate", DEVICE_PW)
        assert record.ha1_sha256 == ha1("SHA-256", "alice", "voxgate", DEVICE_PW)
        assert (record.upstream_username, record.device_mac) == ("201", "0004f2a1b2c3")
        assert UPSTREAM not in record.upstream_secret
        assert service.unseal(record) == UPSTREAM
        [entry], generation = await service.snapshot()
        assert (entry.username, entry.extension, entry.upstream_secret, entry.enabled) == ("alice", "201", UPSTREAM, True)
        assert generation == await service.generation() == 1
        [event] = await audit.recent()
        assert (event.action, event.target) == ("sipuser.add", "alice")
        assert DEVICE_PW not in event.detail and UPSTREAM not in event.detail
        with pytest.raises(SipUserError, match="alice exists already"):
            await service.add("alice", ME, extension="202", upstream_secret=UPSTREAM)

    run(store_url, body)
    if store_url.startswith("sqlite"):  # neither secret in the file, nor in a write-ahead log
        for path in database_files(store_url):
            data = path.read_bytes()
            assert DEVICE_PW.encode() not in data
            assert UPSTREAM.encode() not in data


def test_generated_secrets_are_returned_once_and_differ(store_url: str) -> None:
    async def body(service: SipUserService, audit: AuditLog) -> None:
        del audit
        added = await service.add("bob", ME, extension="202")
        assert added.password is not None and added.upstream_secret is not None
        assert added.password != added.upstream_secret
        assert added.record.ha1_md5 == ha1("MD5", "bob", "voxgate", added.password)
        assert service.unseal(added.record) == added.upstream_secret

    run(store_url, body)


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"password": "qwertyuiop"}, "password is too weak"),
    ({"password": "short"}, "password is too short"),
    ({"password": DEVICE_PW, "upstream_secret": DEVICE_PW}, "must differ from the device"),
    ({"password": DEVICE_PW, "upstream_secret": "has space"}, "bad upstream secret"),
    ({"device_mac": "zz"}, "not a MAC address"),
    ({"extension": "2x1"}, "2 to 15 digits"),
    ({"upstream_username": 'a"b'}, "bad upstream username"),
])
def test_refusals(store_url: str, kwargs: dict[str, str], why: str) -> None:
    async def body(service: SipUserService, audit: AuditLog) -> None:
        del audit
        arguments = {"extension": "201", **kwargs}
        with pytest.raises(SipUserError, match=why):
            await service.add("carol", ME, **arguments)  # type: ignore[arg-type]
        with pytest.raises(SipUserError, match="bad username"):
            await service.add("carol smith", ME, extension="201")
        assert await service.list() == []

    run(store_url, body)


def test_change_each_credential_without_making_them_equal(store_url: str) -> None:
    async def body(service: SipUserService, audit: AuditLog) -> None:
        await service.add("alice", ME, extension="201", password=DEVICE_PW, upstream_secret=UPSTREAM)
        with pytest.raises(SipUserError, match="must differ"):
            await service.change("alice", ME, upstream_secret=DEVICE_PW)  # checked against the HA1
        with pytest.raises(SipUserError, match="must differ"):
            await service.change("alice", ME, password=UPSTREAM)  # checked against the stored secret
        with pytest.raises(SipUserError, match="too weak"):
            await service.change("alice", ME, password="password123")
        changed = await service.change("alice", ME, password="New-Device-Pw-77", upstream_secret="New-Up-Secret-88",
                                       extension="205", device_mac="0004f2a1b2c3", enabled=False)
        assert changed.ha1_md5 == ha1("MD5", "alice", "voxgate", "New-Device-Pw-77")
        assert service.unseal(changed) == "New-Up-Secret-88"
        assert (changed.extension, changed.upstream_username, changed.device_mac, changed.enabled) == (
            "205", "201", "0004f2a1b2c3", False)
        unbound = await service.change("alice", ME, device_mac=None)
        assert unbound.device_mac is None
        assert "New-Device-Pw-77" not in (await audit.recent())[1].detail
        await service.delete("alice", ME)
        with pytest.raises(SipUserError, match="no SIP user 'alice'"):
            await service.delete("alice", ME)
        assert [e.action for e in await audit.recent()] == ["sipuser.delete", "sipuser.set", "sipuser.set", "sipuser.add"]

    run(store_url, body)


def test_a_secret_sealed_with_another_key_does_not_decrypt(store_url: str) -> None:
    async def first(service: SipUserService, audit: AuditLog) -> None:
        del audit
        await service.add("alice", ME, extension="201", password=DEVICE_PW, upstream_secret=UPSTREAM)

    async def other_key(service: SipUserService, audit: AuditLog) -> None:
        del audit
        [entry], _ = await service.snapshot()
        assert entry.upstream_secret is None  # the edge skips it, the others still load
        with pytest.raises(SipUserError, match="does not decrypt"):
            await service.export_csv(ME, include_secrets=True)

    run(store_url, first)
    run(store_url, other_key, key=secrets.token_bytes(32))


def test_one_step_for_an_extension_of_the_embedded_call_control(store_url: str) -> None:
    async def body(service: SipUserService, audit: AuditLog) -> None:
        extensions = service.extensions
        await extensions.add("201", "Old-Extension-Secret-1", display_name="Alice")
        before = await extensions.get("201")
        added = await service.add_embedded("alice", ME, extension="201", device_mac="0004f2a1b2c3")
        assert added.password is not None and added.upstream_secret is None  # the level-2 secret is never shown
        [entry], _ = await service.snapshot()
        level2 = entry.upstream_secret
        assert level2 is not None and level2 != added.password
        after = await extensions.get("201")
        assert after.ha1_md5 != before.ha1_md5
        assert after.ha1_md5 == ha1("MD5", "201", "voxgate", level2)
        assert after.ha1_sha256 == ha1("SHA-256", "201", "voxgate", level2)
        assert entry.ha1_md5 == ha1("MD5", "alice", "voxgate", added.password)
        assert (entry.upstream_username, entry.device_mac) == ("201", "0004f2a1b2c3")
        # a second remote user of the same extension: a new level-2 secret for both
        second = await service.add_embedded("alice-soft", ME, extension="201")
        entries = {e.username: e for e, in zip((await service.snapshot())[0], strict=True)}
        assert entries["alice"].upstream_secret == entries["alice-soft"].upstream_secret != level2
        assert (await extensions.get("201")).ha1_md5 == ha1("MD5", "201", "voxgate", entries["alice"].upstream_secret or "")
        assert second.password != added.password
        event = (await audit.recent())[0]
        assert "also for alice" in event.detail
        with pytest.raises(SipUserError, match="no extension 299"):
            await service.add_embedded("nobody", ME, extension="299")
        with pytest.raises(SipUserError, match="alice exists already"):
            await service.add_embedded("alice", ME, extension="201")
        assert (await extensions.get("201")).ha1_md5 == ha1("MD5", "201", "voxgate", entries["alice"].upstream_secret or "")

    run(store_url, body)


def test_one_step_creating_the_extension(store_url: str) -> None:
    async def body(service: SipUserService, audit: AuditLog) -> None:
        del audit
        added = await service.add_embedded("301", ME, extension="301", create_extension=True, display_name="Carol")
        extension = await service.extensions.get("301")
        [entry], _ = await service.snapshot()
        assert extension.display_name == "Carol"
        assert extension.ha1_md5 == ha1("MD5", "301", "voxgate", entry.upstream_secret or "")
        assert entry.ha1_md5 == ha1("MD5", "301", "voxgate", added.password or "")
        with pytest.raises(SipUserError, match="extension 301 exists already"):
            await service.add_embedded("carol2", ME, extension="301", create_extension=True)
        await service.add("taken", ME, extension="302", password=DEVICE_PW, upstream_secret=UPSTREAM)
        with pytest.raises(SipUserError, match="taken exists already"):
            await service.add_embedded("taken", ME, extension="302", create_extension=True)
        assert [e.number for e in await service.extensions.all()] == ["301"]  # nothing left behind

    run(store_url, body)


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_import_export_round_trip_with_and_without_secrets(store_url: str) -> None:
    lines = [f"u{i},Pw-{i:03d}-Kx8vQ2z,{200 + i},,Up-{i:03d}-Lm4pR7t,,{'false' if i == 3 else ''}" for i in range(50)]
    text = "username,password,extension,upstream_username,upstream_secret,device_mac,enabled\n" + "\n".join(lines)

    async def body(service: SipUserService, audit: AuditLog) -> None:
        report = await service.import_csv(text, ME)
        assert (report.added, report.updated) == (50, 0)
        assert await service.generation() == 1
        u3 = await service.get("u3")
        assert (u3.enabled, u3.upstream_username, service.unseal(u3)) == (False, "203", "Up-003-Lm4pR7t")
        plain_text = await service.export_csv(ME)
        plain = rows(plain_text)
        assert {r["upstream_secret"] for r in plain} == {""}
        assert plain[0]["ha1_md5"] == ha1("MD5", "u0", "voxgate", "Pw-000-Kx8vQ2z")
        full = await service.export_csv(ME, include_secrets=True)
        assert rows(full)[0]["upstream_secret"] == "Up-000-Lm4pR7t"
        assert "Pw-000-Kx8vQ2z" not in full  # a device password is never exported
        exports = await audit.recent(action_prefix="sipuser.export")
        assert [(e.actor, e.target, e.detail) for e in reversed(exports)] == [
            ("cli:tester", "50 SIP user(s)", "with HA1 values"),
            ("cli:tester", "50 SIP user(s)", "with HA1 values and the upstream secrets in clear"),
        ]
        # without secrets: updates existing users (their secrets kept), cannot create
        assert (await service.import_csv(plain_text, ME, update=True)).updated == 50
        assert service.unseal(await service.get("u0")) == "Up-000-Lm4pR7t"
        for user in ("u1", "u2"):
            await service.delete(user, ME)
        with pytest.raises(SipUserImportError, match=r"^2 bad row\(s\).*\nline 3: no upstream_secret"):
            await service.import_csv(plain_text, ME, update=True)
        report = await service.import_csv(full, ME, update=True)
        assert (report.added, report.updated) == (2, 48)
        assert service.unseal(await service.get("u1")) == "Up-001-Lm4pR7t"
        assert [e.action for e in await audit.recent(limit=1)] == ["sipuser.import"]

    run(store_url, body)


def test_a_bad_file_names_every_line_and_imports_nothing(store_url: str) -> None:
    text = "\n".join([
        "username,password,extension,upstream_username,upstream_secret,device_mac,enabled",
        f"good,{DEVICE_PW},201,,{UPSTREAM},,true",            # 2: good
        f"weak,password123,202,,{UPSTREAM},,",                # 3: weak password
        f"same,{DEVICE_PW},203,,{DEVICE_PW},,",               # 4: level 2 == level 1
        f"good,{DEVICE_PW},204,,{UPSTREAM},,",                # 5: duplicate
        f"mac,{DEVICE_PW},205,,{UPSTREAM},00:11,",            # 6: bad MAC
        f"flag,{DEVICE_PW},206,,{UPSTREAM},,perhaps",         # 7: bad enabled
        f"nopw,,207,,{UPSTREAM},,",                           # 8: no password for a new user
        f"exists,{DEVICE_PW},208,,{UPSTREAM},,",              # 9: exists already
        f"bad user,{DEVICE_PW},209,,{UPSTREAM},,",            # 10: bad username
    ]) + "\n"

    async def body(service: SipUserService, audit: AuditLog) -> None:
        await service.add("exists", ME, extension="208")
        generation = await service.generation()
        with pytest.raises(SipUserImportError) as refused:
            await service.import_csv(text, ME)
        problems = refused.value.problems
        assert [p.split(":", 1)[0] for p in problems] == [f"line {n}" for n in range(3, 11)]
        for problem, why in zip(problems, ["too weak", "must differ", "already on line 2", "not a MAC",
                                           "'perhaps' is not true or false", "no password",
                                           "exists already", "bad username"], strict=True):
            assert why in problem, problem
        assert [u.username for u in await service.list()] == ["exists"]
        assert await service.generation() == generation
        assert len(await audit.recent()) == 1

    run(store_url, body)


def test_ha1_rows_of_another_realm_are_refused(store_url: str) -> None:
    text = f"username,extension,upstream_secret,realm,ha1_md5,ha1_sha256\nx1,201,{UPSTREAM},other,{'a' * 32},{'b' * 64}\n"

    async def body(service: SipUserService, audit: AuditLog) -> None:
        del audit
        with pytest.raises(SipUserImportError, match="line 2: realm 'other' is not this edge's realm"):
            await service.import_csv(text, ME)

    run(store_url, body)


def test_extension_service_is_the_one_of_the_pbx_realm(store_url: str) -> None:
    async def main() -> None:
        store = await Store.open(store_url)
        try:
            service = SipUserService(store, "edge.example", KEY, pbx_realm="pbx.example")
            await ExtensionService(store, "pbx.example").add("201", "Old-Extension-Secret-1")
            added = await service.add_embedded("alice", ME, extension="201")
            [entry], _ = await service.snapshot()
            assert entry.realm == "edge.example"
            assert entry.ha1_md5 == ha1("MD5", "alice", "edge.example", added.password or "")
            assert (await service.extensions.get("201")).ha1_md5 == ha1(
                "MD5", "201", "pbx.example", entry.upstream_secret or "")
        finally:
            await store.close()

    asyncio.run(main())


def test_search_count_and_an_import_refused_by_the_caller(store_url: str) -> None:
    text = (f"username,password,extension,upstream_secret\nalice,{DEVICE_PW},201,{UPSTREAM}\n"
            f"bob,{DEVICE_PW},301,{UPSTREAM}\ncarol,{DEVICE_PW},202,{UPSTREAM}\n")

    def mine(extension: str) -> str | None:
        return None if extension.startswith("2") else f"extension {extension} is not yours"

    async def body(service: SipUserService, audit: AuditLog) -> None:
        del audit
        with pytest.raises(SipUserImportError) as refused:
            await service.import_csv(text, ME, refuse=mine)
        assert refused.value.problems == ["line 3: extension 301 is not yours"]
        assert await service.count() == 0
        assert (await service.import_csv(text, ME)).added == 3
        assert await service.count(search="20") == 2
        assert [u.username for u in await service.list(search="B")] == ["bob"]
        # an existing user of an extension out of reach cannot be moved into reach
        moved = "username,extension\nbob,202\n"
        with pytest.raises(SipUserImportError, match="line 2: extension 301 is not yours"):
            await service.import_csv(moved, ME, update=True, refuse=mine)
        assert (await service.get("bob")).extension == "301"
        exported = rows(await service.export_csv(ME, records=await service.list(search="alice")))
        assert [r["username"] for r in exported] == ["alice"]

    run(store_url, body)


def test_an_import_reports_its_progress(store_url: str) -> None:
    text = "username,password,extension,upstream_secret\n" + "".join(
        f"u{i},{DEVICE_PW},{200 + i},{UPSTREAM}\n" for i in range(600))
    reports: list[tuple[str, int, int]] = []

    async def body(service: SipUserService, audit: AuditLog) -> None:
        del audit
        assert (await service.import_csv(text, ME, progress=lambda *r: reports.append(r))).added == 600
        assert reports == [("checking", 500, 602), ("writing", 0, 600), ("writing", 600, 600)]

    run(store_url, body)
