"""A relay worker process: one :class:`LocalForwarder` on its own (uvloop) event loop, owning a
slice of the port range, driven by its parent over an inherited socket.

Started by :class:`voxgate.media.relay.workers.WorkerPool` as
``python -m voxgate.media.relay.worker --fd N --settings JSON``. It dies with its parent: the
kernel sends it SIGTERM when the parent exits (Linux ``PR_SET_PDEATHSIG``), and it exits by
itself when the socket to the parent reaches its end.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any

from voxgate.media.control import InterfaceName, MediaError
from voxgate.media.relay import commands
from voxgate.media.relay.forwarder import LocalForwarder
from voxgate.media.relay.model import PairId

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """What a worker needs to build its forwarder (passed as JSON on its command line)."""

    interfaces: dict[InterfaceName, str]
    port_range: tuple[int, int]
    dscp: int
    idle_timeout: float
    parent_pid: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "interfaces": self.interfaces,
                "port_range": list(self.port_range),
                "dscp": self.dscp,
                "idle_timeout": self.idle_timeout,
                "parent_pid": self.parent_pid,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> WorkerSettings:
        raw: dict[str, Any] = json.loads(text)
        low, high = raw["port_range"]
        return cls(
            interfaces=dict(raw["interfaces"]),
            port_range=(int(low), int(high)),
            dscp=int(raw["dscp"]),
            idle_timeout=float(raw["idle_timeout"]),
            parent_pid=int(raw["parent_pid"]),
        )


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        raise SystemExit(0)


async def _execute(forwarder: LocalForwarder, command: commands.Command) -> commands.Reply:
    match command:
        case commands.OpenPair(pair, a_interface, b_interface):
            return commands.Reply(0, await forwarder.open_pair(pair, a_interface, b_interface))
        case commands.Configure(pair, config):
            await forwarder.configure(pair, config)
            return commands.Reply(0)
        case commands.ClosePair(pair):
            return commands.Reply(0, await forwarder.close_pair(pair))
        case commands.GetStats(pair):
            return commands.Reply(0, await forwarder.stats(pair))
        case commands.Shutdown():
            await forwarder.close()
            return commands.Reply(0)


async def serve(sock: socket.socket, settings: WorkerSettings) -> None:
    """Answer the parent's requests in order until it says Shutdown or goes away."""
    forwarder = LocalForwarder(
        settings.interfaces,
        settings.port_range,
        dscp=settings.dscp,
        idle_timeout=settings.idle_timeout,
    )
    reader, writer = await asyncio.open_unix_connection(sock=sock)

    def idle(pair: PairId) -> None:
        writer.write(commands.encode(commands.PairIdle(pair)))

    forwarder.on_idle(idle)
    low, high = settings.port_range
    writer.write(commands.encode(commands.Ready(os.getpid(), (high - low + 1) // 2)))
    try:
        while True:
            message = await commands.read_message(reader)
            if message is None:
                break  # the parent is gone
            if not isinstance(message, commands.Request):
                raise TypeError(f"worker got {type(message).__name__}")
            try:
                reply = await _execute(forwarder, message.command)
                reply = commands.Reply(message.seq, reply.result)
            except MediaError as exc:
                reply = commands.Reply(message.seq, error=(exc.status, exc.reason))
            except Exception as exc:
                log.exception("media worker: %s failed", type(message.command).__name__)
                reply = commands.Reply(message.seq, error=(500, f"media worker error: {exc}"))
            writer.write(commands.encode(reply))
            await writer.drain()
            if isinstance(message.command, commands.Shutdown):
                break
    finally:
        await forwarder.close()
        writer.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="voxgate media relay worker (internal)")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--settings", required=True)
    args = parser.parse_args(argv)
    settings = WorkerSettings.from_json(args.settings)
    _die_with_parent(settings.parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    logging.basicConfig(level=logging.WARNING, format="media worker %(process)d: %(message)s")
    sock = socket.socket(fileno=args.fd)
    try:
        import uvloop  # noqa: PLC0415 - optional (not on Windows): plain asyncio otherwise
    except ImportError:
        asyncio.run(serve(sock, settings))
    else:
        uvloop.run(serve(sock, settings))


if __name__ == "__main__":
    main()
