"""TransportManager with real sockets on 127.0.0.1 (and ::1 when present), on asyncio and uvloop."""

from __future__ import annotations

import asyncio
import socket
import ssl
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from voxgate.sip.flow import Flow, Transport
from voxgate.sip.parser import Limits
from voxgate.transport.manager import (
    UDP_RECEIVE_BUFFER,
    UDP_SEND_BUFFER,
    ListenerSpec,
    TransportManager,
    set_dscp,
)
from voxgate.transport.tlsctx import (
    ReloadableContext,
    build_client_context,
    build_server_context,
)
from voxgate.transport.udp import UdpListener

Runner = Callable[[Callable[[], Awaitable[None]]], None]

MSG = (
    b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nTo: <sip:h>\r\n"
    b"From: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 5\r\n\r\nhello"
)


def has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not has_ipv6(), reason="::1 is not available here")


class Harness:
    def __init__(self, **options: Any) -> None:
        self.received: list[tuple[bytes, Flow]] = []
        self.lost: list[Flow] = []
        self.manager = TransportManager(
            lambda data, flow: self.received.append((data, flow)), self.lost.append, **options
        )

    def port(self, transport: Transport) -> int:
        return next(addr[1] for kind, addr in self.manager.bound if kind is transport)

    async def wait_for(self, count: int, timeout: float = 3.0) -> None:
        await until(lambda: len(self.received) >= count, timeout)


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def insecure_client(maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = build_client_context(verify=False)
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = maximum
    return context


def peer_cn(writer: asyncio.StreamWriter) -> str:
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    cert = x509.load_der_x509_certificate(der)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


# -- UDP ---------------------------------------------------------------------------------
async def _one_udp_listener() -> tuple[Harness, UdpListener, Any]:
    """A started manager with one UDP listener on 127.0.0.1, the listener and its socket."""
    h = Harness()
    await h.manager.start([ListenerSpec(Transport.UDP, "127.0.0.1", 0)])
    [listener] = h.manager._udp
    assert listener.transport is not None
    return h, listener, listener.transport.get_extra_info("socket")


def test_udp_listeners_get_bounded_socket_buffers(run: Runner) -> None:
    """Large enough for bursts, small enough that a saturated node does not queue more work
    than SIP's 500 ms retransmission timer (the kernel reports twice what was asked)."""
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    wmem_max = int(Path("/proc/sys/net/core/wmem_max").read_text())

    async def body() -> None:
        h, _, sock = await _one_udp_listener()
        receive = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        send = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        assert receive == 2 * min(UDP_RECEIVE_BUFFER, rmem_max)
        assert send == 2 * min(UDP_SEND_BUFFER, wmem_max)
        await h.manager.close()

    run(body)


def _register(n: int, *, credentials: bool) -> bytes:
    auth = b'Authorization: Digest username="201", realm="r", nonce="n", uri="sip:h", ' \
        b'response="0"\r\n' if credentials else b""
    return (b"REGISTER sip:h SIP/2.0\r\nVia: SIP/2.0/UDP c;branch=z9hG4bK%d\r\n"
            b"To: <sip:201@h>\r\nFrom: <sip:201@h>;tag=%d\r\nCall-ID: %d\r\n"
            b"CSeq: 1 REGISTER\r\n%sContent-Length: 0\r\n\r\n") % (n, n, n, auth)


def test_a_filling_udp_queue_defers_new_requests_without_credentials(run: Runner) -> None:
    """While the receive queue is more than half full, REGISTERs without credentials are
    skipped unread; those with credentials (the second half of a registration) are all read;
    once the queue has drained, every request is read again."""
    async def body() -> None:
        h, listener, _ = await _one_udp_listener()
        target = ("127.0.0.1", h.port(Transport.UDP))

        def share() -> float:
            queue = listener._queue()  # what the listener itself reads (SO_MEMINFO)
            assert queue is not None
            return queue[0] / queue[1]

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            sent = {True: 0, False: 0}
            while share() < 0.7:  # the loop cannot read while this runs: the queue fills
                n = sent[True] + sent[False]
                credentials = n % 2 == 1
                client.sendto(_register(n, credentials=credentials), target)
                sent[credentials] += 1
            total = sum(sent.values())
            await until(lambda: len(h.received) + h.manager.stats["deferred"] >= total)
            with_credentials = sum(b"Authorization:" in data for data, _ in h.received)
            assert with_credentials == sent[True]
            assert 0 < h.manager.stats["deferred"] < sent[False]
            assert len(h.received) + h.manager.stats["deferred"] == total
            assert h.manager.stats["overloads"] == 1 and not listener.deferring
            before = len(h.received)
            client.sendto(_register(total, credentials=False), target)
            await h.wait_for(before + 1)
        await h.manager.close()

    run(body)


def test_udp_round_trip_keepalive_and_oversize(run: Runner) -> None:
    async def body() -> None:
        h = Harness(limits=Limits(max_message_size=1000))
        await h.manager.start([ListenerSpec(Transport.UDP, "127.0.0.1", 0)])
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.bind(("127.0.0.1", 0))
            client.setblocking(False)
            target = ("127.0.0.1", h.port(Transport.UDP))
            client.sendto(b"\r\n\r\n", target)  # keep-alive: ignored
            client.sendto(b"\n", target)  # a bare LF too
            client.sendto(b"x" * 1001, target)  # over the limit: dropped
            client.sendto(MSG, target)
            await h.wait_for(1)
            data, flow = h.received[0]
            assert (data, flow.transport, flow.connection) == (MSG, Transport.UDP, None)
            assert flow.remote == client.getsockname()
            assert flow.local == target
            assert h.manager.send(b"reply", flow)
            assert await asyncio.wait_for(loop.sock_recv(client, 100), 2) == b"reply"
            # an unknown local address falls back to a listener of the same family
            assert h.manager.send(b"again", Flow(Transport.UDP, ("10.9.9.9", 1), flow.remote))
            assert await asyncio.wait_for(loop.sock_recv(client, 100), 2) == b"again"
        assert len(h.received) == 1
        stats = h.manager.stats
        assert (stats["datagrams_in"], stats["dropped"], stats["datagrams_out"]) == (4, 1, 2)
        assert stats["keepalives"] == 2
        await h.manager.close()

    run(body)


@needs_ipv6
def test_ipv4_and_ipv6_wildcards_share_a_port(run: Runner) -> None:
    async def body() -> None:
        h = Harness()
        await h.manager.start([ListenerSpec(Transport.UDP, "0.0.0.0", 0),
                               ListenerSpec(Transport.TCP, "0.0.0.0", 0)])  # fmt: skip
        udp, tcp = h.port(Transport.UDP), h.port(Transport.TCP)
        h6 = Harness()
        await h6.manager.start([ListenerSpec(Transport.UDP, "::", udp),
                                ListenerSpec(Transport.TCP, "[::]", tcp)])  # fmt: skip
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.sendto(MSG, ("::1", udp))
            await h6.wait_for(1)
        assert h6.received[0][1].remote[0] == "::1"
        assert h6.received[0][1].local == ("::", udp)
        _, writer = await asyncio.open_connection("::1", tcp)
        writer.write(MSG)
        await h6.wait_for(2)
        assert h6.received[1][1].transport is Transport.TCP
        assert h.received == []
        writer.close()
        await h6.manager.close()
        await h.manager.close()

    run(body)


# -- TCP ---------------------------------------------------------------------------------
def test_tcp_framing_ping_and_same_connection(run: Runner) -> None:
    async def body() -> None:
        h = Harness()
        await h.manager.start([ListenerSpec(Transport.TCP, "127.0.0.1", 0)])
        reader, writer = await asyncio.open_connection("127.0.0.1", h.port(Transport.TCP))
        stream = MSG + MSG
        for i in range(0, len(stream), 13):  # split writes
            writer.write(stream[i : i + 13])
            await writer.drain()
            await asyncio.sleep(0)
        writer.write(MSG * 3)  # several messages in one write
        await h.wait_for(5)
        assert [d for d, _ in h.received] == [MSG] * 5
        flows = {flow for _, flow in h.received}
        assert len(flows) == 1
        flow = flows.pop()
        assert flow.transport is Transport.TCP and flow.connection is not None
        assert flow.remote == writer.get_extra_info("sockname")
        writer.write(b"\r\n\r\n")  # RFC 5626 ping
        assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"
        assert h.manager.send(b"on the same connection", flow)
        assert await reader.readexactly(22) == b"on the same connection"
        # a flow without a connection id reuses the latest connection to that address
        assert h.manager.send(b"reused", Flow(Transport.TCP, flow.local, flow.remote))
        assert await reader.readexactly(6) == b"reused"
        writer.close()
        await until(lambda: h.lost == [flow])
        assert not h.manager.send(b"x", flow)
        assert h.manager.open_connections == 0
        await h.manager.close()

    run(body)


def test_pong_can_be_disabled(run: Runner) -> None:
    async def body() -> None:
        h = Harness(keepalive_pong=False)
        await h.manager.start([ListenerSpec(Transport.TCP, "127.0.0.1", 0)])
        reader, writer = await asyncio.open_connection("127.0.0.1", h.port(Transport.TCP))
        writer.write(b"\r\n\r\n" + MSG)
        await h.wait_for(1)
        assert h.manager.send(b"!", h.received[0][1])
        assert await asyncio.wait_for(reader.readexactly(1), 2) == b"!"  # no CRLF before it
        writer.close()
        await h.manager.close()

    run(body)


def test_framing_error_answers_then_closes(run: Runner) -> None:
    async def body() -> None:
        h = Harness()
        await h.manager.start([ListenerSpec(Transport.TCP, "127.0.0.1", 0)])
        reader, writer = await asyncio.open_connection("127.0.0.1", h.port(Transport.TCP))
        writer.write(MSG + b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n" + MSG)
        answer = await asyncio.wait_for(reader.read(), 3)  # read() returns at EOF: closed
        assert answer == b"SIP/2.0 400 Missing Content-Length\r\nContent-Length: 0\r\n\r\n"
        assert [d for d, _ in h.received] == [MSG]  # nothing after the bad frame
        assert h.manager.stats["framing_errors"] == 1
        writer.close()
        await h.manager.close()

    run(body)


def test_idle_timeout_and_connection_limit(run: Runner) -> None:
    async def body() -> None:
        h = Harness(idle_timeout=0.3, max_connections=1)
        await h.manager.start([ListenerSpec(Transport.TCP, "127.0.0.1", 0)])
        port = h.port(Transport.TCP)
        reader1, writer1 = await asyncio.open_connection("127.0.0.1", port)
        await until(lambda: h.manager.open_connections == 1)
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", port)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader2.readexactly(1), 2)  # refused: over the limit
        assert h.manager.stats["refused_connections"] == 1
        start = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader1.read(), 2) == b""  # closed when idle
        assert asyncio.get_running_loop().time() - start > 0.1
        assert h.manager.stats["idle_closed"] == 1
        writer1.close()
        writer2.close()
        await until(lambda: h.manager.open_connections == 0)
        _, writer3 = await asyncio.open_connection("127.0.0.1", port)  # room again
        writer3.write(MSG)
        await h.wait_for(1)
        writer3.close()
        await h.manager.close()

    run(body)


def test_peer_that_never_reads_is_closed(run: Runner) -> None:
    async def body() -> None:
        h = Harness()
        await h.manager.start([ListenerSpec(Transport.TCP, "127.0.0.1", 0)])
        _reader, writer = await asyncio.open_connection("127.0.0.1", h.port(Transport.TCP))
        writer.write(MSG)
        await h.wait_for(1)
        flow = h.received[0][1]
        chunk = b"x" * 65536
        results = [h.manager.send(chunk, flow) for _ in range(400)]  # 26 MB, never read
        assert results[0] and not results[-1]
        assert h.manager.stats["write_overflows"] >= 1
        await until(lambda: h.lost == [flow])
        writer.close()
        await h.manager.close()

    run(body)


def test_garbage_never_kills_the_listeners(run: Runner, tmp_path: Path, write_cert: Any) -> None:
    cert, key = write_cert(tmp_path, "edge")

    async def body() -> None:
        h = Harness(tls=ReloadableContext(lambda: build_server_context(certificate=cert, private_key=key)))
        await h.manager.start([ListenerSpec(Transport.TCP, "127.0.0.1", 0),
                               ListenerSpec(Transport.TLS, "127.0.0.1", 0),
                               ListenerSpec(Transport.UDP, "127.0.0.1", 0)])  # fmt: skip
        for port in (h.port(Transport.TCP), h.port(Transport.TLS)):
            for _ in range(10):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(bytes(range(256)) * 300)
                writer.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(200):
                s.sendto(b"\xff" * 900, ("127.0.0.1", h.port(Transport.UDP)))
        await until(lambda: h.manager.stats["handshake_failures"] == 10)
        await until(lambda: h.manager.stats["framing_errors"] == 10)
        await until(lambda: h.manager.open_connections == 0)
        # the listeners still deliver good messages after the flood
        _, writer = await asyncio.open_connection("127.0.0.1", h.port(Transport.TCP))
        writer.write(MSG)
        _, tls_writer = await asyncio.open_connection(
            "127.0.0.1", h.port(Transport.TLS), ssl=insecure_client()
        )
        tls_writer.write(MSG)
        await until(lambda: sum(data == MSG for data, _ in h.received) == 2)
        # TLS connections that never finished a handshake are not reported lost
        assert [f.transport for f in h.lost] == [Transport.TCP] * 10
        writer.close()
        tls_writer.close()
        await h.manager.close()

    run(body)


# -- TLS ---------------------------------------------------------------------------------
def test_tls_reload_keeps_old_connections(run: Runner, tmp_path: Path, write_cert: Any) -> None:
    cert, key = write_cert(tmp_path, "first")

    async def body() -> None:
        reloadable = ReloadableContext(lambda: build_server_context(certificate=cert, private_key=key))
        h = Harness(tls=reloadable)
        await h.manager.start([ListenerSpec(Transport.TLS, "127.0.0.1", 0)])
        port = h.port(Transport.TLS)
        r1, w1 = await asyncio.open_connection("127.0.0.1", port, ssl=insecure_client())
        assert peer_cn(w1) == "first"
        write_cert(tmp_path, "second")  # replace the files, then reload (SIGHUP)
        reloadable.reload()
        r2, w2 = await asyncio.open_connection("127.0.0.1", port, ssl=insecure_client())
        assert peer_cn(w2) == "second"  # new handshakes see the new certificate
        w1.write(MSG)  # the old connection still works, both ways
        await h.wait_for(1)
        flow = h.received[0][1]
        assert flow.transport is Transport.TLS
        assert flow.remote == w1.get_extra_info("sockname")
        assert h.manager.send(b"ok", flow)
        assert await asyncio.wait_for(r1.readexactly(2), 2) == b"ok"
        w2.write(b"\r\n\r\n")
        assert await asyncio.wait_for(r2.readexactly(2), 2) == b"\r\n"
        assert h.manager.peer_certificate(flow) is None  # no client certificate asked for
        w1.close()
        w2.close()
        await h.manager.close()

    run(body)


def tls11_client() -> ssl.SSLContext | None:
    """A client that offers TLS 1.1 and nothing newer, or ``None`` if OpenSSL cannot."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context = insecure_client(ssl.TLSVersion.TLSv1_1)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 needs level 0 for TLS 1.1
    except (ValueError, ssl.SSLError):
        return None
    return context


def test_tls11_client_is_refused(run: Runner, tmp_path: Path, write_cert: Any) -> None:
    old = tls11_client()
    if old is None:
        pytest.skip("the local OpenSSL cannot offer TLS 1.1")
    cert, key = write_cert(tmp_path, "edge")

    async def body() -> None:
        ctx = ReloadableContext(lambda: build_server_context(certificate=cert, private_key=key))
        h = Harness(tls=ctx)
        await h.manager.start([ListenerSpec(Transport.TLS, "127.0.0.1", 0)])
        port = h.port(Transport.TLS)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await asyncio.open_connection("127.0.0.1", port, ssl=old)
        await until(lambda: h.manager.stats["handshake_failures"] == 1)  # the server refused it
        _, w = await asyncio.open_connection("127.0.0.1", port, ssl=insecure_client())
        w.write(MSG)
        await h.wait_for(1)
        w.close()
        await h.manager.close()

    run(body)


def test_slow_handshake_is_cut_off(run: Runner, tmp_path: Path, write_cert: Any) -> None:
    cert, key = write_cert(tmp_path, "edge")

    async def body() -> None:
        ctx = ReloadableContext(lambda: build_server_context(certificate=cert, private_key=key))
        h = Harness(tls=ctx, handshake_timeout=0.3)
        await h.manager.start([ListenerSpec(Transport.TLS, "127.0.0.1", 0)])
        port = h.port(Transport.TLS)
        silent_reader, silent = await asyncio.open_connection("127.0.0.1", port)  # no ClientHello
        assert await asyncio.wait_for(silent_reader.read(), 3) == b""  # cut off at the timeout
        await until(lambda: h.manager.stats["handshake_failures"] == 1)
        assert h.manager.open_connections == 0
        silent.close()
        _, w = await asyncio.open_connection("127.0.0.1", port, ssl=insecure_client())
        w.write(MSG)
        await h.wait_for(1)
        w.close()
        await h.manager.close()

    run(body)


def test_tls_handshakes_count_against_the_connection_limit(
    run: Runner, tmp_path: Path, write_cert: Any
) -> None:
    cert, key = write_cert(tmp_path, "edge")

    async def body() -> None:
        ctx = ReloadableContext(lambda: build_server_context(certificate=cert, private_key=key))
        h = Harness(tls=ctx, max_connections=2)
        await h.manager.start([ListenerSpec(Transport.TLS, "127.0.0.1", 0)])
        port = h.port(Transport.TLS)
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await until(lambda: h.manager.open_connections == 2)
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            await asyncio.open_connection("127.0.0.1", port, ssl=insecure_client())
        assert h.manager.stats["refused_connections"] == 1
        for _, writer in idle:
            writer.close()
        await h.manager.close()

    run(body)


def test_mutual_tls_peer_certificate_and_outgoing_connect(
    run: Runner, pki: dict[str, Path]
) -> None:
    def server_context() -> ssl.SSLContext:
        return build_server_context(
            certificate=pki["cert"], private_key=pki["key"], chain=pki["chain"],
            verify_client="required", client_ca=pki["root"],
        )  # fmt: skip

    async def body() -> None:
        server = Harness(tls=ReloadableContext(server_context))
        await server.manager.start([ListenerSpec(Transport.TLS, "127.0.0.1", 0),
                                    ListenerSpec(Transport.TCP, "127.0.0.1", 0)])  # fmt: skip
        client_tls = build_client_context(
            cafile=pki["root"], certificate=pki["client_cert"], private_key=pki["client_key"]
        )
        client = Harness(client_tls=client_tls)
        remote = ("127.0.0.1", server.port(Transport.TLS))
        flow = await client.manager.connect(Transport.TLS, remote, server_hostname="edge.example")
        assert (flow.transport, flow.remote) == (Transport.TLS, remote)
        assert await client.manager.connect(Transport.TLS, remote) == flow  # reused
        assert client.manager.send(MSG, flow)
        await server.wait_for(1)
        inbound = server.received[0][1]
        subject = server.manager.peer_certificate(inbound)
        assert subject is not None
        assert (("commonName", "phone.example"),) in subject["subject"]  # type: ignore[operator]
        assert server.manager.send(MSG, inbound)  # and back to the connecting side
        await client.wait_for(1)
        assert client.received[0][1] == flow
        tcp = await client.manager.connect(Transport.TCP, ("127.0.0.1", server.port(Transport.TCP)))
        assert tcp.connection != flow.connection
        assert client.manager.send(MSG, tcp)
        await server.wait_for(2)
        with pytest.raises(ValueError, match="UDP"):
            await client.manager.connect(Transport.UDP, remote)
        await client.manager.close()
        await until(lambda: server.manager.open_connections == 0)
        assert len(server.lost) == 2
        await server.manager.close()

    run(body)


# -- misc --------------------------------------------------------------------------------
def test_start_failure_closes_what_was_opened(run: Runner) -> None:
    async def body() -> None:
        h = Harness()
        with pytest.raises(ValueError, match="TLS context"):
            await h.manager.start([ListenerSpec(Transport.UDP, "127.0.0.1", 0),
                                   ListenerSpec(Transport.TLS, "127.0.0.1", 0)])  # fmt: skip
        assert h.manager.send(b"x", Flow(Transport.UDP, ("127.0.0.1", 1), ("127.0.0.1", 9))) is False

    run(body)


def test_set_dscp_marks_sockets() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        set_dscp(s, 46)
        assert s.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 46 << 2
    if has_ipv6():
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            set_dscp(s, 26)
            assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS) == 26 << 2
    with socket.socket() as s, pytest.raises(ValueError, match="DSCP"):
        set_dscp(s, 64)
