"""The node's source admission kept current: netlists in, security events out.

:class:`SecurityService` loads the allow and block lists into the
:class:`~voxgate.policy.admission.SourceGate` the listeners consult, swaps in
new sets when the store's change counter moves (a CLI or admin change, within
:data:`RELOAD_INTERVAL` seconds, or at once on SIGHUP), and writes the gate's
security events (lockouts, first drops of blocked sources) to the audit log.
Building a country-size set takes a while, so it is built in a worker thread
and never stalls the SIP listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from voxgate.aio import cancel_and_wait
from voxgate.policy.admission import SecurityEvent, SourceGate
from voxgate.services.audit import NODE, AuditLog
from voxgate.services.netlists import NetlistService, NetlistSnapshot
from voxgate.storage.engine import Store
from voxgate.storage.repos.audit import AuditRecord

log = logging.getLogger(__name__)

#: Seconds between checks of the netlists' change counter.
RELOAD_INTERVAL = 2.0
#: Seconds between writes of pending security events.
EVENT_INTERVAL = 1.0
#: The audit action of a lockout.
LOCKOUT_ACTION = "security.lockout"


class SecurityService:
    """Feeds a :class:`SourceGate` from the store and drains its events to the audit log."""

    def __init__(self, gate: SourceGate, store: Store) -> None:
        self.gate = gate
        self.netlists = NetlistService(store)
        self.audit = AuditLog(store)
        self.generation = -1
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Load the lists and the lockouts still running, then start the background tasks."""
        await self.reload(force=True)
        await self.restore_lockouts()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._reload_loop(), name="netlists-reload"),
            loop.create_task(self._event_loop(), name="security-events"),
        ]

    async def close(self) -> None:
        """Stop the tasks and write the events still pending."""
        await cancel_and_wait(self._tasks)
        await self.write_events()

    async def reload(self, *, force: bool = False) -> bool:
        """Swap in the lists if they changed (or ``force``); whether they were swapped."""
        if not force and await self.netlists.generation() == self.generation:
            return False
        snapshot = await self.netlists.snapshot()
        self._apply(snapshot)
        return True

    async def restore_lockouts(self) -> int:
        """Lock out again the sources whose lockout (an audit event) has not ended yet, so that
        restarting the node releases nobody; how many."""
        duration = self.gate.policy.lockout.lockout
        now_wall = time.time()
        since = datetime.fromtimestamp(now_wall - duration, UTC)
        events = await self.audit.recent(limit=self.gate.policy.lockout.max_locked,
                                         action_prefix=LOCKOUT_ACTION, since=since)  # fmt: skip
        offset = asyncio.get_running_loop().time() - now_wall
        restored = 0
        for event in reversed(events):  # oldest first: the gate keeps lockouts in end order
            if event.action == LOCKOUT_ACTION:
                self.gate.restore_lockout(event.target, event.at.timestamp() + duration + offset)
                restored += 1
        if restored:
            log.info("%d lockouts still running restored from the audit log", restored)
        return restored

    def _apply(self, snapshot: NetlistSnapshot) -> None:
        self.gate.set_netlists(snapshot.allow, snapshot.block)
        self.generation = snapshot.generation
        allow, block = self.gate.netlist_sizes
        log.info("netlists loaded: %d allowed and %d blocked netblocks", allow, block)

    def reload_soon(self) -> None:
        """Reload the lists now (SIGHUP), in the background; errors are logged."""
        task = asyncio.get_running_loop().create_task(self._reload_logged(force=True))
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    async def write_events(self) -> int:
        """Write the gate's pending security events; how many."""
        events = self.gate.take_events()
        if not events:
            return 0
        offset = time.time() - asyncio.get_running_loop().time()
        records = [_record(event, offset) for event in events]
        for event in events:
            if event.kind == "lockout":
                log.warning("locked out %s: %s", event.source, event.detail,
                            extra={"peer": event.source})  # fmt: skip
            else:
                log.info("dropping packets from %s: %s (%s)", event.source, event.kind,
                         event.detail, extra={"peer": event.source})  # fmt: skip
        await self.audit.record_many(records)
        return len(records)

    async def _reload_logged(self, *, force: bool) -> None:
        try:
            if force or await self.netlists.generation() != self.generation:
                snapshot = await self._snapshot_in_thread()
                self._apply(snapshot)
        except Exception:
            log.exception("reloading the netlists failed; the current ones stay")

    async def _snapshot_in_thread(self) -> NetlistSnapshot:
        # reading is async; building the sets (the slow part) happens in a thread
        records, generation = await self.netlists.repo.snapshot()
        return await asyncio.to_thread(self.netlists.build_snapshot, records, generation)

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_INTERVAL)
            await self._reload_logged(force=False)

    async def _event_loop(self) -> None:
        while True:
            await asyncio.sleep(EVENT_INTERVAL)
            try:
                await self.write_events()
            except Exception:
                log.exception("writing security events to the audit log failed")


def _record(event: SecurityEvent, offset: float) -> AuditRecord:
    at = datetime.fromtimestamp(event.at + offset, UTC)
    action = "security." + event.kind.replace(" ", "_")
    return AuditRecord(at, NODE.name, NODE.source, action, event.source, event.detail)
