"""The call control's store adapter: extensions, bindings, registration events and call
records in the database, behind :class:`~voxgate.pbx.service.PbxStore`."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from voxgate.pbx.callstate import CallRecord
from voxgate.pbx.directory import Extension
from voxgate.pbx.location import Binding
from voxgate.pbx.registrar import RegistrationEvent
from voxgate.pbx.service import Batch
from voxgate.sip.errors import ParseError
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.uri import parse_uri
from voxgate.storage.engine import SQLITE_PRAGMAS, Store
from voxgate.storage.repos.bindings import SQLITE_DELETE, SQLITE_UPSERT, BindingRecord, BindingRepo
from voxgate.storage.repos.bindings import sqlite_rows as sqlite_binding_rows
from voxgate.storage.repos.cdr import CdrRecord, CdrRepo
from voxgate.storage.repos.extensions import ExtensionRepo
from voxgate.storage.repos.registration_events import SQLITE_INSERT as SQLITE_EVENT_INSERT
from voxgate.storage.repos.registration_events import (
    RegistrationEventRecord,
    RegistrationEventRepo,
)
from voxgate.storage.repos.registration_events import sqlite_rows as sqlite_event_rows


async def open_pbx_store(url: str) -> SqlPbxStore:
    """Open the database at ``url``, migrate it, and wrap it for the call control (close the
    wrapper, then its ``store``)."""
    store = await Store.open(url)
    await store.upgrade()
    return SqlPbxStore(store)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class SqlPbxStore:
    """:class:`~voxgate.pbx.service.PbxStore` on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, store: Store, commit_lock: Path | None = None) -> None:
        self.store = store
        #: With several processes writing one SQLite file (``pbx.workers``): a lock file whose
        #: ``flock`` each writer holds for its whole commit.  SQLite's own busy handler waits
        #: by sleeping 1, 2, 5, 10 … 100 ms between tries, which made commits of 2-3 ms take
        #: 200-350 ms under load; a waiter on ``flock`` wakes the moment the lock is free.
        self._commit_lock = commit_lock
        self._lock_fd: int | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="pbx-sqlite")
        self._sync: sqlite3.Connection | None = None
        self.extensions = ExtensionRepo(store)
        self.bindings = BindingRepo(store)
        self.events = RegistrationEventRepo(store)
        self.cdr = CdrRepo(store)
        self._writer: AsyncConnection | None = None

    async def close(self) -> None:
        """Close the connections, thread and lock file of its own; the :class:`Store` it was
        given stays open (whoever opened it closes it)."""
        await self._close_writer()
        sync, self._sync = self._sync, None
        if sync is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, sync.close)
        self._thread.shutdown(wait=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.close()

    async def load_extensions(self) -> tuple[list[Extension], int]:
        """Every extension, as the call control's snapshot entries."""
        generation = await self.extensions.generation()
        rows = await self.extensions.snapshot()
        extensions = [
            Extension(
                number=row.number,
                display_name=row.display_name,
                ha1={"MD5": row.ha1_md5, "SHA-256": row.ha1_sha256},
                enabled=row.enabled,
                max_contacts=row.max_contacts,
            )
            for row in rows
        ]
        return extensions, generation

    async def extensions_generation(self) -> int:
        """The extensions' change counter."""
        return await self.extensions.generation()

    async def load_bindings(self) -> list[Binding]:
        """Every persisted binding (rows that no longer parse are skipped)."""
        out: list[Binding] = []
        for row in await self.bindings.load_all():
            try:
                uri = parse_uri(row.contact)
                transport = Transport(row.transport.upper())
            except (ParseError, ValueError):
                continue
            flow = Flow(transport, _address(row.local), (row.source_ip, row.source_port))
            out.append(Binding(
                aor=row.aor, contact=row.contact, uri=uri,
                expires_at=row.expires_at.timestamp(), call_id=row.call_id, cseq=row.cseq,
                flow=flow, registered_at=row.registered_at.timestamp(), q=row.q,
                instance=row.instance, reg_id=row.reg_id, user_agent=row.user_agent,
            ))  # fmt: skip
        return out

    async def purge_expired(self, now: float) -> int:
        """Delete bindings expired at wall-clock ``now``."""
        return await self.bindings.purge_expired(_utc(now))

    async def write(self, batch: Batch) -> None:
        """One transaction per batch: bindings, events, call records.

        The writer keeps one connection of its own: no pool checkout and no reset on return
        per batch.  Each round trip to the database costs a turn of the event loop (and with
        SQLite, a hand-over of the GIL to its thread), which under load is most of a commit's
        latency, so a batch of refreshes takes two: the upsert and the commit.  A failed
        batch drops the connection; the next one opens a new one.  On SQLite a batch without
        call records takes one hop instead (:meth:`_write_in_thread`).
        """
        if self.store.dialect == "sqlite" and not batch.records:
            # one hop to a thread of our own for the whole batch (see _write_in_thread)
            saved = sqlite_binding_rows([_binding_row(b) for b in batch.saved])
            removed = [(b.aor, b.contact) for b in batch.removed]
            events = sqlite_event_rows([_event_row(e) for e in batch.events])
            await asyncio.get_running_loop().run_in_executor(
                self._thread, self._write_in_thread, saved, removed, events
            )
            return
        if self._writer is None:
            self._writer = await self.store.engine.connect()
        locked = await self._lock()
        try:
            async with self._writer.begin():
                await self._write(batch, self._writer)
        except BaseException:
            await self._close_writer()
            raise
        finally:
            if locked is not None:
                fcntl.flock(locked, fcntl.LOCK_UN)

    def _write_in_thread(self, saved: list[tuple[object, ...]], removed: list[tuple[str, str]],
                         events: list[tuple[object, ...]]) -> None:  # fmt: skip
        """Bindings and events in one transaction on a DB-API connection of this thread.

        Through the async engine a commit is a dozen hops between the event loop and the
        database thread (begin, each statement, commit), and under load each hop waits for a
        turn of the loop: commits took 200-500 ms while datagrams queued.  Here the loop
        hands over the rows once and waits for one answer."""
        connection = self._sync
        if connection is None:
            database = self.store.engine.url.database
            connection = sqlite3.connect(database or ":memory:", isolation_level=None,
                                         check_same_thread=False)  # fmt: skip
            for pragma in SQLITE_PRAGMAS:
                connection.execute(f"PRAGMA {pragma}")
            self._sync = connection
        fd = self._lock_blocking()
        try:
            connection.execute("BEGIN IMMEDIATE")
            if removed:
                connection.executemany(SQLITE_DELETE, list(dict.fromkeys(removed)))
            if saved:
                connection.executemany(SQLITE_UPSERT, saved)
            if events:
                connection.executemany(SQLITE_EVENT_INSERT, events)
            connection.execute("COMMIT")
        except BaseException:
            # as the async path: a failed batch drops the connection (closing it rolls back
            # what is open), and the next one opens a new one
            self._sync = None
            with contextlib.suppress(sqlite3.Error):
                connection.close()
            raise
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _lock_file(self, path: Path) -> int:
        if self._lock_fd is None:
            self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._lock_fd

    def _lock_blocking(self) -> int | None:
        """Take the commit lock, waiting (the writer's thread); its fd."""
        if self._commit_lock is None:
            return None
        fd = self._lock_file(self._commit_lock)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    async def _lock(self) -> int | None:
        """Take the commit lock (in a thread: another process may hold it); its fd."""
        if self._commit_lock is None:
            return None
        fd = self._lock_file(self._commit_lock)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        return fd

    async def _write(self, batch: Batch, connection: AsyncConnection) -> None:
        if batch.saved or batch.removed:
            await self.bindings.apply(
                [_binding_row(b) for b in batch.saved],
                [(b.aor, b.contact) for b in batch.removed],
                session=connection,
            )
        if batch.events:
            await self.events.add_many([_event_row(e) for e in batch.events], session=connection)
        if batch.records:
            await self.cdr.add_many([_cdr_row(r) for r in batch.records], session=connection)


def _binding_row(b: Binding) -> BindingRecord:
    host, port = b.flow.local
    local = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return BindingRecord(
        aor=b.aor, contact=b.contact, instance=b.instance, reg_id=b.reg_id,
        expires_at=_utc(b.expires_at), call_id=b.call_id, cseq=b.cseq, q=b.q,
        transport=b.flow.transport.value.lower(), source_ip=b.flow.remote[0],
        source_port=b.flow.remote[1], local=local, user_agent=b.user_agent,
        registered_at=_utc(b.registered_at),
    )  # fmt: skip


def _event_row(e: RegistrationEvent) -> RegistrationEventRecord:
    return RegistrationEventRecord(
        at=_utc(e.at), extension=e.extension, source_ip=e.flow.remote[0],
        source_port=e.flow.remote[1], transport=e.flow.transport.value.lower(),
        instance=e.instance, user_agent=e.user_agent, credential=e.credential,
        algorithm=e.algorithm, outcome=e.outcome, reason=e.reason,
    )  # fmt: skip


def _cdr_row(r: CallRecord) -> CdrRecord:
    return CdrRecord(
        call_id=r.call_id, caller=r.caller, caller_name=r.caller_name, callee=r.callee,
        started_at=_utc(r.started_at),
        answered_at=None if r.answered_at is None else _utc(r.answered_at),
        ended_at=_utc(r.ended_at), duration=r.duration, disposition=r.disposition.value,
        status=r.status, reason=r.reason, caller_source=r.caller_source,
        callee_call_id=r.b_call_id,
    )  # fmt: skip
