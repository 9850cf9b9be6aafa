"""Accounts of the web administration on SQLite and PostgreSQL: strength feedback, argon2
hashes, authentication (the same answer for unknown, wrong and disabled), password changes,
expiry, grants, the last system administrator, and an audit event for every change."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from voxgate.services.admins import (
    AdminError,
    AdminService,
    RefusedChangeError,
    UnknownAccountError,
    WeakPasswordError,
)
from voxgate.services.audit import Actor, AuditLog
from voxgate.storage.engine import Store
from voxgate.storage.repos.admins import AdminGrantRecord

ME = Actor("cli:tester")
GOOD = "Vq8-mRt4-Lp2x-Adm"
OTHER = "Zk3-wNp7-Hs9d-Adm"


def run(url: str, body: Callable[[AdminService, AuditLog], Awaitable[None]]) -> None:
    async def main() -> None:
        store = await Store.open(url)
        try:
            await body(AdminService(store), AuditLog(store))
        finally:
            await store.close()

    asyncio.run(main())


def test_weak_passwords_are_refused_with_clear_feedback(store_url: str) -> None:
    async def body(service: AdminService, audit: AuditLog) -> None:
        with pytest.raises(WeakPasswordError, match="too short: use at least 10 characters") as info:
            await service.add("alice", "s3cret", "system", ME)
        assert "--generate-password" in str(info.value) and "--generate" not in info.value.feedback
        with pytest.raises(WeakPasswordError, match="password is too weak"):
            await service.add("alice", "password123", "system", ME)
        with pytest.raises(WeakPasswordError, match="too weak"):
            await service.add("alice", "alice12345", "system", ME)  # the user name is known
        with pytest.raises(AdminError, match="bad user name"):
            await service.add("-alice", GOOD, "system", ME)
        with pytest.raises(AdminError, match="unknown role"):
            await service.add("alice", GOOD, "root", ME)
        assert await service.accounts() == []
        assert await audit.recent() == []

    run(store_url, body)


def test_add_authenticate_change_password_and_audit(store_url: str) -> None:
    async def body(service: AdminService, audit: AuditLog) -> None:
        account = await service.add("alice", GOOD, "system", ME, must_change=True)
        assert (account.role, account.must_change, account.enabled) == ("system", True, True)
        stored = await service.repo.get("alice")
        assert stored is not None and stored.password_hash.startswith("$argon2id$")
        assert GOOD not in stored.password_hash
        with pytest.raises(AdminError, match="exists"):
            await service.add("alice", OTHER, "user", ME)
        assert await service.authenticate("alice", "wrong-password", "192.0.2.7") is None
        assert await service.authenticate("nobody", GOOD, "192.0.2.7") is None
        ok = await service.authenticate("alice", GOOD, "192.0.2.7")
        assert ok is not None and ok.username == "alice"
        assert (await service.get("alice")).last_login_from == "192.0.2.7"
        with pytest.raises(AdminError, match="current password is wrong"):
            await service.change_own_password("alice", OTHER, OTHER, "192.0.2.7")
        with pytest.raises(AdminError, match="must differ"):
            await service.change_own_password("alice", GOOD, GOOD, "192.0.2.7")
        await service.change_own_password("alice", GOOD, OTHER, "192.0.2.7")
        assert not (await service.get("alice")).must_change
        assert await service.authenticate("alice", GOOD, "192.0.2.7") is None
        assert await service.authenticate("alice", OTHER, "192.0.2.7") is not None
        events = [(e.actor, e.source, e.action, e.target) for e in await audit.recent()]
        assert events[-1] == ("cli:tester", "local", "admin.add", "alice")
        assert ("admin:alice", "192.0.2.7", "admin.password", "alice") in events

    run(store_url, body)


def test_disabled_accounts_do_not_log_in_and_the_last_system_admin_stays(store_url: str) -> None:
    async def body(service: AdminService, audit: AuditLog) -> None:
        await service.add("root", GOOD, "system", ME)
        for change in ({"enabled": False}, {"role": "group"}):
            with pytest.raises(AdminError, match="last enabled system administrator"):
                await service.change("root", ME, **change)  # type: ignore[arg-type]
        with pytest.raises(AdminError, match="last enabled system administrator"):
            await service.delete("root", ME)
        await service.add("bob", OTHER, "group", ME)
        await service.delete("bob", ME)
        await service.add("carol", OTHER, "system", ME)
        await service.change("root", ME, enabled=False)
        assert await service.authenticate("root", GOOD, "192.0.2.1") is None  # disabled
        with pytest.raises(AdminError, match="last enabled system administrator"):
            await service.delete("carol", ME)
        await service.delete("root", ME)  # disabled: not counted
        with pytest.raises(AdminError, match="no account 'root'"):
            await service.delete("root", ME)
        assert [a.username for a in await service.accounts()] == ["carol"]
        actions = [e.action for e in await audit.recent(action_prefix="admin.")]
        assert actions == ["admin.delete", "admin.change", "admin.add", "admin.delete", "admin.add",
                           "admin.add"]

    run(store_url, body)


def test_grants_and_expiry(store_url: str) -> None:
    async def body(service: AdminService, audit: AuditLog) -> None:
        await service.add("gina", GOOD, "group", ME, max_age_days=30)
        assert await service.grant("gina", "form", "devices", "write", ME)
        assert not await service.grant("gina", "form", "devices", "write", ME)
        assert await service.grant("gina", "device", "00:04:F2:A1:B2:C3", "read", ME)
        assert await service.grant("gina", "extension", "201", "write", ME)
        with pytest.raises(AdminError, match="unknown form"):
            await service.grant("gina", "form", "shell", "write", ME)
        assert await service.grants("gina") == [
            AdminGrantRecord("device", "0004f2a1b2c3", "read"),
            AdminGrantRecord("extension", "201", "write"),
            AdminGrantRecord("form", "devices", "write"),
        ]
        assert await service.revoke("gina", "extension", "201", ME)
        assert not await service.revoke("gina", "extension", "201", ME)
        account = await service.get("gina")
        now = datetime.now(UTC)
        assert not account.must_change_now(now, 0)
        assert account.must_change_now(now + timedelta(days=31), 0)  # its own limit
        await service.change("gina", ME, max_age_days=None)
        account = await service.get("gina")
        assert not account.must_change_now(now + timedelta(days=31), 0)  # the default: never
        assert account.must_change_now(now + timedelta(days=31), 30)
        details = [e.detail for e in await audit.recent(action_prefix="admin.grant")]
        assert details == ["extension 201: write", "device 00:04:f2:a1:b2:c3: read", "form devices: write"]
        await service.add("root", OTHER, "system", ME)
        await service.delete("gina", ME)  # its grants go with it
        assert await service.repo.grants("gina") == []

    run(store_url, body)


def test_the_first_admin_is_made_once(store_url: str) -> None:
    async def body(service: AdminService, audit: AuditLog) -> None:
        password = await service.create_first_admin(ME)
        assert password is not None and len(password) == 20
        admin = await service.get("admin")
        assert (admin.role, admin.must_change) == ("system", True)
        assert await service.create_first_admin(ME) is None
        assert await service.authenticate("admin", password, "127.0.0.1") is not None
        assert password not in str(await audit.recent())

    run(store_url, body)


def test_own_account_system_forms_and_the_sessions_hook(store_url: str) -> None:
    async def body(service: AdminService, audit: AuditLog) -> None:
        ended: list[str] = []
        service.on_access_change = ended.append
        await service.add("root", GOOD, "system", ME)
        await service.add("carol", OTHER, "system", ME)
        await service.add("gina", GOOD, "group", ME)
        me = Actor("admin:carol", "192.0.2.9")
        for change in ({"enabled": False}, {"role": "group"}):
            with pytest.raises(RefusedChangeError, match="your own account"):
                await service.change("carol", me, **change)  # type: ignore[arg-type]
        with pytest.raises(RefusedChangeError, match="cannot delete your own account"):
            await service.delete("carol", me)
        with pytest.raises(RefusedChangeError, match="password page"):
            await service.set_password("carol", OTHER + "x", me)
        await service.change("carol", me, max_age_days=90)  # its own password limit: fine
        await service.change("carol", me, enabled=True, role="system")  # no change: fine
        assert ended == []
        with pytest.raises(UnknownAccountError):
            await service.change("nobody", me, enabled=False)

        await service.add("dave", GOOD, "group", ME)
        await service.change("gina", me, role="user")
        await service.change("dave", me, enabled=False)
        await service.set_password("gina", OTHER + "y", me)
        await service.delete("dave", me)
        assert ended == ["gina", "dave", "gina", "dave"]

        with pytest.raises(AdminError, match="not a MAC address"):
            await service.grant("gina", "device", "zz", "read", ME)
        for form in ("admins", "tls"):
            with pytest.raises(AdminError, match=f"the {form} form is for system administrators"):
                await service.grant("gina", "form", form, "read", ME)
        await service.repo.put_grant("gina", AdminGrantRecord("form", "admins", "write"))  # old
        assert await service.revoke("gina", "form", "admins", me)  # still removable
        assert await service.grants("gina") == []
        actions = [e.action for e in await audit.recent(action_prefix="admin.")]
        assert actions[:3] == ["admin.revoke", "admin.delete", "admin.password"]

    run(store_url, body)
