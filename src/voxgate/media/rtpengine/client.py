"""An asyncio UDP client of rtpengine's ng protocol: one request, one reply, by cookie.

A request is retransmitted with the *same* cookie when no reply comes (rtpengine keeps the
replies of recent cookies and answers a retransmission from that cache, so a retried
``offer`` is not done twice). Cookies are a random per-client prefix and a counter, so that a
restarted client never meets the cached reply of its predecessor. Datagrams that do not parse
or match no waiting request are logged and ignored. An ICMP "port unreachable" (nothing
listens at the address) ends the current try at once instead of waiting for its timeout.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from typing import Final

from voxgate.media.bencode import Encodable
from voxgate.media.control import MediaError
from voxgate.media.rtpengine.ng import NgMessageError, Reply, decode_message, encode_message

log = logging.getLogger(__name__)

NOT_RESPONDING: Final = "media relay not responding"


class _RefusedError(Exception):
    """The relay's address answered with ICMP port unreachable."""


class _NgProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[bytes, asyncio.Future[Reply]] = {}
        self.closed = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        try:
            cookie, reply = decode_message(data)
        except NgMessageError as exc:
            log.warning("ng: ignoring a garbled datagram from %s: %s", addr, exc)
            return
        future = self.waiting.get(cookie)
        if future is None or future.done():
            log.debug("ng: ignoring a reply to no waiting request (cookie %r)", cookie[:40])
            return
        future.set_result(reply)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, ConnectionRefusedError):
            for future in self.waiting.values():
                if not future.done():
                    future.set_exception(_RefusedError())
        else:
            log.warning("ng: socket error %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            log.warning("ng: socket closed: %s", exc)
        self.closed.set()


class NgClient:
    """Sends ng requests to one rtpengine. ``timeout`` is the whole time a request may take,
    spread evenly over ``tries`` transmissions; then :class:`MediaError` 503."""

    def __init__(self, address: tuple[str, int], *, timeout: float = 1.0, tries: int = 3) -> None:
        if tries < 1 or timeout <= 0:
            raise ValueError("tries must be ≥ 1 and timeout > 0")
        self.address = address
        self.timeout = timeout
        self.tries = tries
        self._prefix = secrets.token_hex(6)
        self._counter = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _NgProtocol | None = None
        self._opening: asyncio.Lock | None = None

    async def _open(self) -> tuple[asyncio.DatagramTransport, _NgProtocol]:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._transport is None or self._protocol is None:
                loop = asyncio.get_running_loop()
                self._transport, self._protocol = await loop.create_datagram_endpoint(
                    _NgProtocol, remote_addr=self.address
                )
            return self._transport, self._protocol

    def _next_cookie(self) -> bytes:
        self._counter += 1
        return f"{self._prefix}_{self._counter}".encode()

    async def request(self, message: Mapping[str, Encodable]) -> Reply:
        """Send ``message`` and return the reply dictionary (whatever its ``result``)."""
        transport, protocol = await self._open()
        cookie = self._next_cookie()
        datagram = encode_message(cookie, message)
        per_try = self.timeout / self.tries
        loop = asyncio.get_running_loop()
        refused = False
        try:
            for _ in range(self.tries):
                future: asyncio.Future[Reply] = loop.create_future()
                protocol.waiting[cookie] = future
                transport.sendto(datagram)
                try:
                    return await asyncio.wait_for(future, per_try)
                except TimeoutError:
                    continue
                except _RefusedError:
                    refused = True
                    continue
        finally:
            protocol.waiting.pop(cookie, None)
        detail = " (connection refused)" if refused else ""
        log.warning("ng: no reply from %s:%d after %d tries%s", *self.address, self.tries, detail)
        raise MediaError(503, NOT_RESPONDING + detail)

    async def close(self) -> None:
        if self._transport is not None and self._protocol is not None:
            self._transport.close()
            await self._protocol.closed.wait()
        self._transport = self._protocol = None
