"""The multi-process forwarder: N worker processes (default one per CPU), each owning a slice
of the port range and relaying its pairs on its own event loop, so that every core moves
packets (DESIGN.md: "Media relay workers run as separate processes owning port ranges").

The parent routes each command to the worker that owns the pair (chosen at ``open_pair``:
the one with the fewest pairs, falling over to the next when its slice is full) and turns
workers' idle reports into ``on_idle`` callbacks. Workers die with the parent; :meth:`close`
stops them. Implements :class:`voxgate.media.relay.model.Forwarder`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from voxgate.media.control import InterfaceName, MediaError
from voxgate.media.relay import commands
from voxgate.media.relay.forwarder import DEFAULT_IDLE_TIMEOUT
from voxgate.media.relay.model import PairConfig, PairId, PairPorts, PairStats
from voxgate.media.relay.ports import DEFAULT_DSCP
from voxgate.media.relay.worker import WorkerSettings

log = logging.getLogger(__name__)

#: Seconds a worker may take to start, or to stop before it is killed.
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 5.0


def port_slices(port_range: tuple[int, int], workers: int) -> list[tuple[int, int]]:
    """Split ``port_range`` into ``workers`` inclusive slices of whole RTP/RTCP pairs."""
    low, high = port_range
    first = low + (low % 2)
    pairs = (high - first + 1) // 2
    if pairs < workers:
        raise ValueError(f"port range {low}-{high} has {pairs} port pairs for {workers} workers")
    slices = []
    start = 0
    for index in range(workers):
        end = start + pairs // workers + (1 if index < pairs % workers else 0)
        slices.append((first + 2 * start, first + 2 * end - 1))
        start = end
    return slices


@dataclass(eq=False)
class _Worker:
    index: int
    process: asyncio.subprocess.Process
    writer: asyncio.StreamWriter
    reader: asyncio.StreamReader
    pending: dict[int, asyncio.Future[commands.Reply]] = field(default_factory=dict)
    pairs: set[PairId] = field(default_factory=set)
    alive: bool = True
    listener: asyncio.Task[None] | None = None


class WorkerPool:
    """Pairs relayed by worker processes. Call :meth:`start` before anything else."""

    def __init__(
        self,
        interfaces: Mapping[InterfaceName, str],
        port_range: tuple[int, int],
        *,
        workers: int | None = None,
        dscp: int = DEFAULT_DSCP,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        count = workers if workers is not None else (os.cpu_count() or 1)
        if count < 1:
            raise ValueError("a worker pool needs at least one worker")
        if not 0 <= dscp <= 63:
            raise ValueError(f"DSCP {dscp} is not a 6-bit code point")
        self._settings = [
            WorkerSettings(dict(interfaces), part, dscp, idle_timeout, os.getpid())
            for part in port_slices(port_range, count)
        ]
        self._workers: list[_Worker] = []
        self._route: dict[PairId, _Worker] = {}
        self._seq = itertools.count(1)
        self._idle_callbacks: list[Callable[[PairId], None]] = []
        self._closing = False

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    async def start(self) -> None:
        """Start every worker and wait until each runs its loop."""
        try:
            for index, settings in enumerate(self._settings):
                self._workers.append(await self._spawn(index, settings))
        except BaseException:
            await self.close()
            raise

    async def _spawn(self, index: int, settings: WorkerSettings) -> _Worker:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "voxgate.media.relay.worker",
                "--fd",
                str(child_end.fileno()),
                "--settings",
                settings.to_json(),
                pass_fds=(child_end.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent_end)
        worker = _Worker(index, process, writer, reader)
        try:
            ready = await asyncio.wait_for(commands.read_message(reader), _START_TIMEOUT)
        except BaseException:
            process.kill()
            await process.wait()
            writer.close()
            raise
        if not isinstance(ready, commands.Ready):
            process.kill()
            await process.wait()
            writer.close()
            raise MediaError(503, f"media worker {index} did not start")
        worker.listener = asyncio.get_running_loop().create_task(self._listen(worker))
        return worker

    async def _listen(self, worker: _Worker) -> None:
        """Replies and idle reports from one worker, until its socket ends."""
        try:
            while True:
                message = await commands.read_message(worker.reader)
                if message is None:
                    break
                if isinstance(message, commands.Reply):
                    future = worker.pending.pop(message.seq, None)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif isinstance(message, commands.PairIdle):
                    self._idle(message.pair)
        except Exception:
            log.exception("media worker %d sent something unreadable", worker.index)
        finally:
            self._lost(worker)

    def _lost(self, worker: _Worker) -> None:
        worker.alive = False
        for future in worker.pending.values():
            if not future.done():
                future.set_exception(MediaError(503, "media worker exited"))
        worker.pending.clear()
        if self._closing:
            return
        log.error("media worker %d (pid %d) exited", worker.index, worker.process.pid)
        # Its pairs are gone: report them idle so that the engine ends their calls' media.
        for pair in list(worker.pairs):
            self._route.pop(pair, None)
            self._idle(pair)
        worker.pairs.clear()

    def _idle(self, pair: PairId) -> None:
        for callback in self._idle_callbacks:
            try:
                callback(pair)
            except Exception:
                log.exception("idle callback failed for media pair %s", pair)

    async def _call(self, worker: _Worker, command: commands.Command) -> commands.Reply:
        if not worker.alive:
            raise MediaError(503, "media worker exited")
        seq = next(self._seq)
        future: asyncio.Future[commands.Reply] = asyncio.get_running_loop().create_future()
        worker.pending[seq] = future
        worker.writer.write(commands.encode(commands.Request(seq, command)))
        await worker.writer.drain()
        reply = await future
        if reply.error is not None:
            raise MediaError(*reply.error)
        return reply

    # -- the Forwarder protocol -----------------------------------------------------------

    async def open_pair(
        self, pair: PairId, a_interface: InterfaceName, b_interface: InterfaceName
    ) -> PairPorts:
        owner = self._route.get(pair)
        candidates = (
            [owner]
            if owner is not None
            else sorted((w for w in self._workers if w.alive), key=lambda w: len(w.pairs))
        )
        last: MediaError = MediaError(503, "no media worker is running")
        for worker in candidates:
            try:
                reply = await self._call(worker, commands.OpenPair(pair, a_interface, b_interface))
            except MediaError as exc:
                if exc.status != 503:
                    raise
                last = exc
                continue
            assert isinstance(reply.result, PairPorts)
            worker.pairs.add(pair)
            self._route[pair] = worker
            return reply.result
        raise last

    async def configure(self, pair: PairId, config: PairConfig) -> None:
        worker = self._route.get(pair)
        if worker is None:
            raise MediaError(481, f"no media pair {pair}")
        await self._call(worker, commands.Configure(pair, config))

    async def close_pair(self, pair: PairId) -> PairStats | None:
        worker = self._route.pop(pair, None)
        if worker is None:
            return None
        worker.pairs.discard(pair)
        reply = await self._call(worker, commands.ClosePair(pair))
        assert reply.result is None or isinstance(reply.result, PairStats)
        return reply.result

    async def stats(self, pair: PairId) -> PairStats | None:
        worker = self._route.get(pair)
        if worker is None:
            return None
        reply = await self._call(worker, commands.GetStats(pair))
        assert reply.result is None or isinstance(reply.result, PairStats)
        return reply.result

    def on_idle(self, callback: Callable[[PairId], None]) -> None:
        self._idle_callbacks.append(callback)

    async def close(self) -> None:
        self._closing = True
        for worker in self._workers:
            if worker.alive:
                with contextlib.suppress(MediaError, ConnectionError, TimeoutError):
                    await asyncio.wait_for(self._call(worker, commands.Shutdown()), _STOP_TIMEOUT)
            worker.writer.close()
        for worker in self._workers:
            try:
                await asyncio.wait_for(worker.process.wait(), _STOP_TIMEOUT)
            except TimeoutError:
                worker.process.kill()
                await worker.process.wait()
            if worker.listener is not None:
                worker.listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.listener
        self._workers.clear()
        self._route.clear()
