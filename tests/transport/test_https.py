"""The gated HTTPS listener: a refused source is closed before any TLS byte, an admitted one
is served over TLS, a full listener refuses more, and close() ends it all."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from voxgate.transport.https import GatedHttpsListener
from voxgate.transport.tlsctx import ReloadableContext, build_server_context


def test_admitted_served_refused_closed_before_tls(
    tmp_path: Path, write_cert: Callable[..., tuple[Path, Path]]
) -> None:
    cert, key = write_cert(tmp_path, "admin.example")
    allowed = {"yes": True}

    async def hello(request: web.Request) -> web.Response:
        del request
        return web.Response(text="hello")

    async def scenario() -> None:
        app = web.Application()
        app.router.add_get("/", hello)
        stats: dict[str, int] = {}
        listener = GatedHttpsListener(
            "test", admit=lambda source: allowed["yes"] and source == "127.0.0.1",
            tls=ReloadableContext(lambda: build_server_context(certificate=cert, private_key=key)),
            max_connections=10, keepalive_timeout=5, stats=stats,
        )  # fmt: skip
        host, port = await listener.start(app, "127.0.0.1", 0)
        client = ssl.create_default_context(cafile=str(cert))
        client.check_hostname = False
        reader, writer = await asyncio.open_connection(host, port, ssl=client)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello")
        allowed["yes"] = False  # now refused: closed at once, not a byte of TLS
        loop = asyncio.get_running_loop()
        raw = socket.create_connection((host, port), timeout=5)
        raw.setblocking(False)
        try:
            assert await loop.sock_recv(raw, 10) == b""
        finally:
            raw.close()
        assert stats["denied_connections"] == 1 and stats["handshake_failures"] == 0
        await listener.close()
        assert listener.open_connections == 0
        try:
            socket.create_connection((host, port), timeout=2).close()
            raise AssertionError("still listening after close()")
        except ConnectionRefusedError:
            pass

    asyncio.run(scenario())
