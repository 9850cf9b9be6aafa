"""The listeners apply the source policy: UDP datagrams dropped, TCP connections refused,
TLS connections refused before the handshake, and a stream closed when its source is
blocked while it is open.  Sources are distinct loopback addresses (127.0.0.2, .3)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from pathlib import Path
from typing import Any

from test_manager import MSG, Harness, Runner, insecure_client, until

from voxgate.policy.admission import GatePolicy, SourceGate
from voxgate.policy.netblocks import NetblockSet
from voxgate.sip.flow import Transport
from voxgate.transport.manager import ListenerSpec
from voxgate.transport.tlsctx import ReloadableContext, build_server_context

BAD, GOOD = "127.0.0.2", "127.0.0.3"


def blocklist(*sources: str) -> NetblockSet:
    return NetblockSet((ipaddress.ip_network(s), "test") for s in sources)


def gate_blocking(*sources: str) -> SourceGate:
    gate = SourceGate(GatePolicy())
    gate.set_netlists(NetblockSet(), blocklist(*sources))
    return gate


async def connect_from(source: str, port: int, tls: ssl.SSLContext | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0), ssl=tls)


def test_udp_from_a_blocked_source_is_dropped(run: Runner) -> None:
    async def body() -> None:
        h = Harness(source_policy=gate_blocking(BAD))
        await h.manager.start([ListenerSpec(Transport.UDP, "127.0.0.1", 0)])
        port = h.port(Transport.UDP)
        for source in (BAD, GOOD):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((source, 0))
                for _ in range(5):
                    s.sendto(MSG, ("127.0.0.1", port))
        await h.wait_for(5)
        await asyncio.sleep(0.1)
        assert {flow.remote[0] for _, flow in h.received} == {GOOD}
        assert len(h.received) == 5
        assert h.manager.stats["denied"] == 5
        await h.manager.close()

    run(body)


def test_tcp_from_a_blocked_source_is_refused(run: Runner) -> None:
    async def body() -> None:
        h = Harness(source_policy=gate_blocking(BAD))
        await h.manager.start([ListenerSpec(Transport.TCP, "127.0.0.1", 0)])
        port = h.port(Transport.TCP)
        reader, writer = await connect_from(BAD, port)
        writer.write(MSG)
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed without an answer
        writer.close()
        _, good = await connect_from(GOOD, port)
        good.write(MSG)
        await h.wait_for(1)
        assert h.received[0][1].remote[0] == GOOD
        assert h.manager.stats["denied_connections"] == 1
        good.close()
        await h.manager.close()

    run(body)


def test_tls_from_a_blocked_source_is_refused_before_the_handshake(
    run: Runner, tmp_path: Path, write_cert: Any
) -> None:
    cert, key = write_cert(tmp_path, "edge")

    async def body() -> None:
        tls = ReloadableContext(lambda: build_server_context(certificate=cert, private_key=key))
        h = Harness(tls=tls, source_policy=gate_blocking(BAD))
        await h.manager.start([ListenerSpec(Transport.TLS, "127.0.0.1", 0)])
        port = h.port(Transport.TLS)
        # a raw TCP connection from the blocked source: closed without a byte of TLS
        reader, writer = await connect_from(BAD, port)
        writer.write(b"\x16\x03\x01\x00\x05hello")  # the start of a ClientHello
        try:
            assert await asyncio.wait_for(reader.read(), 3) == b""
        except ConnectionResetError:
            pass
        writer.close()
        await until(lambda: h.manager.stats["denied_connections"] == 1)
        assert h.manager.stats["handshake_failures"] == 0  # no TLS work was spent on it
        _, good = await connect_from(GOOD, port, insecure_client())
        good.write(MSG)
        await h.wait_for(1)
        good.close()
        await h.manager.close()

    run(body)


def test_an_open_stream_is_closed_when_its_source_gets_blocked(run: Runner) -> None:
    async def body() -> None:
        gate = gate_blocking()
        h = Harness(source_policy=gate)
        await h.manager.start([ListenerSpec(Transport.TCP, "127.0.0.1", 0)])
        reader, writer = await connect_from(GOOD, h.port(Transport.TCP))
        writer.write(MSG)
        await h.wait_for(1)
        gate.set_netlists(NetblockSet(), blocklist(GOOD))  # a live reload
        writer.write(MSG)
        assert await asyncio.wait_for(reader.read(), 3) == b""
        assert len(h.received) == 1
        assert h.manager.stats["denied"] == 1
        writer.close()
        await h.manager.close()

    run(body)
