"""The relay's packet path with real sockets on 127.0.0.1, for the in-process forwarder and
the worker pool: two test-side parties (one SRTP through pylibsrtp, one plain) exchange RTP
and RTCP through a pair; re-keying, latching, attacks, counters, DSCP, closing and idling.

"Dropped" is proved without waiting for silence: UDP from one socket to one socket on
loopback keeps its order and a pair is served in order, so when a good packet sent after a
bad one arrives and the bad one did not, the bad one was dropped; the counters must say so.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, cast

import pylibsrtp
import pytest
import uvloop

from voxgate.media.control import InterfaceName, MediaError
from voxgate.media.relay.forwarder import LocalForwarder
from voxgate.media.relay.model import (
    EndpointConfig,
    Forwarder,
    PairConfig,
    PairId,
    PairPorts,
    SrtpKey,
)
from voxgate.media.relay.workers import WorkerPool

HOST = "127.0.0.1"
SUITE = "AES_CM_128_HMAC_SHA1_80"
WAIT = 5.0  # seconds a test waits for a packet that must come


def run(coro: Coroutine[Any, Any, None]) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)


def port_range() -> tuple[int, int]:
    """200 ports of which the first 40 are free now (another relay on this machine, e.g. a
    benchmark's rtpengine, may hold whole blocks)."""
    for _ in range(100):
        low = random.randrange(20000, 60000, 2)
        if all(_free(port) for port in range(low, low + 40)):
            return low, low + 199
    raise RuntimeError("no free block of UDP ports on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


@asynccontextmanager
async def forwarder(kind: str, idle_timeout: float = 60.0) -> AsyncIterator[Any]:
    interfaces: dict[InterfaceName, str] = {"wan": HOST, "lan": HOST}
    if kind == "local":
        local = LocalForwarder(interfaces, port_range(), idle_timeout=idle_timeout)
        try:
            yield local
        finally:
            await local.close()
    else:
        pool = WorkerPool(interfaces, port_range(), workers=2, idle_timeout=idle_timeout)
        await pool.start()
        try:
            yield pool
        finally:
            await pool.close()


KINDS = ["local", "workers"]


def new_key() -> SrtpKey:
    return SrtpKey(SUITE, os.urandom(30))


def rtp(seq: int, payload: bytes, ssrc: int = 0x1234ABCD, pt: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 160, ssrc) + payload


def rtcp_rr(ssrc: int = 0x1234ABCD) -> bytes:
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)  # an empty receiver report


class Party(asyncio.DatagramProtocol):
    """A test-side UDP socket: what it receives is queued with the sender's address."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, (HOST, port))

    async def receive(self) -> tuple[bytes, tuple[str, int]]:
        return await asyncio.wait_for(self.queue.get(), WAIT)

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()


async def party() -> Party:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(Party, local_addr=(HOST, 0))
    return protocol


class SrtpParty:
    """The SRTP side's libsrtp: protects under its own key, opens under the relay's."""

    def __init__(self, own: SrtpKey, relays: SrtpKey) -> None:
        self.tx = pylibsrtp.Session(
            pylibsrtp.Policy(own.key_salt, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        )
        self.rx = pylibsrtp.Session(
            pylibsrtp.Policy(relays.key_salt, pylibsrtp.Policy.SSRC_ANY_INBOUND)
        )


class Call:
    """A pair between party A (WAN, SRTP, latching, RTP and RTCP sockets) and party B (LAN,
    plain, signaled address, its own RTCP socket)."""

    def __init__(
        self, fwd: Forwarder, ports: PairPorts, a: Party, a_rtcp: Party, b: Party, b_rtcp: Party
    ) -> None:
        self.fwd = fwd
        self.ports = ports
        self.a, self.a_rtcp, self.b, self.b_rtcp = a, a_rtcp, b, b_rtcp
        self.a_key, self.relay_key = new_key(), new_key()
        self.srtp = SrtpParty(self.a_key, self.relay_key)
        self.pair = PairId("call-1")

    def config(self, *, a_mux: bool = False, a_latch: bool = True) -> PairConfig:
        return PairConfig(
            a=EndpointConfig(
                remote_rtp=self.a.address,
                remote_rtcp=self.a.address if a_mux else self.a_rtcp.address,
                rtcp_mux=a_mux,
                latch=a_latch,
                recv_key=self.a_key,
                send_key=self.relay_key,
                clock_rate=8000,
            ),
            b=EndpointConfig(
                remote_rtp=self.b.address, remote_rtcp=self.b_rtcp.address, clock_rate=8000
            ),
        )

    async def a_to_b(self, seq: int, sender: Party | None = None) -> bytes:
        """A sends SRTP packet ``seq``; B must receive it plain. Returns what A sent."""
        packet = rtp(seq, os.urandom(160))
        protected = self.srtp.tx.protect(packet)
        (sender or self.a).send(protected, self.ports.a)
        data, source = await self.b.receive()
        assert data == packet
        assert source == (HOST, self.ports.b)
        return protected

    async def b_to_a(self, seq: int, receiver: Party | None = None) -> None:
        """B sends plain packet ``seq``; A (or ``receiver``) must receive it as SRTP under
        the relay's key."""
        packet = rtp(seq, os.urandom(160), ssrc=0x0B0B0B0B)
        self.b.send(packet, self.ports.b)
        data, source = await (receiver or self.a).receive()
        assert packet[12:] not in data
        assert self.srtp.rx.unprotect(data) == packet
        assert source == (HOST, self.ports.a)


@asynccontextmanager
async def call(kind: str, **config: bool) -> AsyncIterator[Call]:
    async with forwarder(kind) as fwd:
        parties = [await party() for _ in range(4)]
        try:
            ports = await fwd.open_pair(PairId("call-1"), "wan", "lan")
            c = Call(fwd, ports, *parties)
            await fwd.configure(c.pair, c.config(**config))
            yield c
        finally:
            for p in parties:
                p.close()


@pytest.mark.parametrize("kind", KINDS)
def test_audio_is_rekeyed_both_ways(kind: str) -> None:
    async def scenario() -> None:
        async with call(kind) as c:
            assert c.ports.a % 2 == 0 and c.ports.b % 2 == 0
            for seq in range(1, 6):
                await c.a_to_b(seq)
                await c.b_to_a(seq)
            await c.a_to_b(8)  # 6 and 7 lost on the way
            stats = await c.fwd.stats(c.pair)
            assert stats is not None
            assert (stats.a.packets, stats.a.forwarded, stats.a.lost) == (6, 6, 2)
            assert stats.a.octets == 6 * (172 + 10)
            assert (stats.b.packets, stats.b.forwarded, stats.b.lost) == (5, 5, 0)
            assert stats.a.dropped_auth == stats.a.dropped_source == 0
            assert stats.a_source == c.a.address and stats.b_source == c.b.address
            assert stats.last_packet > 0

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("a_mux", [False, True])
def test_rtcp_with_and_without_mux(kind: str, a_mux: bool) -> None:
    async def scenario() -> None:
        async with call(kind, a_mux=a_mux) as c:
            a_rtcp_socket = c.a if a_mux else c.a_rtcp
            a_rtcp_port = c.ports.a if a_mux else c.ports.a + 1
            report = rtcp_rr()
            a_rtcp_socket.send(c.srtp.tx.protect_rtcp(report), a_rtcp_port)
            data, source = await c.b_rtcp.receive()
            assert data == report
            assert source == (HOST, c.ports.b + 1)
            b_report = rtcp_rr(0x0B0B0B0B)
            c.b_rtcp.send(b_report, c.ports.b + 1)
            data, source = await a_rtcp_socket.receive()
            assert c.srtp.rx.unprotect_rtcp(data) == b_report
            assert source == (HOST, a_rtcp_port)
            # RTP still flows beside it
            await c.a_to_b(1)
            await c.b_to_a(1)
            stats = await c.fwd.stats(c.pair)
            assert stats is not None
            assert (stats.a.packets, stats.a.forwarded) == (2, 2)
            assert (stats.b.packets, stats.b.forwarded) == (2, 2)

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_srtp_latch_moves_to_an_authenticated_new_source(kind: str) -> None:
    async def scenario() -> None:
        async with call(kind) as c:
            await c.a_to_b(1)
            await c.b_to_a(1)
            moved = await party()  # the phone's NAT binding changed
            try:
                await c.a_to_b(2, sender=moved)
                await c.b_to_a(2, receiver=moved)
                stats = await c.fwd.stats(c.pair)
                assert stats is not None and stats.a_source == moved.address
                # a forged packet from yet another address does not move it back
                attacker = await party()
                attacker.send(c.srtp.tx.protect(rtp(3, bytes(160)))[:-1] + b"\x00", c.ports.a)
                await c.a_to_b(4, sender=moved)
                await c.b_to_a(3, receiver=moved)
                attacker.close()
                assert c.a.queue.empty()
            finally:
                moved.close()

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_plain_latch_holds_and_unlatched_side_takes_only_its_address(kind: str) -> None:
    async def scenario() -> None:
        async with forwarder(kind) as fwd:
            a, b, other = await party(), await party(), await party()
            try:
                pair = PairId("plain")
                ports = await fwd.open_pair(pair, "wan", "lan")
                await fwd.configure(
                    pair,
                    PairConfig(
                        a=EndpointConfig(remote_rtp=("127.0.0.9", 9), latch=True, rtcp_mux=True),
                        b=EndpointConfig(remote_rtp=b.address, rtcp_mux=True),
                    ),
                )
                a.send(rtp(1, b"first"), ports.a)  # latches A
                assert (await b.receive())[0] == rtp(1, b"first")
                other.send(rtp(2, b"intruder"), ports.a)  # plain: the latch holds
                other.send(rtp(2, b"intruder"), ports.b)  # B is not latched: only B counts
                a.send(rtp(3, b"second"), ports.a)
                assert (await b.receive())[0] == rtp(3, b"second")
                b.send(rtp(1, b"to a"), ports.b)
                assert (await a.receive())[0] == rtp(1, b"to a")  # sent to the latched address
                stats = await fwd.stats(pair)
                assert stats is not None
                assert (stats.a.packets, stats.a.dropped_source) == (2, 1)
                assert (stats.b.packets, stats.b.dropped_source) == (1, 1)
                assert other.queue.empty()
            finally:
                for p in (a, b, other):
                    p.close()

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_attacks_are_dropped_and_counted_while_audio_continues(kind: str) -> None:
    async def scenario() -> None:
        async with call(kind) as c:
            first = await c.a_to_b(1)
            c.a.send(first, c.ports.a)  # replayed
            wrong_tag = c.srtp.tx.protect(rtp(2, os.urandom(160)))
            c.a.send(wrong_tag[:-1] + bytes([wrong_tag[-1] ^ 0xFF]), c.ports.a)
            attacker = await party()
            for _ in range(20):  # a random stream, from another address
                attacker.send(os.urandom(random.randrange(1, 300)), c.ports.a)
            # malformed, from A (an empty datagram never reaches the protocol under uvloop)
            for junk in (b"\x80", b"\x00" * 11, b"\xff" * 40, b"\x80\xc8"):
                c.a.send(junk, c.ports.a)
            await c.a_to_b(3)
            await c.b_to_a(1)
            stats = await c.fwd.stats(c.pair)
            assert stats is not None
            assert stats.a.dropped_auth == 1 + 1 + 20 + 4
            assert (stats.a.packets, stats.a.forwarded) == (2, 2)
            assert stats.a_source == c.a.address  # not moved by any of them
            assert attacker.queue.empty()
            attacker.close()

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_is_forwarded_before_configure(kind: str) -> None:
    async def scenario() -> None:
        async with forwarder(kind) as fwd:
            a, b = await party(), await party()
            try:
                pair = PairId("early")
                ports = await fwd.open_pair(pair, "wan", "lan")
                assert await fwd.open_pair(pair, "wan", "lan") == ports  # a retried open
                a.send(rtp(1, b"early"), ports.a)
                a.send(rtcp_rr(), ports.a + 1)
                stats = await fwd.stats(pair)
                while stats is not None and stats.a.dropped_source < 2:
                    await asyncio.sleep(0.01)
                    stats = await fwd.stats(pair)
                assert stats is not None
                assert (stats.a.packets, stats.a.forwarded, stats.a.dropped_source) == (0, 0, 2)
                await fwd.configure(
                    pair,
                    PairConfig(
                        a=EndpointConfig(remote_rtp=a.address, rtcp_mux=True),
                        b=EndpointConfig(remote_rtp=b.address, rtcp_mux=True),
                    ),
                )
                a.send(rtp(2, b"now"), ports.a)
                assert (await b.receive())[0] == rtp(2, b"now")
                assert await fwd.stats(PairId("unknown")) is None
                with pytest.raises(MediaError) as refused:
                    await fwd.configure(PairId("unknown"), PairConfig(EndpointConfig(), EndpointConfig()))
                assert refused.value.status == 481
            finally:
                a.close()
                b.close()

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_reinvite_with_the_same_key_keeps_the_replay_window(kind: str) -> None:
    async def scenario() -> None:
        async with call(kind) as c:
            first = await c.a_to_b(1)
            await c.fwd.configure(c.pair, c.config())  # the same keys again
            c.a.send(first, c.ports.a)  # still a replay
            await c.a_to_b(2)
            await c.b_to_a(1)  # the relay's send context (and its key) is kept too
            stats = await c.fwd.stats(c.pair)
            assert stats is not None and stats.a.dropped_auth == 1

    run(scenario())


def _refused(port: int) -> bool:
    """Whether a datagram to ``port`` meets an ICMP port unreachable."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(WAIT)
        probe.connect((HOST, port))
        probe.send(b"anyone?")
        try:
            probe.recv(100)
        except ConnectionRefusedError:
            return True
        except TimeoutError:
            return False
        return False


@pytest.mark.parametrize("kind", KINDS)
def test_close_pair_closes_its_ports_at_once(kind: str) -> None:
    async def scenario() -> None:
        async with call(kind) as c:
            await c.a_to_b(1)
            final = await c.fwd.close_pair(c.pair)
            assert final is not None and final.a.forwarded == 1
            for port in (c.ports.a, c.ports.a + 1, c.ports.b, c.ports.b + 1):
                assert await asyncio.to_thread(_refused, port)
            assert await c.fwd.close_pair(c.pair) is None
            assert await c.fwd.stats(c.pair) is None

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_idle_pair_is_reported(kind: str) -> None:
    async def scenario() -> None:
        async with forwarder(kind, idle_timeout=0.2) as fwd:
            idle: asyncio.Queue[PairId] = asyncio.Queue()
            fwd.on_idle(idle.put_nowait)
            await fwd.open_pair(PairId("quiet"), "wan", "lan")
            assert await asyncio.wait_for(idle.get(), WAIT) == "quiet"

    run(scenario())


def test_idle_is_measured_from_the_last_accepted_packet() -> None:
    """With a test clock: a pair is idle only after the timeout without accepted packets,
    reported once per quiet spell; packets from elsewhere do not keep it alive."""
    now = [1000.0]

    async def scenario() -> None:
        fwd = LocalForwarder({"wan": HOST, "lan": HOST}, port_range(), idle_timeout=30, clock=lambda: now[0])
        a, b, other = await party(), await party(), await party()
        try:
            pair = PairId("p")
            ports = await fwd.open_pair(pair, "wan", "lan")
            await fwd.configure(
                pair,
                PairConfig(
                    a=EndpointConfig(remote_rtp=a.address, rtcp_mux=True),
                    b=EndpointConfig(remote_rtp=b.address, rtcp_mux=True),
                ),
            )
            now[0] += 20
            a.send(rtp(1, b"x"), ports.a)
            await b.receive()
            now[0] += 20
            assert fwd.check_idle() == []
            other.send(rtp(2, b"y"), ports.a)  # dropped: keeps nothing alive
            a.send(rtp(3, b"z"), ports.b)  # also from a wrong source (B's port)
            a.send(rtp(4, b"w"), ports.a)
            await b.receive()
            now[0] += 29
            assert fwd.check_idle() == []
            now[0] += 1
            assert fwd.check_idle() == [pair]
            now[0] += 100
            assert fwd.check_idle() == []  # reported once
        finally:
            for p in (a, b, other):
                p.close()
            await fwd.close()

    run(scenario())


def test_media_leaves_with_the_dscp() -> None:
    """The relay's packets carry DSCP 46 (EF): TOS octet 0xB8 as the receiver sees it."""

    async def scenario() -> None:
        fwd = LocalForwarder({"wan": HOST, "lan": HOST}, port_range())
        a = await party()
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            receiver.bind((HOST, 0))
            receiver.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
            receiver.settimeout(WAIT)
            pair = PairId("dscp")
            ports = await fwd.open_pair(pair, "wan", "lan")
            await fwd.configure(
                pair,
                PairConfig(
                    a=EndpointConfig(remote_rtp=a.address, rtcp_mux=True),
                    b=EndpointConfig(remote_rtp=receiver.getsockname(), rtcp_mux=True),
                ),
            )
            a.send(rtp(1, b"tone"), ports.a)
            data, ancillary, _, _ = await asyncio.to_thread(receiver.recvmsg, 100, 64)
            assert data == rtp(1, b"tone")
            tos = [d[0] for level, kind, d in ancillary if level == socket.IPPROTO_IP and kind == socket.IP_TOS]
            assert tos == [46 << 2]
        finally:
            a.close()
            receiver.close()
            await fwd.close()

    run(scenario())


def test_exhausted_range_is_503() -> None:
    async def scenario() -> None:
        low = port_range()[0]
        fwd = LocalForwarder({"wan": HOST, "lan": HOST}, (low, low + 3))  # two port pairs
        try:
            await fwd.open_pair(PairId("one"), "wan", "lan")
            with pytest.raises(MediaError) as refused:
                await fwd.open_pair(PairId("two"), "wan", "lan")
            assert refused.value.status == 503
            await fwd.close_pair(PairId("one"))
            await fwd.open_pair(PairId("two"), "wan", "lan")
        finally:
            await fwd.close()

    run(scenario())


def test_busy_ports_are_skipped() -> None:
    async def scenario() -> None:
        low = port_range()[0]
        squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        squatter.bind((HOST, low + 1))  # the first pair's RTCP port
        fwd = LocalForwarder({"wan": HOST, "lan": HOST}, (low, low + 7))
        try:
            ports = await fwd.open_pair(PairId("one"), "wan", "lan")
            assert low not in (ports.a, ports.b)
        finally:
            squatter.close()
            await fwd.close()

    run(scenario())


def test_worker_pool_uses_processes_and_stops_them() -> None:
    async def scenario() -> None:
        pool = WorkerPool({"wan": HOST, "lan": HOST}, port_range(), workers=2)
        await pool.start()
        pids = pool.pids
        try:
            assert len(set(pids)) == 2 and os.getpid() not in pids
            opened = [await pool.open_pair(PairId(f"p{i}"), "wan", "lan") for i in range(4)]
            assert len({p.a for p in opened} | {p.b for p in opened}) == 8
        finally:
            await pool.close()
        for pid in pids:
            assert not _alive(pid)

    run(scenario())


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


ORPHAN_SCRIPT = """
import asyncio, sys, uvloop
from voxgate.media.relay.workers import WorkerPool

async def main():
    pool = WorkerPool({"wan": "127.0.0.1", "lan": "127.0.0.1"}, (%d, %d), workers=2)
    await pool.start()
    print(*pool.pids, flush=True)
    await asyncio.sleep(3600)

uvloop.run(main())
"""


def test_workers_die_with_a_killed_parent() -> None:
    async def scenario() -> None:
        parent = await asyncio.create_subprocess_exec(
            sys.executable, "-c", ORPHAN_SCRIPT % port_range(), stdout=asyncio.subprocess.PIPE
        )
        assert parent.stdout is not None
        line = await asyncio.wait_for(parent.stdout.readline(), 30)
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        parent.kill()
        await parent.wait()
        for _ in range(int(WAIT / 0.05)):
            if not any(_alive(pid) for pid in pids):
                break
            await asyncio.sleep(0.05)
        assert not any(_alive(pid) for pid in pids)

    run(scenario())
