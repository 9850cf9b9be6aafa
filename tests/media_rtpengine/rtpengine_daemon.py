"""A real rtpengine daemon for tests: userspace forwarding, in the foreground, on free ports.

Two logical interfaces on their own loopback addresses, ``wan`` and ``lan``, the ng control
socket on 127.0.0.1, a port range of its own, no config file, no pid file, no kernel table.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from voxgate.media.control import MediaError
from voxgate.media.rtpengine import RtpengineControl

RTPENGINE = "/usr/bin/rtpengine"
WAN_ADDRESS = "127.0.31.1"
LAN_ADDRESS = "127.0.31.2"
PORT_SPAN = 200


@dataclass(frozen=True)
class Daemon:
    ng_address: tuple[str, int]
    wan_address: str
    lan_address: str
    port_min: int
    port_max: int
    log: Path
    process: subprocess.Popen[bytes]


def binary() -> str | None:
    return RTPENGINE if Path(RTPENGINE).exists() else shutil.which("rtpengine")


def free_udp_port(address: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def _range_is_free(start: int, addresses: tuple[str, ...]) -> bool:
    for port in range(start, start + PORT_SPAN):
        for address in addresses:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                try:
                    sock.bind((address, port))
                except OSError:
                    return False
    return True


def free_port_range(addresses: tuple[str, ...]) -> tuple[int, int]:
    """A block of PORT_SPAN ports free on every address (rtpengine skips a port that turns
    out to be busy later, so a race here costs nothing but a port)."""
    for _ in range(50):
        start = random.randrange(20000, 60000 - PORT_SPAN, 2)
        if _range_is_free(start, addresses):
            return start, start + PORT_SPAN - 1
    raise RuntimeError("no free block of UDP ports")


def command(rtpengine: str, ng_port: int, port_min: int, port_max: int) -> list[str]:
    return [
        rtpengine,
        "--config-file=none",
        "--table=-1",
        "--foreground",
        "--log-stderr",
        "--log-level=6",
        f"--interface=wan/{WAN_ADDRESS}",
        f"--interface=lan/{LAN_ADDRESS}",
        f"--listen-ng=127.0.0.1:{ng_port}",
        f"--port-min={port_min}",
        f"--port-max={port_max}",
    ]


async def _wait_for_ping(address: tuple[str, int], process: subprocess.Popen[bytes]) -> None:
    control = RtpengineControl(address, timeout=0.3, tries=3)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"rtpengine exited with {process.returncode}")
            try:
                await control.ping()
                return
            except MediaError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
    finally:
        await control.close()


@contextmanager
def running(rtpengine: str, log_dir: Path) -> Iterator[Daemon]:
    """Start rtpengine, wait until it answers ping, stop it (SIGTERM, then SIGKILL)."""
    ng_port = free_udp_port()
    port_min, port_max = free_port_range((WAN_ADDRESS, LAN_ADDRESS))
    log = log_dir / "rtpengine.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command(rtpengine, ng_port, port_min, port_max),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            asyncio.run(_wait_for_ping(("127.0.0.1", ng_port), process))
        except (RuntimeError, MediaError) as exc:
            raise RuntimeError(f"rtpengine did not start ({exc}):\n{log.read_text()[-3000:]}") from exc
        yield Daemon(
            ("127.0.0.1", ng_port), WAN_ADDRESS, LAN_ADDRESS, port_min, port_max, log, process
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
