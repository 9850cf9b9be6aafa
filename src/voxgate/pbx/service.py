"""The call control's asyncio side: snapshots in, durable writes out.

- :class:`GroupCommitWriter` batches binding changes, registration events and
  call records into one transaction and runs each item's deferred answer after
  the commit (DESIGN.md: hot paths never wait on a database round trip *per
  message*; one commit carries every change made while the previous one ran).
- :class:`PbxService` loads the extensions and the persisted bindings at
  start, rebuilds the extension snapshot when the store's change counter
  moves, and purges expired bindings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from voxgate.aio import cancel_and_wait
from voxgate.pbx.callstate import CallRecord, Phase
from voxgate.pbx.core import PbxCore
from voxgate.pbx.directory import Directory, Extension
from voxgate.pbx.location import Binding
from voxgate.pbx.registrar import RegistrationEvent
from voxgate.services.livecalls import LiveCall, wall
from voxgate.sip.flow import format_address

log = logging.getLogger(__name__)

#: How the dashboard names a call's phase.
_STATES: Final = {Phase.RINGING: "ringing", Phase.ANSWERED: "answered",
                  Phase.CONFIRMED: "connected", Phase.ENDED: "ended"}

#: Seconds between checks of the extensions' change counter.
RELOAD_INTERVAL = 2.0
#: Seconds between purges of expired bindings.
PURGE_INTERVAL = 30.0
#: A commit slower than this (seconds) is logged: the answers it holds back are late.
SLOW_COMMIT = 0.2
#: Seconds before a failed commit is tried again.
RETRY_DELAY = 1.0
#: Shortest time (seconds) from the start of one commit to the start of the next.  A commit
#: has a fixed cost that dwarfs each row's (the commit lock, the transaction and its WAL
#: write, the hops to the database thread and back, and with ``pbx.workers`` the message to
#: the main process), and back-to-back commits under load carry only a few rows each.
#: Waiting until this much time has passed lets more changes share one commit: 3,000
#: REGISTER/s with two processes took 40 % instead of 51-52 % of the two cores, for 5 ms more
#: per answer that waits (docs/benchmarks.md).  After a quiet spell a commit starts at once.
COMMIT_INTERVAL = 0.01


@dataclass(slots=True)
class Batch:
    """Everything one commit writes."""

    saved: list[Binding] = field(default_factory=list)
    removed: list[Binding] = field(default_factory=list)
    events: list[RegistrationEvent] = field(default_factory=list)
    records: list[CallRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.saved or self.removed or self.events or self.records)


class PbxStore(Protocol):
    """What the call control needs from the store."""

    async def load_extensions(self) -> tuple[list[Extension], int]:
        """Every extension and the change counter they were read at."""
        ...

    async def extensions_generation(self) -> int:
        """The change counter of the extensions."""
        ...

    async def load_bindings(self) -> list[Binding]:
        """Every persisted binding."""
        ...

    async def write(self, batch: Batch) -> None:
        """Write ``batch`` in one transaction."""
        ...

    async def purge_expired(self, now: float) -> int:
        """Delete bindings expired at wall-clock ``now``; how many."""
        ...


class GroupCommitWriter:
    """One writer task; callers never wait, their answers go out after the commit.

    A commit starts when there is something to write and :data:`COMMIT_INTERVAL` has passed
    since the previous one started; whatever arrives until then shares it.

    Binding changes are kept by row key (AOR, contact) until the commit: the last change of
    a key wins, so a registration and its removal in one batch write the removal, and a
    binding refreshed twice is written once.
    """

    def __init__(
        self,
        store: PbxStore,
        done: Callable[[list[Callable[[float], None]]], None],
        interval: float = COMMIT_INTERVAL,
    ) -> None:
        self._store = store
        self._done = done
        self._interval = interval
        self._batch = Batch()  # events and records; bindings are in _changes until the flush
        self._changes: dict[tuple[str, str], tuple[Binding, bool]] = {}  # key → (b, saved?)
        self._then: list[Callable[[float], None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0

    def bindings(
        self,
        saved: list[Binding],
        removed: list[Binding],
        event: RegistrationEvent | None,
        then: Callable[[float], None] | None,
    ) -> None:
        """The PBX core's ``BindingSink``."""
        changes = self._changes
        for binding in removed:
            changes[binding.aor, binding.contact] = (binding, False)
        for binding in saved:  # after the removals: a key in both was written last
            changes[binding.aor, binding.contact] = (binding, True)
        if event is not None:
            self._batch.events.append(event)
        if then is not None:
            self._then.append(then)
        self._wake.set()

    def record(self, record: CallRecord, then: Callable[[float], None]) -> None:
        """The PBX core's ``RecordSink``."""
        self._batch.records.append(record)
        self._then.append(then)
        self._wake.set()

    def removed(self, bindings: Sequence[Binding]) -> None:
        """Deletes with nobody waiting (purged expired bindings)."""
        if bindings:
            for binding in bindings:
                self._changes[binding.aor, binding.contact] = (binding, False)
            self._wake.set()

    def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="pbx-writer")

    async def close(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._batch or self._changes:
            await self._flush()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        started = float("-inf")
        while True:
            await self._wake.wait()
            pause = started + self._interval - loop.time()
            if pause > 0:  # what arrives meanwhile rides on this commit
                await asyncio.sleep(pause)
            self._wake.clear()
            started = loop.time()
            await self._flush()

    async def _flush(self) -> None:
        batch, self._batch = self._batch, Batch()
        changes, self._changes = self._changes, {}
        batch.saved = [binding for binding, saved in changes.values() if saved]
        batch.removed = [binding for binding, saved in changes.values() if not saved]
        then, self._then = self._then, []
        while True:
            try:
                if batch:
                    started = time.monotonic()
                    await self._store.write(batch)
                    self.commits += 1
                    took = time.monotonic() - started
                    if took > SLOW_COMMIT:
                        log.warning("slow commit: %.0f ms for %d binding changes, %d events, "
                                    "%d records (answers wait for it)", took * 1000,
                                    len(batch.saved) + len(batch.removed), len(batch.events),
                                    len(batch.records))  # fmt: skip
                break
            except asyncio.CancelledError:
                self._requeue(batch, then)
                raise
            except Exception:
                log.exception("writing %d binding changes, %d records failed; retrying",
                              len(batch.saved) + len(batch.removed),
                              len(batch.records))  # fmt: skip
                await asyncio.sleep(RETRY_DELAY)
        if then:
            self._done(then)

    def _requeue(self, batch: Batch, then: list[Callable[[float], None]]) -> None:
        older = {(b.aor, b.contact): (b, False) for b in batch.removed}
        older.update({(b.aor, b.contact): (b, True) for b in batch.saved})
        self._changes = {**older, **self._changes}  # what came since is newer
        self._batch.events[:0] = batch.events
        self._batch.records[:0] = batch.records
        self._then[:0] = then


class PbxService:
    """Keeps a :class:`PbxCore` fed from the store and its writes going to it."""

    def __init__(self, core: PbxCore, store: PbxStore, pump: Callable[[], None]) -> None:
        self.core = core
        self.store = store
        self._pump = pump
        self.writer = GroupCommitWriter(store, self._answer)
        core.persist = self.writer.bindings
        core.calls.records = self.writer.record
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Load the extensions and bindings, then start the background tasks."""
        loop = asyncio.get_running_loop()
        self.core.wall_offset = time.time() - loop.time()
        extensions, generation = await self.store.load_extensions()
        self.core.set_directory(Directory(extensions, generation))
        now = time.time()
        restored = self.core.location.restore(await self.store.load_bindings(), now)
        expired = await self.store.purge_expired(now)  # those that lapsed while we were down
        log.info("call control: %d extensions, %d bindings restored, %d expired ones removed",
                 len(extensions), restored, expired)  # fmt: skip
        self.writer.start()
        self._tasks = [
            loop.create_task(self._reload_loop(), name="pbx-reload"),
            loop.create_task(self._purge_loop(), name="pbx-purge"),
        ]

    async def close(self) -> None:
        """Stop the background tasks; write what is queued."""
        await cancel_and_wait(self._tasks)
        await self.writer.close()

    def live_calls(self) -> list[LiveCall]:
        """The calls between extensions under way, for the dashboard."""
        shown: list[LiveCall] = []
        for call in self.core.calls.calls.values():
            if call.phase is Phase.ENDED:
                continue
            shown.append(LiveCall(
                "call control", call.caller, call.callee, _STATES[call.phase],
                wall(call.started_wall),
                None if call.answered_wall is None else wall(call.answered_wall),
                format_address(call.a_flow.remote),
            ))  # fmt: skip
        return shown

    def _answer(self, then: list[Callable[[float], None]]) -> None:
        now = asyncio.get_running_loop().time()
        for answer in then:
            try:
                self.core.deferred(answer, now)
            except Exception:
                log.exception("sending a deferred answer failed")
        self._pump()

    async def reload(self, *, force: bool = False) -> bool:
        """Rebuild the extension snapshot if it changed (or ``force``); whether it did."""
        generation = await self.store.extensions_generation()
        if generation == self.core.registrar.directory.generation and not force:
            return False
        extensions, generation = await self.store.load_extensions()
        self.core.set_directory(Directory(extensions, generation))
        log.info("extensions reloaded: %d", len(extensions))
        return True

    def reload_soon(self) -> None:
        """Reload the extensions now (SIGHUP), in the background; errors are logged."""
        task = asyncio.get_running_loop().create_task(self._reload_logged(force=True))
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    async def _reload_logged(self, *, force: bool) -> None:
        try:
            await self.reload(force=force)
        except Exception:
            log.exception("reloading the extensions failed")

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_INTERVAL)
            await self._reload_logged(force=False)

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL)
            # follow the wall clock (NTP steps) that bindings and records are kept in
            self.core.wall_offset = time.time() - asyncio.get_running_loop().time()
            self.writer.removed(self.core.purge(time.time()))
