#!/usr/bin/env python3
"""Media relay benchmark: packets/s relayed and added latency, voxgate's relay vs rtpengine.

For each target (voxgate's WorkerPool with 1 worker, with 2 workers; rtpengine userspace)
and each mode (SRTP decrypt + re-encrypt with per-call keys, or plain RTP):

1. throughput: a generator process sends 172-byte G.711 RTP packets (12-octet header, 160
   octets of payload; SRTP adds the 10-octet tag) round-robin over ``--pairs`` calls as fast
   as it can for ``--seconds``; a sink process counts what the relay delivers on the other
   side. Reported: delivered packets/s (wall clock), the relay's CPU seconds (from
   /proc/PID/stat, all its processes and threads) and delivered packets per relay CPU-second;
2. latency: the generator paces at half the measured rate, stamping CLOCK_MONOTONIC
   nanoseconds into the payload; the sink decrypts and takes receive minus send time.
   The same generator → sink path without a relay (over loopback, same SRTP work at both
   ends) is the baseline; "added" is relay minus baseline, per percentile.

The relay (one worker) is pinned to CPU 0 and generator + sink to CPU 1, so each side has
a core; with 2 workers the workers take CPUs 0 and 1 and the load processes share them.

Run from the repository root:
    .venv/bin/python bench/media_relay.py --pairs 500 --seconds 6
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import multiprocessing as mp
import os
import platform
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from base64 import b64decode, b64encode
from dataclasses import dataclass, field

import pylibsrtp

from voxgate.media.relay.model import EndpointConfig, PairConfig, PairId, SrtpKey
from voxgate.media.relay.workers import WorkerPool

HOST = "127.0.0.1"
SUITE = "AES_CM_128_HMAC_SHA1_80"  # what A sends under
#: What the relay sends to B under. rtpengine passes SDES through untouched when B accepts
#: A's own suite and key (no crypto work at all); B accepting the other suite of rtpengine's
#: offer, with rtpengine's key, forces it to decrypt and re-encrypt, as voxgate always does.
#: voxgate runs with the same suites.
B_SUITE = "AES_CM_128_HMAC_SHA1_32"
PAYLOAD = 160
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- keys and packets -------------------------------------------------------------------------


@dataclass
class Stream:
    """One call's A→B stream: the generator's SSRC and key, and the key B receives under."""

    ssrc: int
    a_key: bytes  # what A protects with
    b_key: bytes  # what the relay protects toward B with (sink decrypts with it)
    a_port: int = 0  # relay port A sends to


def new_key() -> bytes:
    return os.urandom(30)


def tx_session(key: bytes) -> pylibsrtp.Session:
    return pylibsrtp.Session(pylibsrtp.Policy(key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND))


def rx_session(key: bytes, profile: int) -> pylibsrtp.Session:
    return pylibsrtp.Session(
        pylibsrtp.Policy(key, pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
    )


# -- load processes ----------------------------------------------------------------------------


def pin(cpus: set[int] | None) -> None:
    if cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cpus)


def generator(
    gen_port: int,
    streams: list[Stream],
    srtp: bool,
    start: float,
    seconds: float,
    rate: float,
    cpus: set[int] | None,
    out: mp.connection.Connection,
) -> None:
    """Send round-robin over ``streams`` from ``gen_port`` until ``start + seconds``; at
    ``rate`` packets/s when rate > 0, else as fast as possible."""
    pin(cpus)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.bind((HOST, gen_port))
    sessions = [tx_session(s.a_key) for s in streams] if srtp else None
    seqs = [random.randrange(1 << 15) for _ in streams]
    destinations = [(HOST, s.a_port) for s in streams]
    ssrcs = [s.ssrc for s in streams]
    header = struct.Struct("!BBHIIQ")
    pad = bytes(PAYLOAD - 8)
    n = len(streams)
    sent = 0
    index = 0
    while time.monotonic() < start:
        time.sleep(0.001)
    end = start + seconds
    sendto = sock.sendto
    monotonic_ns = time.monotonic_ns
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if rate > 0:
            due = int((now - start) * rate) - sent
            if due <= 0:
                time.sleep(0.0001)
                continue
            due = min(due, 64)
        else:
            due = 256
        for _ in range(due):
            seq = seqs[index] = (seqs[index] + 1) & 0xFFFF
            packet = header.pack(0x80, 0, seq, seq * 160, ssrcs[index], monotonic_ns()) + pad
            if sessions is not None:
                packet = sessions[index].protect(packet)
            try:
                sendto(packet, destinations[index])
            except (BlockingIOError, ConnectionRefusedError):
                sent -= 1  # not sent after all
            sent += 1
            index += 1
            if index == n:
                index = 0
    out.send(sent)


def sink(
    sink_port: int,
    keys: dict[int, bytes],
    srtp: bool,
    start: float,
    warmup: float,
    seconds: float,
    latency: bool,
    direct: bool,
    cpus: set[int] | None,
    out: mp.connection.Connection,
) -> None:
    """Count packets arriving between ``start + warmup`` and ``start + seconds``; with
    ``latency``, decrypt them and record receive minus send time (ns)."""
    pin(cpus)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((HOST, sink_port))
    sock.settimeout(0.2)
    profile = (
        pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
        if direct
        else pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32
    )
    sessions = (
        {ssrc: rx_session(k, profile) for ssrc, k in keys.items()} if srtp and latency else {}
    )
    counting_from = start + warmup
    end = start + seconds
    counted = 0
    failed = 0
    delays = array.array("q")
    stamp = struct.Struct("!Q")
    monotonic_ns = time.monotonic_ns
    monotonic = time.monotonic
    recv = sock.recv
    out.send("ready")
    while True:
        try:
            data = recv(2048)
        except TimeoutError:
            if monotonic() >= end:
                break
            continue
        now = monotonic()
        if now >= end:
            break
        if now < counting_from:
            continue
        counted += 1
        if latency:
            received_ns = monotonic_ns()
            if srtp:
                session = sessions.get(int.from_bytes(data[8:12], "big"))
                try:
                    data = session.unprotect(data) if session else b""
                except pylibsrtp.Error:
                    failed += 1
                    continue
                if not data:
                    failed += 1
                    continue
            delays.append(received_ns - stamp.unpack_from(data, 12)[0])
    out.send((counted, failed, delays.tobytes()))


# -- targets -------------------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


class VoxgateTarget:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.name = f"voxgate relay, {workers} worker{'s' if workers > 1 else ''}"
        self.pool: WorkerPool | None = None

    async def start(self) -> None:
        low = random.randrange(20000, 22000, 2)  # below the kernel's ephemeral ports
        self.pool = WorkerPool(
            {"wan": HOST, "lan": HOST}, (low, low + 4999), workers=self.workers
        )
        await self.pool.start()
        ncpu = os.cpu_count() or 1
        for i, pid in enumerate(self.pool.pids):
            os.sched_setaffinity(pid, {i % ncpu})

    @property
    def pids(self) -> list[int]:
        assert self.pool is not None
        return self.pool.pids

    def load_cpus(self) -> set[int] | None:
        ncpu = os.cpu_count() or 1
        return {1 % ncpu} if self.workers == 1 else None

    async def setup(
        self, streams: list[Stream], srtp: bool, gen: tuple[str, int], sink: tuple[str, int]
    ) -> None:
        assert self.pool is not None
        for i, s in enumerate(streams):
            pair = PairId(f"bench-{i}")
            ports = await self.pool.open_pair(pair, "wan", "lan")
            a = EndpointConfig(
                remote_rtp=gen,
                remote_rtcp=(gen[0], gen[1] + 1),
                latch=True,
                recv_key=SrtpKey(SUITE, s.a_key) if srtp else None,
                send_key=SrtpKey(SUITE, new_key()) if srtp else None,
                clock_rate=8000,
            )
            b = EndpointConfig(
                remote_rtp=sink,
                remote_rtcp=(sink[0], sink[1] + 1),
                recv_key=SrtpKey(SUITE, new_key()) if srtp else None,
                send_key=SrtpKey(B_SUITE, s.b_key) if srtp else None,
                clock_rate=8000,
            )
            await self.pool.configure(pair, PairConfig(a, b))
            s.a_port = ports.a

    async def teardown(self, count: int) -> dict[str, int]:
        assert self.pool is not None
        totals = {"forwarded": 0, "dropped_auth": 0, "dropped_source": 0}
        for i in range(count):
            stats = await self.pool.close_pair(PairId(f"bench-{i}"))
            if stats is not None:
                totals["forwarded"] += stats.a.forwarded
                totals["dropped_auth"] += stats.a.dropped_auth
                totals["dropped_source"] += stats.a.dropped_source
        return totals

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()


# -- rtpengine over its ng protocol (bencode over UDP) ----------------------------------------


def bencode(value: object) -> bytes:
    if isinstance(value, bytes):
        return str(len(value)).encode() + b":" + value
    if isinstance(value, str):
        return bencode(value.encode())
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        return (
            b"d"
            + b"".join(bencode(k) + bencode(v) for k, v in sorted(value.items()))
            + b"e"
        )
    raise TypeError(type(value))


def bdecode(data: bytes, i: int = 0) -> tuple[object, int]:
    c = data[i : i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1 : end]), end + 1
    if c in (b"l", b"d"):
        i += 1
        items = []
        while data[i : i + 1] != b"e":
            item, i = bdecode(data, i)
            items.append(item)
        if c == b"l":
            return items, i + 1
        return {items[k].decode(): items[k + 1] for k in range(0, len(items), 2)}, i + 1  # type: ignore[union-attr]
    colon = data.index(b":", i)
    length = int(data[i:colon])
    return data[colon + 1 : colon + 1 + length], colon + 1 + length


class NgClient:
    def __init__(self, port: int) -> None:
        self.address = (HOST, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(2.0)

    def call(self, command: dict[str, object]) -> dict[str, object]:
        cookie = os.urandom(6).hex().encode()
        for _ in range(5):
            self.sock.sendto(cookie + b" " + bencode(command), self.address)
            try:
                while True:
                    data = self.sock.recv(65535)
                    if data.startswith(cookie + b" "):
                        reply, _ = bdecode(data[len(cookie) + 1 :])
                        assert isinstance(reply, dict)
                        if reply.get("result") not in (b"ok", b"pong"):
                            raise RuntimeError(f"rtpengine: {reply}")
                        return reply
            except TimeoutError:
                continue
        raise RuntimeError("rtpengine does not answer")


def sdp(
    address: tuple[str, int], srtp: bool, key: bytes, suite: str = SUITE, tag: int = 1
) -> bytes:
    lines = [
        "v=0",
        f"o=- 1 1 IN IP4 {address[0]}",
        "s=-",
        f"c=IN IP4 {address[0]}",
        "t=0 0",
        f"m=audio {address[1]} {'RTP/SAVP' if srtp else 'RTP/AVP'} 0",
        "a=rtpmap:0 PCMU/8000",
        "a=sendrecv",
    ]
    if srtp:
        lines.append(f"a=crypto:{tag} {suite} inline:{b64encode(key).decode()}")
    return ("\r\n".join(lines) + "\r\n").encode()


def sdp_port_and_key(body: bytes, suite: str) -> tuple[int, bytes | None]:
    port, key = 0, None
    for line in body.decode().splitlines():
        if line.startswith("m=audio "):
            port = int(line.split()[1])
        if line.startswith("a=crypto:") and line.split()[1] == suite and key is None:
            key = b64decode(line.split("inline:")[1].split("|")[0])
    return port, key


def b_tag(body: bytes) -> int:
    """The crypto tag of B_SUITE in rtpengine's offer (the answer must name it)."""
    for line in body.decode().splitlines():
        if line.startswith("a=crypto:") and line.split()[1] == B_SUITE:
            return int(line.split()[0].split(":")[1])
    return 1


class RtpengineTarget:
    name = "rtpengine (userspace, --table=-1)"

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.name = f"rtpengine userspace, {threads} thread{'s' if threads > 1 else ''}"
        self.process: subprocess.Popen[bytes] | None = None
        self.ng: NgClient | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - rtpengine's log, closed in stop()

    async def start(self) -> None:
        ng_port = random.randrange(41000, 42000)
        low = random.randrange(26000, 28000, 2)
        self.process = subprocess.Popen(
            [
                "rtpengine", "--table=-1", "--foreground", "--log-stderr", "--log-level=3",
                f"--interface={HOST}", f"--listen-ng={HOST}:{ng_port}",
                f"--port-min={low}", f"--port-max={low + 3999}",
                f"--num-threads={self.threads}", "--timeout=600", "--delete-delay=0",
            ],
            stdout=self._log, stderr=self._log,
        )
        ncpu = os.cpu_count() or 1
        cpus = {0} if self.threads == 1 else set(range(ncpu))
        os.sched_setaffinity(self.process.pid, cpus)
        for tid in os.listdir(f"/proc/{self.process.pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), cpus)
        self.ng = NgClient(ng_port)
        for _ in range(50):
            try:
                self.ng.call({"command": "ping"})
                break
            except (RuntimeError, ConnectionRefusedError):
                await asyncio.sleep(0.1)
        for tid in os.listdir(f"/proc/{self.process.pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), cpus)

    @property
    def pids(self) -> list[int]:
        assert self.process is not None
        return [self.process.pid]

    def load_cpus(self) -> set[int] | None:
        ncpu = os.cpu_count() or 1
        return {1 % ncpu} if self.threads == 1 else None

    async def setup(
        self, streams: list[Stream], srtp: bool, gen: tuple[str, int], sink: tuple[str, int]
    ) -> None:
        assert self.ng is not None
        for i, s in enumerate(streams):
            call_id = f"bench-{i}"
            offer = self.ng.call(
                {"command": "offer", "call-id": call_id, "from-tag": "a",
                 "sdp": sdp(gen, srtp, s.a_key), "replace": ["origin"], "ICE": "remove"}
            )
            assert isinstance(offer["sdp"], bytes)
            _, b_key = sdp_port_and_key(offer["sdp"], B_SUITE)
            answer = self.ng.call(
                {"command": "answer", "call-id": call_id, "from-tag": "a", "to-tag": "b",
                 "sdp": sdp(sink, srtp, new_key(), B_SUITE, tag=b_tag(offer["sdp"]))}
            )
            assert isinstance(answer["sdp"], bytes)
            a_port, _ = sdp_port_and_key(answer["sdp"], SUITE)
            if srtp:
                if b_key is None or b_key == s.a_key:
                    raise RuntimeError("rtpengine did not re-key")
                s.b_key = b_key
            s.a_port = a_port

    async def teardown(self, count: int) -> dict[str, int]:
        assert self.ng is not None
        for i in range(count):
            with contextlib.suppress(RuntimeError):
                self.ng.call({"command": "delete", "call-id": f"bench-{i}"})
        return {}

    async def stop(self) -> None:
        self._log.close()
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class DirectTarget:
    """No relay: the generator sends straight to the sink (the latency baseline)."""

    name = "direct (no relay)"
    pids: list[int] = []  # noqa: RUF012

    def load_cpus(self) -> set[int] | None:
        return {1 % (os.cpu_count() or 1)}

    async def setup(
        self, streams: list[Stream], _srtp: bool, _gen: tuple[str, int], sink: tuple[str, int]
    ) -> None:
        for s in streams:
            s.b_key = s.a_key
            s.a_port = sink[1]


# -- runs ------------------------------------------------------------------------------------------


@dataclass
class Result:
    target: str
    mode: str
    sent: int = 0
    delivered: int = 0
    window: float = 0.0
    cpu: float = 0.0
    rate: float = 0.0  # offered (0: as fast as possible)
    delays_us: list[float] = field(default_factory=list)
    failed: int = 0
    relay: dict[str, int] = field(default_factory=dict)
    limited: str = ""  # what stopped the rate search one step later: "relay" or "generator"

    @property
    def per_second(self) -> float:
        return self.delivered / self.window if self.window else 0.0

    @property
    def per_cpu_second(self) -> float:
        return self.delivered / self.cpu if self.cpu else 0.0

    def percentile(self, p: float) -> float:
        if not self.delays_us:
            return float("nan")
        ordered = sorted(self.delays_us)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def free_port() -> int:
    """A free even port below the relays' ranges and the kernel's ephemeral ports."""
    while True:
        port = random.randrange(10000, 19998, 2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port


async def run_once(
    target: VoxgateTarget | RtpengineTarget | DirectTarget,
    pairs: int,
    srtp: bool,
    seconds: float,
    rate: float,
    latency: bool,
) -> Result:
    streams = [Stream(0x10000000 + i, new_key(), new_key()) for i in range(pairs)]
    gen_port, sink_port = free_port(), free_port()
    await target.setup(streams, srtp, (HOST, gen_port), (HOST, sink_port))
    ctx = mp.get_context("spawn")
    gen_out, gen_in = ctx.Pipe(duplex=False)
    sink_out, sink_in = ctx.Pipe(duplex=False)
    cpus = target.load_cpus()
    warmup = 1.0
    start = time.monotonic() + 2.0
    keys = {s.ssrc: s.b_key for s in streams}
    sink_proc = ctx.Process(
        target=sink,
        args=(
            sink_port, keys, srtp, start, warmup, seconds, latency,
            isinstance(target, DirectTarget), cpus, sink_in,
        ),
    )
    sink_proc.start()
    assert await asyncio.to_thread(sink_out.recv) == "ready"
    gen_proc = ctx.Process(
        target=generator, args=(gen_port, streams, srtp, start, seconds, rate, cpus, gen_in)
    )
    gen_proc.start()
    await asyncio.sleep(max(0.0, start + warmup - time.monotonic()))
    cpu0 = cpu_seconds(target.pids)
    await asyncio.sleep(max(0.0, start + seconds - time.monotonic()))
    cpu1 = cpu_seconds(target.pids)
    sent = await asyncio.to_thread(gen_out.recv)
    counted, failed, delays = await asyncio.to_thread(sink_out.recv)
    gen_proc.join()
    sink_proc.join()
    relay_counts = await target.teardown(pairs) if hasattr(target, "teardown") else {}
    ns = array.array("q")
    ns.frombytes(delays)
    return Result(
        target=target.name,
        mode="SRTP→SRTP" if srtp else "RTP→RTP",
        sent=sent,
        delivered=counted,
        window=seconds - warmup,
        cpu=cpu1 - cpu0,
        rate=rate,
        delays_us=[d / 1000 for d in ns],
        failed=failed,
        relay=relay_counts,
    )


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {platform.platform()}"


async def bench(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}")
    print(f"pairs: {args.pairs}, {args.seconds} s per run (first 1 s not counted)\n")
    modes = [m == "srtp" for m in args.modes.split(",")]
    targets: list[VoxgateTarget | RtpengineTarget] = [
        VoxgateTarget(int(w)) for w in args.workers.split(",")
    ]
    if args.rtpengine and shutil.which("rtpengine"):
        targets.append(RtpengineTarget(1))
    elif args.rtpengine:
        print("rtpengine not found: skipped")
    baseline: dict[tuple[bool, int], Result] = {}
    rows = []
    for target in targets:
        await target.start()
        try:
            for srtp in modes:
                # Paced runs, each rate 1.25x the last, until the relay stops keeping up
                # (< 99 % delivered) or the generator cannot send that fast. Blasting
                # instead would measure overload behaviour: rtpengine's userspace poller
                # almost stops forwarding under a flood several times its capacity.
                best: Result | None = None
                rate = args.start_rate
                if not args.search:
                    best = Result(target.name, "SRTP→SRTP" if srtp else "RTP→RTP", rate=rate)
                while args.search:
                    r = await run_once(target, args.pairs, srtp, args.seconds, rate, False)
                    offered_ok = r.sent >= 0.97 * rate * args.seconds
                    kept_up = r.per_second >= 0.99 * rate
                    print(
                        f"  {r.target:34} {r.mode:9} offered {rate:9,.0f}/s: delivered "
                        f"{r.per_second:9,.0f}/s, relay CPU {r.cpu / r.window:4.0%} of a core, "
                        f"{r.per_cpu_second:9,.0f} pkt per CPU-s"
                        + ("" if offered_ok else " [generator could not keep up]"),
                        flush=True,
                    )
                    if not (offered_ok and kept_up):
                        if best is not None:
                            best.limited = "generator" if not offered_ok else "relay"
                        break
                    best = r
                    rate = round(rate * 1.25, -2)
                if best is None:
                    print(f"  {target.name}: not even {args.start_rate:,.0f}/s sustained")
                    continue
                assert best is not None
                half = round(best.rate / 2, -2) if args.latency_rate == 0 else args.latency_rate
                lat = await run_once(target, args.pairs, srtp, args.seconds, half, True)
                key = (srtp, int(half))
                if key not in baseline:
                    baseline[key] = await run_once(
                        DirectTarget(), args.pairs, srtp, args.seconds, half, True
                    )
                base = baseline[key]
                print(
                    f"  {lat.target:38} {lat.mode:10} at {half:,.0f} pkt/s: delivered "
                    f"{lat.per_second:,.0f}/s, p50 {lat.percentile(50):.0f} µs, "
                    f"p99 {lat.percentile(99):.0f} µs (direct p50 {base.percentile(50):.0f}, "
                    f"p99 {base.percentile(99):.0f}; sink decrypt failures {lat.failed})",
                    flush=True,
                )
                rows.append((best, lat, base))
        finally:
            await target.stop()
    print("\n| relay | mode | max sustained pkt/s (next step limited by) | pkt per relay CPU-s "
          "| at half load: added p50 / p99 (µs) |")
    print("|---|---|---|---|---|")
    for best, lat, base in rows:
        print(
            f"| {best.target} | {best.mode} | {best.rate:,.0f} ({best.limited}) "
            f"| {best.per_cpu_second:,.0f} "
            f"| {lat.percentile(50) - base.percentile(50):.0f} / "
            f"{lat.percentile(99) - base.percentile(99):.0f} (at {lat.rate:,.0f} pkt/s) |"
        )
    by = {(b.target, b.mode): b for b, _, _ in rows}
    for mode in ("SRTP→SRTP", "RTP→RTP"):
        ours = by.get((targets[0].name, mode))
        theirs = [b for (t, m), b in by.items() if m == mode and t.startswith("rtpengine")]
        if ours and theirs and theirs[0].rate:
            print(
                f"{mode}: {ours.target} / {theirs[0].target} = "
                f"{ours.rate / theirs[0].rate:.2f} (max sustained), "
                f"{ours.per_cpu_second / max(theirs[0].per_cpu_second, 1):.2f} (per CPU-s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=500, help="concurrent calls (streams)")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds per run")
    parser.add_argument(
        "--start-rate", type=float, default=20000, help="first paced rate of the search"
    )
    parser.add_argument("--workers", default="1,2", help="voxgate worker counts to run")
    parser.add_argument("--modes", default="srtp,plain", help="srtp, plain or both")
    parser.add_argument(
        "--latency-rate", type=float, default=0, help="pkt/s for latency (0: half the max)"
    )
    parser.add_argument(
        "--no-search", dest="search", action="store_false",
        help="skip the rate search (latency at --latency-rate only)",
    )
    parser.add_argument(
        "--no-rtpengine", dest="rtpengine", action="store_false", help="skip rtpengine"
    )
    args = parser.parse_args()
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        asyncio.run(bench(args))
    else:
        uvloop.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
