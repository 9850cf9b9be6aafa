"""Registrar workers (``pbx.workers`` > 1): more processes answering REGISTER on the UDP ports.

One process runs one event loop on one core; a REGISTER pair costs the call control about
0.4 ms of it, so one process tops out below 3,000 registrations a second.  With
``pbx.workers = N`` the node starts N - 1 *registrar workers* (:mod:`voxgate.pbx.worker`):
child processes that bind every UDP listener of the call control again with ``SO_REUSEPORT``.
The kernel then gives each datagram to one of the sockets of a port by a hash of the sender's
address and port, so one phone keeps reaching the same process: its retransmissions, and the
REGISTER that answers a challenge, meet the transaction and the nonce count they belong to.

What each process does::

    phone ──UDP──> kernel (hash of the sender) ──> main process  (everything, as with 1)
                                              └──> worker k     REGISTER: answered here
                                                                anything else ──channel──> main

- A worker answers the REGISTERs it receives with its own registrar and location service and
  hands every other datagram (INVITE, responses, OPTIONS, in-dialog requests) to the main
  process over its channel, which takes it as if its own socket had read it; answers leave
  from the main process's socket on the same address.
- Each process writes its own binding changes and registration events to the database, in
  its own group commits (SQLite in WAL mode takes one writer at a time: the commits of the
  processes queue for its lock, which they hold for a few milliseconds; PostgreSQL takes them
  side by side), and answers a new registration after its commit, as with one process.  After
  each commit a worker sends its binding changes to the main process, which applies them to
  its location service (calls are routed there) and passes them on to the other workers; the
  main process sends its own to every worker.  Each process purges expired bindings from its
  table by the clock, the main process from the database too.
- Digest nonces carry the number of the process that issued them
  (:class:`~voxgate.sip.digest.DigestServer` ``worker``): the nonce-count replay state is in
  that process, and another one answers a nonce of it STALE with a new challenge of its own.
- Failed authentications are counted by the main process's gate (NET-2), which tells every
  worker of each lockout; block and allow lists and the extensions are read from the database
  by each process (reloads: the usual polling, and SIGHUP passed on).
- A worker that dies is started again after a pause; meanwhile the kernel gives its share to
  the remaining sockets.  A worker whose main process is gone sees its channel close and exits.

The channel is a Unix stream socket pair carrying pickled tuples, length-prefixed; both ends
are this code, started by the same user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any, Final

from voxgate.config.schema import Settings
from voxgate.pbx.location import Binding, Location
from voxgate.pbx.registrar import RegistrationEvent
from voxgate.pbx.service import Batch, PbxService
from voxgate.sip.flow import Address, Flow, Transport
from voxgate.sip.uri import parse_uri

log = logging.getLogger(__name__)

#: Frame header: the length of the pickled message that follows.
_FRAME: Final = struct.Struct(">I")
#: Largest message accepted (a batch of a few thousand bindings is well under).
MAX_MESSAGE: Final = 64 * 1024 * 1024
#: A peer that lets this much queue toward it is stuck: the channel is closed.
MAX_BACKLOG: Final = 128 * 1024 * 1024
#: Seconds a worker has to start (open the database, load the extensions and bindings, bind).
START_TIMEOUT: Final = 60.0
#: Seconds a stopping worker has to write what it holds and exit before it is killed.
STOP_TIMEOUT: Final = 10.0
#: Pause before a dead worker is started again (doubled on each quick death, up to the max).
RESTART_DELAY: Final = 1.0
MAX_RESTART_DELAY: Final = 60.0

Message = tuple[Any, ...]
WireBinding = tuple[Any, ...]
WireEvent = tuple[Any, ...]


# -- what crosses the channel -----------------------------------------------------------------
def _wire_flow(flow: Flow) -> tuple[str, Address, Address, int | None]:
    return flow.transport.value, flow.local, flow.remote, flow.connection


def _flow(wire: tuple[str, Address, Address, int | None]) -> Flow:
    transport, local, remote, connection = wire
    return Flow(Transport(transport), tuple(local), tuple(remote), connection)  # type: ignore[arg-type]


def binding_to_wire(b: Binding) -> WireBinding:
    """A binding as plain values (the compiled classes do not pickle)."""
    return (b.aor, b.contact, b.expires_at, b.call_id, b.cseq, _wire_flow(b.flow),
            b.registered_at, b.q, b.instance, b.reg_id, b.user_agent)  # fmt: skip


def binding_from_wire(w: WireBinding) -> Binding:
    """The binding :func:`binding_to_wire` described (its Contact URI parsed again)."""
    aor, contact, expires_at, call_id, cseq, flow, registered_at, q, instance, reg_id, ua = w
    return Binding(aor, contact, parse_uri(contact), expires_at, call_id, cseq, _flow(flow),
                   registered_at, q, instance, reg_id, ua)  # fmt: skip


def event_to_wire(e: RegistrationEvent) -> WireEvent:
    """A registration event (AUTH-6) as plain values."""
    return (e.at, e.extension, _wire_flow(e.flow), e.credential, e.algorithm, e.outcome,
            e.reason, e.instance, e.user_agent)  # fmt: skip


def event_from_wire(w: WireEvent) -> RegistrationEvent:
    """The event :func:`event_to_wire` described."""
    at, extension, flow, credential, algorithm, outcome, reason, instance, user_agent = w
    return RegistrationEvent(at, extension, _flow(flow), credential, algorithm, outcome,
                             reason, instance, user_agent)  # fmt: skip


def apply_changes(location: Location,
                  changes: list[tuple[list[WireBinding], list[WireBinding]]]) -> None:  # fmt: skip
    """Apply another process's binding changes, (saved, removed) in the order made, to a
    location service."""
    for saved, removed in changes:
        for wire in removed:
            binding = binding_from_wire(wire)
            location.remove(binding.aor, binding.key)
        for wire in saved:
            location.put(binding_from_wire(wire))


class ChannelClosedError(ConnectionError):
    """The process at the other end of the channel is gone."""


class Channel:
    """One end of the channel between the main process and a worker: framed, pickled tuples.

    ``send`` never waits (the loop's transport buffers; a peer that stops reading until
    :data:`MAX_BACKLOG` is queued is given up); :meth:`run` reads until the other end closes
    and hands each message to ``on_message``.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 on_message: Callable[[Message], None]) -> None:  # fmt: skip
        self._reader = reader
        self._writer = writer
        self.on_message = on_message
        self.closed = False

    @classmethod
    async def open(cls, sock: socket.socket, on_message: Callable[[Message], None]) -> Channel:
        """A channel on a connected Unix stream socket."""
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_MESSAGE)
        return cls(reader, writer, on_message)

    def send(self, message: Message) -> None:
        """Queue ``message``; raises :class:`ChannelClosedError` when the other end is gone."""
        if self.closed or self._writer.is_closing():
            raise ChannelClosedError("the channel is closed")
        if self._writer.transport.get_write_buffer_size() > MAX_BACKLOG:
            self.close()
            raise ChannelClosedError("the other process stopped reading")
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(_FRAME.pack(len(data)) + data)

    async def receive(self) -> Message | None:
        """The next message, or ``None`` once the other end closed."""
        try:
            head = await self._reader.readexactly(_FRAME.size)
            (size,) = _FRAME.unpack(head)
            if size > MAX_MESSAGE:
                raise ChannelClosedError(f"a {size}-byte message on the channel")
            body = await self._reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        message: Message = pickle.loads(body)  # noqa: S301 - our own process at the other end
        return message

    async def run(self) -> None:
        """Hand every message to ``on_message`` until the other end closes."""
        while (message := await self.receive()) is not None:
            try:
                self.on_message(message)
            except Exception:  # one bad message must not cut the channel
                log.exception("handling a %r message from the channel failed", message[0])
        self.closed = True

    async def drain(self) -> None:
        """Wait until what was sent has been handed to the kernel."""
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()

    def close(self) -> None:
        """Close this end."""
        self.closed = True
        self._writer.close()


class WorkerStore:
    """A worker's :class:`~voxgate.pbx.service.PbxStore`: the database like the main
    process's, and every committed binding change sent to the main process (whose location
    service routes the calls, and which passes it on to the other workers)."""

    def __init__(self, database: Any, channel: Channel) -> None:
        self._database = database  # a SqlPbxStore
        self._channel = channel

    async def load_extensions(self) -> Any:
        """Every extension and the change counter they were read at."""
        return await self._database.load_extensions()

    async def extensions_generation(self) -> int:
        """The change counter of the extensions."""
        generation: int = await self._database.extensions_generation()
        return generation

    async def load_bindings(self) -> list[Binding]:
        """Every persisted binding."""
        bindings: list[Binding] = await self._database.load_bindings()
        return bindings

    async def purge_expired(self, now: float) -> int:
        """The main process purges the database; nothing to do here."""
        del now
        return 0

    async def write(self, batch: Batch) -> None:
        """Commit ``batch``, then tell the main process of its binding changes."""
        await self._database.write(batch)
        if batch.saved or batch.removed:
            with contextlib.suppress(ChannelClosedError):  # stopping: the database has it
                self._channel.send(("bindings", [([binding_to_wire(b) for b in batch.saved],
                                                  [binding_to_wire(b) for b in batch.removed])]))


# -- the main process's side --------------------------------------------------------------------
class _Worker:
    """One registrar worker as the main process sees it."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.process: asyncio.subprocess.Process | None = None
        self.channel: Channel | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self.reader: asyncio.Task[None] | None = None
        self.started_at = 0.0

    def send(self, message: Message) -> bool:
        if self.channel is None or self.channel.closed:
            return False
        try:
            self.channel.send(message)
        except ChannelClosedError:
            return False
        return True


class WorkerPool:
    """Starts, feeds and supervises the registrar workers of the main process.

    ``inject(data, flow)`` takes a datagram a worker passed on (the driver's ``on_message``);
    ``gate_failed(source, detail)`` counts a failed authentication a worker saw.
    """

    def __init__(
        self,
        settings: Settings,
        service: PbxService,
        addresses: list[Address],
        inject: Callable[[bytes, Flow], None],
        gate_failed: Callable[[str, str], None],
        *,
        count: int,
        command: list[str] | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.addresses = addresses
        self._inject = inject
        self._gate_failed = gate_failed
        self.count = count  # workers besides the main process
        self._command = command or [sys.executable, "-m", "voxgate.pbx.worker"]
        self.workers: dict[int, _Worker] = {}
        self._supervisors: list[asyncio.Task[None]] = []
        self._closing = False
        self.restarts = 0
        core = service.core
        own = core.persist

        #: This process's changes not sent yet, in order: (saved, removed) per registration.
        self._changes: list[tuple[list[WireBinding], list[WireBinding]]] = []

        def tee(saved: list[Binding], removed: list[Binding], event: Any, then: Any) -> None:
            own(saved, removed, event, then)
            if saved or removed:
                if not self._changes:  # one message a loop turn
                    asyncio.get_running_loop().call_soon(self._send_changes)
                self._changes.append(([binding_to_wire(b) for b in saved],
                                      [binding_to_wire(b) for b in removed]))  # fmt: skip

        core.persist = tee

    def _send_changes(self) -> None:
        message = ("bindings", self._changes)
        self._changes = []
        self.broadcast(message, None)

    async def start(self) -> None:
        """Start every worker and wait until each is serving (a worker that fails to start
        is logged and retried in the background; the main process serves its share)."""
        for number in range(1, self.count + 1):
            worker = _Worker(number)
            self.workers[number] = worker
            self._supervisors.append(asyncio.get_running_loop().create_task(
                self._supervise(worker), name=f"pbx-worker-{number}"))  # fmt: skip
        for worker in self.workers.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(worker.ready), START_TIMEOUT)
        ready = sum(1 for w in self.workers.values() if w.ready.done()
                    and w.ready.exception() is None)  # fmt: skip
        log.info("call control: %d registrar workers serving besides the main process "
                 "(pbx.workers = %d)", ready, self.count + 1)  # fmt: skip

    async def close(self) -> None:
        """Stop every worker: each writes what it holds through us, then exits."""
        self._closing = True
        for worker in self.workers.values():
            worker.send(("stop",))
        for worker in self.workers.values():
            if worker.process is not None and worker.process.returncode is None:
                try:
                    await asyncio.wait_for(worker.process.wait(), STOP_TIMEOUT)
                except TimeoutError:
                    log.warning("registrar worker %d did not stop in %g s: killed",
                                worker.number, STOP_TIMEOUT)  # fmt: skip
                    with contextlib.suppress(ProcessLookupError):
                        worker.process.kill()
                    await worker.process.wait()
        for task in self._supervisors:
            task.cancel()
        for task in self._supervisors:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def broadcast(self, message: Message, origin: int | None) -> None:
        """Send ``message`` to every worker but ``origin``."""
        for number, worker in self.workers.items():
            if number != origin:
                worker.send(message)

    def lockout(self, source: str, until_wall: float) -> None:
        """The gate locked ``source`` out until wall-clock ``until_wall``: tell the workers."""
        self.broadcast(("lockout", source, until_wall), None)

    def reload(self) -> None:
        """SIGHUP: every worker reloads its extensions and lists now."""
        self.broadcast(("reload",), None)

    # -- one worker's life ------------------------------------------------------------------
    async def _supervise(self, worker: _Worker) -> None:
        delay = RESTART_DELAY
        while not self._closing:
            worker.started_at = time.monotonic()
            try:
                await self._run(worker)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.error("registrar worker %d: %s", worker.number, err)
            if not worker.ready.done():
                worker.ready.set_exception(RuntimeError("exited before serving"))
                worker.ready.exception()  # retrieved: start() logs the count
            if self._closing:
                return
            if time.monotonic() - worker.started_at > MAX_RESTART_DELAY:
                delay = RESTART_DELAY
            log.error("registrar worker %d is gone; starting it again in %g s (the other "
                      "processes serve its share meanwhile)", worker.number, delay)  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_DELAY)
            self.restarts += 1
            worker.ready = asyncio.get_running_loop().create_future()

    async def _run(self, worker: _Worker) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            worker.process = await asyncio.create_subprocess_exec(
                *self._command, str(theirs.fileno()), pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            theirs.close()
        channel = await Channel.open(ours, lambda message: self._received(worker, message))
        worker.channel = channel
        channel.send(("setup", self.settings, worker.number, self.addresses))
        try:
            await channel.run()
        finally:
            channel.close()
            worker.channel = None
            process = worker.process
            try:
                code = await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                code = await process.wait()
        if not self._closing:
            raise RuntimeError(f"exited with status {code}")

    def _received(self, worker: _Worker, message: Message) -> None:
        kind = message[0]
        if kind == "datagram":
            _, local, remote, data = message
            self._inject(data, Flow(Transport.UDP, tuple(local), tuple(remote)))
        elif kind == "bindings":
            apply_changes(self.service.core.location, message[1])
            self.broadcast(message, worker.number)
        elif kind == "auth_failed":
            _, source, detail = message
            self._gate_failed(source, detail)
        elif kind == "ready":
            if not worker.ready.done():
                worker.ready.set_result(None)
            log.info("registrar worker %d (pid %d) serving", worker.number,
                     worker.process.pid if worker.process else 0)  # fmt: skip
        else:
            log.warning("registrar worker %d sent an unknown %r message", worker.number, kind)
