"""The edge's asyncio side: SIP users and the device table in, learned devices out.

:class:`EdgeService` loads the snapshots the registration relay reads (SIP
users with their level-2 secrets, the device table), swaps in new ones when
the store's change counters move (CLI or admin changes, within
:data:`RELOAD_INTERVAL` seconds, at once on SIGHUP), writes devices seen by
the relay (an unknown device becomes a disabled row with its address as
description) off the SIP path, and purges expired device bindings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from voxgate.aio import cancel_and_wait
from voxgate.edge.core import EdgeCore
from voxgate.edge.notes import DeviceSeen, RegistrationNote
from voxgate.edge.users import SipUser, UserDirectory
from voxgate.policy.devices import DeviceTable
from voxgate.sip.flow import Flow
from voxgate.storage.repos.media import MediaRecord

log = logging.getLogger(__name__)

#: Seconds between checks of the change counters.
RELOAD_INTERVAL = 2.0
#: Seconds between purges of expired device bindings.
PURGE_INTERVAL = 30.0
#: Seconds between checks that the TCP/TLS connection to the call control is open.
RECONNECT_INTERVAL = 2.0
#: Devices seen but not yet written; beyond this the oldest sightings are dropped (a flood
#: of made-up identities must not grow memory: each still got its 403).
MAX_SEEN = 10_000


def _always_open(flow: Flow) -> bool:
    del flow
    return True


class EdgeStore(Protocol):
    """What the edge needs from the store."""

    async def load_users(self) -> tuple[list[SipUser], int]:
        """Every SIP user (level-2 secrets decrypted) and the change counter."""
        ...

    async def users_generation(self) -> int:
        """The SIP users' change counter."""
        ...

    async def load_devices(self) -> tuple[list[tuple[str, bool]], int]:
        """Every device as (MAC, enabled) and the change counter."""
        ...

    async def devices_generation(self) -> int:
        """The device table's change counter."""
        ...

    async def devices_seen(self, seen: Sequence[DeviceSeen]) -> int:
        """Record sightings: unknown devices become disabled rows; how many were new."""
        ...

    async def media_records(self, records: Sequence[MediaRecord]) -> None:
        """Store finished calls' media counters."""
        ...

    async def registration_notes(self, notes: Sequence[RegistrationNote], offset: float) -> None:
        """Append to the registration log (``offset``: wall clock minus the notes' clock)."""
        ...


class EdgeService:
    """Keeps an :class:`EdgeCore` fed from the store."""

    def __init__(self, core: EdgeCore, store: EdgeStore, loop: asyncio.AbstractEventLoop) -> None:
        self.core = core
        self.store = store
        self._loop = loop
        self._seen: dict[tuple[str, str], DeviceSeen] = {}
        self._notes: deque[RegistrationNote] = deque(maxlen=MAX_SEEN)
        self._media: deque[MediaRecord] = deque(maxlen=MAX_SEEN)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._connect: Callable[[], Awaitable[Flow]] | None = None
        self._upstream_flow: Flow | None = None
        self._upstream_up: bool | None = None
        self._is_open: Callable[[Flow], bool] = _always_open
        core.relay.learn = self.seen
        core.relay.noted = self.note

    async def start(self) -> None:
        """Load the snapshots, then start the background tasks."""
        await self.reload(force=True)
        loop = self._loop
        self._tasks = [
            loop.create_task(self._reload_loop(), name="edge-reload"),
            loop.create_task(self._purge_loop(), name="edge-purge"),
            loop.create_task(self._seen_loop(), name="edge-devices-seen"),
        ]

    async def close(self) -> None:
        """Stop the tasks; write the sightings still pending."""
        await cancel_and_wait(self._tasks)
        await self._write_seen()

    def seen(self, sighting: DeviceSeen) -> None:
        """The relay's ``learn``: remember a sighting for the writer (never blocks)."""
        key = (sighting.identity.mac, sighting.source)
        self._seen.pop(key, None)
        self._seen[key] = sighting
        while len(self._seen) > MAX_SEEN:
            del self._seen[next(iter(self._seen))]
        if not sighting.admitted:
            self._wake.set()  # a new device should show in the table at once

    def note(self, note: RegistrationNote) -> None:
        """The relay's ``noted``: queue a registration-log row for the writer (bounded: a
        flood of refusals keeps the newest)."""
        self._notes.append(note)
        self._wake.set()

    def media_finished(self, record: MediaRecord) -> None:
        """The media runner's ``on_finished``: queue a call's media counters for the writer."""
        self._media.append(record)
        self._wake.set()

    async def reload(self, *, force: bool = False) -> bool:
        """Swap in new snapshots where the counters moved (or ``force``); whether any did."""
        relay = self.core.relay
        changed = False
        if force or await self.store.users_generation() != relay.users.generation:
            users, generation = await self.store.load_users()
            relay.users = UserDirectory(users, generation)
            log.info("SIP users loaded: %d", len(users))
            changed = True
        if force or await self.store.devices_generation() != relay.devices.generation:
            devices, generation = await self.store.load_devices()
            relay.devices = DeviceTable(devices, generation)
            log.info("device table loaded: %d devices", len(devices))
            changed = True
        return changed

    async def keep_upstream(
        self, connect: Callable[[], Awaitable[Flow]], is_open: Callable[[Flow], bool]
    ) -> None:
        """Open the TCP/TLS connection to the call control now, and reopen it whenever it is
        lost (``is_open`` checked every :data:`RECONNECT_INTERVAL` seconds); failures are
        logged once per outage, the node keeps running."""
        self._connect = connect
        self._is_open = is_open
        self.core.relay.upstream_ready = self._upstream_ready
        await self._reconnect()
        self._tasks.append(self._loop.create_task(self._upstream_loop(), name="edge-upstream"))

    def _upstream_ready(self) -> bool:
        flow = self._upstream_flow
        return bool(self._upstream_up) and flow is not None and self._is_open(flow)

    async def _reconnect(self) -> None:
        assert self._connect is not None
        try:
            flow = await self._connect()
        except (OSError, ValueError) as err:  # refused, TLS verification, timeout
            if self._upstream_up is not False:
                log.error("cannot connect to the call control: %s (retrying every %g s)", err,
                          RECONNECT_INTERVAL)  # fmt: skip
            self._upstream_up = False
            return
        if self._upstream_up is not True:
            log.info("connected to the call control", extra={"flow": str(flow)})
        self._upstream_up = True
        self._upstream_flow = flow

    async def _upstream_loop(self) -> None:
        while True:
            await asyncio.sleep(RECONNECT_INTERVAL)
            flow = self._upstream_flow
            if flow is None or not self._is_open(flow):
                if self._upstream_up:
                    log.warning("the connection to the call control closed; reconnecting")
                await self._reconnect()

    def reload_soon(self) -> None:
        """Reload now (SIGHUP), in the background; errors are logged."""
        task = self._loop.create_task(self._reload_logged(force=True))
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    async def _reload_logged(self, *, force: bool) -> None:
        try:
            await self.reload(force=force)
        except Exception:
            log.exception("reloading the SIP users and devices failed; the current ones stay")

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_INTERVAL)
            await self._reload_logged(force=False)

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL)
            self.core.purge(self._loop.time())

    async def _seen_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # sightings of known devices: every 30 s
                await asyncio.wait_for(self._wake.wait(), PURGE_INTERVAL)
            self._wake.clear()
            try:
                await self._write_seen()
            except Exception:
                log.exception("recording devices seen failed")
            await asyncio.sleep(1.0)  # at most one write a second; sightings coalesce

    async def _write_seen(self) -> None:
        if self._media:
            records = list(self._media)
            self._media.clear()
            await self.store.media_records(records)
        if self._notes:
            notes = list(self._notes)
            self._notes.clear()
            await self.store.registration_notes(notes, time.time() - self._loop.time())
        if not self._seen:
            return
        batch = list(self._seen.values())
        self._seen.clear()
        new = await self.store.devices_seen(batch)
        if new:
            log.warning("%d unknown device(s) added to the device table, disabled", new)
            await self.reload()
