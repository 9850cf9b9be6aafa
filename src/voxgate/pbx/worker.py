"""A registrar worker process (``pbx.workers`` > 1; see :mod:`voxgate.pbx.workers`).

Started by the main process as ``python -m voxgate.pbx.worker FD`` with one end of a Unix
socket pair as FD; everything else (the settings, its number, the UDP addresses to share)
comes over that channel.  It answers the REGISTERs its sockets receive and passes every other
datagram to the main process; it exits when the main process says stop or is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from typing import Any

from voxgate import assembly, runtime
from voxgate.config.schema import Settings
from voxgate.observability.logging import configure_logging
from voxgate.pbx.service import PbxService
from voxgate.pbx.workers import (
    Channel,
    ChannelClosedError,
    Message,
    WorkerStore,
    apply_changes,
)
from voxgate.sip.endpoint import Event, RequestAnswered
from voxgate.sip.flow import Flow, Transport
from voxgate.transport.driver import EndpointDriver
from voxgate.transport.manager import ListenerSpec, TransportManager

log = logging.getLogger(__name__)

_REGISTER = b"REGISTER "


class Worker:
    """The parts of one registrar worker, wired to its channel."""

    def __init__(self, channel: Channel, settings: Settings, number: int) -> None:
        self.channel = channel
        self.settings = settings
        self.number = number
        self.stopping = asyncio.Event()
        self.handled = 0
        self.passed_on = 0
        sip = settings.sip
        self.gate = assembly.source_gate(settings.security)
        self.core = core = assembly.pbx_core(settings, assembly.endpoint(settings), worker=number)
        core.auth_failed = self._auth_failed
        self.transports = TransportManager(
            self._route, limits=assembly.sip_limits(settings), keepalive_pong=sip.keepalive_pong,
            source_policy=self.gate, dscp=sip.dscp,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        self.driver = EndpointDriver(core, self.transports.send, self._event, loop)
        self.store: WorkerStore | None = None
        self.service: PbxService | None = None
        self.security: Any = None
        self._db: Any = None
        self._pbx_db: Any = None

    async def start(self, addresses: list[tuple[str, int]]) -> None:
        """Open the database, load the extensions, bindings and lists, then bind."""
        from voxgate.pbx.store import SqlPbxStore  # noqa: PLC0415 - with the database
        from voxgate.services.security import SecurityService  # noqa: PLC0415
        from voxgate.storage.engine import Store  # noqa: PLC0415

        self._db = db = await Store.open(self.settings.store_url)
        self.security = SecurityService(self.gate, db)
        await self.security.start()
        self._pbx_db = SqlPbxStore(db, assembly.pbx_commit_lock(self.settings))
        self.store = WorkerStore(self._pbx_db, self.channel)
        self.service = PbxService(self.core, self.store, self.driver.pump)
        await self.service.start()
        await self.transports.start([
            ListenerSpec(Transport.UDP, host, port, reuse_port=True) for host, port in addresses
        ])  # fmt: skip

    async def stop(self) -> None:
        """Stop reading, write what is held through the main process, close the database."""
        await self.transports.close()
        self.driver.close()
        if self.service is not None:
            with contextlib.suppress(TimeoutError):  # a database that hangs: give up
                await asyncio.wait_for(self.service.close(), 5.0)
        if self.security is not None:
            await self.security.close()
        if self._pbx_db is not None:
            await self._pbx_db.close()  # its own connections
        if self._db is not None:
            await self._db.close()
        log.info("registrar worker %d stopped: %d REGISTERs answered, %d datagrams passed "
                 "to the main process", self.number, self.handled, self.passed_on)  # fmt: skip

    # -- traffic ---------------------------------------------------------------------------
    def _route(self, data: bytes, flow: Flow) -> None:
        if data.startswith(_REGISTER):
            self.handled += 1
            self.driver.on_message(data, flow)
            return
        self.passed_on += 1
        try:
            self.channel.send(("datagram", flow.local, flow.remote, data))
        except ChannelClosedError:
            self.stopping.set()

    def _auth_failed(self, source: str, detail: str) -> None:
        # counted by the main process's gate, which tells every worker of a lockout
        with contextlib.suppress(ChannelClosedError):
            self.channel.send(("auth_failed", source, detail))

    def _event(self, event: Event) -> None:
        if isinstance(event, RequestAnswered) and log.isEnabledFor(logging.DEBUG):
            log.debug("%s %d", event.request.method, event.response.status,
                      extra={"flow": str(event.flow)})  # fmt: skip

    # -- the channel -------------------------------------------------------------------------
    def received(self, message: Message) -> None:
        """A message from the main process."""
        kind = message[0]
        if kind == "bindings":
            apply_changes(self.core.location, message[1])
        elif kind == "lockout":
            _, source, until_wall = message
            loop_time = asyncio.get_running_loop().time()
            self.gate.restore_lockout(source, until_wall - time.time() + loop_time)
        elif kind == "reload":
            if self.service is not None:
                self.service.reload_soon()
            if self.security is not None:
                self.security.reload_soon()
        elif kind == "stop":
            self.stopping.set()
        else:
            log.warning("registrar worker %d: unknown %r message", self.number, kind)


def _unset(message: Message) -> None:
    raise RuntimeError(f"{message[0]!r} before the worker was set up")


class _Mark(logging.Filter):
    """Adds ``worker=N`` to every log record of a worker process."""

    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = number

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.number
        return True


async def _serve(sock: socket.socket) -> int:
    loop = asyncio.get_running_loop()
    channel = await Channel.open(sock, _unset)  # replaced below, before it reads
    setup = await channel.receive()
    if setup is None or setup[0] != "setup":
        return 2
    _, settings, number, addresses = setup
    handler = configure_logging(settings.log.level, settings.log.format)
    handler.addFilter(_Mark(number))
    worker = Worker(channel, settings, number)
    channel.on_message = worker.received
    reading = loop.create_task(channel.run())
    try:
        await worker.start(addresses)
    except Exception:
        log.exception("registrar worker %d could not start", number)
        return 1
    runtime.settle_after_start()
    channel.send(("ready",))
    stopping = loop.create_task(worker.stopping.wait())
    await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    gone = reading.done()
    await worker.stop()
    if not gone:
        await channel.drain()
    channel.close()
    for task in (reading, stopping):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return 0


def main(argv: list[str]) -> int:
    """Entry point: ``python -m voxgate.pbx.worker FD``."""
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m voxgate.pbx.worker FD (started by voxgate serve)",
              file=sys.stderr)  # fmt: skip
        return 2
    # The main process stops and reloads its workers: a terminal's ^C, a service manager's
    # SIGTERM to the whole group or a SIGHUP to every voxgate process would otherwise stop
    # a worker that the main process then starts again.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    sock = socket.socket(fileno=int(argv[1]))
    try:
        import uvloop  # noqa: PLC0415 - as voxgate serve

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        return runner.run(_serve(sock))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
