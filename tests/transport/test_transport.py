"""Tests of voxgate.transport with real sockets on 127.0.0.1 (and ::1 when present)."""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from voxgate.sip.flow import Flow, Transport
from voxgate.transport.manager import ListenerSpec, TransportManager, set_dscp
from voxgate.transport.tlsctx import ReloadableContext, build_server_context

MSG = (
    b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nTo: <sip:h>\r\n"
    b"From: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 5\r\n\r\nhello"
)


def write_cert(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


class Harness:
    def __init__(self, **options: object) -> None:
        self.received: list[tuple[bytes, Flow]] = []
        self.lost: list[Flow] = []
        self.manager = TransportManager(
            lambda data, flow: self.received.append((data, flow)), self.lost.append,
            **options,  # type: ignore[arg-type]
        )  # fmt: skip

    def port(self, transport: Transport) -> int:
        return next(addr[1] for kind, addr in self.manager.bound if kind is transport)

    async def wait_for(self, count: int, timeout: float = 3.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            assert asyncio.get_running_loop().time() < deadline, f"got {len(self.received)}"
            await asyncio.sleep(0.01)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


def test_udp_round_trip_and_keepalives_ignored() -> None:
    async def body() -> None:
        h = Harness()
        await h.manager.start([ListenerSpec(Transport.UDP, "127.0.0.1", 0)])
        loop = asyncio.get_running_loop()
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.bind(("127.0.0.1", 0))
        client.setblocking(False)
        target = ("127.0.0.1", h.port(Transport.UDP))
        client.sendto(b"\r\n\r\n", target)
        client.sendto(MSG, target)
        await h.wait_for(1)
        data, flow = h.received[0]
        assert data == MSG
        assert flow.remote == client.getsockname()
        assert h.manager.send(b"reply", flow)
        assert await loop.sock_recv(client, 100) == b"reply"
        client.close()
        await h.manager.close()

    run(body)


def test_tcp_framing_split_and_joined_ping_and_reuse() -> None:
    async def body() -> None:
        h = Harness()
        await h.manager.start([ListenerSpec(Transport.TCP, "127.0.0.1", 0)])
        reader, writer = await asyncio.open_connection("127.0.0.1", h.port(Transport.TCP))
        stream = MSG + MSG
        for i in range(0, len(stream), 13):
            writer.write(stream[i : i + 13])
            await writer.drain()
        await h.wait_for(2)
        assert [d for d, _ in h.received] == [MSG, MSG]
        writer.write(b"\r\n\r\n")  # RFC 5626 ping
        assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"
        flow = h.received[0][1]
        assert h.manager.send(b"back on the same connection", flow)
        assert await reader.readexactly(27) == b"back on the same connection"
        writer.close()
        for _ in range(100):
            if h.lost:
                break
            await asyncio.sleep(0.01)
        assert h.lost == [flow]
        assert not h.manager.send(b"x", flow)
        await h.manager.close()

    run(body)


def test_framing_error_answers_then_closes() -> None:
    async def body() -> None:
        h = Harness()
        await h.manager.start([ListenerSpec(Transport.TCP, "127.0.0.1", 0)])
        reader, writer = await asyncio.open_connection("127.0.0.1", h.port(Transport.TCP))
        writer.write(b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 3)
        assert answer.startswith(b"SIP/2.0 400 Missing Content-Length\r\n")
        writer.close()
        await h.manager.close()

    run(body)


def test_idle_timeout_and_connection_limit() -> None:
    async def body() -> None:
        h = Harness(idle_timeout=0.3, max_connections=1)
        await h.manager.start([ListenerSpec(Transport.TCP, "127.0.0.1", 0)])
        port = h.port(Transport.TCP)
        reader1, writer1 = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.05)
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader2.read(), 2) == b""  # refused: over the limit
        assert h.manager.stats["refused_connections"] == 1
        assert await asyncio.wait_for(reader1.read(), 2) == b""  # closed when idle
        writer1.close()
        writer2.close()
        await h.manager.close()

    run(body)


def test_garbage_never_kills_the_listener() -> None:
    async def body() -> None:
        h = Harness()
        await h.manager.start([ListenerSpec(Transport.TCP, "127.0.0.1", 0),
                               ListenerSpec(Transport.UDP, "127.0.0.1", 0)])  # fmt: skip
        for _ in range(20):
            _, writer = await asyncio.open_connection("127.0.0.1", h.port(Transport.TCP))
            writer.write(bytes(range(256)) * 300)
            writer.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(200):
                s.sendto(b"\xff" * 900, ("127.0.0.1", h.port(Transport.UDP)))
        _, writer = await asyncio.open_connection("127.0.0.1", h.port(Transport.TCP))
        writer.write(MSG)
        for _ in range(300):  # the listeners still deliver a good message after the flood
            if any(data == MSG for data, _ in h.received):
                break
            await asyncio.sleep(0.01)
        assert any(data == MSG for data, _ in h.received)
        assert h.manager.stats["framing_errors"] == 20
        await h.manager.close()

    run(body)


def _client_context(maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = maximum
    return context


def _peer_cn(writer: asyncio.StreamWriter) -> str:
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    cert = x509.load_der_x509_certificate(der)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_tls_reload_min_version_and_flow(tmp_path: Path) -> None:
    cert, key = write_cert(tmp_path, "first")

    async def body() -> None:
        reloadable = ReloadableContext(lambda: build_server_context(certificate=cert, private_key=key))
        h = Harness(tls=reloadable)
        await h.manager.start([ListenerSpec(Transport.TLS, "127.0.0.1", 0)])
        port = h.port(Transport.TLS)
        r1, w1 = await asyncio.open_connection("127.0.0.1", port, ssl=_client_context())
        assert _peer_cn(w1) == "first"
        write_cert(tmp_path, "second")
        reloadable.reload()
        _r2, w2 = await asyncio.open_connection("127.0.0.1", port, ssl=_client_context())
        assert _peer_cn(w2) == "second"  # new handshakes see the new certificate
        w1.write(MSG)  # the old connection still works
        await h.wait_for(1)
        assert h.received[0][1].transport is Transport.TLS
        assert h.manager.send(b"ok", h.received[0][1])
        assert await r1.readexactly(2) == b"ok"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                old = _client_context(ssl.TLSVersion.TLSv1_1)
        except (ValueError, ssl.SSLError):
            old = None
        if old is not None:
            with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
                await asyncio.open_connection("127.0.0.1", port, ssl=old)
        w1.close()
        w2.close()
        await h.manager.close()

    run(body)


def test_ipv6_udp_when_available() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("::1 is not configured here")

    async def body() -> None:
        h = Harness()
        await h.manager.start([ListenerSpec(Transport.UDP, "::1", 0)])
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.sendto(MSG, ("::1", h.port(Transport.UDP)))
            await h.wait_for(1)
        assert h.received[0][1].remote[0] == "::1"
        await h.manager.close()

    run(body)


def test_set_dscp_marks_sockets() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        set_dscp(s, 46)
        assert s.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 46 << 2
    with pytest.raises(ValueError, match="DSCP"):
        set_dscp(socket.socket(), 64)
