"""The store on SQLite and on a real PostgreSQL: migrations, repositories, the call control's
adapter, and UTC times on both."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from voxgate.pbx.calls import CallRecord, Disposition
from voxgate.pbx.location import Binding
from voxgate.pbx.registrar import RegistrationEvent
from voxgate.pbx.service import Batch
from voxgate.pbx.store import SqlPbxStore
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.uri import parse_uri
from voxgate.storage.engine import Store
from voxgate.storage.repos.bindings import BindingRepo
from voxgate.storage.repos.cdr import CdrRepo
from voxgate.storage.repos.extensions import ExtensionRecord, ExtensionRepo
from voxgate.storage.repos.registration_events import RegistrationEventRepo

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def run(url: str, body: Callable[[Store], Awaitable[None]]) -> None:
    async def main() -> None:
        store = await Store.open(url)
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def ext(number: str, **kw: object) -> ExtensionRecord:
    fields: dict[str, object] = {
        "number": number, "display_name": f"Ext {number}", "realm": "voxgate", "ha1_md5": "a" * 32,
        "ha1_sha256": "b" * 64, "enabled": True, "max_contacts": None, "created_at": T0,
        "updated_at": T0,
    }  # fmt: skip
    fields.update(kw)
    return ExtensionRecord(**fields)  # type: ignore[arg-type]


def test_migrations_are_idempotent_and_at_head(store_url: str) -> None:
    async def body(store: Store) -> None:
        await store.upgrade()
        assert await store.current_revision() == "0001"

    run(store_url, body)


def test_extensions_and_the_change_counter(store_url: str) -> None:
    async def body(store: Store) -> None:
        repo = ExtensionRepo(store)
        assert await repo.generation() == 0
        await repo.write(add=[ext("201"), ext("202")])
        assert await repo.generation() == 1
        assert [e.number for e in await repo.snapshot()] == ["201", "202"]
        assert await repo.update("201", display_name="Alice", enabled=False)
        assert await repo.generation() == 2
        alice = await repo.get("201")
        assert alice is not None
        assert (alice.display_name, alice.enabled) == ("Alice", False)
        assert alice.created_at == T0
        assert alice.created_at.tzinfo is not None
        assert not await repo.update("999", enabled=False)
        assert await repo.delete("202")
        assert not await repo.delete("202")
        assert await repo.generation() == 3
        assert await repo.existing(["201", "202", "203"]) == {"201"}

    run(store_url, body)


def _binding(aor: str, host: str, expires: datetime, transport: Transport = Transport.UDP) -> Binding:
    contact = f"sip:{aor}@{host}:5060"
    flow = Flow(transport, ("127.0.0.1", 5061), (host, 40000), 7 if transport.reliable else None)
    return Binding(aor, contact, parse_uri(contact), expires.timestamp(), "cid", 2, flow,
                   T0.timestamp(), q=0.5, instance="<urn:uuid:1>", reg_id=1, user_agent="ua")  # fmt: skip


def test_pbx_store_round_trips_bindings_events_and_records(store_url: str) -> None:
    async def body(store: Store) -> None:
        pbx = SqlPbxStore(store)
        later = T0 + timedelta(hours=1)
        first = _binding("201", "192.0.2.1", later, Transport.TLS)
        second = _binding("201", "192.0.2.2", later)
        event = RegistrationEvent(T0.timestamp(), "201", first.flow, "201", "MD5", "registered",
                                  None, "<urn:uuid:1>", "ua")  # fmt: skip
        record = CallRecord("c1", "201", "Alice", "202", T0.timestamp(), T0.timestamp() + 2,
                            T0.timestamp() + 62, Disposition.ANSWERED, 200, "caller hung up",
                            "192.0.2.1:40000")  # fmt: skip
        await pbx.write(Batch(saved=[first, second], events=[event], records=[record]))
        # a refresh of the same contact replaces its row; a removal deletes it
        refreshed = _binding("201", "192.0.2.1", later + timedelta(hours=1), Transport.TLS)
        await pbx.write(Batch(saved=[refreshed], removed=[second]))
        [loaded] = await pbx.load_bindings()
        assert (loaded.aor, loaded.contact, loaded.instance, loaded.reg_id, loaded.q) == (
            "201", "sip:201@192.0.2.1:5060", "<urn:uuid:1>", 1, 0.5)
        assert loaded.expires_at == refreshed.expires_at
        assert loaded.flow == Flow(Transport.TLS, ("127.0.0.1", 5061), ("192.0.2.1", 40000))
        [row] = await RegistrationEventRepo(store).recent()
        assert (row.extension, row.source_ip, row.transport, row.credential, row.outcome) == (
            "201", "192.0.2.1", "tls", "201", "registered")
        assert row.at == T0
        [cdr] = await CdrRepo(store).in_range()
        assert (cdr.caller, cdr.callee, cdr.disposition, cdr.duration) == ("201", "202", "answered", 60.0)
        assert cdr.answered_at == T0 + timedelta(seconds=2)
        assert await CdrRepo(store).in_range(since=T0 + timedelta(seconds=1)) == []

    run(store_url, body)


def test_purge_expired_bindings(store_url: str) -> None:
    async def body(store: Store) -> None:
        pbx = SqlPbxStore(store)
        await pbx.write(Batch(saved=[_binding("201", "192.0.2.1", T0), _binding("202", "192.0.2.2", T0 + timedelta(days=1))]))
        assert await BindingRepo(store).purge_expired(T0 + timedelta(seconds=1)) == 1
        assert [b.aor for b in await pbx.load_bindings()] == ["202"]

    run(store_url, body)


def test_a_failed_batch_writes_nothing(store_url: str) -> None:
    async def body(store: Store) -> None:
        pbx = SqlPbxStore(store)
        good = _binding("201", "192.0.2.1", T0)
        bad_record = CallRecord("c", "201", "x" * 65, "202", 0.0, None, 0.0, Disposition.BUSY, 486, "",
                                "y" * 500)  # fmt: skip
        try:
            await pbx.write(Batch(saved=[good], records=[bad_record]))
        except Exception:
            assert await pbx.load_bindings() == []
        else:  # SQLite does not enforce VARCHAR lengths: both rows are in
            assert len(await pbx.load_bindings()) == 1

    run(store_url, body)
