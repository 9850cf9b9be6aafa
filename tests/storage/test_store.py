"""The store on SQLite and on a real PostgreSQL: migrations, repositories, the call control's
adapter, and UTC times on both."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from voxgate.pbx.callstate import CallRecord, Disposition
from voxgate.pbx.location import Binding
from voxgate.pbx.registrar import RegistrationEvent
from voxgate.pbx.service import Batch
from voxgate.pbx.store import SqlPbxStore
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.uri import parse_uri
from voxgate.storage.engine import Store
from voxgate.storage.repos.bindings import BindingRecord, BindingRepo, _row
from voxgate.storage.repos.cdr import CdrFilter, CdrRecord, CdrRepo
from voxgate.storage.repos.extensions import ExtensionRecord, ExtensionRepo
from voxgate.storage.repos.registration_events import RegistrationEventRecord, RegistrationEventRepo
from voxgate.storage.tables import Base, BindingRow

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
        assert await store.current_revision() == "0006"

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
        await pbx.close()  # the writer's own connection too

    run(store_url, body)


def test_pbx_store_batches_without_call_records_in_one_hop(store_url: str) -> None:
    """On SQLite a batch without call records is written by a thread of the store's own in one
    transaction (SqlPbxStore._write_in_thread): what it writes reads back through the
    repositories exactly as what the async engine writes."""

    async def body(store: Store) -> None:
        await store.upgrade()
        pbx = SqlPbxStore(store)
        later = T0 + timedelta(hours=1)
        bindings = [_binding(f"{300 + n}", "192.0.2.1", later + timedelta(seconds=n))
                    for n in range(120)]  # fmt: skip
        events = [RegistrationEvent(T0.timestamp() + n, f"{300 + n}", b.flow, f"{300 + n}", "MD5",
                                    "registered", None, None, "ua")
                  for n, b in enumerate(bindings)]  # fmt: skip
        await pbx.write(Batch(saved=bindings, events=events))
        assert (pbx._sync is not None) == (store.dialect == "sqlite")  # the one-hop path wrote
        await pbx.write(Batch(saved=[bindings[0]], removed=bindings[1:20]))
        loaded = {b.aor: b for b in await pbx.load_bindings()}
        assert sorted(loaded) == [b.aor for b in bindings[:1] + bindings[20:]]
        assert all(loaded[b.aor].expires_at == b.expires_at for b in bindings[20:])
        rows = await RegistrationEventRepo(store).recent(limit=500)
        assert [(r.extension, r.at) for r in rows] == [
            (f"{300 + n}", T0 + timedelta(seconds=n)) for n in reversed(range(120))]
        await pbx.close()

    run(store_url, body)


def test_a_failed_one_hop_batch_drops_its_connection_and_the_next_batch_is_written(
    tmp_path: Path,
) -> None:
    async def body(store: Store) -> None:
        await store.upgrade()
        pbx = SqlPbxStore(store)
        good = _binding("201", "192.0.2.1", T0 + timedelta(hours=1))
        await pbx.write(Batch(saved=[good]))
        first = pbx._sync
        event = RegistrationEvent(T0.timestamp(), "201", good.flow, "201", "MD5", "registered")
        database = tmp_path / "fail.db"
        with sqlite3.connect(database) as other:  # the events table gone: the batch fails
            other.execute("ALTER TABLE registration_events RENAME TO hidden")
        with pytest.raises(sqlite3.OperationalError, match="registration_events"):
            await pbx.write(Batch(saved=[_binding("202", "192.0.2.2", T0)], events=[event]))
        assert pbx._sync is None  # dropped, and its transaction with it
        with sqlite3.connect(database) as other:
            other.execute("ALTER TABLE hidden RENAME TO registration_events")
        await pbx.write(Batch(saved=[_binding("203", "192.0.2.3", T0 + timedelta(hours=1))],
                              events=[event]))  # fmt: skip
        assert pbx._sync is not None
        assert pbx._sync is not first
        assert sorted(b.aor for b in await pbx.load_bindings()) == ["201", "203"]
        assert len(await RegistrationEventRepo(store).recent()) == 1
        await pbx.close()

    run(f"sqlite+aiosqlite:///{tmp_path / 'fail.db'}", body)


def test_purge_expired_bindings(store_url: str) -> None:
    async def body(store: Store) -> None:
        pbx = SqlPbxStore(store)
        await pbx.write(Batch(saved=[_binding("201", "192.0.2.1", T0), _binding("202", "192.0.2.2", T0 + timedelta(days=1))]))
        assert await BindingRepo(store).purge_expired(T0 + timedelta(seconds=1)) == 1
        assert [b.aor for b in await pbx.load_bindings()] == ["202"]
        await pbx.close()

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
        await pbx.close()

    run(store_url, body)


def test_sqlite_is_durable_wal_with_foreign_keys(tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        async with store.engine.connect() as connection:
            values = [
                (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]
        assert values == ["wal", 2, 1, 10000]  # synchronous 2 = FULL

    run(f"sqlite+aiosqlite:///{tmp_path / 'v.db'}", body)


def test_the_migration_creates_exactly_the_models(store_url: str) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async def body(store: Store) -> None:
        async with store.engine.connect() as connection:
            assert await connection.run_sync(differences) == []

    run(store_url, body)


def _record(aor: str, contact: str, expires: datetime, **kw: object) -> BindingRecord:
    fields: dict[str, object] = {
        "aor": aor, "contact": contact, "instance": None, "reg_id": None, "expires_at": expires,
        "call_id": "cid", "cseq": 1, "q": None, "transport": "udp", "source_ip": "192.0.2.1",
        "source_port": 5060, "local": "127.0.0.1:5060", "user_agent": None, "registered_at": T0,
    }  # fmt: skip
    fields.update(kw)
    return BindingRecord(**fields)  # type: ignore[arg-type]


def test_binding_batches_of_deletes_only_or_nothing(store_url: str) -> None:
    async def body(store: Store) -> None:
        repo = BindingRepo(store)
        await repo.apply([], [])
        a = _record("201", "sip:201@192.0.2.1", T0 + timedelta(hours=1))
        b = _record("201", "sip:201@192.0.2.2", T0 + timedelta(hours=1), transport="tls")
        await repo.apply([a, b], [])
        await repo.apply([], [("201", "sip:201@192.0.2.2"), ("999", "sip:gone")])  # an unregister
        assert await repo.load_all() == [a]
        newer = _record("201", "sip:201@192.0.2.1", T0 + timedelta(hours=2), cseq=2)
        await repo.apply([a, newer], [("201", "sip:201@192.0.2.1")])  # the last change wins
        [loaded] = await repo.load_all()
        assert loaded == newer
        assert loaded.expires_at.tzinfo == UTC

    run(store_url, body)


def test_times_come_back_as_utc_whatever_zone_they_went_in(store_url: str) -> None:
    async def body(store: Store) -> None:
        cet = timezone(timedelta(hours=1))
        await BindingRepo(store).apply([_record("201", "sip:a", T0.astimezone(cet))], [])
        [loaded] = await BindingRepo(store).load_all()
        assert loaded.expires_at == T0
        assert loaded.expires_at.utcoffset() == timedelta(0)
        with pytest.raises(Exception, match="naive datetime"):
            await BindingRepo(store).apply([_record("202", "sip:b", datetime(2026, 1, 1))], [])

    run(store_url, body)


def test_sqlite_fast_upsert_stores_times_as_the_orm_does(tmp_path: Path) -> None:
    """BindingRepo.apply writes SQLite rows straight through the DB-API; the times must be the
    text SQLAlchemy's DateTime writes, or purges and range queries would compare wrongly."""

    async def body(store: Store) -> None:
        await store.upgrade()
        odd = T0 + timedelta(microseconds=7)
        await BindingRepo(store).apply([_record("201", "sip:fast", odd), _record("203", "sip:edge", T0)], [])
        async with store.sessions.begin() as session:
            session.add(BindingRow(**_row(_record("202", "sip:orm", odd))))
        async with store.engine.connect() as connection:
            rows = (await connection.execute(text(
                "SELECT aor, expires_at, registered_at FROM bindings ORDER BY aor"))).all()  # fmt: skip
        assert rows[0][1:] == rows[1][1:]  # fast path and ORM: the same text
        assert rows[0][1] == "2026-11-01 12:00:00.000007"
        assert rows[2][1] == "2026-11-01 12:00:00.000000"
        assert await BindingRepo(store).purge_expired(T0) == 1  # expires exactly then: gone
        assert [r.aor for r in await BindingRepo(store).load_all()] == ["201", "202"]

    run(f"sqlite+aiosqlite:///{tmp_path / 'v.db'}", body)


def _cdr(n: int, started: datetime) -> CdrRecord:
    return CdrRecord(f"c{n}", "201", "Alice", "202", started, None, started, 0.0, "busy", 486,
                     "Busy Here", "192.0.2.1:5060")  # fmt: skip


def test_cdr_iter_range_pages_through_ties_in_order(store_url: str) -> None:
    async def body(store: Store) -> None:
        repo = CdrRepo(store)
        await repo.add_many([])
        starts = [T0, T0, T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)]
        await repo.add_many([_cdr(n, s) for n, s in enumerate(starts)])
        paged = [r.call_id async for r in repo.iter_range(page=2)]
        assert paged == ["c0", "c1", "c2", "c3", "c4"]
        window = [r.call_id async for r in repo.iter_range(T0, T0 + timedelta(seconds=2), page=1)]
        assert window == ["c0", "c1", "c2", "c3"]
        assert [r.call_id async for r in repo.iter_range(since=T0 + timedelta(days=1))] == []

    run(store_url, body)


def test_extension_pages_and_a_taken_number_writes_nothing(store_url: str) -> None:
    async def body(store: Store) -> None:
        repo = ExtensionRepo(store)
        await repo.add([ext(str(n)) for n in range(200, 210)])
        assert [e.number for e in await repo.list(offset=3, limit=2)] == ["203", "204"]
        with pytest.raises(IntegrityError):
            await repo.add([ext("300"), ext("205")])
        assert await repo.get("300") is None
        assert await repo.generation() == 1
        await repo.write()  # nothing to do: no new generation
        await repo.write(replace=[ext("201", display_name="A", enabled=False),
                                  ext("202", ha1_md5="c" * 32)])  # fmt: skip
        assert await repo.generation() == 2
        a, b = await repo.get("201"), await repo.get("202")
        assert a is not None and b is not None
        assert (a.display_name, a.enabled, b.ha1_md5) == ("A", False, "c" * 32)

    run(store_url, body)


def test_registration_events_in_batches(store_url: str) -> None:
    async def body(store: Store) -> None:
        repo = RegistrationEventRepo(store)
        await repo.add_many([])
        events = [RegistrationEventRecord(T0 + timedelta(seconds=n), "201", "192.0.2.1", 5060 + n,
                                          "tls", None, "ua", "201", "SHA-256", outcome, reason)
                  for n, (outcome, reason) in enumerate([("refused", "wrong secret"),
                                                         ("registered", None)])]  # fmt: skip
        await repo.add_many(events)
        assert await repo.recent("201") == events[::-1]
        assert await repo.recent("202") == []

    run(store_url, body)


@pytest.mark.parametrize("size", [1, 5, 150, 499, 500, 501, 1234])
def test_big_batches_of_bindings_and_events_are_written_whole(store_url: str, size: int) -> None:
    """Every row of a batch arrives once, times and all, whatever the size; a refresh in the
    next batch updates."""

    async def body(store: Store) -> None:
        await store.upgrade()
        bindings, events = BindingRepo(store), RegistrationEventRepo(store)
        records = [BindingRecord(f"{1000 + n}", f"sip:{1000 + n}@192.0.2.1:{5060 + n}",
                                 None if n % 2 else f"<urn:uuid:{n}>", None if n % 3 else n,
                                 T0 + timedelta(seconds=n), f"call-{n}", n, 0.5 if n % 5 else None,
                                 "udp", "192.0.2.1", 5060 + n, "127.0.0.1:5060", f"ua {n}",
                                 T0 - timedelta(microseconds=n))
                   for n in range(size)]  # fmt: skip
        await bindings.apply(records, [])
        stored = {record.aor: record for record in await bindings.load_all()}
        assert stored == {record.aor: record for record in records}
        moved = [BindingRecord(**{**_row(r), "expires_at": r.expires_at + timedelta(hours=1)})
                 for r in records]  # type: ignore[arg-type]  # fmt: skip
        await bindings.apply(moved, [])
        assert {r.aor: r for r in await bindings.load_all()} == {r.aor: r for r in moved}
        logged = [RegistrationEventRecord(T0 + timedelta(milliseconds=n), "201", "192.0.2.1",
                                          n, "udp", None, "ua", "201", "MD5", "registered", None)
                  for n in range(size)]  # fmt: skip
        await events.add_many(logged)
        assert await events.recent("201", limit=2000) == logged[::-1]

    run(store_url, body)


def test_a_new_sqlite_database_is_private(tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        await store.upgrade()

    run(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", body)
    assert stat.S_IMODE((tmp_path / "p.db").stat().st_mode) == 0o600


@pytest.mark.parametrize("size", [3, 1000, 1001, 40_000])
def test_scopes_of_any_size_select_exactly_their_rows(store_url: str, size: int) -> None:
    """A group administrator's scope (voxgate.storage.among): beyond 1,000 names the values go
    as one JSON array, and 40,000 (more parameters than SQLite or asyncpg allow in a
    statement, twice over for call records) select exactly as a short list does."""

    async def body(store: Store) -> None:
        extensions = ExtensionRepo(store)
        await extensions.write(add=[ext(n) for n in ("201", "202", "203", "it's", "x\"y")])
        scope = {"202", "it's", "x\"y"} | {f"9{n:06d}" for n in range(size - 3)}
        assert [e.number for e in await extensions.list(numbers=scope)] == ["202", "it's", "x\"y"]
        assert await extensions.count(numbers=scope) == 3
        assert await extensions.list(numbers=scope - {"202", "it's", "x\"y"}) == []
        records = CdrRepo(store)
        await records.add_many([_cdr(1, T0), _cdr(2, T0)])
        other = CdrRecord("c3", "301", "", "302", T0, None, T0, 0.0, "busy", 486, "Busy", "x")
        await records.add_many([other])
        assert await records.count(CdrFilter(parties=scope)) == 2  # callee 202
        assert await records.count(CdrFilter(parties=scope | {"301"})) == 3
        found = [r.call_id async for r in records.iter_matching(CdrFilter(parties={"302"} | scope))]
        assert sorted(found) == ["c1", "c2", "c3"]

    run(store_url, body)
